"""Budgets: limits on a model's or a named block's cost, and how much a model may grow over a
baseline. Budgets come from a budget file or from 'budget:' keys inside a spec; every rule keeps
the location of the YAML it came from, so each violation names its file:line.

The format is documented in docs/budgets.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..cost import ALL_METRICS, TITLES, Cost, metric
from ..costmodel.analysis import Analysis
from ..costmodel.convention import ConventionView
from ..costmodel.training import (
    BLOCK_TRAINING_METRICS,
    TRAINING_METRICS,
    TRAINING_TITLES,
    Training,
    scope_training_metric,
    training_metric,
)
from ..errors import Loc, SpecError, UsageError, did_you_mean
from ..frontend.source import YMap, YNode, YScalar, json_loc, load_json, load_yaml, read_text, shorten, type_name
from ..frontend.spec import SpecFile, check_keys, expect_map
from ..graph.nodes import Node

BODY_KEYS = (*ALL_METRICS, *TRAINING_METRICS, "blocks", "max_growth", "convention")
BLOCK_KEYS = (*ALL_METRICS, *BLOCK_TRAINING_METRICS)
TITLES_ALL = {**TITLES, **TRAINING_TITLES}
FILE_KEYS = ("models", "all", "max_growth", "convention")
# A budget pinned to a tool's convention ('convention: thop') limits that tool's numbers: its one count (whatever
# the tool calls it: fvcore's "flops" are MACs) under 'macs' or 'flops', its parameter count under 'params'
# (not the training numbers: they are convcost's own).
CONVENTION_METRICS = ("params", "macs", "flops")
MAX_PERCENT = Fraction(10**6)
_PERCENT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")

# How specific a growth rule is: within one source (a budget file, a spec's own budgets, the command
# line) the most specific rule that matches a model and metric wins; across sources the strictest.
FROM_CLI, FOR_ALL, FOR_MODEL = 0, 1, 2
CLI_SOURCE = "--max-growth"


@dataclass(frozen=True)
class Target:
    """The models a rule applies to: one model name (None: every model), from one file (None: any)."""

    model: str | None = None
    file: str | None = None

    def matches(self, a: Analysis) -> bool:
        return (self.model is None or self.model == a.graph.model) and (self.file is None or self.file == a.graph.file)


@dataclass(frozen=True)
class Limit:
    target: Target
    block: str | None
    metric: str
    value: int
    text: str
    loc: Loc
    convention: str | None = None  # a tool's convention the budget pins ('thop', 'fvcore:grad'); None: convcost's


@dataclass(frozen=True)
class Growth:
    target: Target
    metric: str | None  # None: every metric
    pct: Fraction
    text: str
    loc: Loc
    level: int
    source: str = ""  # where the rule comes from: a budget file, a spec file or the command line

    @property
    def specificity(self) -> tuple[int, bool]:
        return (self.level, self.metric is not None)


@dataclass(frozen=True)
class Budgets:
    limits: tuple[Limit, ...] = ()
    growth: tuple[Growth, ...] = ()
    named_models: tuple[tuple[str, Loc], ...] = ()  # model names a budget file mentions

    def __add__(self, other: Budgets) -> Budgets:
        return Budgets(
            self.limits + other.limits, self.growth + other.growth, self.named_models + other.named_models
        )

    @property
    def empty(self) -> bool:
        return not self.limits and not self.growth

    def from_source(self, source: str) -> Budgets:
        """These budgets with their growth rules marked as coming from ``source`` (see growth_rule)."""
        return Budgets(self.limits, tuple(replace(g, source=source) for g in self.growth), self.named_models)


# ---- parsing ----------------------------------------------------------------------------------
def parse_percent(value: object) -> Fraction:
    """'2%', '2 %', 2, 0.5 -> a percentage as an exact fraction; ValueError if malformed."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a percentage like 2%, got {value}")
    text = str(value).strip()
    if text.endswith("%"):
        text = text[:-1].strip()
    if len(text) > 40 or not _PERCENT.fullmatch(text):  # Fraction('1e999999999') would compute 10**999999999
        raise ValueError(f"expected a percentage like 2% or 0.5%, got '{str(value)[:40]}'")
    pct = Fraction(text)
    if pct < 0:
        raise ValueError(f"a growth allowance cannot be negative: {value}")
    if pct > MAX_PERCENT:
        raise ValueError(f"{value} is too large for a growth allowance")
    return pct


