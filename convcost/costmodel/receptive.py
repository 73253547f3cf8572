"""Receptive field, jump (effective stride) and start of every layer, through the whole graph. No torch here.

A tensor's *field* with respect to a model input says, for each spatial dim, which input positions each of its
positions reads: position ``o`` reads ``[o·jump + lo[ρ], o·jump + hi[ρ]]`` with ``ρ = o mod period`` (one residue
for convs and pools; several after a transposed conv, upsampling, pixel shuffle or Swin's windows, where
neighbouring positions read differently placed spans). Each op's definition says how its output reads its input
(``rf``, convcost/ops/receptive.py); this module composes those rules from the model input on:

- through a conv, pool or any windowed op, a position's span is the hull of the spans of the positions it reads;
- where branches join (concat, add, multiply), the span is the hull over all of them: the **maximum over paths**
  (a residual's field is its body's, which contains the shortcut's);
- ops that read every position (global pooling, attention, a linear layer on a flat vector, group norm) make the
  field **global**: every position reads the whole input.

Positions are those of an unbounded input (padding taps are kept), as receptive fields are usually stated: a
layer's receptive field (``size``: the largest span, in input positions) does not depend on the input's size and
may exceed it. ``start`` is where position 0's span begins (−effective padding), ``jump`` the distance in input
positions between neighbouring outputs (the effective stride; a fraction after upsampling). Spans are hulls: a
stride larger than the kernel leaves unread positions inside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import cached_property

from ..graph.build import Graph, Node
from ..ops.receptive import IDENTITY, RF, Taps
from ..ops.shapes import Shape, grid_of, is_tokens

MAX_PERIOD = 1 << 16  # residues kept per dim: composing rational upsampling ratios could multiply them without end


@dataclass(frozen=True)
class DimField:
    """One spatial dim of a field. ``whole``: every position reads the whole input along this dim (``why`` says
    which layer made it so). ``exact`` is False where branches of different jumps met: the spans were then taken
    at this input's positions only."""

    jump: Fraction = Fraction(1)
    lo: tuple[Fraction | None, ...] = (Fraction(0),)
    hi: tuple[Fraction | None, ...] = (Fraction(0),)
    whole: bool = False
    exact: bool = True
    why: str = ""
    moved: str = ""  # the layer that moved its positions (a reshape, a permute): no window can follow it

    @property
    def period(self) -> int:
        return len(self.lo)

    def span(self, o: int) -> tuple[Fraction, Fraction] | None:
        """The input positions position ``o`` reads (unbounded input); None: none."""
        r = o % self.period
        lo, hi = self.lo[r], self.hi[r]
        if lo is None or hi is None:
            return None
        return (o * self.jump + lo, o * self.jump + hi)

    @property
    def size(self) -> int:
        """The receptive field: the largest span, in input positions (0 where nothing is read)."""
        sizes = [h - lo + 1 for lo, h in zip(self.lo, self.hi) if lo is not None and h is not None]
        return math.ceil(max(sizes)) if sizes else 0

    @property
    def start(self) -> Fraction | None:
        """Where position 0's span begins (negative: it reaches into the padding)."""
        return self.lo[0]


def identity(rank: int) -> tuple[DimField, ...]:
    return tuple(DimField() for _ in range(rank))


def whole(why: str) -> DimField:
    return DimField(whole=True, why=why)


def _reduce(f: DimField) -> DimField:
    """The shortest period that repeats the table."""
    n = f.period
    for p in range(1, n):
        if n % p == 0 and all(f.lo[r] == f.lo[r % p] and f.hi[r] == f.hi[r % p] for r in range(n)):
            return replace(f, lo=f.lo[:p], hi=f.hi[:p])
    return f


