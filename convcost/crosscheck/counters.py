"""What each well-known counter reports for a layer: its convention, as a prediction.

No torch here: a convention is a function of the graph node and its analytic cost. What each counter
reports for an op is part of that op's definition (its ``Counting`` record, convcost/ops/counting.py);
this module only runs them. ``verify`` runs fvcore and FlopCounterMode and checks these predictions
layer by layer; ``--explain`` sums them by op category to say why the tools' totals differ.

Sources (read, not guessed):
- fvcore 0.1.5 ``fvcore/nn/flop_count.py`` (``_DEFAULT_SUPPORTED_OPS``), ``jit_handles.py``
  (conv/linear/batch_norm/elementwise handles) and ``jit_analysis.py`` (``_IGNORED_OPS``).
- torch 2.13 ``torch/utils/flop_counter.py`` (``flop_registry``: mm/addmm/bmm/convolution/attention).
- ptflops 0.7.5 ``ptflops/pytorch_ops.py``: ``MODULES_MAPPING`` (module hooks of the pytorch
  backend) and ``FUNCTIONAL_MAPPING``, the torch functionals it patches by default
  (``count_functional=True``): some activations' and the pooling functionals. A module that calls
  a patched functional is counted twice, once by its hook and once by the patch; that is what
  ptflops reports, so it is what is modelled.
- thop 0.1.1 ``thop/profile.py`` ``register_hooks`` with ``thop/vision/basic_hooks.py``.
These two are *modelled*, not run by ``verify`` (convcost does not depend on them); the test suite
runs both, when installed (the dev extra), and checks every model here against them exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from ..cost import Cost
from ..graph.build import Node
from ..ops.counting import FUNCTION, MODULE, Counted, Counting, PredictFn, Prediction, for_rank, form_of
from ..ops.registry import NodeLike

__all__ = ["CONVENTIONS", "RUN", "Chosen", "Convention", "Explanation", "Prediction", "Status", "choose", "explain"]


class Status(str, Enum):
    """How one verify check came out (a str: JSON and comparisons with "ok" see the plain value)."""

    OK = "ok"
    MISMATCH = "mismatch"
    NOT_COMPARED = "not_compared"

    def __str__(self) -> str:
        return self.value


Entry = Callable[[Counting, "NodeLike"], Counted]  # which of an op's Counting fields is this counter's, for this layer


def _predictor(entry: Entry) -> PredictFn:
    return lambda node, cost, batch: entry(node.rule.counting, node).predict(node, cost, batch)


# ---- how a layer meets torch: what tools that hook modules see of a function or a subclass ----------------
def _what(c: Counting, node: NodeLike) -> str:
    """The layer as a hook-based tool meets it: 'F.relu called as a function', 'a subclass of nn.Conv3d'."""
    if form_of(node) == FUNCTION:
        return f"{for_rank(c.function, node)} called as a function"
    return f"a subclass of {for_rank(c.module, node)}"


def _unseen_form(tool: str) -> Callable[[Counting, NodeLike], Counted]:
    def entry(c: Counting, node: NodeLike) -> Counted:
        how = "hooks only modules" if form_of(node) == FUNCTION else "looks its hooks up by exact type"
        why = f"{tool} {how}: {_what(c, node)} is invisible"
        return Counted(lambda node, cost, batch: Prediction.unseen(why), why)

    return entry


_THOP_FORM = _unseen_form("thop")
_TORCHSCAN_FORM = _unseen_form("torchscan")
_TORCHINFO_FORM = _unseen_form("torchinfo")


def _thop(c: Counting, node: NodeLike) -> Counted:
    return c.thop if form_of(node) == MODULE else _THOP_FORM(c, node)


def _thop_params(c: Counting, node: NodeLike) -> Counted:
    if form_of(node) == MODULE:
        return c.thop_params
    why = f"thop counts only the parameters of modules it hooks: {_what(c, node)} is not hooked"
    return Counted(lambda node, cost, batch: Prediction.unseen(why), why)


def _ptflops(c: Counting, node: NodeLike) -> Counted:
    """ptflops finds its module hooks by exact type; its patched torch functions see every call."""
    if form_of(node) == MODULE:
        return c.ptflops
    functional = c.ptflops_functional
    how = "hooks only modules" if form_of(node) == FUNCTION else "looks its hooks up by exact type"

    def predict(node: NodeLike, cost: Cost, batch: int) -> Prediction:
        p = functional.predict(node, cost, batch)
        if p.value is not None:
            return p
        return Prediction.unseen(f"ptflops {how}: {_what(c, node)} is invisible, and ptflops patches no torch function "
                                 f"it calls")

    return Counted(predict, functional.why, functional.part)


def _by_isinstance(entry: Callable[[Counting], Counted], unseen: Callable[[Counting, NodeLike], Counted]) -> Entry:
    """Tools that hook every module and test types with isinstance: a subclass is its module, a function is unseen."""
    return lambda c, node: unseen(c, node) if form_of(node) == FUNCTION else entry(c)


def _formless(entry: Callable[[Counting], Counted]) -> Entry:
    """Tools that count aten ops or patched torch functions: how the layer meets torch does not matter."""
    return lambda c, node: entry(c)


# ---- the parameter counts the tools print ----------------------------------------------------------------
def _all_params(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    return Prediction.of(params=cost.params)


def _trainable_params(node: NodeLike, cost: Cost, batch: int) -> Prediction:
    if getattr(node, "frozen", False):
        return Prediction.unseen("the parameters of a frozen layer do not require grad")
    return Prediction.of(params=cost.params)


ALL_PARAMS: Entry = _formless(lambda c: Counted(_all_params))
TRAINABLE_PARAMS: Entry = _formless(
    lambda c: Counted(_trainable_params, "sum(p.numel() for p in model.parameters() if p.requires_grad)")
)


@dataclass(frozen=True)
class Convention:
    """One counter; what it reports for each op is in the op's definition (ops/counting.py)."""

    key: str
    label: str
    runs: bool  # True: verify runs the real tool; False: modelled from its source only
    unit: str
    entry: Entry
    predict: PredictFn
    params_entry: Entry | None  # None: the tool prints no parameter count
    about: str  # what the tool is and how it counts, for --convention and the docs

    @staticmethod
    def of(key: str, label: str, runs: bool, unit: str, entry: Entry, params: Entry | None, about: str) -> Convention:
        return Convention(key, label, runs, unit, entry, _predictor(entry), params, about)


