"""The analytic pipeline in one call, as the commands use it: spec file paths in, graphs and analyses out
(with --set values applied). Never imports torch. The documented Python API (convcost/api.py,
docs/api.md) sits on top of it."""

from __future__ import annotations

from pathlib import Path

from .costmodel.analysis import Analysis, analyze
from .errors import UsageError, did_you_mean
from .frontend.spec import SpecFile, load_spec
from .graph.build import Graph, build_graph
from .graph.settings import PSEUDO, Settings

DEFAULT_EXAMPLE = "inception_5x5.yaml"


def builtin_example() -> tuple[Path, str]:
    """Path of the built-in example and the name it is shown under."""
    from importlib import resources  # only the example needs it (start-up time)

    path = Path(str(resources.files("convcost") / "examples" / DEFAULT_EXAMPLE))
    return path, f"<built-in>/{DEFAULT_EXAMPLE}"


def open_spec(path: str | Path | SpecFile | None) -> SpecFile:
    """A spec file read (the built-in example for None), or a spec already read (a torch target's, commands/_targets.py)."""
    if isinstance(path, SpecFile):
        return path
    if path is None:
        real, shown = builtin_example()
        return load_spec(real, shown)
    return load_spec(path)


def select_across(files: list[SpecFile], models: list[str] | None) -> list[tuple[SpecFile, str]]:
    """(file, model) pairs: every model of every file, or each named model, in the order named, from
    every file that has it (``compare a.yaml b.yaml -m net`` takes 'net' from both). A name that is
    in none of the files is an error naming the file (or files) and suggesting a close name."""
    if not models:
        return [(f, m) for f in files for m in f.models]
    if len(files) == 1:
        for m in models:
            files[0].model(m)  # an unknown name: the error names the file and its models
        return [(files[0], m) for m in models]
    pairs: list[tuple[SpecFile, str]] = []
    for m in models:
        found = [f for f in files if m in f.models]
        if not found:
            known = sorted({n for f in files for n in f.models})
            raise UsageError(f"no model '{m}' in any of the specs{did_you_mean(m, known)}; models: {', '.join(known)}")
        pairs.extend((f, m) for f in found)
    return pairs


def open_specs(paths: list[str] | list[str | SpecFile | None] | None) -> list[SpecFile]:
    """The given spec files, or the built-in example when there are none."""
    return [open_spec(p) for p in (paths or [None])]


def model_vars(spec: SpecFile, model: str) -> list[str]:
    """The vars ``--set`` can change in a model: the file's, then the model's own."""
    names = list(spec.vars.items) if spec.vars else []
    own = spec.model(model).vars
    return list(dict.fromkeys([*names, *(own.items if own else [])]))


def check_settings(pairs: list[tuple[SpecFile, str]], settings: Settings | None) -> None:
    """Every var ``--set`` names exists in at least one of the selected models (a typo is an error, not a no-op)."""
    if settings is None:
        return
    for name, _ in settings.vars:
        if name in PSEUDO:  # pragma: no cover - settings_of() never puts them among the vars
            continue
        if not any(name in model_vars(f, m) for f, m in pairs):
            known = list(dict.fromkeys(v for f, m in pairs for v in model_vars(f, m)))
            where = ", ".join(dict.fromkeys(f.path for f, _ in pairs))
            listed = f"; vars: {', '.join(known)}" if known else "; it has no 'vars' (see docs/spec.md)"
            raise UsageError(f"--set {name}: no var '{name}' in {where}{did_you_mean(name, known)}{listed}")


def analyze_across(
    files: list[SpecFile], models: list[str] | None, batch: int | None = None, settings: Settings | None = None
) -> list[Analysis]:
    """The analyses of ``select_across(files, models)``, in that order, with ``--set`` values applied."""
    pairs = select_across(files, models)
    check_settings(pairs, settings)
    return [analyze(build_graph(f, m, batch, settings)) for f, m in pairs]


def load_graphs(
    path: str | Path | SpecFile | None, models: list[str] | None = None, batch: int | None = None,
    settings: Settings | None = None,
) -> list[Graph]:
    spec = open_spec(path)
    pairs = select_across([spec], models)
    check_settings(pairs, settings)
    return [build_graph(spec, m, batch, settings) for _, m in pairs]


def analyze_file(
    path: str | Path | SpecFile | None, models: list[str] | None = None, batch: int | None = None,
    settings: Settings | None = None,
) -> list[Analysis]:
    return [analyze(g) for g in load_graphs(path, models, batch, settings)]