def _count(node: YNode, what: str) -> tuple[int, str]:
    from ..units import parse_count

    if not isinstance(node, YScalar) or not isinstance(node.value, (str, int, float)) or isinstance(node.value, bool):
        raise SpecError(f"{what} must be a count like 25.6M or 4.1G, got {type_name(node)}", node.loc)
    try:
        return parse_count(node.value), str(node.value)
    except (ValueError, OverflowError) as e:
        raise SpecError(f"{what}: {e}", node.loc) from None


def _percent(node: YNode, what: str) -> tuple[Fraction, str]:
    if not isinstance(node, YScalar):
        raise SpecError(f"{what} must be a percentage like 2%, got {type_name(node)}", node.loc)
    try:
        return parse_percent(node.value), _pct_text(node.value)
    except ValueError as e:
        raise SpecError(f"{what}: {e}", node.loc) from None


def _pct_text(value: object) -> str:
    text = str(value).strip()
    return text if text.endswith("%") else f"{text}%"


def _growth(node: YNode, target: Target, level: int) -> list[Growth]:
    if isinstance(node, YMap):  # max_growth: {macs: 2%, params: 0%}
        check_keys(node, ALL_METRICS, "'max_growth'")
        out = []
        for m, v in node.items.items():
            pct, text = _percent(v, f"max_growth of {m}")
            out.append(Growth(target, m, pct, text, v.loc, level))
        return out
    pct, text = _percent(node, "max_growth")
    return [Growth(target, None, pct, text, node.loc, level)]


def _convention(node: YNode | None, default: str | None) -> str | None:
    """A budget's 'convention': a tool's name as `--convention` takes it, checked; 'convcost' is convcost's own."""
    if node is None:
        return default
    from ..costmodel.convention import parse

    if not isinstance(node, YScalar) or not isinstance(node.value, str):
        raise SpecError(f"'convention' must name a tool, got {type_name(node)}", node.loc)
    try:
        chosen = parse(node.value)
    except ValueError as e:
        raise SpecError(f"'convention': {e}", node.loc) from None
    return None if chosen is None else chosen.name


def _pinned_metric(key: str, convention: str | None, loc: Loc) -> None:
    if convention is not None and key not in CONVENTION_METRICS:
        raise SpecError(
            f"a budget pinned to convention '{convention}' limits what the tool reports: its count ('macs' or 'flops') "
            f"and its parameters ('params'), not '{key}'",
            loc,
        )


def parse_body(node: YNode, target: Target, level: int, what: str, convention: str | None = None) -> Budgets:
    """One model's budget: metric limits, 'blocks' with per-block limits, 'max_growth', the 'convention' its limits
    are in (``convention``: the budget file's, when it pins one)."""
    body = expect_map(node, what)
    check_keys(body, BODY_KEYS, what)
    convention = _convention(body.get("convention"), convention)
    limits: list[Limit] = []
    growth: list[Growth] = []
    for key, value in body.items.items():
        if key == "convention":
            continue
        if key in ALL_METRICS or key in TRAINING_METRICS:
            _pinned_metric(key, convention, body.keys[key])
            n, text = _count(value, f"budget '{key}'")
            limits.append(Limit(target, None, key, n, text, value.loc, convention))
        elif key == "max_growth":
            growth.extend(_growth(value, target, level))
        else:  # blocks
            blocks = expect_map(value, "'blocks' (block name: {macs: ..., params: ...})")
            for bname, bnode in blocks.items.items():
                bmap = expect_map(bnode, f"the budget of block '{bname}'")
                check_keys(bmap, BLOCK_KEYS, f"the budget of block '{bname}'")
                if not bmap.items:
                    raise SpecError(f"the budget of block '{bname}' sets no limit", bmap.loc)
                for m, v in bmap.items.items():
                    _pinned_metric(m, convention, bmap.keys[m])
                    n, text = _count(v, f"budget '{m}' of block '{bname}'")
                    limits.append(Limit(target, bname, m, n, text, v.loc, convention))
    return Budgets(tuple(limits), tuple(growth))


