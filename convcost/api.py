"""convcost's Python API (docs/api.md): load a spec from a file, a string or a dict, or import it from a PyTorch
model (a built nn.Module, or a ``file.py:factory`` / ``pkg.module:factory`` target, as `convcost import`); analyse,
compare and check budgets; render. Typed results, no printing; errors are exceptions that say where (file:line:col,
or the path in a dict). Imports torch only to import a PyTorch model (`convcost.torch.build` builds the trainable
model from a spec).

    from convcost import api

    spec = api.load("configs/resnet50.yaml")
    a = api.analyze(spec)                       # the only model; or api.analyze(spec, "resnet50")
    print(a.total.macs, a.total.params)          # 4089184256 25557032
    print(api.render(a, "table"))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .cost import Cost
from .costmodel.analysis import Analysis, LayerCost
from .costmodel.analysis import analyze as _analyze
from .errors import ConvcostError, ImportRefused, Loc, SpecError, UsageError, did_you_mean
from .frontend.spec import SpecFile, load_spec, parse_data, parse_spec
from .graph.build import Graph, Node, build_graph
from .pipeline import (  # noqa: F401  (the commands' helpers, re-exported: file paths in, analyses out)
    DEFAULT_EXAMPLE,
    analyze_across,
    analyze_file,
    builtin_example,
    check_settings,
    load_graphs,
    model_vars,
    open_spec,
    open_specs,
    select_across,
)

__all__ = [
    "Analysis",
    "Budgets",
    "CheckResult",
    "Comparison",
    "ConvcostError",
    "Cost",
    "Finding",
    "Graph",
    "ImportRefused",
    "LayerCost",
    "Loc",
    "Node",
    "Spec",
    "SpecError",
    "UsageError",
    "analyze",
    "analyze_all",
    "check",
    "compare",
    "from_dict",
    "from_torch",
    "graph",
    "load",
    "load_budgets",
    "loads",
    "render",
]

if TYPE_CHECKING:
    from .ci.budget import Budgets, Finding
    from .ci.check import CheckResult
    from .costmodel.compare import Comparison

Spec = SpecFile  # a loaded, validated spec: .path, .models (name -> model), .blocks
_LAZY = {  # the budget and comparison types, imported when first used (`import convcost.api` stays light)
    "Budgets": "ci.budget",
    "Finding": "ci.budget",
    "CheckResult": "ci.check",
    "Comparison": "costmodel.compare",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__package__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
Format = Literal["table", "json", "markdown", "csv"]
SpecLike = Any  # a Spec, a path, a dict, a torch target 'file.py:factory' / 'pkg.module:factory', or an nn.Module


# ---- loading ---------------------------------------------------------------------------------------
def load(path: str | Path) -> Spec:
    """Read and validate a spec file ('-' reads standard input). SpecError: where it is wrong."""
    return load_spec(path)


def loads(text: str, name: str = "<string>") -> Spec:
    """A spec from YAML text; ``name`` is the file name its messages (and a single model's name) use."""
    return parse_spec(text, name)


def from_dict(data: Mapping[str, Any], name: str = "<dict>") -> Spec:
    """A spec from Python data, as its YAML would read (dicts, lists, tuples, numbers, strings, booleans,
    None). Messages point at the value by its path: ``<dict>['layers'][2]['conv']: conv 'conv3': ...``.
    A single-model dict's model is named after ``name`` ('net.yaml' -> 'net'; '<dict>' -> 'model')."""
    return parse_data(data, name)


def from_torch(
    model: Any,
    input: str | Sequence[int] | Sequence[str | Sequence[int]],
    factory_args: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> Spec:
    """The spec of a PyTorch model, as `convcost import` writes it (docs/import.md): ``model`` is a built
    ``nn.Module`` (traced by one real forward of batch 1 on its own device, in eval mode, its mode given back), or a
    target ``'path/to/file.py:factory'`` / ``'package.module:factory'`` (imported as `convcost analyze model.py:net
    --input ...` does, cached by its sources' hashes: a hit imports no torch). ``input``: the input's shape without
    the batch, ``(3, 224, 224)`` or ``'3,224,224'``, or a list of them for a forward of several inputs, in its order.
    ``factory_args``: the factory's keyword arguments (a target's; JSON values). ``name``: the model's name (default:
    the factory's, or the module's class name), as budgets and baselines name it. Needs torch unless a target is
    cached. UsageError: a bad input, a model that cannot be built or run, the wrong number of inputs (how many its
    forward takes); ImportRefused (a UsageError; ``.lines``): parts of the model convcost cannot express, named."""
    shapes = _shapes(input)
    if _is_module(model):
        if factory_args:
            raise UsageError("factory_args are a torch target's factory's ('model.py:net'); an nn.Module is built already")
        from .commands.import_ import module_spec

        label = name or type(model).__name__
        return parse_spec(module_spec(model, shapes), f"<{label}>", label)
    if not isinstance(model, str):
        raise TypeError(f"expected an nn.Module or a torch target 'path/to/file.py:factory', got {type(model).__name__}")
    from .commands._targets import TargetOptions, is_target, target_spec

    if not is_target(model):
        raise UsageError(f"'{model}' is not a torch target: expected path/to/file.py:factory or package.module:factory")
    args = tuple(f"{k}={_json_arg(k, v)}" for k, v in (factory_args or {}).items())
    return target_spec(model, TargetOptions(tuple(",".join(map(str, s)) for s in shapes), args), quiet=True, name=name)


def _json_arg(key: str, value: Any) -> str:
    import json

    try:
        return json.dumps(value)  # JSON is YAML: --reference-arg reads it back as the same value
    except (TypeError, ValueError):
        raise UsageError(f"factory_args['{key}']: {type(value).__name__} is not a JSON value (numbers, strings, "
                         "booleans, None, lists and dicts of them)") from None


def _shapes(value: Any) -> tuple[tuple[int, ...], ...]:
    """input= as the shapes of the forward's inputs: one shape ((3, 224, 224) or '3,224,224') or a list of them."""
    def one(v: Any) -> tuple[int, ...] | None:
        if isinstance(v, str):
            from .commands.import_ import parse_input

            return parse_input(v)
        if isinstance(v, Sequence) and v and all(isinstance(d, int) and not isinstance(d, bool) for d in v):
            if any(d < 1 for d in v):
                return None
            return tuple(v)
        return None

    if value is None:
        raise UsageError("a torch model needs input=, its input's shape without the batch, e.g. (3, 224, 224); a list "
                         "of shapes for a forward of several inputs")
    single = one(value)
    if single is not None:
        return (single,)
    many = [one(v) for v in value] if isinstance(value, Sequence) and not isinstance(value, str) and value else [None]
    if any(m is None for m in many):
        raise UsageError(f"input={value!r}: expected the input's shape without the batch, positive integers, e.g. "
                         "(3, 224, 224), or a list of shapes for a forward of several inputs")
    return tuple(m for m in many if m is not None)


def _is_module(value: Any) -> bool:
    """An nn.Module, found without importing torch (no torch loaded: no module can exist)."""
    import sys

    torch = sys.modules.get("torch")
    nn = getattr(torch, "nn", None)
    return nn is not None and isinstance(value, nn.Module)


def _torch_given(spec: Any) -> bool:
    if _is_module(spec):
        return True
    if isinstance(spec, str):
        from .commands._targets import is_target

        return is_target(spec)
    return False


def _as_spec(spec: SpecLike, input: Any = None, factory_args: Mapping[str, Any] | None = None) -> Spec:
    if _torch_given(spec):
        return from_torch(spec, input, factory_args)
    if input is not None or factory_args:
        given = " and ".join(o for o, v in (("input=", input is not None), ("factory_args=", factory_args)) if v)
        raise UsageError(f"{given} {'is' if ' and ' not in given else 'are'} for a torch model (an nn.Module, or "
                         "'path/to/file.py:factory' or 'package.module:factory'); a spec sets its own input")
    if isinstance(spec, SpecFile):
        return spec
    if isinstance(spec, Mapping):
        return from_dict(spec)
    if isinstance(spec, (str, Path)):
        return load(spec)
    raise TypeError(f"expected a Spec (convcost.api.load), a path, a dict, a torch target or an nn.Module, got "
                    f"{type(spec).__name__}")


def _model_name(spec: Spec, model: str | None) -> str:
    if model is not None:
        spec.model(model)  # a UsageError naming the file, its models and a close name
        return model
    if len(spec.models) != 1:
        raise UsageError(f"{spec.path} has {len(spec.models)} models ({', '.join(spec.models)}): name one")
    return next(iter(spec.models))


# ---- analysing -------------------------------------------------------------------------------------
def graph(spec: SpecLike, model: str | None = None, batch: int | None = None, *, input: Any = None,
          factory_args: Mapping[str, Any] | None = None) -> Graph:
    """The layer graph of one model: every layer (``.nodes``: name, op, args, input and output shapes). ``spec``
    may be a PyTorch model with ``input`` (and a target's ``factory_args``), imported as :func:`from_torch` does."""
    s = _as_spec(spec, input, factory_args)
    return build_graph(s, _model_name(s, model), batch)


def analyze(spec: SpecLike, model: str | None = None, batch: int | None = None, *, input: Any = None,
            factory_args: Mapping[str, Any] | None = None) -> Analysis:
    """Per-layer costs of one model (the spec's only one unless ``model`` names it): ``.total`` (a Cost:
    params, buffers, macs, flops, activations...), ``.layers`` (each node with its Cost), ``.rows(depth)``
    (the layer tree with subtotals), ``.scope_total(path)``, ``.by_op()``, ``.by_category()``.
    ``batch`` overrides the spec's batch. ``spec`` may be a PyTorch model: an nn.Module, or a target
    ``'model.py:net'`` / ``'pkg.models:net'``, with ``input=(3, 224, 224)`` (a list of shapes for a forward of several
    inputs) and a target's ``factory_args``, imported as :func:`from_torch` does."""
    return _analyze(graph(spec, model, batch, input=input, factory_args=factory_args))


def analyze_all(spec: SpecLike, models: Sequence[str] | None = None, batch: int | None = None, *, input: Any = None,
                factory_args: Mapping[str, Any] | None = None) -> list[Analysis]:
    """Every model of the spec (or those named, in that order); a PyTorch model with ``input`` as :func:`analyze`."""
    s = _as_spec(spec, input, factory_args)
    return [_analyze(build_graph(s, m, batch)) for _, m in select_across([s], list(models) if models else None)]


def compare(analyses: Sequence[Analysis]) -> Comparison:
    """Models side by side against the first (``.base``): ``.entries`` (label, analysis),
    ``.change(entry, 'macs')`` (percent, None where the base is 0), ``.blocks(depth)``."""
    from .costmodel.compare import make_comparison

    if not analyses:
        raise UsageError("compare needs at least one analysis")
    return make_comparison(list(analyses))


# ---- budgets ---------------------------------------------------------------------------------------
def load_budgets(source: str | Path | Mapping[str, Any]) -> Budgets:
    """A budget file (docs/budgets.md), from its path or as a dict; budgets add up with ``+``."""
    from .ci.budget import load_budget_file, parse_budget_file
    from .frontend.source import load_data

    if isinstance(source, Mapping):
        return parse_budget_file(load_data(source, "<budgets>"), "<budgets>")
    return load_budget_file(source)


def check(
    specs: SpecLike | Sequence[SpecLike],
    budgets: Budgets | str | Path | Mapping[str, Any] | Sequence[Budgets | str | Path] = (),
    baseline: str | Path | Sequence[str | Path] = (),
    max_growth: str | None = None,
    models: Sequence[str] | None = None,
    batch: int | None = None,
    convention: str | None = None,
    training: bool = False,
    optimizer: str | None = None,
    dtype: str | None = None,
    *,
    input: Any = None,
    factory_args: Mapping[str, Any] | None = None,
) -> CheckResult:
    """`convcost check` without the printing: every model of ``specs`` (or those named) against their own
    ``budget:`` keys, ``budgets`` (Budgets, budget files or dicts) and the ``baseline`` JSON files
    (growth at most ``max_growth``, e.g. '2%', where no budget says otherwise; the strictest rule wins).
    ``training`` (with ``optimizer``, default adamw, and ``dtype``, default fp32): as ``--training``, the
    limits on training numbers (``trainable_params``, ``backward_flops``, ``step_flops``, ``training_memory``)
    are checked against the training estimate. ``specs`` may hold PyTorch models (nn.Modules, targets
    ``'model.py:net'``), each imported with ``input`` (and ``factory_args``) as :func:`from_torch` does, so a budget
    gates the model itself; a budget names a target's model after its factory (``net``).

    Returns a CheckResult: ``.ok``, ``.findings`` (each: model, block, metric, actual, allowed, ok,
    message, loc), ``.failed``, ``.notes``, ``.exit_code``. Raises UsageError when nothing was checked
    (no budget applies; a renamed model must not pass by checking nothing), SpecError for a malformed
    budget or baseline. ``convention`` ('thop', 'fvcore:grad'; docs/conventions.md): the tool whose numbers the budgets
    that pin none limit, and growth compares; ValueError for an unknown name. ``training`` with a tool's
    ``convention`` is a UsageError (the training numbers are convcost's own; pin the convention in the budgets)."""
    from .ci.budget import Budgets
    from .ci.check import check_training_convention, collect_budgets, evaluate
    from .costmodel.convention import parse
    from .costmodel.extras import training_options

    train = training_options(training, optimizer, dtype)
    chosen = parse(convention)  # ValueError for an unknown name
    conv_name = chosen.name if chosen is not None else None
    check_training_convention(train is not None, conv_name)  # both at once: UsageError
    single = isinstance(specs, (SpecFile, str, Path, Mapping)) or _is_module(specs)
    spec_list = [specs] if single else list(specs)
    if (input is not None or factory_args) and not any(_torch_given(s) for s in spec_list):
        _as_spec(spec_list[0] if spec_list else {}, input, factory_args)  # the UsageError: input= is a torch model's
    files = [_as_spec(s, input, factory_args) if _torch_given(s) else _as_spec(s) for s in spec_list]
    given = [budgets] if isinstance(budgets, (Budgets, str, Path, Mapping)) else list(budgets)
    total = collect_budgets(files)
    for b in given:
        total += b if isinstance(b, Budgets) else load_budgets(b)
    baselines = [baseline] if isinstance(baseline, (str, Path)) else list(baseline)
    analyses = [_analyze(build_graph(f, m, batch)) for f, m in select_across(files, list(models) if models else None)]
    trainings = None
    if train is not None:
        from .costmodel.training import analyze_training

        trainings = [analyze_training(a, train.optimizer, train.dtype) for a in analyses]
    return evaluate(analyses, total, baselines, max_growth, every_model=not models, convention=conv_name,
                    trainings=trainings)


# ---- rendering -------------------------------------------------------------------------------------
def render(
    result: Analysis | Sequence[Analysis] | Comparison | CheckResult,
    format: Format = "table",
    depth: int | None = None,
) -> str:
    """Text as the command line writes it: analyses as 'table', 'json' (docs/json.md), 'markdown' or 'csv';
    a Comparison as 'table', 'markdown' or 'json'; a CheckResult as 'table' (its log lines) or 'markdown'
    (the job summary). ``depth``: levels of the layer tree (analyses; for a comparison, of its blocks)."""
    from .ci.check import CheckResult
    from .costmodel.compare import Comparison

    if isinstance(result, CheckResult):
        return _render_check(result, format)
    if isinstance(result, Comparison):
        return _render_comparison(result, format, depth)
    analyses = [result] if isinstance(result, Analysis) else list(result)
    if format == "json":
        from .render.json_out import render_json

        return render_json(analyses)
    if format == "csv":
        from .render.csv_out import render_csv

        return render_csv(analyses)
    if format == "markdown":
        from .render.markdown import render_markdown

        return render_markdown(analyses, depth)
    if format == "table":
        from .render.table import render_table

        return render_table(analyses, depth, False)
    raise UsageError(f"unknown format '{format}' for analyses{did_you_mean(str(format), ['table', 'json', 'markdown', 'csv'])}")


def _render_comparison(comp: Comparison, format: str, depth: int | None) -> str:
    from .render import compare_out

    blocks = depth or 1
    if format == "json":
        return compare_out.render_compare_json(comp, blocks)
    if format == "markdown":
        return compare_out.render_compare_markdown(comp, "macs", blocks)
    if format == "table":
        import io

        from rich.console import Console

        console = Console(file=io.StringIO(), width=150, color_system=None, highlight=False)
        compare_out.print_comparison(console, comp, "macs", blocks)
        return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]
    raise UsageError(f"unknown format '{format}' for a comparison: table, markdown or json")


def _render_check(result: CheckResult, format: str) -> str:
    from .render.check_out import finding_line, summary_line, summary_markdown

    if format == "markdown":
        return summary_markdown(list(result.findings), len(result.analyses), result.uncounted)
    if format == "table":
        findings = list(result.findings)
        lines = [*result.notes, *result.uncounted, *(finding_line(f) for f in findings),
                 summary_line(findings, len(result.analyses))]
        return "\n".join(lines) + "\n"
    raise UsageError(f"unknown format '{format}' for a check result: table or markdown")
