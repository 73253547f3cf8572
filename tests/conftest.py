from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from convcost.costmodel.analysis import Analysis, analyze
from convcost.frontend.spec import parse_spec
from convcost.graph.build import Graph, build_graph

# No wall-clock limits in tests (docs/testing.md): hypothesis's own are a 200 ms deadline per example and a
# health check that fails when generating data is slow, both of which a busy machine trips.
settings.register_profile("convcost", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("convcost")

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"

# torchvision's wheel on PyPI is built for the CUDA torch: beside the CPU torch its _meta_registrations module
# fails on import ("operator torchvision::nms does not exist"), and with it every import of torchvision (timm,
# ultralytics and ptflops import it too). Its model code does not need that module: an empty one stands in.
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))


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
