"""What each well-known counter reports for a layer: its convention, as a prediction.

No torch here: a convention is a function of the graph node and its analytic cost. ``verify``
runs fvcore and FlopCounterMode and checks these predictions layer by layer; ``--explain``
sums them by op category to say why the tools' totals differ.

Sources (read, not guessed):
- fvcore 0.1.5 ``fvcore/nn/flop_count.py`` (``_DEFAULT_SUPPORTED_OPS``), ``jit_handles.py``
  (conv/linear/batch_norm/elementwise handles) and ``jit_analysis.py`` (``_IGNORED_OPS``).
- torch 2.13 ``torch/utils/flop_counter.py`` (``flop_registry``: mm/addmm/bmm/convolution/attention).
- ptflops 0.7.5 ``ptflops/pytorch_ops.py``: ``MODULES_MAPPING`` (module hooks of the pytorch
  backend) and ``FUNCTIONAL_MAPPING``, the torch functionals it patches by default
  (``count_functional=True``): F.relu, F.gelu, F.silu and the pooling functionals. A module that
  calls a patched functional (nn.ReLU → F.relu, nn.MaxPool2d → F.max_pool2d...) is counted twice,
  once by its hook and once by the patch; that is what ptflops reports, so it is what is modelled.
- thop 0.1.1 ``thop/profile.py`` ``register_hooks`` with ``thop/vision/basic_hooks.py``.
These two are *modelled*, not run by ``verify`` (convcost does not depend on them); the test suite
runs both, when installed (the dev extra), and checks every model here against them exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction

from ..costmodel.cost import Cost
from ..graph.build import Node
from ..op_tables import op_entry
from ..ops.conv import needs_asymmetric_same
from ..ops.registry import numel


class Status(str, Enum):
    """How one verify check came out (a str: JSON and comparisons with "ok" see the plain value)."""

    OK = "ok"
    MISMATCH = "mismatch"
    NOT_COMPARED = "not_compared"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Prediction:
    """What one counter reports for one layer.

    ``value`` None: the counter cannot see this layer (it reports nothing for it, or counts it as
    a zero-op); ``reason`` says why. ``parts`` split ``value`` by op category for --explain.
    """

    value: int | None
    parts: tuple[tuple[str, int], ...] = ()
    reason: str = ""

    @staticmethod
    def of(reason: str = "", **parts: int) -> Prediction:
        return Prediction(sum(parts.values()), tuple(parts.items()), reason)

    @staticmethod
    def unseen(reason: str) -> Prediction:
        return Prediction(None, (), reason)


PredictFn = Callable[[Node, Cost, int], Prediction]


@dataclass(frozen=True)
class Convention:
    key: str
    label: str
    runs: bool  # True: verify runs the real tool; False: modelled from its source only
    unit: str
    predict: PredictFn
    why: dict[str, str]  # op category -> why this counter's number differs from conv+linear MACs


# ---- per-op tables (each names every registry op: tests/test_op_tables.py) ---------------------
# The op category a counter reports a layer under (named like the aten ops where a tool sees them).
CATEGORY = {
    "conv": "conv",
    "linear": "linear",
    "batchnorm": "batch_norm",
    "maxpool": "max_pool",
    "avgpool": "avg_pool",
    "adaptive_avgpool": "adaptive_avg_pool",
    "global_avgpool": "adaptive_avg_pool",
    "concat": "cat",
    "multiply": "mul",
    "add": "add",
    "relu": "relu", "relu6": "relu6", "leaky_relu": "leaky_relu", "sigmoid": "sigmoid", "silu": "silu",
    "hardswish": "hardswish", "hardsigmoid": "hardsigmoid", "gelu": "gelu", "tanh": "tanh",
    "flatten": "flatten", "dropout": "dropout", "identity": "identity",
    "upsample": "upsample_nearest", "chunk": "chunk",
}

# The aten op each layer's module runs (what fvcore's trace shows); None: none at all.
ATEN: dict[str, str | None] = {
    "conv": "aten::_convolution", "linear": "aten::linear", "batchnorm": "aten::batch_norm",
    "relu": "aten::relu", "relu6": "aten::hardtanh", "leaky_relu": "aten::leaky_relu",
    "sigmoid": "aten::sigmoid", "silu": "aten::silu", "hardswish": "aten::hardswish",
    "hardsigmoid": "aten::hardsigmoid", "gelu": "aten::gelu", "tanh": "aten::tanh",
    "maxpool": "aten::max_pool2d", "avgpool": "aten::avg_pool2d",
    "adaptive_avgpool": "aten::adaptive_avg_pool2d", "global_avgpool": "aten::adaptive_avg_pool2d",
    "add": "aten::add", "multiply": "aten::mul", "concat": "aten::cat", "flatten": "aten::flatten",
    "dropout": "aten::dropout", "identity": None, "upsample": "aten::upsample_nearest2d", "chunk": "aten::chunk",
}
FVCORE_IGNORED = {"aten::relu", "aten::cat", "aten::flatten", "aten::dropout", "aten::chunk"}  # in fvcore's _IGNORED_OPS

# The torch module (or call) that runs each op, as module-hook counters (ptflops, thop) see it.
MODULE_NAMES = {
    "conv": "nn.Conv2d", "linear": "nn.Linear", "batchnorm": "nn.BatchNorm2d", "relu": "nn.ReLU",
    "relu6": "nn.ReLU6", "leaky_relu": "nn.LeakyReLU", "sigmoid": "nn.Sigmoid", "silu": "nn.SiLU",
    "hardswish": "nn.Hardswish", "hardsigmoid": "nn.Hardsigmoid", "gelu": "nn.GELU", "tanh": "nn.Tanh",
    "maxpool": "nn.MaxPool2d", "avgpool": "nn.AvgPool2d", "adaptive_avgpool": "nn.AdaptiveAvgPool2d",
    "global_avgpool": "nn.AdaptiveAvgPool2d", "dropout": "nn.Dropout", "identity": "nn.Identity",
    "flatten": "nn.Flatten", "concat": "torch.cat", "add": "tensor +", "multiply": "tensor *",
    "upsample": "nn.Upsample", "chunk": "tensor.chunk",
}


def category(op: str) -> str:
    return op_entry(CATEGORY, op, "counters.CATEGORY")


def aten(op: str) -> str | None:
    return op_entry(ATEN, op, "counters.ATEN")


def module_name(op: str) -> str:
    return op_entry(MODULE_NAMES, op, "counters.MODULE_NAMES")


def _elements(shape: tuple[int, ...], batch: int) -> int:
    return batch * numel(shape)


# ---- fvcore ---------------------------------------------------------------------------------
def fvcore_predict(node: Node, cost: Cost, batch: int) -> Prediction:
    op = node.op
    if op == "conv":
        if needs_asymmetric_same(node.args):
            return Prediction.unseen(
                "padding 'same' with an even kernel runs as aten::_convolution_mode, which fvcore has no handle for"
            )
        return Prediction.of(conv=cost.macs)
    if op == "linear":
        return Prediction.of(linear=cost.macs)
    if op == "batchnorm":
        per = 2 if node.args.affine else 1
        return Prediction.of(
            f"aten::batch_norm in eval: {per} per element", batch_norm=per * _elements(node.shape, batch)
        )
    if op in ("adaptive_avgpool", "global_avgpool"):
        return Prediction.of(
            "aten::adaptive_avg_pool2d: 1 per input element", adaptive_avg_pool=_elements(node.in_shapes[0], batch)
        )
    if op == "upsample":  # elementwise_flop_counter(0, 1)
        return Prediction.of(
            "aten::upsample_nearest2d: 1 per output element", upsample_nearest=_elements(node.shape, batch)
        )
    name = aten(op)
    if name is None:
        return Prediction.unseen(f"{module_name(op)} runs no aten op")
    if name in FVCORE_IGNORED:
        return Prediction.unseen(f"{name} is on fvcore's ignore list")
    return Prediction.unseen(f"fvcore has no handle for {name} (reports it as unsupported)")


# ---- torch.utils.flop_counter.FlopCounterMode ----------------------------------------------------
def flop_counter_predict(node: Node, cost: Cost, batch: int) -> Prediction:
    if node.op == "conv":
        return Prediction.of("aten.convolution: 2 FLOPs per MAC", conv=2 * cost.macs)
    if node.op == "linear":
        return Prediction.of("aten.addmm/mm: 2 FLOPs per MAC", linear=2 * cost.macs)
    return Prediction.unseen("FlopCounterMode counts only matmul, convolution and attention ops")


# ---- ptflops (pytorch backend: module hooks + patched functionals) ----------------------------
PTFLOPS_HOOKED_ACT = {"relu", "relu6", "leaky_relu", "gelu"}  # relu_flops_counter_hook: 1 per output element
PTFLOPS_PATCHED_ACT = {"relu": "F.relu", "gelu": "F.gelu", "silu": "F.silu"}  # the module calls it: +1 per element
PTFLOPS_POOL = {"maxpool": "F.max_pool2d", "avgpool": "F.avg_pool2d", "adaptive_avgpool": "F.adaptive_avg_pool2d",
                "global_avgpool": "F.adaptive_avg_pool2d"}  # pool hook (input elements) + the patched functional


def ptflops_predict(node: Node, cost: Cost, batch: int) -> Prediction:
    op = node.op
    if op == "conv":  # conv_flops_counter_hook: MACs, + bias per output element
        return Prediction.of(conv=cost.macs, bias=cost.bias_ops)
    if op == "linear":  # linear_flops_counter_hook: (in·out + out) per sample
        return Prediction.of(linear=cost.macs, bias=batch * node.args.out if node.args.bias else 0)
    if op == "batchnorm":
        return Prediction.of(batch_norm=(2 if node.args.affine else 1) * _elements(node.in_shapes[0], batch))
    if op in PTFLOPS_HOOKED_ACT or op in PTFLOPS_PATCHED_ACT:
        times = (op in PTFLOPS_HOOKED_ACT) + (op in PTFLOPS_PATCHED_ACT)
        return Prediction.of(**{op: times * _elements(node.shape, batch)})
    if op in PTFLOPS_POOL:
        return Prediction.of(**{category(op): 2 * _elements(node.in_shapes[0], batch)})
    if op == "upsample":  # upsample_flops_counter_hook (output elements) + the patched F.interpolate (the same)
        return Prediction.of(upsample_nearest=2 * _elements(node.shape, batch))
    return Prediction.unseen(f"ptflops has no module hook for {module_name(op)}: a zero-op")


# ---- thop (module hooks) ------------------------------------------------------------------------
THOP_ZERO = {"relu", "relu6", "leaky_relu", "maxpool", "dropout"}  # thop's zero_ops modules


def thop_predict(node: Node, cost: Cost, batch: int) -> Prediction:
    op = node.op
    if op == "conv":
        return Prediction.of(conv=cost.macs)
    if op == "linear":
        return Prediction.of(linear=cost.macs)
    if op == "batchnorm":  # calculate_norm: 2 per element, doubled again when affine
        return Prediction.of(batch_norm=(4 if node.args.affine else 2) * _elements(node.in_shapes[0], batch))
    if op == "avgpool":
        return Prediction.of(avg_pool=_elements(node.shape, batch))
    if op in ("adaptive_avgpool", "global_avgpool"):  # (kernel + 1) per output element, kernel = in/out size
        _, h, w = node.in_shapes[0]
        _, oh, ow = node.shape
        per = Fraction(h, oh) * Fraction(w, ow) + 1
        return Prediction.of(adaptive_avg_pool=int(per * _elements(node.shape, batch)))
    if op == "upsample":  # count_upsample, nearest: 1 per output element
        return Prediction.of(upsample_nearest=_elements(node.shape, batch))
    if op in THOP_ZERO:
        return Prediction.unseen(f"thop registers {module_name(op)} as zero_ops")
    return Prediction.unseen(f"thop has no counting method for {module_name(op)}")


FVCORE = Convention(
    "fvcore", "fvcore", True, "flops (= MACs for conv/linear)", fvcore_predict,
    {
        "batch_norm": "fvcore counts eval batch_norm, 2 per element (1 without affine)",
        "adaptive_avg_pool": "fvcore counts adaptive_avg_pool2d, 1 per input element",
        "conv": "fvcore cannot see string-padded convs (aten::_convolution_mode)",
        "upsample_nearest": "fvcore counts nearest upsampling, 1 per output element",
    },
)
FLOP_COUNTER = Convention(
    "flop_counter", "FlopCounterMode", True, "FLOPs (= 2 × MACs)", flop_counter_predict,
    {"conv": "FlopCounterMode reports 2 FLOPs per MAC", "linear": "FlopCounterMode reports 2 FLOPs per MAC"},
)
PTFLOPS = Convention(
    "ptflops", "ptflops-style", False, "MACs + hooks", ptflops_predict,
    {
        "bias": "ptflops adds conv bias per output element and linear bias per output feature and sample",
        "batch_norm": "ptflops counts batch norm, 2 per input element (1 without affine)",
        "relu": "ptflops counts ReLU twice per output element: its module hook and the patched F.relu",
        "gelu": "ptflops counts GELU twice per output element: its module hook and the patched F.gelu",
        "relu6": "ptflops counts 1 per ReLU6 output element",
        "leaky_relu": "ptflops counts 1 per LeakyReLU output element",
        "silu": "ptflops counts 1 per SiLU element (the patched F.silu)",
        "max_pool": "ptflops counts max-pool input elements twice: its module hook and the patched F.max_pool2d",
        "avg_pool": "ptflops counts avg-pool input elements twice: its module hook and the patched F.avg_pool2d",
        "adaptive_avg_pool": "ptflops counts adaptive-pool input elements twice: its module hook and the patched functional",
        "upsample_nearest": "ptflops counts upsampled output elements twice: its module hook and the patched F.interpolate",
    },
)
THOP = Convention(
    "thop", "thop-style", False, "MACs + hooks", thop_predict,
    {
        "batch_norm": "thop counts batch norm 2 per element, ×2 again when affine",
        "avg_pool": "thop counts 1 per avg-pool output element",
        "adaptive_avg_pool": "thop counts (window + 1) per adaptive-pool output element",
        "upsample_nearest": "thop counts 1 per nearest-upsampled output element",
    },
)
CONVENTIONS: tuple[Convention, ...] = (FVCORE, FLOP_COUNTER, PTFLOPS, THOP)
RUN = tuple(c for c in CONVENTIONS if c.runs)


# ---- --explain: totals by op category ---------------------------------------------------------
@dataclass(frozen=True)
class Difference:
    category: str
    delta: int
    why: str


@dataclass(frozen=True)
class CounterTotals:
    convention: Convention
    total: int
    parts: dict[str, int]
    differences: tuple[Difference, ...]  # against conv+linear MACs, largest first
    unseen: dict[str, int]  # op category -> number of layers this counter cannot see


@dataclass(frozen=True)
class Explanation:
    baseline: int  # analytic conv+linear MACs
    baseline_parts: dict[str, int]
    counters: tuple[CounterTotals, ...]


def explain(layers: list[tuple[Node, Cost]], batch: int) -> Explanation:
    base: dict[str, int] = {}
    for node, cost in layers:
        if cost.macs:
            base[category(node.op)] = base.get(category(node.op), 0) + cost.macs
    out = []
    for conv in CONVENTIONS:
        parts: dict[str, int] = {}
        unseen: dict[str, int] = {}
        for node, cost in layers:
            p = conv.predict(node, cost, batch)
            if p.value is None:
                unseen[category(node.op)] = unseen.get(category(node.op), 0) + 1
            for cat, n in p.parts:
                parts[cat] = parts.get(cat, 0) + n
        diffs = []
        for cat in sorted(set(parts) | set(base)):
            delta = parts.get(cat, 0) - base.get(cat, 0)
            if delta:
                why = conv.why.get(cat, f"{conv.label} does not count {cat}" if delta < 0 else "")
                diffs.append(Difference(cat, delta, why))
        diffs.sort(key=lambda d: -abs(d.delta))
        out.append(CounterTotals(conv, sum(parts.values()), parts, tuple(diffs), unseen))
    return Explanation(sum(base.values()), base, tuple(out))
