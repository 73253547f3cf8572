"""Values set from the command line (``--set NAME=VALUE``): a file or model var, the input size, the batch.

``--set width=0.5`` replaces the var ``width`` of the file's (or the model's) ``vars`` before anything
that reads it is evaluated, so vars computed from it follow. ``input`` and ``batch`` are not vars:
``--set input=160`` sets every spatial dim of the model's one input (``160x128``: each spatial dim,
``3x160x160``: the whole shape), ``--set batch=8`` the batch. ``convcost sweep`` takes lists of values
(``width=0.5,0.75,1.0``) and ranges with their end included (``input=160:320:32``).
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

from ..errors import UsageError
from ..frontend.source import shorten
from ..ops.registry import MAX_DIM
from .limits import MAX_BATCH

INPUT, BATCH = "input", "batch"
PSEUDO = (INPUT, BATCH)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?")
MAX_POINTS = 1_000_000  # a sweep's grid: far above any study, and a bound on memory and time
MAX_VALUE_CHARS = 200


class Settings(NamedTuple):  # a NamedTuple, not a frozen dataclass: cheaper to create (start-up time, frontend/source.py)
    """What ``--set`` changes in a spec (empty: nothing). ``vars`` keeps the order given."""

    vars: tuple[tuple[str, Any], ...] = ()
    input: tuple[int, ...] | None = None
    batch: int | None = None

    @property
    def var_map(self) -> dict[str, Any]:
        return dict(self.vars)

    @property
    def empty(self) -> bool:
        return not self.vars and self.input is None and self.batch is None

    def with_batch(self, batch: int | None) -> Settings:
        """These settings with ``--batch N`` folded in (it must not contradict ``--set batch=``)."""
        if batch is None:
            return self
        if self.batch is not None and self.batch != batch:
            raise UsageError(f"--batch {batch} and --set batch={self.batch} disagree; give one of them")
        return Settings(self.vars, self.input, batch)


def scalar(text: str, name: str) -> Any:
    """A value as written on the command line: an integer, a number, true/false, or a word."""
    text = text.strip()
    if not text:
        raise UsageError(f"--set {name}= needs a value")
    if len(text) > MAX_VALUE_CHARS:
        raise UsageError(f"--set {name}: the value is longer than {MAX_VALUE_CHARS} characters")
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        value = float(text)
        if not math.isfinite(value):
            raise UsageError(f"--set {name}={shorten(text)}: not a finite number")
        return value
    if text in ("true", "false"):
        return text == "true"
    if not text.isprintable() or "$" in text:
        raise UsageError(f"--set {name}={shorten(text)!r}: a value is a number, true/false or a plain word")
    return text


def split_assignment(text: str) -> tuple[str, str]:
    """'width=0.5' -> ('width', '0.5'), with a usage error for anything else."""
    name, eq, value = text.partition("=")
    name = name.strip()
    if not eq or not _NAME.fullmatch(name):
        raise UsageError(f"--set takes NAME=VALUE (e.g. --set width=0.5, --set input=160), got '{shorten(text)}'")
    return name, value


def input_size(text: str) -> tuple[int, ...]:
    """'160' -> (160,), '160x128' -> (160, 128), '3x160x160' -> (3, 160, 160)."""
    parts = re.split(r"[x×,]", text.strip())
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise UsageError(f"--set input={shorten(text)}: expected a size like 160, 160x128 or 3x160x160") from None
    if any(d < 1 for d in dims) or len(dims) > 4:
        raise UsageError(f"--set input={shorten(text)}: sizes are 1 to 4 positive integers (160, 160x128, 3x160x160)")
    if max(dims) > MAX_DIM:
        raise UsageError(f"--set input={shorten(text)}: a size is at most {MAX_DIM:,} (limit, see docs/limits.md)")
    return dims


def positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"--set {name}={value}: expected a positive integer")
    if value > MAX_BATCH:
        raise UsageError(f"--set {name}={value:,} is too large (limit {MAX_BATCH:,}, see docs/limits.md)")
    return value


def settings_of(assignments: list[str] | None) -> Settings:
    """``--set`` options of analyze/compare/check/report: one value per name."""
    vars_: dict[str, Any] = {}
    size: tuple[int, ...] | None = None
    batch: int | None = None
    for text in assignments or []:
        name, value = split_assignment(text)
        if name in vars_ or (name == INPUT and size is not None) or (name == BATCH and batch is not None):
            raise UsageError(f"--set {name} is given twice; for several values use `convcost sweep`")
        if name == INPUT:
            size = input_size(value)
        elif name == BATCH:
            batch = positive(scalar(value, name), name)
        else:
            if "," in value:
                raise UsageError(f"--set {name}={shorten(value)}: one value here; for several use `convcost sweep`")
            vars_[name] = scalar(value, name)
    return Settings(tuple(vars_.items()), size, batch)


# ---- sweeps ------------------------------------------------------------------------------------
def _range(text: str, name: str) -> list[Any]:
    """'160:320:32' -> [160, 192, ..., 320] (the end included); '0.5:1:0.25' -> [0.5, 0.75, 1.0]."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise UsageError(f"--set {name}: a range is START:STOP or START:STOP:STEP, got '{shorten(text)}'")
    nums = [scalar(p, name) for p in parts]
    if any(isinstance(n, bool) or not isinstance(n, (int, float)) for n in nums):
        raise UsageError(f"--set {name}: a range needs numbers, got '{shorten(text)}'")
    start, stop = nums[0], nums[1]
    step = nums[2] if len(nums) == 3 else 1
    if step <= 0:
        raise UsageError(f"--set {name}: the step of '{shorten(text)}' must be positive")
    if stop < start:
        raise UsageError(f"--set {name}: '{shorten(text)}' ends before it starts")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > MAX_POINTS:
        raise UsageError(f"--set {name}: '{shorten(text)}' has {count:,} values (limit {MAX_POINTS:,})")
    if all(isinstance(n, int) for n in nums):
        return list(range(start, stop + 1, step))
    digits = max(_decimals(p) for p in parts)  # 0.1 steps read as 0.3, not 0.30000000000000004
    return [round(start + k * step, digits + 6) if digits else start + k * step for k in range(count)]


