"""Importing the models people have (torchvision, timm, ultralytics) and checking the spec against torch's own counts:
shared by tests/test_import.py's fast cases and tests/test_import_zoo.py (the whole zoo, marked slow).

Every expected number is torch's: the parameters' and buffers' numel summed over the module, and FlopCounterMode's
FLOPs / 2 over one forward (on the meta device where the factory builds there: FlopCounterMode counts from shapes),
with attention on torch's math path, as verify --reference compares them."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

from convcost.api import analyze_file
from convcost.cli import app

runner = CliRunner()


def build(target: str, kwargs: dict[str, Any], device: str = "meta") -> torch.nn.Module:
    """The factory's module in eval mode, built under ``device`` (the CPU where it cannot be built on meta)."""
    module, factory = target.rsplit(":", 1)
    fn = getattr(importlib.import_module(module), factory)
    try:
        with torch.device(device):
            return fn(**kwargs).eval()
    except (NotImplementedError, RuntimeError):  # RegNet's and YOLO's init read values: built for real
        return fn(**kwargs).eval()


def torch_counts(model: torch.nn.Module, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(params, buffers, FlopCounterMode FLOPs / 2) of the module, as torch counts them."""
    device = next(iter(model.parameters())).device
    with sdpa_kernel([SDPBackend.MATH]), FlopCounterMode(display=False) as fc:
        model(torch.zeros(1, *shape, device=device))
    return sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers()), fc.get_total_flops() // 2


def spec_counts(spec: Path) -> tuple[int, int, int]:
    t = analyze_file(spec)[0].total
    return t.params, t.buffers, t.macs


def reference_args(kwargs: dict[str, Any]) -> list[str]:
    def yaml(v: Any) -> str:
        return "null" if v is None else "false" if v is False else "true" if v is True else str(v)

    return [o for k, v in kwargs.items() for o in ("--reference-arg", f"{k}={yaml(v)}")]


def imports_exactly(target: str, kwargs: dict[str, Any], shape: tuple[int, ...], tmp_path: Path,
                    verify_on_meta: bool = True, max_memory: str | None = None) -> Path:
    """Import the target, check the spec's params, buffers and MACs against torch's, and that verify --reference
    passes (on the meta device where the factory builds there, unless ``verify_on_meta`` is off: a real forward).
    ``max_memory`` raises import's and verify's --max-memory for a model whose weights are over the default.
    Returns the spec."""
    spec = tmp_path / "spec.yaml"
    args = reference_args(kwargs) + (["--max-memory", max_memory] if max_memory else [])
    r = runner.invoke(app, ["import", target, "--input", ",".join(map(str, shape)), "-o", str(spec), *args])
    assert r.exit_code == 0, r.output
    assert "unsupported" not in spec.read_text().split("input:", 1)[1], spec.read_text()
    assert spec_counts(spec) == torch_counts(build(target, kwargs), shape)
    memory = ["--max-memory", "1k"] if verify_on_meta and not max_memory else []
    v = runner.invoke(app, ["verify", str(spec), "--reference", target, *args, *memory])
    assert v.exit_code == 0, v.output
    return spec
