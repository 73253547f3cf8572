"""Elementwise activations: one table, one row per op, everything convcost knows about each.

Every activation has the same shape rule (output = input) and cost (one op per element); a row says
what differs: its torch module (built with the op's arguments in field order), the aten op that
module runs, what its backward saves, and how the module-hook counters treat it. Adding an
activation is adding a row. PReLU (learnable) and softmax (not elementwise) have their own
definitions below the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple, field, fields
from typing import TYPE_CHECKING, Any, NamedTuple

from ..cost import Cost
from .counting import (
    CALFLOPS_PATCHED,
    FUNCTION,
    FVCORE_IGNORED,
    FVCORE_UNSUPPORTED,
    PTFLOPS_NO_HOOK,
    PTFLOPS_PATCHED,
    THOP_NO_RULE,
    THOP_ZERO,
    TORCHSCAN_UNSUPPORTED,
    Counted,
    Counting,
    Prediction,
    called,
    form_of,
    in_elements,
    out_elements,
)
from .grad import ACTIVATION_BACKWARD_OPS, SOFTMAX_BACKWARD_OPS, per_output_element
from .receptive import POINTWISE, RF, whole_along
from .registry import (
    BuildFn,
    ExtraBytesFn,
    FromTorchFn,
    NoArgs,
    NodeLike,
    OpRule,
    Saves,
    Shape,
    ShapeError,
    ShapeFn,
    arg,
    choice,
    lazy_args,
    no_extra,
    number,
    op,
    pos_int,
    refuse_unless,
    register,
)
from .shapes import numel
from .tensors import dim_index, integer, torch_dims

if TYPE_CHECKING:
    from torch import nn


@lazy_args
class LeakyArgs:
    """Arguments of `leaky_relu` (in torch.nn.LeakyReLU's order)."""

    slope: float = field(default=0.01, metadata=arg(number, "negative slope"))


@lazy_args
class EluArgs:
    """Arguments of `elu` (in torch.nn.ELU's order)."""

    alpha: float = field(default=1.0, metadata=arg(number, "α of α·(exp(x) − 1) for x < 0"))


@lazy_args
class GeluArgs:
    """Arguments of `gelu` (those of torch.nn.GELU)."""

    approximate: str = field(default="none", metadata=arg(choice("none", "tanh"), "none: the exact GELU; tanh: its tanh "
                                                                                  "approximation (timm's GELUTanh)"))


@lazy_args
class HardtanhArgs:
    """Arguments of `hardtanh` (in torch.nn.Hardtanh's order)."""

    min: float = field(default=-1.0, metadata=arg(number, "lower clamp (min_val)"))
    max: float = field(default=1.0, metadata=arg(number, "upper clamp (max_val), more than min"))


def _min_below_max(a: HardtanhArgs) -> None:
    if not a.max > a.min:  # torch.nn.Hardtanh asserts max_val > min_val
        raise ShapeError(f"max={a.max:g} must be more than min={a.min:g} (as in torch)", "max")


@lazy_args
class SoftplusArgs:
    """Arguments of `softplus` (in torch.nn.Softplus's order)."""

    beta: float = field(default=1.0, metadata=arg(number, "β of log(1 + exp(β·x)) / β; not 0"))
    threshold: float = field(default=20.0, metadata=arg(number, "where β·x is above it, x passes through (torch's "
                                                                   "linear region)"))


def _beta_not_zero(a: SoftplusArgs) -> None:
    if a.beta == 0:  # torch divides by β: every output NaN
        raise ShapeError("beta=0 divides by zero (torch's softplus is log(1 + exp(β·x)) / β): every output would be NaN",
                         "beta")


@lazy_args
class CeluArgs:
    """Arguments of `celu` (in torch.nn.CELU's order)."""

    alpha: float = field(default=1.0, metadata=arg(number, "α of α·(exp(x/α) − 1) for x < 0; not 0"))


def _alpha_not_zero(a: CeluArgs) -> None:
    if a.alpha == 0:  # torch's celu: "ZeroDivisionError: alpha cannot be 0 for CELU"
        raise ShapeError("alpha=0 divides by zero (x/α): torch refuses it for CELU", "alpha")


@lazy_args
class ThresholdArgs:
    """Arguments of `threshold` (in torch.nn.Threshold's order; both required, as there)."""

    threshold: float = field(metadata=arg(number, "x where x > threshold"))
    value: float = field(metadata=arg(number, "what replaces x elsewhere"))


class Activation(NamedTuple):
    """One row of the table (a NamedTuple: cheap to create at start-up, see counting.py)."""

    name: str
    summary: str
    module: str  # the torch.nn class, called with the op's arguments in field order
    aten: str  # the aten op that module runs (fvcore's trace)
    saves: Saves  # OUTPUT where torch's derivative is computed from the result (derivatives.yaml)
    fvcore_ignored: bool = False  # the aten op is in fvcore's _IGNORED_OPS
    ptflops_hook: bool = False  # ptflops' relu_flops_counter_hook: 1 per output element
    ptflops_patch: str | None = None  # the functional ptflops patches and the module calls: +1 per element
    thop_zero: bool = False  # in thop's zero_ops
    args: type = NoArgs
    aliases: tuple[str, ...] = ()
    check: Callable[[Any], None] | None = None  # raises ShapeError for arguments torch refuses
    torch_attrs: tuple[str, ...] = ()  # the module's attributes holding the op's arguments, in field order (import)
    function: str = ""  # the call as models write it ('torch: function'): F.relu, torch.sigmoid
    calls: str = ""  # what the module's forward calls (nn.ReLU6: F.hardtanh); '' = the same as ``function``
    torchscan_zero: bool = False  # in torchscan's module_macs chain with 0 MACs (ReLU, ELU, LeakyReLU, ReLU6, Tanh, Sigmoid)
    saved_extra: ExtraBytesFn = no_extra  # what its backward keeps besides its input or output (log_sigmoid's buffer)


ACTIVATIONS = (
    Activation("relu", "ReLU, max(x, 0).", "ReLU", "aten::relu", Saves.OUTPUT,
               fvcore_ignored=True, ptflops_hook=True, ptflops_patch="F.relu", thop_zero=True, function="F.relu",
               torchscan_zero=True),
    Activation("relu6", "ReLU6, min(max(x, 0), 6).", "ReLU6", "aten::hardtanh", Saves.INPUTS,
               ptflops_hook=True, thop_zero=True, function="F.relu6", calls="F.hardtanh", torchscan_zero=True),
    Activation("leaky_relu", "Leaky ReLU.", "LeakyReLU", "aten::leaky_relu", Saves.INPUTS, torch_attrs=("negative_slope",),
               ptflops_hook=True, thop_zero=True, args=LeakyArgs, function="F.leaky_relu", torchscan_zero=True),
    Activation("sigmoid", "Logistic sigmoid.", "Sigmoid", "aten::sigmoid", Saves.OUTPUT, function="torch.sigmoid",
               torchscan_zero=True),
    Activation("silu", "SiLU / swish, x·sigmoid(x).", "SiLU", "aten::silu", Saves.INPUTS,
               ptflops_patch="F.silu", aliases=("swish",), function="F.silu"),
    Activation("hardswish", "Hard swish (MobileNetV3).", "Hardswish", "aten::hardswish", Saves.INPUTS, function="F.hardswish"),
    Activation("hardsigmoid", "Hard sigmoid (MobileNetV3 squeeze-excite).", "Hardsigmoid", "aten::hardsigmoid",
               Saves.INPUTS, function="F.hardsigmoid"),
    Activation("gelu", "GELU.", "GELU", "aten::gelu", Saves.INPUTS, ptflops_hook=True, ptflops_patch="F.gelu", args=GeluArgs,
               torch_attrs=("approximate",), function="F.gelu"),
    Activation("tanh", "Hyperbolic tangent.", "Tanh", "aten::tanh", Saves.OUTPUT, function="torch.tanh", torchscan_zero=True),
    Activation("mish", "Mish, x·tanh(softplus(x)).", "Mish", "aten::mish", Saves.INPUTS, function="F.mish"),
    Activation("elu", "ELU.", "ELU", "aten::elu", Saves.INPUTS, ptflops_hook=True, ptflops_patch="F.elu", args=EluArgs,
               torch_attrs=("alpha",), function="F.elu", torchscan_zero=True),
    Activation("hardtanh", "Hard tanh, min(max(x, min), max).", "Hardtanh", "aten::hardtanh", Saves.INPUTS,
               args=HardtanhArgs, check=_min_below_max, torch_attrs=("min_val", "max_val"), function="F.hardtanh"),
    # issue 20's activations with arguments; no counter but convcost has a rule for any of them (ptflops, thop,
    # torchscan, calflops: none names their modules or patches their functions; nn.CELU and nn.SELU are no nn.ELU,
    # and F.celu / F.selu call torch.celu / torch.selu, not the F.elu ptflops and calflops patch)
    Activation("softplus", "Softplus, log(1 + exp(β·x)) / β (x itself where β·x > threshold).", "Softplus",
               "aten::softplus", Saves.INPUTS, args=SoftplusArgs, check=_beta_not_zero, torch_attrs=("beta", "threshold"),
               function="F.softplus"),
    Activation("celu", "CELU, max(0, x) + min(0, α·(exp(x/α) − 1)).", "CELU", "aten::celu", Saves.INPUTS, args=CeluArgs,
               check=_alpha_not_zero, torch_attrs=("alpha",), function="F.celu"),
    Activation("selu", "SELU, scale·elu(x, α) with torch's fixed scale and α (self-normalising nets).", "SELU",
               "aten::selu", Saves.INPUTS, function="F.selu"),
    Activation("threshold", "Threshold: x where x > threshold, else value.", "Threshold", "aten::threshold", Saves.INPUTS,
               args=ThresholdArgs, torch_attrs=("threshold", "value"), function="F.threshold"),
    # log_sigmoid_forward returns the output and a buffer its backward reads (CPU: the input's size; CUDA: empty)
    Activation("logsigmoid", "Log-sigmoid, log(1 / (1 + exp(−x))).", "LogSigmoid", "aten::log_sigmoid", Saves.INPUTS,
               function="F.logsigmoid",
               saved_extra=lambda node, batch, elem: batch * numel(node.shape) * elem),
)


def _shape(a: object, inputs: tuple[Shape, ...]) -> Shape:
    return inputs[0]


def _checked_shape(check: Callable[[Any], None]) -> ShapeFn:
    def shape(a: object, inputs: tuple[Shape, ...]) -> Shape:
        check(a)
        return inputs[0]

    return shape


def _cost(a: object, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
    n = batch * numel(out)
    return Cost(act_ops=n, activations=n)


def _builder(row: Activation) -> BuildFn:
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        if form_of(node) == FUNCTION:
            from ..modules.call import Functional

            values = astuple(node.args)
            if len(row.torch_attrs) == len(values):  # by name: F.gelu takes approximate only as a keyword
                return Functional(row.function, **dict(zip(row.torch_attrs, values)))
            return Functional(row.function, *values)
        return getattr(nn, row.module)(*astuple(node.args))

    return build


def _calls(row: Activation, node: NodeLike) -> str:
    return called(node, row.calls or row.function)


def _ptflops_functional(row: Activation) -> Counted:
    """ptflops without a module hook (a function, a subclass): its patched F.relu/F.gelu/... count 1 per element."""

    def predict(node: NodeLike, cost: Cost, batch: int) -> Prediction:
        fn = _calls(row, node)
        if fn not in PTFLOPS_PATCHED:
            return Prediction.unseen(f"ptflops finds no hook for it and does not patch {fn}")
        return Prediction.of(**{node.rule.counting.category: in_elements(node, batch)})

    return Counted(predict, f"ptflops counts {row.function} once per element, through its patched function")


def _calflops_flops(row: Activation) -> Counted:
    def predict(node: NodeLike, cost: Cost, batch: int) -> Prediction:
        fn = _calls(row, node)
        if fn not in CALFLOPS_PATCHED:
            return Prediction.unseen(f"calflops does not patch {fn}")
        return Prediction.of(**{node.rule.counting.category: in_elements(node, batch)})

    return Counted(predict, "calflops counts 1 FLOP per element of the activations it patches (F.relu, F.silu...)")


_CALFLOPS_NO_MACS = Counted(lambda node, cost, batch: Prediction.unseen("calflops counts activations as FLOPs, with 0 MACs"))
_TORCHSCAN_ZERO = Counted(lambda node, cost, batch: Prediction.of(**{node.rule.counting.category: 0}))


def _from_torch(row: Activation) -> FromTorchFn:
    def from_torch(m: Any) -> dict[str, Any]:  # the fields read here, not at import: ops/registry.py's lazy_args
        return {f.name: getattr(m, attr) for f, attr in zip(fields(row.args), row.torch_attrs)}

    return from_torch


def _ptflops(row: Activation) -> Counted:
    times = row.ptflops_hook + (row.ptflops_patch is not None)
    if not times:
        return PTFLOPS_NO_HOOK
    if row.ptflops_hook and row.ptflops_patch:
        why = f"ptflops counts {row.module} twice per output element: its module hook and the patched {row.ptflops_patch}"
    elif row.ptflops_hook:
        why = f"ptflops counts 1 per {row.module} output element"
    else:
        why = f"ptflops counts 1 per {row.module} element (the patched {row.ptflops_patch})"

    def predict(node: NodeLike, cost: Cost, batch: int) -> Prediction:
        return Prediction.of(**{node.rule.counting.category: times * out_elements(node, batch)})

    return Counted(predict, why)


# the derivative (1 per element, whatever the function, as the forward counts it) times the gradient (1)
ACTIVATION_BACKWARD = per_output_element(ACTIVATION_BACKWARD_OPS)

for _row in ACTIVATIONS:
    register(
        OpRule(
            _row.name, _row.args, "activation", _checked_shape(_row.check) if _row.check else _shape, _cost, _row.summary,
            build=_builder(_row),
            saves=_row.saves,
            backward=ACTIVATION_BACKWARD,
            rf=POINTWISE,
            counting=Counting(
                _row.aten, f"nn.{_row.module}",
                fvcore=FVCORE_IGNORED if _row.fvcore_ignored else FVCORE_UNSUPPORTED,
                ptflops=_ptflops(_row),
                thop=THOP_ZERO if _row.thop_zero else THOP_NO_RULE,
                function=_row.function, subclass=True,
                ptflops_functional=_ptflops_functional(_row),
                torchscan=_TORCHSCAN_ZERO if _row.torchscan_zero else TORCHSCAN_UNSUPPORTED,
                calflops=_CALFLOPS_NO_MACS,
                calflops_flops=_calflops_flops(_row),
            ),
            saved_extra=_row.saved_extra,
            aliases=_row.aliases,
            imports=(_row.module,),
            from_torch=_from_torch(_row),
        )
    )


# ---- activations the table does not fit: learnable (prelu) or not elementwise (softmax) ----------
@lazy_args
class PReLUArgs:
    """Arguments of `prelu` (those of torch.nn.PReLU)."""

    num_parameters: int = field(
        default=1, metadata=arg(pos_int, "learnable slopes: 1 shared (torch's default) or C, one per channel")
    )
    init: float = field(default=0.25, metadata=arg(number, "initial slope", compared=False))


@op("prelu", category="activation", args=PReLUArgs)
class PReLU:
    """Parametric ReLU with a learnable negative slope (torch.nn.PReLU).
    1 op per element; 1 or C params."""

    imports = ("PReLU",)
    saves = Saves.INPUTS
    rf = POINTWISE
    # input: the derivative (x > 0 ? 1 : a) times g (2 per element); slope: g·x where x < 0, summed (2 per element)
    backward = staticmethod(per_output_element(ACTIVATION_BACKWARD_OPS, 2))

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        return {"num_parameters": m.num_parameters}
    counting = Counting(
        "aten::prelu", "nn.PReLU",
        ptflops=Counted(  # relu_flops_counter_hook (output elements) + the patched F.prelu (input elements)
            lambda node, cost, batch: Prediction.of(prelu=2 * out_elements(node, batch)),
            "ptflops counts nn.PReLU twice per element: its module hook and the patched F.prelu",
        ),
        thop=Counted(  # count_prelu: input elements, in eval
            lambda node, cost, batch: Prediction.of(prelu=in_elements(node, batch)),
            "thop counts 1 per PReLU element",
        ),
        calflops=_CALFLOPS_NO_MACS,
        calflops_flops=Counted(  # nn.PReLU.forward calls the patched F.prelu: _prelu_flops_compute, input.numel()
            lambda node, cost, batch: Prediction.of(prelu=in_elements(node, batch)),
            "calflops counts 1 FLOP per PReLU element (its patched F.prelu)",
        ),
    )

    @staticmethod
    def shape(a: PReLUArgs, inputs: tuple[Shape, ...]) -> Shape:
        c = inputs[0][0]
        if a.num_parameters not in (1, c):
            raise ShapeError(f"num_parameters={a.num_parameters} must be 1 or the input's channels ({c})", "num_parameters")
        return inputs[0]

    @staticmethod
    def cost(a: PReLUArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
        n = batch * numel(out)
        return Cost(params=a.num_parameters, act_ops=n, activations=n)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        return nn.PReLU(node.args.num_parameters, node.args.init)


SOFTMAX_OPS = 3  # per element: an exp, its share of the sum, a divide


@lazy_args
class SoftmaxArgs:
    """Arguments of `softmax` and `log_softmax`."""

    dim: int = field(default=1, metadata=arg(integer, "the dim normalised (torch's numbering: the batch is 0; 1: the "
                                                      "channels of a map; -1: the last)"))


def _softmax_thop(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    # count_softmax: per softmax of C values (C = the size of m.dim), C exps + (C − 1) adds + C divides
    n = in_elements(node, batch)
    dims = torch_dims(node.in_shapes[0])
    c = dims[dim_index(node.args.dim, dims)]
    return Prediction.of(softmax=n // c * (3 * c - 1))


def _softmax_shape(a: SoftmaxArgs, inputs: tuple[Shape, ...]) -> Shape:
    dim_index(a.dim, torch_dims(inputs[0]))
    return inputs[0]


def _softmax_cost(a: SoftmaxArgs, inputs: tuple[Shape, ...], out: Shape, batch: int) -> Cost:
    n = batch * numel(out)
    return Cost(act_ops=SOFTMAX_OPS * n, activations=n)


def softmax_rf(a: SoftmaxArgs, inputs: tuple[Shape, ...]) -> RF:
    """Normalising over the channels is pointwise; over a dim of positions it reads that dim whole."""
    return whole_along(inputs[0], (dim_index(a.dim, torch_dims(inputs[0])),), "a softmax over positions reads them all")


@op("softmax", category="activation", args=SoftmaxArgs)
class Softmax:
    """Softmax over a dim (torch.nn.Softmax(dim)): by default over channels at every position (dim=1), `dim: -1` over
    the last (attention scores). 3 ops per element: an exp, its share of the sum, a divide (the max subtracted for
    stability is not counted)."""

    saves = Saves.OUTPUT  # softmax's backward uses the result
    imports = ("Softmax",)
    rf = staticmethod(lambda a, inputs, out: softmax_rf(a, inputs))  # over channels: pointwise; over positions: whole
    backward = staticmethod(per_output_element(SOFTMAX_BACKWARD_OPS))  # y·(g − Σ g·y): 4 per element

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        refuse_unless(m.dim is not None, "dim=None (torch's implicit, deprecated choice of dim)")
        return {"dim": m.dim}
    counting = Counting(
        "aten::softmax", "nn.Softmax",
        ptflops=Counted(  # the patched F.softmax: input elements
            lambda node, cost, batch: Prediction.of(softmax=in_elements(node, batch)),
            "ptflops counts 1 per softmax element (the patched F.softmax)",
        ),
        thop=Counted(_softmax_thop, "thop counts (3·C − 1) per softmax of C values"),
        calflops=_CALFLOPS_NO_MACS,
        calflops_flops=Counted(  # nn.Softmax.forward calls the patched F.softmax: _softmax_flops_compute, input.numel()
            lambda node, cost, batch: Prediction.of(softmax=in_elements(node, batch)),
            "calflops counts 1 FLOP per softmax element (its patched F.softmax)",
        ),
    )

    shape = staticmethod(_softmax_shape)
    cost = staticmethod(_softmax_cost)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        return nn.Softmax(dim=node.args.dim)


@op("log_softmax", category="activation", args=SoftmaxArgs)
class LogSoftmax:
    """Log-softmax over a dim (torch.nn.LogSoftmax(dim)). 3 ops per element: an exp, its share of the sum, a subtract
    (the max and the log of each sum are not counted)."""

    saves = Saves.OUTPUT  # log_softmax's backward uses the result
    imports = ("LogSoftmax",)
    rf = staticmethod(lambda a, inputs, out: softmax_rf(a, inputs))
    # g − exp(y)·Σg: an exp, its share of the sum, a multiply, a subtract: 4 per element
    backward = staticmethod(per_output_element(SOFTMAX_BACKWARD_OPS))

    @staticmethod
    def from_torch(m: Any) -> dict[str, Any]:
        refuse_unless(m.dim is not None, "dim=None (torch's implicit, deprecated choice of dim)")
        return {"dim": m.dim}
    counting = Counting(
        "aten::log_softmax", "nn.LogSoftmax",
        ptflops=Counted(lambda node, cost, batch: Prediction.unseen("ptflops patches F.softmax, not F.log_softmax")),
    )

    shape = staticmethod(_softmax_shape)
    cost = staticmethod(_softmax_cost)

    @staticmethod
    def build(node: NodeLike) -> nn.Module:
        from torch import nn

        return nn.LogSoftmax(dim=node.args.dim)