FVCORE = Convention.of(
    "fvcore", "fvcore", True, "flops (= MACs for conv/linear)", _formless(lambda c: c.fvcore), ALL_PARAMS,
    "fvcore 0.1.5 FlopCountAnalysis(model, x).total(): a jit trace, one flop per multiply-add; parameter_count(model)",
)
FLOP_COUNTER = Convention.of(
    "flop_counter", "FlopCounterMode", True, "FLOPs (= 2 × MACs)", _formless(lambda c: c.flop_counter), None,
    "torch.utils.flop_counter.FlopCounterMode: a dispatch mode, 2 FLOPs per MAC of mm/addmm/bmm/convolution/attention",
)
PTFLOPS = Convention.of(
    "ptflops", "ptflops-style", False, "MACs + hooks", _ptflops, TRAINABLE_PARAMS,
    "ptflops 0.7.5 get_model_complexity_info(model, (C, H, W)), backend 'pytorch' (its default): module hooks by exact "
    "type and patched torch functions; parameters that require grad",
)
PTFLOPS_ATEN = Convention.of(
    "ptflops_aten", "ptflops aten-style", False, "MACs", _formless(lambda c: c.ptflops_aten), TRAINABLE_PARAMS,
    "ptflops 0.7.5 with backend='aten': a dispatch mode counting aten.mm/matmul/addmm/bmm/convolution in MACs "
    "(addmm's and convolution's bias too); parameters that require grad",
)
THOP = Convention.of(
    "thop", "thop-style", False, "MACs + hooks", _thop, _thop_params,
    "thop 0.1.1 profile(model, inputs): module hooks by exact type, under no_grad; parameters of the hooked modules "
    "whose forward ran",
)
TORCHINFO = Convention.of(
    "torchinfo", "torchinfo-style", False, "mult-adds", _by_isinstance(lambda c: c.torchinfo, _TORCHINFO_FORM),
    ALL_PARAMS,
    "torchinfo 1.8.0 summary(model, input_data=...).total_mult_adds: per leaf module, its weight and bias times the "
    "output positions for a class named Conv*, else times the batch; total params",
)
TORCHSCAN = Convention.of(
    "torchscan", "torchscan-style", False, "MACs", _by_isinstance(lambda c: c.torchscan, _TORCHSCAN_FORM), ALL_PARAMS,
    "torchscan 0.2.0 crawl_module(model, args=...)['totals']['macs']: module formulas by isinstance, under no_grad; "
    "all parameters",
)
CALFLOPS = Convention.of(
    "calflops", "calflops-style", False, "MACs", _formless(lambda c: c.calflops), TRAINABLE_PARAMS,
    "calflops 0.3.2 calculate_flops(model, args=...)'s MACs: its patched torch functions (F.conv2d, F.linear, "
    "torch.matmul...); parameters that require grad",
)
CALFLOPS_FLOPS = Convention.of(
    "calflops_flops", "calflops FLOPs-style", False, "FLOPs", _formless(lambda c: c.calflops_flops), TRAINABLE_PARAMS,
    "calflops 0.3.2 calculate_flops(model, args=...)'s FLOPs: 2 per MAC, plus activations, norms, pools and softmax "
    "through its patched torch functions",
)
TORCHVISION = Convention.of(
    "torchvision", "torchvision metadata", False, "MACs", _formless(lambda c: c.torchvision), ALL_PARAMS,
    "torchvision's weights metadata: '_ops' ('GFLOPS' in its docs) are GMACs of convolutions, linears and matmuls "
    "(attention included), at the weights' crop size; 'num_params'",
)
CONVENTIONS: tuple[Convention, ...] = (
    FVCORE, FLOP_COUNTER, PTFLOPS, PTFLOPS_ATEN, THOP, TORCHINFO, TORCHSCAN, CALFLOPS, CALFLOPS_FLOPS, TORCHVISION,
)
RUN = tuple(c for c in CONVENTIONS if c.runs)
BY_KEY = {c.key: c for c in CONVENTIONS}


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
    params: int | None = None  # the parameter count the tool prints (None: it prints none)
    params_differences: tuple[Difference, ...] = ()  # against every parameter, by op category
    # op category -> why this counter cannot see its layers that meet torch as a function or a subclass (the spec's
    # `torch`): the mechanism, 'thop hooks only modules: F.relu called as a function is invisible'
    unseen_why: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Explanation:
    baseline: int  # analytic conv+linear MACs
    baseline_parts: dict[str, int]
    counters: tuple[CounterTotals, ...]