EMPTY_BUDGETS = "empty budget file: expected a mapping with 'models', 'all' or 'max_growth'"


def load_budget_file(path: str | Path) -> Budgets:
    name = str(path)
    return parse_budget_file(load_yaml(read_text(path, "budget file"), name, EMPTY_BUDGETS), name)


def parse_budget_file(root: YNode, name: str) -> Budgets:
    """A budget file's rules from its located nodes (a YAML file's, or a dict's: frontend.source.load_data)."""
    rmap = expect_map(root, "a budget file")
    check_keys(rmap, FILE_KEYS, "the budget file")
    out = Budgets()
    pinned = _convention(rmap.get("convention"), None)  # the file's: every budget in it unless one pins its own
    if rmap.get("max_growth") is not None:
        out += Budgets((), tuple(_growth(rmap.items["max_growth"], Target(), FOR_ALL)))
    if rmap.get("all") is not None:
        out += parse_body(rmap.items["all"], Target(), FOR_ALL, "'all'", pinned)
    if rmap.get("models") is not None:
        models = expect_map(rmap.items["models"], "'models' (model name: budget)")
        for mname, mnode in models.items.items():
            out += parse_body(mnode, Target(mname), FOR_MODEL, f"the budget of model '{mname}'", pinned)
            out += Budgets(named_models=((mname, models.keys[mname]),))
    if out.empty:
        raise SpecError("budget file sets no limit and no max_growth", rmap.loc)
    return out.from_source(f"budget file {name}")


def spec_budgets(spec: SpecFile) -> Budgets:
    """'budget:' inside a spec: per model, and at file level for every model of the file."""
    out = Budgets()
    file_level = spec.root.get("budget")
    for mname, m in spec.models.items():
        node = m.extra.get("budget")
        if node is not None and node is not file_level:
            out += parse_body(node, Target(mname, spec.path), FOR_MODEL, f"the budget of model '{mname}'")
    if file_level is not None:
        level = FOR_MODEL if len(spec.models) == 1 and "models" not in spec.root.items else FOR_ALL
        out += parse_body(file_level, Target(None, spec.path), level, "the file's 'budget'")
    return out.from_source(f"spec {spec.path}")


# ---- checking ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One rule checked against one model: a limit, or the growth over a baseline."""

    ok: bool
    kind: str  # 'limit' or 'growth'
    model: str  # the model's label
    block: str | None
    metric: str
    actual: int
    allowed: int  # the limit, or the largest value the growth allowance permits
    rule: str  # as written: '100M', '2%'
    loc: Loc
    baseline: int | None = None
    convention: str | None = None  # the tool whose numbers were checked (None: convcost's)

    @property
    def subject(self) -> str:
        where = f"model '{self.model}'" + (f", block '{self.block}'" if self.block else "")
        return f"{where}: {self.what}"

    @property
    def what(self) -> str:
        """The metric, and the tool whose number it is: 'MACs', 'MACs (thop)'."""
        return TITLES_ALL[self.metric] + (f" ({self.convention})" if self.convention else "")

    @property
    def message(self) -> str:
        a = f"{self.actual:,} ({_h(self.actual)})"
        if self.kind == "limit":
            if self.ok:
                return f"{self.subject} {a} within budget {self.rule} ({_share(self.actual, self.allowed)} of it)"
            over = self.actual - self.allowed
            return f"{self.subject} {a} over budget {self.rule} ({self.allowed:,}) by {over:,} ({_grow(over, self.allowed)})"
        b = self.baseline or 0
        change = _grow(self.actual - b, b)
        verb = "within" if self.ok else "over"
        return (
            f"{self.subject} {a} is {change} against the baseline ({b:,}), {verb} the allowed growth of +{self.rule}"
            f" (at most {self.allowed:,})"
        )