def compose(f: DimField, t: Taps, why: str) -> DimField | str:
    """The field of an op's output along one dim: ``t`` over a tensor whose field is ``f`` (a str: why not)."""
    if t.whole:
        return whole(why)
    if f.whole:
        return f
    if f.moved and t != IDENTITY:
        return f"it reads neighbouring positions of a tensor whose positions {f.moved} moved"
    p1, j1 = f.period, f.jump
    p2, q2 = t.period, t.step
    period = p2 * (p1 // math.gcd(p1, q2)) if q2 else p2
    if period > MAX_PERIOD:
        return f"the positions read repeat only every {period:,} outputs (more than {MAX_PERIOD:,})"
    jump = j1 * q2 / p2
    lo: list[Fraction | None] = []
    hi: list[Fraction | None] = []
    for ro in range(period):
        m, r = divmod(ro, p2)
        lows, highs = [], []
        for tap in t.taps[r]:
            i = m * q2 + tap
            a, b = f.lo[i % p1], f.hi[i % p1]
            if a is not None and b is not None:
                lows.append(i * j1 + a)
                highs.append(i * j1 + b)
        lo.append(min(lows) - ro * jump if lows else None)
        hi.append(max(highs) - ro * jump if highs else None)
    return _reduce(DimField(jump, tuple(lo), tuple(hi), exact=f.exact, moved=f.moved))


def _opt_min(a: Fraction | None, b: Fraction | None) -> Fraction | None:
    return b if a is None else a if b is None else min(a, b)


def _opt_max(a: Fraction | None, b: Fraction | None) -> Fraction | None:
    return b if a is None else a if b is None else max(a, b)


def union(fields: list[DimField], size: int) -> DimField:
    """The hull over branches: every position reads what any branch's same position reads. ``size``: the output's
    positions along this dim (used only where the branches' jumps differ)."""
    wholes = [f for f in fields if f.whole]
    if wholes:
        return wholes[0]
    first = fields[0]
    exact = all(f.exact for f in fields)
    moved = next((f.moved for f in fields if f.moved), "")
    if all(f.jump == first.jump for f in fields):
        period = math.lcm(*(f.period for f in fields))
        lo = tuple(_fold(_opt_min, (f.lo[r % f.period] for f in fields)) for r in range(period))
        hi = tuple(_fold(_opt_max, (f.hi[r % f.period] for f in fields)) for r in range(period))
        return _reduce(DimField(first.jump, lo, hi, exact=exact, moved=moved))
    # jumps differ (a broadcast operand, an odd resize): the hull at each of this input's positions
    los: list[Fraction | None] = []
    his: list[Fraction | None] = []
    for o in range(max(1, size)):
        spans = [s for f in fields if (s := f.span(o)) is not None]
        los.append(min(s[0] for s in spans) - o * first.jump if spans else None)
        his.append(max(s[1] for s in spans) - o * first.jump if spans else None)
    return _reduce(DimField(first.jump, tuple(los), tuple(his), exact=False, moved=moved))


def _fold(fn: object, values: object) -> Fraction | None:
    out: Fraction | None = None
    for v in values:  # type: ignore[attr-defined]
        out = fn(out, v)  # type: ignore[operator]
    return out


# ---- a tensor's spatial dims ------------------------------------------------------------------------
def spatial(shape: Shape) -> tuple[int, ...]:
    """The positions of a tensor along each of its spatial dims: a map's H, W (L; D, H, W), a token grid's H, W, a
    token sequence's N; a flat vector has none."""
    grid = grid_of(shape)
    if grid is not None:
        return grid
    if is_tokens(shape):
        return (shape[0],)
    return tuple(shape[1:])


def input_rank(shape: Shape) -> int:
    return len(spatial(shape))


Field = tuple[DimField, ...]


@dataclass(frozen=True)
class Unknown:
    """A field that cannot be stated, and why."""

    why: str


@dataclass(frozen=True)
class LayerRF:
    """The fields of one layer's output, one per model input it reads (by input index: INPUT, INPUT − 1, ...)."""

    node: Node
    fields: dict[int, Field | Unknown]


@dataclass(frozen=True)
class ReceptiveFields:
    graph: Graph
    layers: tuple[LayerRF, ...]

    @cached_property
    def by_name(self) -> dict[str, LayerRF]:
        return {lr.node.name: lr for lr in self.layers}


def _broadcast(field: Field, have: tuple[int, ...], want: tuple[int, ...]) -> Field:
    """An operand of size 1 along a dim where the output is larger (a C×1×1 gate) is read at every position."""
    if len(have) != len(want) or len(field) != len(have):
        return field
    spread = Taps(1, 0, ((0,),))
    out = []
    for f, h, w in zip(field, have, want):
        g = compose(f, spread, "") if h == 1 and w > 1 else f
        out.append(g if isinstance(g, DimField) else f)
    return tuple(out)


def _apply(rule: RF, node: Node, inputs: list[dict[int, Field | Unknown]], ranks: dict[int, int]) -> dict[int, Field | Unknown]:
    where = f"{rule.why} ('{node.name}')" if rule.why else f"'{node.name}'"
    keys = sorted({k for fields in inputs for k in fields}, reverse=True)
    out: dict[int, Field | Unknown] = {}
    if rule.kind == "global":
        return {k: tuple(whole(where) for _ in range(ranks[k])) for k in keys}
    if rule.kind == "pairs":  # the largest field is the whole input; no element's position says which
        return {k: tuple(replace(whole(where), moved=where) for _ in range(ranks[k])) for k in keys}
    if rule.kind == "unknown":
        return {k: Unknown(where) for k in keys}
    if rule.kind == "none":  # a constant: it reads no model input
        return {}
    want = spatial(node.shape)
    for k in keys:
        reached = [(fields[k], node.in_shapes[j]) for j, fields in enumerate(inputs) if k in fields]
        unknown = next((f for f, _ in reached if isinstance(f, Unknown)), None)
        if unknown is not None:
            out[k] = unknown
            continue
        if rule.kind in ("pointwise", "regroup"):
            known = [_broadcast(f, spatial(s), want) for f, s in reached]  # type: ignore[arg-type]
            rank = {len(f) for f in known}
            if len(rank) > 1:
                out[k] = Unknown(f"'{node.name}' joins tensors whose positions follow different dims of the input")
                continue
            joined = tuple(union([f[d] for f in known], want[d] if d < len(want) else 1)  # type: ignore[index]
                           for d in range(rank.pop()))
            if rule.kind == "regroup":  # what each element reads stays; where it sits does not
                joined = tuple(d if d.whole else replace(d, moved=where) for d in joined)
            out[k] = joined
            continue
        field = reached[0][0]
        assert not isinstance(field, Unknown)
        if len(rule.dims) != len(field):
            if all(t == IDENTITY or t.whole for t in rule.dims) and not any(t.whole for t in rule.dims):
                out[k] = field
            elif any(t.whole for t in rule.dims):  # a dim of a sequence of a map's positions read whole: all of them
                out[k] = tuple(whole(where) for _ in field)
            else:  # a slice or shift of a sequence of a map's positions: each element keeps its field, moved
                out[k] = tuple(d if d.whole else replace(d, moved=where) for d in field)
            continue
        dims = [compose(f, t, where) for f, t in zip(field, rule.dims)]
        bad = next((d for d in dims if isinstance(d, str)), None)
        out[k] = Unknown(f"'{node.name}': {bad}") if bad is not None else tuple(dims)  # type: ignore[arg-type]
    return out


def receptive_fields(graph: Graph) -> ReceptiveFields:
    """Every layer's field with respect to every model input it reads."""
    ranks = {i.index: input_rank(i.shape) for i in graph.inputs}
    fields: dict[int, dict[int, Field | Unknown]] = {i.index: {i.index: identity(ranks[i.index])} for i in graph.inputs}
    layers = []
    for node in graph.nodes:
        rule = node.rule.receptive(node)
        out = _apply(rule, node, [fields[i] for i in node.inputs], ranks)
        fields[node.index] = out
        layers.append(LayerRF(node, out))
    return ReceptiveFields(graph, tuple(layers))


# ---- what renderers show --------------------------------------------------------------------------
def number(x: Fraction) -> int | float:
    """A whole number as an int, else a float (JSON, tables)."""
    return int(x) if x.denominator == 1 else float(x)


def fmt_number(x: Fraction) -> str:
    if x.denominator == 1:
        return str(x.numerator)
    return f"{x.numerator}/{x.denominator}"


def fmt_dims(values: list[str]) -> str:
    return values[0] if len(set(values)) == 1 else "×".join(values)


def fmt_size(field: Field | Unknown) -> str:
    """'427', '7×1', 'all' (global), '?' (unknown), '~5' (not exact); '–' for a field of no spatial dims."""
    if isinstance(field, Unknown):
        return "?"
    if not field:
        return "–"
    if all(d.whole for d in field):
        return "all"
    text = fmt_dims(["all" if d.whole else str(d.size) for d in field])
    return text if all(d.exact for d in field) else f"~{text}"


def fmt_jump(field: Field | Unknown) -> str:
    if isinstance(field, Unknown) or not field or all(d.whole for d in field):
        return "–"
    return fmt_dims(["–" if d.whole else fmt_number(d.jump) for d in field])
