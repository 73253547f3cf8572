"""Resampling: upsampling (nearest and the interpolating modes) and channel slices (a chunk/split).

Shapes are rank-generic: C, then one to three spatial dimensions (C×L, C×H×W, C×D×H×W), as torch's
nn.Upsample takes them. Convention (docs/conventions.md): an interpolated output element is a
weighted sum of its ``taps`` input elements (linear 2, bilinear 4, bicubic 16, trilinear 8), one
non-MAC op per tap, counted in ``pool_ops`` like the elements of a pooling window; nearest (and nearest-exact)
copies one input element, so it counts no arithmetic. Antialiased bilinear/bicubic (``F.interpolate(...,
antialias=True)``) weighs a window that widens with the downscaling factor: its taps are torch's own windows, summed
over the outputs (:func:`aa_taps_total`). A channel slice is a view: no arithmetic, no traffic.
"""

from __future__ import annotations

import functools
import math
import struct
from dataclasses import field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from ..cost import Backward, Cost
from .counting import FUNCTION, THOP_NO_RULE, Counted, Counting, Prediction, form_of, in_elements, out_elements
from .grad import Need, no_backward
from .receptive import POINTWISE, RF, Taps, antialiased, interpolate, nearest, nearest_exact, per_axis, taps
from .registry import (
    MAX_DIM,
    ArgError,
    NodeLike,
    Saves,
    Shape,
    ShapeError,
    _show,
    arg,
    boolean,
    choice,
    converter_schema,
    lazy_args,
    nonneg_int,
    op,
    optional,
    per_dim,
    pos_float,
    pos_int,
    refuse_unless,
    spec_dims,
    typed,
)
from .shapes import fmt_shape, numel
from .spatial import refuse_tokens
from .tensors import dim_index, integer, like, torch_dims

if TYPE_CHECKING:
    from torch import nn

# Input elements weighted into each output element (none for nearest: a copy).
TAPS = {"nearest": 0, "nearest-exact": 0, "linear": 2, "bilinear": 4, "bicubic": 16, "trilinear": 8}
NEAREST = ("nearest", "nearest-exact")  # the copying modes: no align_corners, no antialias
AA_MODES = {"bilinear": 2, "bicubic": 4}  # the modes torch antialiases, with their interp_size (taps per dim unscaled)
AA_MAX_OUT = 100_000  # antialiased windows are summed one output at a time: at most this many outputs per dim
# The spatial rank each interpolating mode works on (torch refuses the others); nearest takes any.
MODE_RANK = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
RANK_SHAPE = {1: "C×L", 2: "C×H×W", 3: "C×D×H×W"}
MODE_FOR_RANK = {1: "linear", 2: "bilinear or bicubic", 3: "trilinear"}