@dataclass(frozen=True)
class _Tally:
    total: int
    parts: dict[str, int]
    unseen: dict[str, int]
    whys: dict[str, list[str]]  # category -> the definitions' reasons (distinct, in order)
    by_category: dict[str, int]  # the total by the layers' op categories (params: what each category adds)
    form_whys: dict[str, list[str]]  # category -> why its layers that are functions or subclasses are unseen


def _tally(entry: Entry, layers: list[tuple[Node, Cost]], batch: int) -> _Tally:
    parts: dict[str, int] = {}
    unseen: dict[str, int] = {}
    whys: dict[str, list[str]] = {}
    by_category: dict[str, int] = {}
    form_whys: dict[str, list[str]] = {}
    for node, cost in layers:
        counting = node.rule.counting
        counted = entry(counting, node)
        p = counted.predict(node, cost, batch)
        if counted.why:
            reasons = whys.setdefault(counted.part or counting.category, [])
            why = for_rank(counted.why, node)
            if why not in reasons:
                reasons.append(why)
        if p.value is None:
            unseen[counting.category] = unseen.get(counting.category, 0) + 1
            if form_of(node) != MODULE and _seen_as_module(entry, node, cost, batch):  # unseen for how it meets torch
                reason = p.reason or for_rank(counted.why, node)
                known = form_whys.setdefault(counting.category, [])
                if reason and reason not in known:
                    known.append(reason)
            if p.reason and not counted.why:  # an unseen layer's own reason explains a missing part
                reasons = whys.setdefault(counting.category, [])
                if p.reason not in reasons:
                    reasons.append(p.reason)
        for cat, n in p.parts:
            parts[cat] = parts.get(cat, 0) + n
        by_category[counting.category] = by_category.get(counting.category, 0) + (p.value or 0)
    return _Tally(sum(parts.values()), parts, unseen, whys, by_category, form_whys)


