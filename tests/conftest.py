from __future__ import annotations

from pathlib import Path

import pytest

from convcost.costmodel.analysis import Analysis, analyze
from convcost.frontend.spec import parse_spec
from convcost.graph.build import Graph, build_graph

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"


def graph_of(text: str, model: str | None = None, filename: str = "t.yaml") -> Graph:
    spec = parse_spec(text, filename)
    return build_graph(spec, model or next(iter(spec.models)))


def analysis_of(text: str, model: str | None = None) -> Analysis:
    return analyze(graph_of(text, model))


def config_analysis(name: str, model: str) -> Analysis:
    from convcost.api import analyze_file

    return analyze_file(CONFIGS / name, [model])[0]


@pytest.fixture
def configs_dir() -> Path:
    return CONFIGS