@typed({"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1})
def pos_int_list(value: Any) -> tuple[int, ...]:
    """A list of positive integers."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ArgError(f"must be a list of positive integers, got {_show(value)}")
    return tuple(pos_int(v) for v in value)


@typed(lambda: converter_schema(pos_float))
def _scale(value: Any) -> int | float:
    """A positive finite number, kept as written (2 stays 2 in messages; torch takes it as float)."""
    pos_float(value)
    return value  # type: ignore[no-any-return]


@lazy_args
class UpsampleArgs:
    """Arguments of `upsample` (those of torch.nn.Upsample)."""

    scale: int | float | tuple[int | float, ...] | None = field(
        default=None, metadata=arg(optional(per_dim(_scale)), "scale factor, one or one per spatial dim; out = floor(in · scale)")
    )
    size: int | tuple[int, ...] | None = field(
        default=None, metadata=arg(optional(per_dim(pos_int)), "output size, one or one per spatial dim (instead of scale)")
    )
    mode: str = field(
        default="nearest", metadata=arg(choice(*TAPS), "nearest, nearest-exact, linear (C×L), bilinear, bicubic (C×H×W), "
                                                       "trilinear (C×D×H×W)")
    )
    align_corners: bool | None = field(
        default=None, metadata=arg(optional(boolean), "align corner pixels (interpolating modes only, as in torch)")
    )
    antialias: bool = field(
        default=False, metadata=arg(boolean, "antialias when downscaling (bilinear, bicubic; F.interpolate's antialias: "
                                             "built as F.interpolate, which nn.Upsample cannot express)")
    )

    def compared(self) -> tuple[tuple[str, Any], ...]:
        """What `verify --reference` compares: torch reads an interpolating mode's align_corners None as false; scale
        and size are the output's size spelt two ways (``scale: 2`` on 8×8 is ``size: 16``), compared through the
        output's shape (a model's ``F.interpolate(x, size=y.shape[-2:])`` is a spec's ``scale: 2``)."""
        corners = bool(self.align_corners) if self.mode not in NEAREST else self.align_corners
        return (("mode", self.mode), ("align_corners", corners), ("antialias", self.antialias))


def _each(value: Any, dims: int, what: str) -> tuple[Any, ...]:
    if not isinstance(value, tuple):
        return (value,) * dims
    if len(value) != dims:
        raise ShapeError(
            f"'{what}' has {len(value)} values, but the input has {dims} spatial dimension{'s' * (dims > 1)}", what
        )
    return value


def upsample_size(size: int, scale: int | float) -> int:
    """torch's rule without recompute_scale_factor: floor(size · scale), the product in double
    (past MAX_DIM, MAX_DIM + 1: the shape rule refuses it, and an infinite product cannot be floored)."""
    product = size * float(scale)
    return math.floor(product) if product <= MAX_DIM else MAX_DIM + 1


def _upsample_shape(a: UpsampleArgs, inputs: tuple[Shape, ...]) -> Shape:
    shape = inputs[0]
    refuse_tokens("upsample", shape)
    dims = len(shape) - 1
    if dims not in RANK_SHAPE:
        raise ShapeError(f"upsample needs a C×L, C×H×W or C×D×H×W input, got {fmt_shape(shape) or 'a scalar'}")
    if a.mode in MODE_RANK and MODE_RANK[a.mode] != dims:
        raise ShapeError(
            f"mode '{a.mode}' interpolates {RANK_SHAPE[MODE_RANK[a.mode]]} inputs, got {fmt_shape(shape)}; "
            f"use '{MODE_FOR_RANK[dims]}' (or 'nearest') for {RANK_SHAPE[dims]}",
            "mode",
        )
    if a.align_corners is not None and a.mode in NEAREST:
        raise ShapeError(
            "'align_corners' can only be set with the interpolating modes (linear, bilinear, bicubic, trilinear), "
            "as in torch",
            "align_corners",
        )
    if a.antialias and a.mode not in AA_MODES:
        raise ShapeError(f"'antialias' works with modes bilinear and bicubic only (as in torch), got '{a.mode}'", "antialias")
    if (a.scale is None) == (a.size is None):
        raise ShapeError("upsample needs 'scale' or 'size'" + (", not both" if a.scale is not None else ""))
    if a.size is not None:
        out = _each(a.size, dims, "size")
        arg_name = "size"
    else:
        out = tuple(upsample_size(n, s) for n, s in zip(shape[1:], _each(a.scale, dims, "scale")))
        arg_name = "scale"
    for n, o in zip(shape[1:], out):
        if o < 1:
            raise ShapeError(
                f"scaling {fmt_shape(shape[1:])} by {_show(a.scale)} leaves a size of {o}; torch needs at least 1", arg_name
            )
        if o > MAX_DIM:
            raise ShapeError(f"upsampling {n} by {_show(a.scale)} is more than the limit of {MAX_DIM:,} (see docs/limits.md)"
                             if arg_name == "scale" else f"size {o:,} is more than the limit of {MAX_DIM:,}", arg_name)
        if a.antialias and o > AA_MAX_OUT:
            raise ShapeError(f"an antialiased output of {o:,} along one dim is more than convcost sums window by window "
                             f"(at most {AA_MAX_OUT:,}; see docs/limits.md)", arg_name)
    return (shape[0], *out)


def _f32(x: float) -> float:
    """``x`` rounded to float32, as torch's CPU kernel holds it for a float32 tensor."""
    return float(struct.unpack("f", struct.pack("f", x))[0])


@functools.lru_cache(maxsize=1024)  # a layer's cost, backward and receptive field ask again for the same dims
def aa_taps_total(size: int, out: int, interp: int, align_corners: bool, scale: float | None) -> int:
    """The input elements torch's antialiased kernel weighs along one dim, summed over the ``out`` outputs.

    torch's _compute_index_ranges_weights / _compute_indices_min_size_weights_aa (aten/src/ATen/native/cpu/
    UpSampleKernel.cpp) in float32: scale = in/out (1/scale where F.interpolate passed a scale factor; (in − 1)/(out − 1)
    with align_corners), support = interp/2 · scale when downscaling (scale ≥ 1), else interp/2; output i weighs the
    inputs xmin ≤ j < xmax with center = scale·(i + ½), xmin = max(trunc(center − support + ½), 0), xmax =
    min(trunc(center + support + ½), in), at most ceil(support)·2 + 1 of them. Every product is rounded as the kernel
    rounds it, so a window edge that falls on a whole number in exact arithmetic lands where torch's lands.
    """
    if align_corners:
        s = _f32(_f32(size - 1) / _f32(out - 1)) if out > 1 else 0.0
    elif scale is not None and scale > 0:
        s = _f32(1.0 / float(scale))
    else:
        s = _f32(_f32(size) / _f32(out))
    support = _f32(interp * 0.5 * s) if s >= 1.0 else interp * 0.5
    most = math.ceil(support) * 2 + 1
    total = 0
    for i in range(out):
        center = _f32(s * (i + 0.5))
        lo = max(int(_f32(center - support) + 0.5), 0)
        hi = min(int(_f32(center + support) + 0.5), size)
        total += min(max(hi - lo, 0), most)
    return total


def _scales(a: UpsampleArgs, dims: int) -> tuple[int | float | None, ...]:
    return _each(a.scale, dims, "scale") if a.scale is not None else (None,) * dims


def upsample_taps(a: UpsampleArgs, size: Shape, out: Shape) -> int:
    """Input elements weighed into all of one sample's one channel's outputs: the mode's taps per output element, or
    with antialias the product over the dims of torch's windows summed along each (:func:`aa_taps_total`)."""
    if not a.antialias:
        return TAPS[a.mode] * numel(out)
    interp = AA_MODES[a.mode]
    return math.prod(aa_taps_total(n, o, interp, bool(a.align_corners), s)
                     for n, o, s in zip(size, out, _scales(a, len(size))))


def _upsample_cost(a: UpsampleArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
    n = batch * numel(out)
    # taps per output element (docs/conventions.md); antialiased: torch's windows, summed
    return Cost(pool_ops=batch * out[0] * upsample_taps(a, inputs[0][1:], out[1:]), activations=n)


def upsample_aten(node: NodeLike) -> str:
    """The aten op nn.Upsample or F.interpolate runs: aten::upsample_<mode><rank>d, aten::_upsample_nearest_exact<rank>d,
    aten::_upsample_<mode>2d_aa with antialias."""
    a, rank = node.args, len(node.shape) - 1
    if a.antialias:
        return f"aten::_upsample_{a.mode}{rank}d_aa"
    return f"aten::_upsample_nearest_exact{rank}d" if a.mode == "nearest-exact" else f"aten::upsample_{a.mode}{rank}d"


def as_function(node: NodeLike) -> bool:
    """Whether the layer is built as F.interpolate: written so, or antialiased (nn.Upsample has no antialias)."""
    return form_of(node) == FUNCTION or bool(node.args.antialias)


FVCORE_PER_OUTPUT = {"aten::upsample_nearest2d": 1, "aten::upsample_bilinear2d": 4}  # flop_count.py's handles


def _upsample_fvcore(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    aten = upsample_aten(node)
    per = FVCORE_PER_OUTPUT.get(aten)
    if per is None:
        return Prediction.unseen(f"fvcore has no handle for {aten} (reports it as unsupported)")
    return Prediction.of(f"{aten}: {per} per output element", upsample=per * out_elements(node, batch))


def _upsample_ptflops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # upsample_flops_counter_hook: output elements; the patched F.interpolate (_interpolate_functional_flops_hook):
    # with a size, prod(size)·N·C (the output elements); with a scale, input elements · scale^dims, as a float
    # (a per-dimension tuple: · int(np.prod(scale, dtype=int64)), each factor truncated first); ptflops adds
    # both to its float total and int()s the sum: per layer here, exact for one fractional layer. Antialiased, the layer
    # is F.interpolate (no module): the patched function alone.
    if node.args.antialias:
        return _upsample_ptflops_functional(node, cost, batch)
    return Prediction.of(upsample=int(out_elements(node, batch) + _interpolate_functional(node, batch)))


def _interpolate_functional(node: NodeLike, batch: int) -> int | float:
    """What ptflops' patched F.interpolate adds (_interpolate_functional_flops_hook): with a size, prod(size)·N·C (the
    output elements); with a scale, input elements · scale^dims, a float (a per-dimension tuple: · int(np.prod(scale,
    dtype=int64)), each factor truncated first)."""
    a = node.args
    if a.size is not None:
        return out_elements(node, batch)
    if isinstance(a.scale, tuple):
        return in_elements(node, batch) * math.prod(int(float(s)) for s in a.scale)
    return in_elements(node, batch) * float(a.scale) ** (len(node.shape) - 1)


def _upsample_ptflops_functional(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    return Prediction.of(upsample=int(_interpolate_functional(node, batch)))


def _upsample_calflops_flops(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # calflops' _upsample_flops_compute: with a size, prod(size) for a list (the spatial size only: no batch, no
    # channels) or the int as it is; with a scale, input.numel() (it computes flops · scale and drops the result)
    a = node.args
    if a.size is None:
        return Prediction.of(upsample=in_elements(node, batch))
    return Prediction.of(upsample=math.prod(a.size) if isinstance(a.size, tuple) else a.size)


THOP_PER_OUTPUT = {"nearest": 1, "linear": 5, "bilinear": 11, "bicubic": 224 + 35}  # thop calculate_upsample


def _upsample_thop(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if node.args.antialias:
        return Prediction.unseen("thop hooks only modules: an antialiased F.interpolate (nn.Upsample has no antialias) "
                                 "is invisible")
    per = THOP_PER_OUTPUT.get(node.args.mode)
    if per is None:  # count_upsample: "mode trilinear is not implemented yet, take it a zero op"
        return Prediction.unseen(f"thop's count_upsample takes mode {node.args.mode} as a zero op")
    return Prediction.of(upsample=per * out_elements(node, batch))


def _ratio(a: UpsampleArgs, size: int, out: int, scale: int | float | None) -> Fraction:
    """in/out as torch's source index uses it: 1/scale when a scale is given, else in/out; (in − 1)/(out − 1) with
    align_corners."""
    if a.align_corners:
        return Fraction(size - 1, out - 1) if out > 1 else Fraction(0)
    if scale is not None:
        return 1 / Fraction(repr(float(scale)))  # the scale as written (1.1 is 11/10, not its binary neighbour)
    return Fraction(size, out)


def _upsample_rf(a: UpsampleArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
    sizes, outs = inputs[0][1:], out[1:]
    dims: list[Taps] = []
    for size, o, scale in zip(sizes, outs, _scales(a, len(sizes))):
        ratio = _ratio(a, size, o, scale)
        if a.mode == "nearest":
            dims.append(nearest(ratio))
        elif a.mode == "nearest-exact":
            dims.append(nearest_exact(ratio))
        elif a.antialias:
            dims.append(antialiased(ratio, AA_MODES[a.mode]))
        else:  # linear along each dim: 2 taps (bicubic: 4)
            dims.append(interpolate(ratio, bool(a.align_corners), 4 if a.mode == "bicubic" else 2))
    return taps(*dims)


@op("upsample", category="resample", args=UpsampleArgs)
class Upsample:
    """Upsampling by a scale or to a size (torch.nn.Upsample, F.interpolate): nearest, nearest-exact, linear, bilinear,
    bicubic, trilinear.
    torch's output size floor(in · scale); one non-MAC op per interpolation tap per output element (nearest and
    nearest-exact: none, a copy; linear 2, bilinear 4, bicubic 16, trilinear 8), counted as pool ops. `antialias:
    true` (bilinear, bicubic; F.interpolate only) weighs torch's antialiased windows, which widen with the
    downscaling factor: their taps summed over the outputs, per dim, multiplied across the dims."""

    spellings = ("interpolate",)

    imports = ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d")

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        refuse_unless(not getattr(m, "recompute_scale_factor", None), "recompute_scale_factor=True")
        scale = spec_dims(m.scale_factor)
        args: dict[str, Any] = {"size": spec_dims(m.size)} if m.size is not None else {"scale": scale}
        return {**args, "mode": m.mode, "align_corners": m.align_corners}

    saves = Saves.NOTHING  # upsample_*_backward needs only the input's size
    rf = staticmethod(_upsample_rf)

    @staticmethod
    def backward(a: UpsampleArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
        # every output's gradient is added into each of its taps (nearest: its one source element)
        if not need.any_input:
            return Backward()
        if a.antialias:
            return Backward(input_ops=batch * out[0] * upsample_taps(a, inputs[0][1:], out[1:]))
        return Backward(input_ops=max(1, TAPS[a.mode]) * batch * numel(out))

    counting = Counting(
        "aten::upsample_<mode><rank>d", "nn.Upsample", "upsample",
        fvcore=Counted(_upsample_fvcore, "fvcore counts upsample_nearest2d 1 and upsample_bilinear2d 4 per output element"),
        ptflops=Counted(
            _upsample_ptflops,
            "ptflops counts upsampling twice: its nn.Upsample hook (output elements) and the patched F.interpolate "
            "(input elements · scale^dims, or the output elements with a size)",
        ),
        thop=Counted(_upsample_thop, "thop counts upsampling per output element: nearest 1, linear 5, bilinear 11, bicubic 259"),
        function="F.interpolate", subclass=True,
        ptflops_functional=Counted(
            _upsample_ptflops_functional,
            "ptflops counts F.interpolate once, through its patched function: input elements · scale^dims, or the "
            "output elements with a size",
        ),
        calflops=Counted(lambda node, cost, batch: Prediction.unseen("calflops counts upsampling as FLOPs, with 0 MACs")),
        calflops_flops=Counted(
            _upsample_calflops_flops,
            "calflops counts F.interpolate as the product of its size (no batch or channels), or the input elements "
            "with a scale",
        ),
    )

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        a: UpsampleArgs = node.args
        scale = tuple(float(s) for s in a.scale) if isinstance(a.scale, tuple) else a.scale
        if as_function(node):  # torchvision's segmentation heads: F.interpolate(x, size=..., mode=...); antialias
            from ..modules.call import Functional

            more = {"antialias": True} if a.antialias else {}
            return Functional("F.interpolate", size=a.size, scale_factor=scale, mode=a.mode, align_corners=a.align_corners,
                              **more)
        return nn.Upsample(size=a.size, scale_factor=scale, mode=a.mode, align_corners=a.align_corners)

    shape = staticmethod(_upsample_shape)
    cost = staticmethod(_upsample_cost)


# ---- channel slices ------------------------------------------------------------------------------
@lazy_args
class ChunkArgs:
    """Arguments of `chunk`."""

    index: int = field(metadata=arg(nonneg_int, "which part, from 0"))
    parts: int | None = field(default=None, metadata=arg(optional(pos_int), "equal parts the channels split into (default 2)"))
    sizes: tuple[int, ...] | None = field(
        default=None, metadata=arg(optional(pos_int_list), "channels of each part, a list (instead of equal parts)")
    )
    dim: int | None = field(
        default=None, metadata=arg(optional(integer), "the dim to split (torch's numbering: the batch is 0; default the "
                                                      "channels, dim 1 of a map)")
    )

    @property
    def count(self) -> int:
        """How many parts."""
        return len(self.sizes) if self.sizes is not None else self.parts or 2

    def channels(self, total: int) -> int:
        """The channels of this part, of ``total``."""
        return total // self.count if self.sizes is None else self.sizes[self.index]

    def compared(self) -> tuple[tuple[str, Any], ...]:
        """What `verify --reference` compares: which part of how many, and their sizes where they differ
        (``parts: 2``, no ``parts`` and ``sizes: [32, 32]`` are one split)."""
        unequal = self.sizes is not None and len(set(self.sizes)) > 1
        return (("index", self.index), ("parts", self.count), ("sizes", self.sizes if unequal else None))


def _chunk_shape(a: ChunkArgs, inputs: tuple[Shape, ...]) -> Shape:
    shape = inputs[0]
    if a.dim is None:
        refuse_tokens("chunk", shape)
        dims, i, what = tuple(shape), 0, "channels"
    else:
        dims = torch_dims(shape)
        i = dim_index(a.dim, dims)
        what = f"values along dim {a.dim}"
    c = dims[i]
    if a.sizes is not None:
        sizes = a.sizes
        if a.parts is not None and a.parts != len(sizes):
            raise ShapeError(f"'parts' is {a.parts} but 'sizes' lists {len(sizes)}; give one of them", "parts")
        if sum(sizes) != c:
            shown = ", ".join(map(str, sizes))
            raise ShapeError(f"sizes [{shown}] sum to {sum(sizes)}, but the input has {c} {what}", "sizes")
    elif c % a.count:
        raise ShapeError(f"{c} {what} do not split into {a.count} equal parts", "parts")
    if a.index >= a.count:
        raise ShapeError(f"index {a.index} is out of range for {a.count} parts (0 to {a.count - 1})", "index")
    out = (*dims[:i], a.channels(c), *dims[i + 1:])
    return out if a.dim is None else like(shape, out, "chunk")


def chunk_aten(node: NodeLike) -> str:
    return "aten::split_with_sizes" if node.args.sizes is not None else "aten::chunk"


@op("chunk", category="reshape", args=ChunkArgs)
class Chunk:
    """One slice of the channels (x.chunk(parts, 1)[index], or x.split(sizes, 1)[index]), or with `dim` of any dim;
    a view, no arithmetic. The `split` structure makes one per branch."""

    saves = Saves.NOTHING
    backward = staticmethod(no_backward)  # the gradient is written into its slice of a zero tensor

    @staticmethod
    def rf(a: ChunkArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        """A slice of the channels is pointwise; a part of a dim of positions starts after the parts before it."""
        if a.dim is None:
            return POINTWISE
        dims = torch_dims(inputs[0])
        i = dim_index(a.dim, dims)
        start = sum(a.sizes[:a.index]) if a.sizes is not None else a.index * (dims[i] // a.count)
        return per_axis(inputs[0], i, Taps(1, 1, ((start,),)))

    counting = Counting(
        "aten::chunk", "x.chunk",
        fvcore=Counted(lambda node, cost, batch: Prediction.unseen(f"{chunk_aten(node)} is on fvcore's ignore list")),
        ptflops=Counted(lambda node, cost, batch: Prediction.unseen("ptflops sees no module and patches no chunk/split")),
        thop=THOP_NO_RULE,
    )

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.call import Call

        a: ChunkArgs = node.args
        index = a.index
        dim = 1 if a.dim is None else dim_index(a.dim, torch_dims(node.in_shapes[0])) + 1
        if a.sizes is None:
            parts = a.count
            return Call(lambda x: x.chunk(parts, dim)[index], f"x.chunk({parts}, dim={dim})[{index}]")
        sizes = list(a.sizes)
        return Call(lambda x: x.split(sizes, dim)[index], f"x.split({sizes}, dim={dim})[{index}]")

    shape = staticmethod(_chunk_shape)

    @staticmethod
    def cost(a: ChunkArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        return Cost(activations=batch * numel(out))