def _seen_as_module(entry: Entry, node: Node, cost: Cost, batch: int) -> bool:
    as_module = node._replace(form=MODULE)
    return entry(as_module.rule.counting, as_module).predict(as_module, cost, batch).value is not None


def _differences(label: str, ours: dict[str, int], theirs: dict[str, int], whys: dict[str, list[str]]) -> tuple[Difference, ...]:
    diffs = []
    for cat in sorted(set(ours) | set(theirs)):
        delta = theirs.get(cat, 0) - ours.get(cat, 0)
        if delta:
            why = "; ".join(whys[cat]) if cat in whys else (f"{label} does not count {cat}" if delta < 0 else "")
            diffs.append(Difference(cat, delta, why))
    diffs.sort(key=lambda d: -abs(d.delta))
    return tuple(diffs)


def totals(conv: Convention, layers: list[tuple[Node, Cost]], batch: int, baseline: dict[str, int]) -> CounterTotals:
    """What ``conv`` reports for these layers, and how that differs from ``baseline`` (MACs by op category)."""
    t = _tally(conv.entry, layers, batch)
    params, params_diffs = None, ()
    if conv.params_entry is not None:
        p = _tally(conv.params_entry, layers, batch)
        ours: dict[str, int] = {}
        for node, cost in layers:
            if cost.params:
                ours[node.rule.counting.category] = ours.get(node.rule.counting.category, 0) + cost.params
        params = p.total
        params_diffs = _differences(conv.label, ours, {k: v for k, v in p.by_category.items() if v}, p.whys)
    diffs = _differences(conv.label, baseline, t.parts, t.whys)
    explained = {d.category for d in diffs}
    return CounterTotals(conv, t.total, t.parts, diffs, t.unseen, params, params_diffs,
                         {cat: "; ".join(w) for cat, w in t.form_whys.items() if cat not in explained})


def baseline_macs(layers: list[tuple[Node, Cost]]) -> dict[str, int]:
    base: dict[str, int] = {}
    for node, cost in layers:
        if cost.macs:
            cat = node.rule.counting.category
            base[cat] = base.get(cat, 0) + cost.macs
    return base


def explain(layers: list[tuple[Node, Cost]], batch: int, conventions: tuple[Convention, ...] = CONVENTIONS) -> Explanation:
    base = baseline_macs(layers)
    return Explanation(sum(base.values()), base, tuple(totals(conv, layers, batch, base) for conv in conventions))


def per_layer(conv: Convention, node: Node, cost: Cost, batch: int) -> tuple[Prediction, Prediction | None]:
    """What ``conv`` reports for one layer: its count, and its parameters (None: the tool prints none)."""
    params = None if conv.params_entry is None else conv.params_entry(node.rule.counting, node).predict(node, cost, batch)
    return conv.predict(node, cost, batch), params


# ---- a convention named on the command line or in a budget --------------------------------------------
GRAD_SUFFIX = ":grad"


@dataclass(frozen=True)
class Chosen:
    """A convention as a user names it: a tool, and whether it runs with gradients on ('fvcore:grad')."""

    convention: Convention
    grad: bool = False

    @property
    def name(self) -> str:
        return self.convention.key + (GRAD_SUFFIX if self.grad else "")

    @property
    def title(self) -> str:
        """How outputs name it: 'thop-style (under torch.no_grad())'."""
        return f"{self.convention.label} ({'with gradients on' if self.grad else 'under torch.no_grad()'})"


def names() -> list[str]:
    return [c.key for c in CONVENTIONS]


def choose(name: str) -> Chosen:
    """The convention a name stands for ('thop', 'fvcore:grad'); ValueError with the names when it is none."""
    key, grad = (name[: -len(GRAD_SUFFIX)], True) if name.endswith(GRAD_SUFFIX) else (name, False)
    conv = BY_KEY.get(key)
    if conv is None:
        raise ValueError(
            f"unknown convention '{name}': convcost (its own counts) or one of {', '.join(names())}, each optionally "
            f"with '{GRAD_SUFFIX}' (the tool run with gradients on)"
        )
    return Chosen(conv, grad)
