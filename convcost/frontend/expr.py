"""A tiny, safe expression language for spec values: ``$name`` and ``${mid * 4}``.

Expressions are parsed with :mod:`ast` and walked over a whitelist of node types; nothing is
ever passed to ``eval``. Numbers are bounded so an expression cannot allocate or loop forever.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import Loc, SpecError
from .source import shorten

MAX_EXPR_CHARS = 400
MAX_MAGNITUDE = 10**15
MAX_STRING = 1_000  # characters of a string built by substitution or '+'
# A built-in call, comparison or substitution over a list (or a long string) from 'vars' costs time in
# proportion to its size: it is charged 1 work step per SIZE_PER_STEP items (a string: per 64 characters).
SIZE_PER_STEP = 16

Charge = Callable[[int], None]  # takes work steps; raises when the budget is spent (graph/build.py)

_FULL_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_FULL_EXPR = re.compile(r"\$\{(.*)\}", re.S)
_PIECE = re.compile(r"\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of ``divisor`` without going more than 10 % down.

    The rule of MobileNet/EfficientNet reference code (torchvision ``_make_divisible``).
    """
    if divisor <= 0:
        raise ValueError("divisor must be positive")
    floor = divisor if min_value is None else min_value
    new = max(floor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


MAX_ROUND_DIGITS = 30


def bounded_round(value: float, ndigits: int | None = None) -> float:
    """round(), with the digits bounded: round(10, -10**9) would compute 10**(10**9) and never return."""
    if ndigits is None:
        return round(value)
    if isinstance(ndigits, bool) or not isinstance(ndigits, int) or abs(ndigits) > MAX_ROUND_DIGITS:
        raise ValueError(f"round()'s digits must be an integer from -{MAX_ROUND_DIGITS} to {MAX_ROUND_DIGITS}, got {ndigits}")
    return round(value, ndigits)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "int": int,
    "round": bounded_round,
    "ceil": math.ceil,
    "floor": math.floor,
    "make_divisible": make_divisible,
    "len": len,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,  # log(x) or log(x, base)
    "log2": math.log2,
}

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_OP_SIGNS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}
MAX_EXPONENT = 64
MAX_POW_BASE = 10**6


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _magnitude(value: float) -> str:
    """A value for a message: 1.84e+19, or 'a 400-digit number' for ints too large for a float."""
    try:
        return f"{value:.3g}"
    except OverflowError:  # only ints get here
        return f"a {int(int(value).bit_length() * 0.30103) + 1}-digit number"


_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


_FLAT = {int, float, bool}


def size_of(value: Any) -> int:
    """How much work a value costs to compare, pass to min()/max() or format: its items, nested lists'
    items, and 1 per 64 characters of its strings."""
    if isinstance(value, list):
        if set(map(type, value)) <= _FLAT:  # the usual list of numbers: its length (counted at C speed)
            return len(value)
        return len(value) + sum(size_of(x) for x in value if isinstance(x, (list, str)))
    if isinstance(value, str):
        return len(value) // 64
    return 0


def _charge_for(charge: Charge | None, *values: Any) -> None:
    if charge is not None:
        steps = sum(size_of(v) for v in values) // SIZE_PER_STEP
        if steps:
            charge(steps)


def substitute(text: str, env: Mapping[str, Any], loc: Loc, charge: Charge | None = None) -> Any:
    """Resolve ``$name``/``${expr}`` in a string scalar.

    A string that is one whole reference yields the referenced value with its type (int, float,
    bool, str); references embedded in a longer string are formatted into it.
    """
    m = _FULL_VAR.fullmatch(text)
    if m:
        return _lookup(m.group(1), env, loc)
    m = _FULL_EXPR.fullmatch(text)
    if m and "${" not in m.group(1):
        return evaluate(m.group(1), env, loc, charge)

    unclosed = _unclosed(text)
    if unclosed is not None:
        raise SpecError(
            f"'${{' is not closed in '{shorten(text)}': add '}}' after the expression (at character {unclosed + 1})", loc
        )
    size = 0

    def piece(match: re.Match[str]) -> str:
        nonlocal size
        if match.group(1) is not None:
            value = evaluate(match.group(1), env, loc, charge)
        else:
            value = _lookup(match.group(2), env, loc)
        _charge_for(charge, value)  # formatting a list costs its size
        out = str(value)
        size += len(out)
        if size > MAX_STRING:
            raise SpecError(f"substituted string is longer than {MAX_STRING:,} characters (limit, see docs/limits.md)", loc)
        return out

    return _PIECE.sub(piece, text)


def _unclosed(text: str) -> int | None:
    """Where a '${' without its '}' starts in ``text`` ('${in_channels * 2'), or None."""
    at = text.find("${")
    while at != -1:
        end = text.find("}", at + 2)
        if end == -1:
            return at
        at = text.find("${", end + 1)
    return None


def _lookup(name: str, env: Mapping[str, Any], loc: Loc) -> Any:
    if name not in env:
        from ..errors import did_you_mean

        known = shorten(", ".join(sorted(env)) or "none", 300)
        raise SpecError(f"unknown variable '{shorten(name)}'{did_you_mean(name, list(env))}; defined here: {known}", loc)
    return env[name]


@functools.lru_cache(maxsize=4096)
def _parse(source: str) -> ast.expr:
    """The parsed expression; cached, since a repeated layer evaluates the same text many times."""
    with warnings.catch_warnings():  # e.g. SyntaxWarning for '1if x else 2': not the user's concern
        warnings.simplefilter("ignore")
        return ast.parse(source.strip(), mode="eval").body


