"""How an op's output positions read its input's positions: the receptive-field fact of each op definition.

An op's ``rf`` is one of:

- :data:`POINTWISE`: output position p reads input position p of every input (activations, norms at
  inference, joins, per-token ops, views);
- :data:`GLOBAL`: every output reads the whole input (global pooling, attention over all tokens, a linear
  layer on a flat vector, group norm's statistics);
- :class:`Taps`, one per spatial dim of the input (:data:`WHOLE` for a dim read whole): output position
  ``o = m·period + ρ`` reads the input positions ``m·step + t`` for each ``t`` in ``taps[ρ]``. A conv of
  kernel k, stride s, padding p, dilation d is ``Taps(1, s, ((−p, −p + d, ..., −p + (k−1)·d),))``; a transposed
  conv, nearest or linear upsampling, pixel shuffle and Swin's windows need several residues ρ;
- ``pairs(why)``: a product of two outputs pairs their positions (the largest field is the whole input);
- ``regroup(why)``: the op moves elements to other positions (a reshape, a permute of spatial dims, a concat
  along one): each element keeps what it reads, but positions no longer follow the input's dims, so a window
  after it cannot be stated;
- ``unknown(why)``, where the op rearranges positions in a way no rule above states;
- :data:`NOTHING`: the output reads no position of its input (a constant made from its input's shape alone).

Positions are counted on an unbounded input, as receptive fields are usually stated (Araujo et al., 2019):
padding taps read positions before 0 and are kept, so a layer's field does not depend on where a position
sits. costmodel/receptive.py composes these through the graph. No torch here.
"""

from __future__ import annotations

from math import ceil, floor
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .shapes import Shape, grid_of, is_tokens

if TYPE_CHECKING:  # fractions (and decimal) load only where a ratio is worked out: start-up time
    from fractions import Fraction


class Taps(NamedTuple):
    """One spatial dim: output ``m·period + ρ`` reads input ``m·step + t`` for ``t`` in ``taps[ρ]``.
    :data:`WHOLE` (period 0): every output reads the whole input along this dim."""

    period: int
    step: int
    taps: tuple[tuple[int, ...], ...]  # one tuple per residue ρ < period (empty: that output reads nothing)

    @property
    def whole(self) -> bool:
        return self.period == 0


WHOLE = Taps(0, 0, ())


IDENTITY = Taps(1, 1, ((0,),))  # output position o reads input position o


class RF(NamedTuple):
    kind: str  # 'pointwise', 'global', 'taps', 'regroup', 'pairs', 'unknown' or 'none'
    dims: tuple[Taps, ...] = ()  # 'taps': one per spatial dim of the input
    why: str = ""  # 'global' (or a WHOLE dim): what reads everything; 'regroup', 'unknown': what the op does


POINTWISE = RF("pointwise")
NOTHING = RF("none", why="a constant: it reads no position of its input")


def global_rf(why: str) -> RF:
    return RF("global", why=why)


GLOBAL = global_rf("reads every position")


def unknown(why: str) -> RF:
    return RF("unknown", why=why)


def taps(*dims: Taps, why: str = "") -> RF:
    return RF("taps", tuple(dims), why)


FLAT = global_rf("it reads every feature of a flat vector")


def regroup(why: str) -> RF:
    return RF("regroup", why=why)


def pairs(why: str) -> RF:
    """A product of two outputs (q·kᵀ): each element reads one position of each operand, so the largest field is the
    whole input, though no element reads it all: the field is whole, its positions marked moved."""
    return RF("pairs", why=why)


def spatial_axes(shape: Shape) -> tuple[int, ...]:
    """Which of a tensor's per-sample dims (torch's numbering less the batch: indices into ``torch_dims``) are
    positions, in order: a map's dims after the channels, a token sequence's N, a token grid's H and W (T, H, W)."""
    grid = grid_of(shape)
    if grid is not None:
        return tuple(range(len(grid)))
    if is_tokens(shape):
        return (0,)
    return tuple(range(1, len(shape)))


def whole_along(shape: Shape, axes: tuple[int, ...], why: str) -> RF:
    """An op that reads all of ``axes`` (torch dim indices of ``shape``) at once (a softmax, a reduction): those that
    are positions are read whole; over the channels only it is pointwise."""
    if not is_tokens(shape) and len(shape) == 1 and 0 in axes:  # every feature of a flat vector (a flattened map)
        return FLAT
    spatial = spatial_axes(shape)
    if not set(axes) & set(spatial):
        return POINTWISE
    return taps(*(WHOLE if a in axes else IDENTITY for a in spatial), why=why)


def per_axis(shape: Shape, axis: int, t: Taps) -> RF:
    """An op that moves positions along one axis only (a slice, a pad): ``t`` there, the rest in place; pointwise when
    the axis is the channels."""
    spatial = spatial_axes(shape)
    if axis not in spatial:
        return POINTWISE
    return taps(*(t if a == axis else IDENTITY for a in spatial))


