"""How well-known counters count one op: the record each op definition carries (no torch here).

An op's :class:`Counting` says which aten op its torch module runs (what fvcore's trace shows), the
module as module-hook counters see it, the category name counters report it under, and for each
counter a :class:`Counted`: a prediction of what that counter reports for one layer, with the
``--explain`` text saying why it differs from conv+linear MACs. Counters not named keep the shared
defaults below, so a simple op states only what differs. crosscheck/counters.py is the generic
machinery that runs these predictions; the sources it models are listed there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, NamedTuple

from .shapes import numel

if TYPE_CHECKING:
    from ..cost import Backward, Cost
    from .registry import NodeLike


# These records are NamedTuples, not dataclasses: every process that imports the ops creates them,
# and a NamedTuple class costs a tenth of a frozen dataclass to create (start-up time of `analyze`).


class Prediction(NamedTuple):
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


PredictFn = Callable[["NodeLike", "Cost", int], Prediction]


class Counted(NamedTuple):
    """One counter's convention for one op: ``predict(node, cost, batch)``, and for ``--explain`` why
    its number differs from conv+linear MACs (``why`` explains the part ``part``; '' = the op's category)."""

    predict: PredictFn
    why: str = ""
    part: str = ""


def out_elements(node: NodeLike, batch: int) -> int:
    return batch * numel(node.shape)


def in_elements(node: NodeLike, batch: int) -> int:
    return batch * numel(node.in_shapes[0])


# ---- where the counters run ------------------------------------------------------------------
# What a counter sees of a fused op (nn.MultiheadAttention's fast path) depends on where the model
# runs: on a real device in eval under no_grad torch takes the fused kernel, which FlopCounterMode
# and fvcore do not count; on the meta device (verify's shape-only run) torch takes the unfused
# path. Predictions read this; it is "real" (what users run: the CPU) unless verify ran a counter on meta
# or on CUDA ("cuda": torch's CUDA attention kernels are in FlopCounterMode's registry, CPU's flash kernel is not).
RUN_ON: ContextVar[str] = ContextVar("convcost_counters_run_on", default="real")


@contextmanager
def counters_run_on(where: str) -> Iterator[None]:
    """Predict what the counters report when the model runs on ``where`` ('real', 'cuda' or 'meta')."""
    token = RUN_ON.set(where)
    try:
        yield
    finally:
        RUN_ON.reset(token)


def on_meta() -> bool:
    return RUN_ON.get() == "meta"


def on_cuda() -> bool:
    return RUN_ON.get() == "cuda"
def rank(node: NodeLike) -> int:
    """The number of spatial dims of a layer's input, at least 1 (torch's 1d modules also take flat inputs)."""
    return max(1, len(node.in_shapes[0]) - 1)


def for_rank(text: str, node: NodeLike) -> str:
    """Names that follow the input's rank: 'nn.Conv{n}d' is 'nn.Conv3d' for a layer on C×D×H×W.
    ``Counting.module``, ``Counting.aten`` and a ``Counted.why`` may hold '{n}' (ops/spatial.py)."""
    return text.replace("{n}", str(rank(node))) if "{n}" in text else text


# ---- shared defaults: what each counter does with an op it has no rule for ------------------------
def _fvcore_unsupported(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    c = node.rule.counting
    if c.aten is None:
        return Prediction.unseen(f"{for_rank(c.module, node)} runs no aten op")
    return Prediction.unseen(f"fvcore has no handle for {for_rank(c.aten, node)} (reports it as unsupported)")


def _fvcore_ignored(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    return Prediction.unseen(f"{for_rank(node.rule.counting.aten or '', node)} is on fvcore's ignore list")


def _flop_counter_unseen(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    return Prediction.unseen("FlopCounterMode counts only matmul, convolution and attention ops")


def _ptflops_no_hook(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    return Prediction.unseen(f"ptflops has no module hook for {for_rank(node.rule.counting.module, node)}: a zero-op")


def _thop_no_rule(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    return Prediction.unseen(f"thop has no counting method for {for_rank(node.rule.counting.module, node)}")


def _thop_zero(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    return Prediction.unseen(f"thop registers {for_rank(node.rule.counting.module, node)} as zero_ops")


FVCORE_UNSUPPORTED = Counted(_fvcore_unsupported)  # no handle in fvcore's _DEFAULT_SUPPORTED_OPS
FVCORE_IGNORED = Counted(_fvcore_ignored)  # the aten op is in fvcore's _IGNORED_OPS
FLOP_COUNTER_UNSEEN = Counted(_flop_counter_unseen)  # not in flop_counter's flop_registry
PTFLOPS_NO_HOOK = Counted(_ptflops_no_hook)  # not in ptflops' MODULES_MAPPING
THOP_NO_RULE = Counted(_thop_no_rule)  # not in thop's register_hooks
THOP_ZERO = Counted(_thop_zero)  # registered as thop's zero_ops

# Shared by conv and linear, which both add a bias part under ptflops.
PTFLOPS_BIAS_WHY = "ptflops adds conv bias per output element and linear bias per output feature and sample"


# ---- the backward pass (verify --training) ---------------------------------------------------
BackwardPredictFn = Callable[["NodeLike", "Backward", int], Prediction]


class BackwardCounted(NamedTuple):
    """What a counter reports for one layer's backward (the layer's ``Backward``: only the gradients it computes)."""

    predict: BackwardPredictFn
    why: str = ""


def _flop_counter_backward(node: NodeLike, grads: Backward, batch: int) -> Prediction:
    if not grads.macs:
        return Prediction.unseen("no matmul or convolution in its backward (FlopCounterMode counts only those)")
    return Prediction.of("aten.mm/bmm/convolution_backward: 2 FLOPs per backward MAC",
                         **{node.rule.counting.category: 2 * grads.macs})


# torch's flop_registry counts every mm/bmm/convolution_backward of the backward at 2 FLOPs per MAC
FLOP_COUNTER_BACKWARD = BackwardCounted(_flop_counter_backward)


class Counting(NamedTuple):
    """How counters see one op. ``category`` '' is filled with the op's name when it is registered."""

    aten: str | None  # the aten op the op's module runs (what fvcore's trace shows); None: none at all
    module: str  # the torch module (or call) as module-hook counters (ptflops, thop) see it: 'nn.ReLU';
    # both may say '{n}' for the input's spatial rank: 'nn.MaxPool{n}d' (see for_rank)
    category: str = ""  # the name counters report the layer under (named like the aten op): 'batch_norm'
    fvcore: Counted = FVCORE_UNSUPPORTED
    flop_counter: Counted = FLOP_COUNTER_UNSEEN
    ptflops: Counted = PTFLOPS_NO_HOOK
    thop: Counted = THOP_NO_RULE
    flop_counter_backward: BackwardCounted = FLOP_COUNTER_BACKWARD  # what FlopCounterMode reports for its backward
    # what counters see depends on where the module runs (a fused kernel off the meta device): verify
    # then runs FlopCounterMode on the real device, as users do, instead of on meta
    device_dependent: bool = False


# ---- fvcore's einsum estimate: the one place it is modelled (window_attention's einsum: true, the einsum op) ----
def fvcore_einsum(equation: str, shapes: Sequence[Sequence[int]]) -> int:
    """What fvcore 0.1.5's ``einsum_flop_jit`` reports for ``torch.einsum(equation, *operands)`` with operands of
    these shapes (the batch included).

    fvcore renames the letters in order of appearance and counts two equations exactly ('abc,abd->acd' and
    'abc,adc->adb': n·c·t·p, n·t·g·c); any other from numpy's ``einsum_path(optimize="optimal")`` report: its
    "Optimized FLOP count" (for one contraction the product of every letter's size, ×2 when a letter is summed
    away, + 1: numpy 2's ``opt_cost = sum(cost_list) + 1``) printed with ``%.3e``, parsed back, halved and floored.
    The printed rounding is the point: an exact 2 × 9,834,496 comes back as 1.967e+07, and fvcore reports 9,835,000.
    numpy itself is asked (imported here: fvcore needs it, and only a layer that runs an einsum is predicted so),
    with zero-stride operands of these shapes, so the path and the text are numpy's own for any number of operands.
    """
    import numpy as np

    eq = equation.replace(" ", "")
    order = dict.fromkeys(c for c in eq if c.isalpha())
    eq = eq.translate({ord(c): 97 + k for k, c in enumerate(order)})
    if eq == "abc,abd->acd":
        n, c, t = shapes[0]
        return n * c * t * shapes[-1][-1]
    if eq == "abc,adc->adb":
        n, t, g = shapes[0]
        return n * t * g * shapes[-1][1]
    operands = [np.broadcast_to(np.zeros(()), tuple(s)) for s in shapes]  # shapes only: no memory
    report = np.einsum_path(eq, *operands, optimize="optimal")[1]
    line = next(ln for ln in report.split("\n") if "optimized flop" in ln.lower())
    return math.floor(float(line.split(":")[-1]) / 2)  # fvcore: np.floor(float(printed) / 2)