def evaluate(source: str, env: Mapping[str, Any], loc: Loc, charge: Charge | None = None) -> Any:
    """Evaluate one expression over ``env``; every failure is a :class:`SpecError` at ``loc``.

    ``charge`` is told the work steps of calls and comparisons over big values before they run."""
    if len(source) > MAX_EXPR_CHARS:
        raise SpecError(
            f"expression is longer than {MAX_EXPR_CHARS} characters (limit, see docs/limits.md); "
            "compute parts of it in 'vars'",
            loc,
        )
    try:
        tree = _parse(source)
    except (SyntaxError, ValueError) as e:  # ValueError: NUL characters on some Python versions
        why = getattr(e, "msg", None) or str(e)
        raise SpecError(f"invalid expression '${{{source}}}': {why}", loc) from None
    try:
        return _Eval(env, loc, charge).visit(tree)
    except SpecError:
        raise
    except ZeroDivisionError:
        raise SpecError(f"division by zero in '${{{source}}}'", loc) from None
    except (TypeError, ValueError, OverflowError) as e:
        raise SpecError(f"cannot evaluate '${{{source}}}': {e}", loc) from None
    except (RecursionError, MemoryError):
        raise SpecError(f"expression '${{{source}}}' is nested too deeply", loc) from None


class _Eval:
    def __init__(self, env: Mapping[str, Any], loc: Loc, charge: Charge | None = None) -> None:
        self.env = env
        self.loc = loc
        self.charge = charge

    def visit(self, node: ast.AST) -> Any:
        value = self._visit(node)
        if isinstance(value, complex):
            raise SpecError("expression gives a complex number (a fractional power of a negative number?)", self.loc)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > MAX_MAGNITUDE:
            raise SpecError(
                f"expression value {_magnitude(value)} is out of range (limit ±{MAX_MAGNITUDE:.0e}, see docs/limits.md)",
                self.loc,
            )
        return value

    def join_strings(self, op: ast.operator, left: Any, right: Any) -> str:
        """Strings only join with '+' (no '*' or '%': those could build huge strings)."""
        if not isinstance(op, ast.Add) or not (isinstance(left, str) and isinstance(right, str)):
            raise SpecError("strings in expressions can only be joined to strings with '+'", self.loc)
        if len(left) + len(right) > MAX_STRING:
            raise SpecError(
                f"string in expression is longer than {MAX_STRING:,} characters (limit, see docs/limits.md)", self.loc
            )
        return left + right

    def _visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in ("True", "False", "true", "false"):  # YAML's spelling too (docs/spec.md)
                return node.id in ("True", "true")
            return _lookup(node.id, self.env, self.loc)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self.visit(node.left), self.visit(node.right)
            if isinstance(left, str) or isinstance(right, str):
                return self.join_strings(node.op, left, right)
            if not isinstance(left, (int, float)) or not isinstance(right, (int, float)):  # a list from 'vars'
                raise SpecError(
                    f"'{_OP_SIGNS[type(node.op)]}' needs numbers, got {_kind(left)} and {_kind(right)}; "
                    "a list can only be indexed or passed to len(), min() or max()",
                    self.loc,
                )
            if isinstance(node.op, ast.Pow) and (abs(right) > MAX_EXPONENT or abs(left) > MAX_POW_BASE):
                raise SpecError(
                    f"exponent too large in expression: '**' takes exponents within ±{MAX_EXPONENT} and bases within "
                    f"±{MAX_POW_BASE:,} (limit, see docs/limits.md)",
                    self.loc,
                )
            return _BINOPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp):
            operand = self.visit(node.operand)
            if isinstance(node.op, ast.USub):
                return -operand
            if isinstance(node.op, ast.UAdd):
                return +operand
            if isinstance(node.op, ast.Not):
                return not operand
        if isinstance(node, ast.BoolOp):
            values = [self.visit(v) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.Compare) and all(type(op) in _CMPOPS for op in node.ops):
            left = self.visit(node.left)
            for op, comparator in zip(node.ops, node.comparators):
                right = self.visit(comparator)
                _charge_for(self.charge, left, right)
                if not _CMPOPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.List):  # a list literal: ${[64, 128, 256][i]}; its size is bounded by MAX_EXPR_CHARS
            items = [self.visit(e) for e in node.elts]
            _charge_for(self.charge, items)  # built at every evaluation: charged by its size, like a list from 'vars'
            return items
        if isinstance(node, ast.Subscript):  # a list indexed by a number: ${widths[i]}, ${[64, 128][i]}
            seq, index = self.visit(node.value), self.visit(node.slice)
            if not isinstance(seq, (list, tuple)) or isinstance(index, bool) or not isinstance(index, int):
                raise SpecError(f"indexing needs a list and an integer, got {_kind(seq)} and {_kind(index)}", self.loc)
            if not -len(seq) <= index < len(seq):
                raise SpecError(f"index {index} is out of range for a list of {len(seq)}", self.loc)
            return seq[index]
        if isinstance(node, ast.IfExp):
            return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            fn = FUNCTIONS.get(node.func.id)
            if fn is None:
                from ..errors import did_you_mean

                raise SpecError(
                    f"unknown function '{node.func.id}'{did_you_mean(node.func.id, list(FUNCTIONS))}; "
                    f"available: {', '.join(sorted(FUNCTIONS))}",
                    self.loc,
                )
            args = [self.visit(a) for a in node.args]
            _charge_for(self.charge, *args)
            return fn(*args)
        raise SpecError(
            f"unsupported syntax in expression: {shorten(ast.unparse(node))}; expressions take numbers, strings, "
            "variables, + - * / // % **, comparisons, and/or/not, 'a if c else b', lists [a, b], list[index] and calls of "
            f"{', '.join(sorted(FUNCTIONS))}",
            self.loc,
        )