class RFFn(Protocol):
    def __call__(self, args: Any, inputs: tuple[Shape, ...], out: Shape) -> RF: ...


def window(kernel: int, stride: int, padding: int, dilation: int = 1) -> Taps:
    """A sliding window (conv, pools): output o reads o·s − p + k·d for k < kernel."""
    return Taps(1, stride, (tuple(-padding + k * dilation for k in range(kernel)),))


def windows(kernel: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...],
            dilation: tuple[int, ...] | None = None) -> RF:
    dil = dilation or (1,) * len(kernel)
    return taps(*(window(k, s, p, d) for k, s, p, d in zip(kernel, stride, padding, dil)))


def scatter(kernel: int, stride: int, padding: int, dilation: int = 1) -> Taps:
    """A transposed conv: input i adds into outputs i·s − p + k·d, so output o = m·s + ρ reads the inputs
    (o + p − k·d)/s that are whole numbers: m + (ρ + p − k·d)/s."""
    return Taps(stride, 1, tuple(
        tuple(sorted({(r + padding - k * dilation) // stride for k in range(kernel)
                      if (r + padding - k * dilation) % stride == 0}))
        for r in range(stride)
    ))


def ratio_taps(ratio: Fraction, offset: Fraction, extra: tuple[int, ...]) -> Taps:
    """An interpolation whose source position is src = o·ratio + offset (ratio = in/out in lowest terms b/a ...):
    output o = m·den + ρ reads floor(src) + e for e in ``extra`` of the taps with a weight that is not zero
    (a tap beyond the first gets weight 0 when src is a whole number: no gradient flows through it)."""
    period, step = ratio.denominator, ratio.numerator
    out = []
    for r in range(period):
        src = r * ratio + offset
        base = floor(src)
        frac = src - base
        out.append((base,) if frac == 0 else tuple(base + e for e in extra))
    return Taps(period, step, tuple(out))


def nearest(ratio: Fraction) -> Taps:
    """Nearest upsampling, torch's src = floor(o · in/out): one tap."""
    from fractions import Fraction

    return ratio_taps(ratio, Fraction(0), (0,))


def nearest_exact(ratio: Fraction) -> Taps:
    """Nearest-exact upsampling, torch's src = floor((o + ½) · in/out): one tap."""
    return ratio_taps(ratio, ratio / 2, (0,))


def antialiased(ratio: Fraction, interp: int) -> Taps:
    """Antialiased interpolation along one dim (interp 2: bilinear's triangle, 4: bicubic's Keys cubic, a = −0.5): output o
    weighs torch's window floor(c − support + ½) .. floor(c + support + ½) − 1 around c = (o + ½)·ratio, support =
    interp/2 · max(ratio, 1) (ratio = in/out): it widens with the downscaling factor. As for the other interpolations, a
    tap whose weight is zero reads nothing: the filter at x = (j − c + ½)/max(ratio, 1) is zero where |x| ≥ 1 (triangle),
    or |x| ≥ 2 or |x| = 1 (cubic)."""
    from fractions import Fraction

    scale = max(ratio, Fraction(1))
    support = Fraction(interp, 2) * scale
    half = Fraction(1, 2)
    period, step = ratio.denominator, ratio.numerator
    spans = []
    for r in range(period):
        c = (r + half) * ratio
        kept = []
        for j in range(floor(c - support + half), floor(c + support + half)):
            x = abs(j - c + half) / scale
            if (x < 1) if interp == 2 else (x < 2 and x != 1):
                kept.append(j)
        spans.append(tuple(kept))
    return Taps(period, step, tuple(spans))


def interpolate(ratio: Fraction, align_corners: bool, taps_: int) -> Taps:
    """Linear interpolation along one dim (taps_ 2) or cubic (taps_ 4): torch's source index
    src = (o + ½)·ratio − ½ (align_corners false; ratio = in/out) or o·ratio (true, ratio = (in − 1)/(out − 1)),
    taps floor(src) and floor(src) + 1 (cubic: floor(src) − 1 ... + 2)."""
    from fractions import Fraction

    offset = Fraction(0) if align_corners else ratio / 2 - Fraction(1, 2)
    extra = (0, 1) if taps_ == 2 else (-1, 0, 1, 2)
    return ratio_taps(ratio, offset, extra)


def adaptive(size: int, out: int) -> Taps:
    """Adaptive pooling: output o reads torch's window floor(o·in/out) .. ceil((o + 1)·in/out) − 1 (one output:
    the whole dim)."""
    from fractions import Fraction

    if out == 1:
        return WHOLE
    ratio = Fraction(size, out)
    period, step = ratio.denominator, ratio.numerator
    return Taps(period, step, tuple(tuple(range(floor(r * ratio), ceil((r + 1) * ratio))) for r in range(period)))
