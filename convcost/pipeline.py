"""The analytic pipeline in one call, as the commands use it: spec file paths in, graphs and analyses out.
Never imports torch. The documented Python API (convcost/api.py, docs/api.md) sits on top of it."""

from __future__ import annotations

from pathlib import Path

from .costmodel.analysis import Analysis, analyze
from .errors import UsageError, did_you_mean
from .frontend.spec import SpecFile, load_spec
from .graph.build import Graph, build_graph

DEFAULT_EXAMPLE = "inception_5x5.yaml"


def builtin_example() -> tuple[Path, str]:
    """Path of the built-in example and the name it is shown under."""
    from importlib import resources  # only the example needs it (start-up time)

    path = Path(str(resources.files("convcost") / "examples" / DEFAULT_EXAMPLE))
    return path, f"<built-in>/{DEFAULT_EXAMPLE}"


def open_spec(path: str | Path | None) -> SpecFile:
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


def open_specs(paths: list[str] | None) -> list[SpecFile]:
    """The given spec files, or the built-in example when there are none."""
    return [open_spec(p) for p in (paths or [None])]


def analyze_across(files: list[SpecFile], models: list[str] | None, batch: int | None = None) -> list[Analysis]:
    """The analyses of ``select_across(files, models)``, in that order."""
    return [analyze(build_graph(f, m, batch)) for f, m in select_across(files, models)]


def load_graphs(path: str | Path | None, models: list[str] | None = None, batch: int | None = None) -> list[Graph]:
    spec = open_spec(path)
    return [build_graph(spec, m, batch) for _, m in select_across([spec], models)]


def analyze_file(path: str | Path | None, models: list[str] | None = None, batch: int | None = None) -> list[Analysis]:
    return [analyze(g) for g in load_graphs(path, models, batch)]