def _decimals(text: str) -> int:
    text = text.strip().lower()
    if "e" in text:
        return 12
    return len(text.split(".", 1)[1]) if "." in text else 0


def sweep_values(text: str, name: str) -> list[Any]:
    """The values of one ``--set NAME=...`` of a sweep: a list (``a,b,c``), ranges (``160:320:32``) or both."""
    out: list[Any] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise UsageError(f"--set {name}: an empty value in '{shorten(text)}'")
        if name == INPUT:
            if ":" in item:
                out.extend((v,) for v in _range(item, name))
            else:
                out.append(input_size(item))
            continue
        value = _range(item, name) if ":" in item else [scalar(item, name)]
        if name == BATCH:
            value = [positive(v, name) for v in value]
        out.extend(value)
    if len(out) > MAX_POINTS:
        raise UsageError(f"--set {name}: {len(out):,} values (limit {MAX_POINTS:,})")
    return list(dict.fromkeys(out))  # once each, in the order given


def show_value(name: str, value: Any) -> str:
    """A value as the sweep's rows show it: '160', '160x128', '0.75', 'true'."""
    if name == INPUT:
        return "x".join(str(d) for d in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)  # a float as Python writes it: 1.0, 0.35


def point_settings(names: tuple[str, ...], values: tuple[Any, ...], base: Settings) -> Settings:
    """The settings of one point of a sweep (``base``: the fixed ``--set`` values, if any)."""
    vars_ = dict(base.vars)
    size, batch = base.input, base.batch
    for name, value in zip(names, values, strict=True):
        if name == INPUT:
            size = value
        elif name == BATCH:
            batch = value
        else:
            vars_[name] = value
    return Settings(tuple(vars_.items()), size, batch)


def apply_input(shape: tuple[int, ...], size: tuple[int, ...], tokens: bool, model: str) -> tuple[int, ...]:
    """The model's input shape with ``--set input=SIZE`` applied: one number sets every spatial dim (a token
    input's count N, a flat input's F); one number per spatial dim sets each; as many as the shape has, all."""
    rank = len(shape)
    if len(size) == rank:
        return size
    if tokens:
        if len(size) == 1:
            return (size[0], shape[1])
    elif rank == 1 and len(size) == 1:
        return size
    elif len(size) in (1, rank - 1):
        return (shape[0], *(size * (rank - 1) if len(size) == 1 else size))
    shown = "x".join(map(str, size))
    raise UsageError(
        f"--set input={shown}: model '{model}' takes a {rank}-dim input; give one size for every spatial dim, one per "
        f"spatial dim, or the whole shape ({'x'.join(map(str, shape))})"
    )
