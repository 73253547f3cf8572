"""``grid_sample``: F.grid_sample(x, grid) of a C×H×W map at the points of a grid [Ho, Wo, 2] (another output: a flow
field, an affine_grid of a computed theta) or of a learned grid (``grid: [Ho, Wo]``, a parameter [1, Ho, Wo, 2]
expanded over the batch).

Cost as upsampling counts it (docs/conventions.md): an output element is a weighted sum of its input taps, 1
``pool_op`` per tap per output element and channel: bilinear 4 (2×2), bicubic 16 (4×4), nearest 0 (a copy). The
grid's coordinates unnormalised to pixel positions (a multiply-add per coordinate per output position) are not counted
further, as upsampling's source positions are not. fvcore counts ``aten::grid_sampler`` 4 per output element whatever
the mode ("assume bilinear"); FlopCounterMode, ptflops and thop count nothing.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from ..cost import Backward, Cost
from .counting import Counted, Counting, Prediction, out_elements
from .grad import Need
from .receptive import RF, global_rf
from .registry import NodeLike, Saves, Shape, ShapeError, arg, boolean, choice, lazy_args, op, optional, typed
from .shapes import fmt_shape, numel
from .tensors import show_dims, torch_dims

if TYPE_CHECKING:
    from torch import nn

MODES = ("bilinear", "nearest", "bicubic")
PADDING_MODES = ("zeros", "border", "reflection")
TAPS = {"bilinear": 4, "nearest": 0, "bicubic": 16}
# torch's enums (GridSamplerInterpolation, GridSamplerPadding): aten.grid_sampler_2d's integer arguments
MODE_OF = dict(enumerate(MODES))
PADDING_OF = dict(enumerate(PADDING_MODES))


@typed({"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 2})
def grid_size(value: object) -> tuple[int, int]:
    """A learned grid's [Ho, Wo]."""
    from .registry import ArgError, pos_int

    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ArgError(f"must be the grid's [Ho, Wo], got {value!r}")
    return (pos_int(value[0]), pos_int(value[1]))


@lazy_args
class GridSampleArgs:
    """Arguments of `grid_sample` (those of torch.nn.functional.grid_sample)."""

    mode: str = field(default="bilinear", metadata=arg(choice(*MODES), "bilinear, nearest or bicubic"))
    padding_mode: str = field(default="zeros", metadata=arg(choice(*PADDING_MODES), "zeros, border or reflection "
                                                                                     "(what a point outside reads)",
                                                            compared=False))
    align_corners: bool = field(default=False, metadata=arg(boolean, "torch's align_corners", compared=False))
    grid: tuple[int, int] | None = field(default=None, metadata=arg(optional(grid_size), "a learned grid [Ho, Wo] (a "
                                                                    "parameter [1, Ho, Wo, 2], expanded over the batch) "
                                                                    "instead of a second input"))


def _grid_out(a: GridSampleArgs, inputs: tuple[Shape, ...]) -> tuple[int, int]:
    x = torch_dims(inputs[0])
    if len(x) != 3:
        raise ShapeError(f"grid_sample samples a C×H×W map, got {fmt_shape(inputs[0])} ({show_dims(x)})")
    if a.grid is not None:
        if len(inputs) != 1:
            raise ShapeError("takes its grid as a second input ('from: [x, grid]') or learned ('grid'), not both", "grid")
        return a.grid
    if len(inputs) != 2:
        raise ShapeError("grid_sample reads a map and a grid: give 'from: [x, grid]' or a learned 'grid: [Ho, Wo]'")
    g = torch_dims(inputs[1])
    if len(g) != 3 or g[2] != 2:
        raise ShapeError(f"the grid must be [B, Ho, Wo, 2] (x, y per output position), got {show_dims(g)}")
    return g[0], g[1]


def _grid_backward(a: GridSampleArgs, inputs: tuple[Shape, ...], out: Shape, batch: int, need: Need) -> Backward:
    """The map's gradient: each output's gradient added into its taps (nearest: its one source), as upsampling's. The
    grid's: per output element, 2 ops per tap (each tap's value times the gradient, for x and for y; nearest: none,
    its gradient is zero)."""
    n = batch * numel(out)
    x = max(1, TAPS[a.mode]) * n if need.inputs[0] else 0
    g = 2 * TAPS[a.mode] * n
    grid_input = len(inputs) > 1 and need.inputs[1]
    return Backward(input_ops=x + (g if grid_input else 0), weight_ops=g if need.weights else 0)


def _fvcore(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    return Prediction.of("aten::grid_sampler: 4 per output element (fvcore assumes bilinear)",
                         grid_sample=4 * out_elements(node, batch))


@op("grid_sample", category="resample", args=GridSampleArgs)
class GridSample:
    """Samples a C×H×W map at the points of a grid, F.grid_sample(x, grid, mode, padding_mode, align_corners): the grid
    another output [Ho, Wo, 2] (`from: [x, grid]`) or learned (`grid: [Ho, Wo]`). An output element is its taps'
    weighted sum: 1 pool op per tap (bilinear 4, bicubic 16, nearest 0) per output element and channel."""

    inputs = (1, 2)
    saves = Saves.INPUTS  # grid_sampler_2d_backward reads the map and the grid
    backward = staticmethod(_grid_backward)
    counting = Counting(
        "aten::grid_sampler", "F.grid_sample", "grid_sample",
        fvcore=Counted(_fvcore, "fvcore counts aten::grid_sampler 4 per output element, whatever the mode"),
        ptflops=Counted(lambda node, cost, batch: Prediction.unseen("ptflops sees no module and patches no F.grid_sample")),
    )

    @staticmethod
    def rf(a: GridSampleArgs, inputs: tuple[Shape, ...], out: Shape) -> RF:
        return global_rf("grid_sample reads wherever its grid points")

    @staticmethod
    def shape(a: GridSampleArgs, inputs: tuple[Shape, ...]) -> Shape:
        ho, wo = _grid_out(a, inputs)
        if a.mode == "bicubic" and len(torch_dims(inputs[0])) != 3:  # pragma: no cover - _grid_out refuses it first
            raise ShapeError("bicubic samples a 2-D map only", "mode")
        return (torch_dims(inputs[0])[0], ho, wo)

    @staticmethod
    def cost(a: GridSampleArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        n = batch * numel(out)
        params = a.grid[0] * a.grid[1] * 2 if a.grid is not None else 0
        return Cost(params=params, pool_ops=TAPS[a.mode] * n, activations=n)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from ..modules.tensors import GridSample as Module

        a: GridSampleArgs = node.args
        return Module(a.mode, a.padding_mode, a.align_corners, a.grid)