def _h(n: int) -> str:
    from ..units import human

    return human(n)


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "n/a"


def _grow(delta: int, base: int) -> str:
    if delta == 0:
        return "±0 %"
    if base == 0:
        return "new"
    pct = 100 * delta / base
    return f"{'+' if pct >= 0 else '−'}{abs(pct):.1f} %"


def _labels(analyses: list[Analysis]) -> list[str]:
    from ..costmodel.compare import labels_for

    return labels_for(analyses)


def block_cost(a: Analysis, name: str) -> Cost | None:
    """Cost of a scope ('layer3', 'layer1.0') or a single layer ('conv5x5') by its dotted name."""
    for s in a.graph.scopes:
        if s.name == name:
            return a.scope_total(s.path)
    for lc in a.layers:
        if lc.node.name == name:
            return lc.cost
    return None


def unchecked_budgets(analyses: list[Analysis], budgets: Budgets) -> list[str]:
    """Notes for budgets of models that are not being checked.

    One budget file usually covers a whole repository while a run (a pre-commit hook, a job per
    net) checks some of its models: a budget for another model is a note. A name that is a near
    miss of a checked model with no budget of its own is a typo, and a typo in a budget must not
    pass silently: that is an error.
    """
    checked = {a.graph.model for a in analyses}
    budgeted = {name for name, _ in budgets.named_models}
    unbudgeted = checked - budgeted
    notes = []
    for mname, loc in budgets.named_models:
        if mname in checked:
            continue
        typo = did_you_mean(mname, unbudgeted)
        if typo:
            raise SpecError(
                f"budget for model '{mname}', which is not among the checked models{typo}; "
                f"checked: {', '.join(sorted(checked))}",
                loc,
            )
        notes.append(f"{loc}: note: budget for model '{mname}' not used: it is not among the checked models")
    return notes


class Counts:
    """The numbers a check reads: convcost's, or a tool's (``--convention``, a budget's 'convention'), each tool's
    worked out once per model."""

    def __init__(self, cli: str | None = None) -> None:
        self.cli = cli  # --convention: for the limits that pin none
        self._views: dict[tuple[int, str], ConventionView] = {}

    def view(self, a: Analysis, name: str) -> ConventionView:
        from ..costmodel.convention import parse, view

        key = (id(a), name)
        if key not in self._views:
            chosen = parse(name)
            assert chosen is not None  # names were checked when parsed
            self._views[key] = view(a, chosen)
        return self._views[key]

    def value(self, a: Analysis, cost: Cost, block: str | None, m: str, convention: str | None, loc: Loc) -> int:
        """Metric ``m`` of the model (``block`` None) or of a block, under ``convention`` (None: convcost's)."""
        if convention is None:
            return metric(cost, m)
        _pinned_metric(m, convention, loc)
        v = self.view(a, convention)
        if m == "params":
            if v.params is None:
                raise SpecError(f"{v.chosen.convention.label} prints no parameter count: a budget pinned to "
                                f"convention '{convention}' cannot limit 'params'", loc)
            if block is not None:
                return sum(v.params_of(lc) for lc in a.layers if _in_block(lc.node, block))
            return v.params
        if block is None:
            return v.total
        return sum(v.layers[lc.node.name].value or 0 for lc in a.layers if _in_block(lc.node, block))


def _in_block(node: Node, block: str) -> bool:
    return node.name == block or node.name.startswith(block + ".")


def training_budgets(budgets: Budgets) -> list[Limit]:
    """The limits on training numbers (they need ``--training``)."""
    return [lim for lim in budgets.limits if lim.metric in TRAINING_METRICS]


def _training_value(t: Training, block: str | None, name: str) -> int | None:
    if block is None:
        return training_metric(t, name)
    for s in t.graph.scopes:
        if s.name == block:
            return scope_training_metric(t, s.path, name)
    for lt in t.layers:
        if lt.node.name == block:
            if name == "trainable_params":
                return lt.trainable
            return lt.backward.flops + (t.analysis.layers[lt.node.index].cost.flops if name == "step_flops" else 0)
    return None


def check_limits(
    analyses: list[Analysis], budgets: Budgets, counts: Counts | None = None, trainings: list[Training] | None = None
) -> list[Finding]:
    """Every limit that applies to each model, in convcost's numbers or a tool's (``counts``: --convention, a
    budget's 'convention'); ``trainings`` (``--training``), one per analysis, for the limits on training numbers
    (without it such a limit is a usage error; they are convcost's own, so --convention cannot apply to them)."""
    counts = counts or Counts()
    need = training_budgets(budgets)
    if need and counts.cli is not None:
        _pinned_metric(need[0].metric, counts.cli, need[0].loc)
    if need and trainings is None:
        raise UsageError(f"{need[0].loc}: budget '{need[0].metric}' is a training number: run check with --training "
                         "(and --optimizer, --dtype as you train)")
    out: list[Finding] = []
    for k, (a, label) in enumerate(zip(analyses, _labels(analyses), strict=True)):
        for lim in budgets.limits:
            if not lim.target.matches(a):
                continue
            v: int | None
            convention = None  # the training numbers are convcost's own (a convention pinned on one is refused)
            if lim.metric in TRAINING_METRICS:
                assert trainings is not None
                v = _training_value(trainings[k], lim.block, lim.metric)
            else:
                convention = lim.convention or counts.cli
                found = a.total if lim.block is None else block_cost(a, lim.block)
                v = None if found is None else counts.value(a, found, lim.block, lim.metric, convention, lim.loc)
            if v is None:
                names = [s.name for s in a.graph.scopes] + [n.name for n in a.graph.nodes]
                raise SpecError(
                    f"budget for block '{lim.block}', but model '{label}' has no block or layer of that name"
                    f"{did_you_mean(lim.block, names)}",
                    lim.loc,
                )
            out.append(Finding(v <= lim.value, "limit", label, lim.block, lim.metric, v, lim.value, lim.text, lim.loc,
                               convention=convention))
    return out


# ---- baseline ----------------------------------------------------------------------------------
BASELINE_SCHEMA = "convcost.analyze/1"


@dataclass(frozen=True)
class BaselineModel:
    name: str
    file: str
    totals: dict[str, int]
    loc: Loc
    batch: int | None = None  # None: an older or hand-written baseline that does not say
    convention: str | None = None  # the tool `analyze --convention` recorded ('thop'); None: convcost's own only
    counted: dict[str, int] = field(default_factory=dict)  # that tool's numbers: 'total', 'params' (where it has one)


@dataclass(frozen=True)
class Baseline:
    path: str
    models: tuple[BaselineModel, ...] = field(default_factory=tuple)

    def merged(self, other: Baseline) -> Baseline:
        """Both files' models; the same model (name and spec file) in both is refused: which one counts?"""
        mine = {(m.name, m.file): m for m in self.models}
        for m in other.models:
            first = mine.get((m.name, m.file))
            if first is not None:
                raise SpecError(
                    f"baseline model '{m.name}' is also in {first.loc.file}; give each model's baseline once", m.loc
                )
        return Baseline(f"{self.path}, {other.path}", self.models + other.models)

    def find(self, a: Analysis) -> BaselineModel | None:
        same = [m for m in self.models if m.name == a.graph.model]
        for m in same:
            if m.file == a.graph.file:
                return m
        if len(same) > 1:  # none recorded from this spec file, several from others: none is the one
            raise SpecError(
                f"baseline has {len(same)} models named '{a.graph.model}', none recorded from {a.graph.file} "
                f"(they are from {', '.join(sorted({m.file or '?' for m in same}))}); keep the one for this spec",
                same[1].loc,
            )
        return same[0] if same else None


def load_baseline(path: str | Path) -> Baseline:
    """A baseline written by `convcost analyze --format json`."""
    name = str(path)
    doc, text = load_json(path, "baseline JSON file", "baseline")
    if not isinstance(doc, dict) or doc.get("schema") != BASELINE_SCHEMA:
        got = doc.get("schema") if isinstance(doc, dict) else None
        raise SpecError(
            f"baseline must be the output of 'convcost analyze --format json' (schema '{BASELINE_SCHEMA}'), "
            f"got schema {got!r}",
            Loc(name, 1, 1),
        )
    models = doc.get("models")
    if not isinstance(models, list):
        raise SpecError("baseline has no 'models' list", Loc(name, 1, 1))
    locs = _model_lines(text, name, len(models))
    out = []
    seen: dict[tuple[str, str], int] = {}
    for k, m in enumerate(models):
        loc = locs[k]

        def at(*path: str | int, k: int = k) -> Loc:  # the exact place of a field, found only for a message
            return json_loc(text, name, ("models", k, *path))

        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not isinstance(m.get("totals"), dict):
            raise SpecError(f"baseline model #{k + 1} needs a 'name' and 'totals'", at())
        totals = m["totals"]
        for key in ALL_METRICS:
            v = totals.get(key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                where = at("totals", key) if key in totals else at("totals")
                raise SpecError(f"baseline model '{shorten(m['name'])}': totals.{key} must be a non-negative integer", where)
        batch = m.get("batch")
        if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
            raise SpecError(f"baseline model '{shorten(m['name'])}': batch must be a positive integer", at("batch"))
        file = str(m.get("file", ""))
        if (m["name"], file) in seen:  # `analyze` writes each model once: a second entry was planted or pasted
            first = at(k=seen[(m["name"], file)])
            raise SpecError(
                f"baseline names model '{shorten(m['name'])}' twice (first at line {first.line}, column {first.col}); "
                "a baseline holds each model once",
                at(),
            )
        seen[(m["name"], file)] = k
        totals_ = {k2: int(totals[k2]) for k2 in ALL_METRICS}
        convention, counted = _recorded_convention(m.get("convention"), m["name"], at)
        out.append(BaselineModel(m["name"], file, totals_, loc, batch, convention, counted))
    return Baseline(name, tuple(out))


def _recorded_convention(node: object, model: str, at: Any) -> tuple[str | None, dict[str, int]]:
    """A baseline model's "convention" (analyze --convention NAME --format json): the tool and its numbers."""
    if node is None or (isinstance(node, dict) and node.get("name") == "convcost"):
        return None, {}
    if not isinstance(node, dict) or not isinstance(node.get("name"), str):
        raise SpecError(f"baseline model '{shorten(model)}': 'convention' must hold the 'name' of a convention",
                        at("convention"))
    counted = {}
    for key in ("total", "params"):
        v = node.get(key)
        if v is None and key == "params":
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise SpecError(f"baseline model '{shorten(model)}': convention.{key} must be a non-negative integer",
                            at("convention"))
        counted[key] = v
    return node["name"], counted


def _model_lines(text: str, name: str, count: int) -> list[Loc]:
    """Best effort: the line of each model's "name" key (the least indented "name" keys, in order)."""
    import re

    hits = [
        (len(m.group(1)), i + 1, len(m.group(1)) + 1)
        for i, line in enumerate(text.splitlines())
        if (m := re.match(r'( *)"name"\s*:', line))
    ]
    if hits:
        top = min(h[0] for h in hits)
        lines = [Loc(name, ln, col) for ind, ln, col in hits if ind == top]
        if len(lines) == count:
            return lines
    return [Loc(name)] * count


def check_renamed(analyses: list[Analysis], baseline: Baseline) -> None:
    """Refuse a baseline model recorded from one of the checked spec files that the file no longer has.

    Renamed, a model would escape its baseline (and a budget file's rules for its name): the old name is
    never looked at and the new one is a new model, a note. Call it only when every model of the specs is
    checked (no --model)."""
    import os

    def norm(path: str) -> str:
        return os.path.normpath(os.path.abspath(path))

    files = {norm(a.graph.file) for a in analyses}
    have = {(a.graph.model, norm(a.graph.file)) for a in analyses}
    for m in baseline.models:
        if not m.file or norm(m.file) not in files or (m.name, norm(m.file)) in have:
            continue
        names = sorted(a.graph.model for a in analyses if norm(a.graph.file) == norm(m.file))
        raise SpecError(
            f"baseline model '{shorten(m.name)}' was recorded from {m.file}, which has no model '{shorten(m.name)}' now "
            f"(it has {', '.join(names)}); a renamed or removed model must not escape its baseline: record the "
            "baseline again, or name the models to check with --model",
            m.loc,
        )


def growth_rule(budgets: Budgets, a: Analysis, m: str, cli: Growth | None) -> Growth | None:
    """The growth allowance for metric ``m`` of model ``a`` (docs/budgets.md).

    Within one source (a budget file, a spec's own budgets) the most specific rule wins, so a budget
    file may allow one model more than the rest (of equally specific rules, the stricter). Across
    sources (each spec, each --budget file, --max-growth) the strictest wins: a spec under review can
    tighten CI's allowance, never loosen it.
    """
    best: dict[str, Growth] = {}
    for g in (*budgets.growth, *((cli,) if cli else ())):
        if g.target.matches(a) and g.metric in (None, m):
            cur = best.get(g.source)
            if cur is None or g.specificity > cur.specificity or (g.specificity == cur.specificity and g.pct < cur.pct):
                best[g.source] = g
    return min(best.values(), key=lambda g: g.pct, default=None)


def check_growth(
    analyses: list[Analysis], baseline: Baseline, budgets: Budgets, cli: Growth | None, counts: Counts | None = None
) -> tuple[list[Finding], list[str]]:
    """Growth over the baseline of every metric; with --convention (``counts.cli``) a tool's count and parameters
    against the same tool's in the baseline (recorded by `analyze --convention NAME --format json`)."""
    counts = counts or Counts()
    out: list[Finding] = []
    notes: list[str] = []
    for a, label in zip(analyses, _labels(analyses), strict=True):
        ref = baseline.find(a)
        if ref is None:
            notes.append(f"{baseline.path}: note: model '{label}' is not in the baseline; its growth is not checked")
            continue
        if ref.batch is not None and ref.batch != a.graph.batch:  # every count but params scales with the batch
            raise SpecError(
                f"baseline model '{ref.name}' was recorded at batch {ref.batch}, this run is at batch {a.graph.batch}: "
                f"the counts are not comparable; check with --batch {ref.batch} or record the baseline again",
                ref.loc,
            )
        if counts.cli is not None and ref.convention != counts.cli:
            raise SpecError(
                f"baseline model '{ref.name}' was recorded with convention {ref.convention or 'convcost'}, this run checks "
                f"convention {counts.cli}: record the baseline with `convcost analyze --convention {counts.cli} "
                "--format json`",
                ref.loc,
            )
        for m in ALL_METRICS:
            rule = growth_rule(budgets, a, m, cli) or Growth(Target(), None, Fraction(0), "0%", ref.loc, FROM_CLI)
            v, b = metric(a.total, m), ref.totals[m]
            tool = None
            if counts.cli is not None and m in CONVENTION_METRICS:
                key = "params" if m == "params" else "total"
                if key in ref.counted:  # a tool that prints no parameter count: convcost's params are checked
                    tool = counts.cli
                    v, b = counts.value(a, a.total, None, m, tool, ref.loc), ref.counted[key]
            ok = v * 100 <= b * (100 + rule.pct)
            allowed = int(b * (100 + rule.pct) // 100)
            loc = rule.loc if rule.level != FROM_CLI else ref.loc
            out.append(Finding(ok, "growth", label, None, m, v, allowed, rule.text, loc, b, convention=tool))
    return out, notes


def cli_growth(text: str | None) -> Growth | None:
    if text is None:
        return None
    try:
        pct = parse_percent(text)
    except ValueError as e:
        raise UsageError(f"--max-growth: {e}") from None
    return Growth(Target(), None, pct, _pct_text(text), Loc("--max-growth"), FROM_CLI, CLI_SOURCE)
