"""Issue 20: import of the general tensor ops a trace holds that convcost refused before (tests/tensor_op_factories.py):
buffers in arithmetic, repeat / tile / expand + contiguous / flip / roll, einsum of three operands. Each imports with
params, buffers and MACs equal to torch's (derived by hand beside each), and `verify --reference` exits 0."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from convcost.api import analyze_file  # noqa: E402
from convcost.cli import app  # noqa: E402

FACTORIES = Path(__file__).resolve().parent / "tensor_op_factories.py"
runner = CliRunner()


def _import(target: str, shape: str, spec: Path, *more: str) -> str:
    r = runner.invoke(app, ["import", target, "--input", shape, "-o", str(spec), *more])
    assert r.exit_code == 0, r.output
    return spec.read_text()


def _model(name: str, **kwargs: str) -> torch.nn.Module:
    spec = importlib.util.spec_from_file_location("tensor_op_factories_t", FACTORIES)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)(**kwargs)


def _verify(spec: Path, target: str, *more: str) -> None:
    v = runner.invoke(app, ["verify", str(spec), "--reference", target, *more])
    assert v.exit_code == 0, v.output


@pytest.mark.parametrize(("how", "lines"), [
    ("broadcast", ("sub: {name: sub, buffer: [1, 3, 1, 1]}", "div: {name: div, buffer: [1, 3, 1, 1]}")),
    ("flat", ("sub: {name: sub, buffer: [3, 1, 1]}", "div: {name: div, buffer: [3, 1, 1]}")),
    ("reverse", ("sub: {name: sub, buffer: [1, 3, 1, 1], reverse: true}", "multiply: {name: mul, buffer: [1, 3, 1, 1]")),
])
def test_buffers_in_arithmetic_count_as_buffers(how: str, lines: tuple[str, ...], tmp_path: Path) -> None:
    target = f"{FACTORIES}:normalised"
    spec = tmp_path / "norm.yaml"
    text = _import(target, "3,8,8", spec, "--reference-arg", f"how={how}")
    assert all(line in text for line in lines), text
    t = analyze_file(spec)[0].total
    model = _model("normalised", how=how)
    # the conv 3→4, 3×3: 4·3·9 + 4 = 112 params, 8·8·4·27 = 6,912 MACs; the mean and std, 3 + 3 buffer values
    assert (t.params, t.buffers, t.macs) == (112, 6, 6912)
    assert (t.params, t.buffers) == (sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers()))
    _verify(spec, target, "--reference-arg", f"how={how}")


@pytest.mark.parametrize(("how", "line", "macs"), [
    # conv 3→4, 3×3 on 8×8: 8·8·4·27 = 6,912 MACs; then the 1×1 conv 4→2 on the copy's H×W: 2·4 = 8 per position
    ("repeat", "tile: {name: repeat, sizes: [1, 2, 2]}", 6912 + 16 * 16 * 8),
    ("tile", "tile: {name: tile, sizes: [1, 2, 1]}", 6912 + 16 * 8 * 8),  # tile((2, 1)) is repeat(1, 1, 2, 1)
    ("expand", "tile: {name: expand, sizes: [4, 1, 1]}", 6912 + 8 * 8 * 8),  # a channel mean copied to 4 channels
    ("flip", "flip: {name: flip, dims: [3]}", 6912 + 8 * 8 * 8),
    ("roll", "roll: {name: roll, shifts: [1, -2], dims: [2, 3]}", 6912 + 8 * 8 * 8),
])
def test_copies_import_as_their_ops(how: str, line: str, macs: int, tmp_path: Path) -> None:
    target = f"{FACTORIES}:copies"
    spec = tmp_path / "copies.yaml"
    text = _import(target, "3,8,8", spec, "--reference-arg", f"how={how}")
    assert line in text, text
    t = analyze_file(spec)[0].total
    model = _model("copies", how=how)
    # params: 4·27 + 4 and 2·4 + 2 = 122
    assert (t.params, t.buffers, t.macs) == (122, 0, macs) and t.params == sum(p.numel() for p in model.parameters())
    _verify(spec, target, "--reference-arg", f"how={how}")


def test_einsum_of_three_operands_is_one_layer(tmp_path: Path) -> None:
    target = f"{FACTORIES}:einsum3"
    spec = tmp_path / "einsum3.yaml"
    text = _import(target, "3,8,8", spec)
    assert "einsum: {name: einsum, equation: 'bij,bjk,bkl->bil', from: [flatten, transpose, flatten]}" in text, text
    t = analyze_file(spec)[0].total
    # conv 1×1 3→4 on 8×8: 64·4·3 = 768; a [4, 64], aᵀ [64, 4]: 'bij,bjk' contracts j over i, j, k (4·64·4), then k
    # over i, k, l (4·4·64)
    assert (t.params, t.macs) == (4 * 3 + 4, 768 + 4 * 64 * 4 + 4 * 4 * 64)
    _verify(spec, target)


@pytest.mark.parametrize(("how", "message"), [
    ("roll_flat", "roll of [1, 4, 8, 8] over every value: it moves values between samples"),
])
def test_copies_across_samples_are_refused(how: str, message: str, tmp_path: Path) -> None:
    r = runner.invoke(app, ["import", f"{FACTORIES}:copies", "--input", "3,8,8", "--reference-arg", f"how={how}"])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert message in r.stderr, r.stderr


@pytest.mark.parametrize(("how", "ops", "params", "buffers", "macs"), [
    # conv 3→4, 3×3 on 8×8: 6,912 MACs, 112 params; the 1×1 head 4→2: 8 MACs per position, 10 params
    ("where", ("gt:", "where:"), 122, 0, 6912 + 64 * 8),
    ("where_scalar", ("lt:", "where:"), 122, 0, 6912 + 64 * 8),
    ("index_select", ("index_select:", "buffer: true"), 122, 4, 6912 + 64 * 8),  # the order buffer: 4 values
    ("index", ("index_select:",), 122, 0, 6912 + 64 * 8),
    ("topk", ("topk:",), 122, 0, 6912 + 8 * 4 * 8),  # 4 of the 8 columns
    # the flow conv 4→2, 1×1: 2·4 + 2 params, 64·8 MACs
    ("grid", ("grid_sample:",), 132, 0, 6912 + 64 * 8 + 64 * 8),
    ("grid_param", ("grid_sample:", "grid: [4, 4]"), 122 + 32, 0, 6912 + 16 * 8),  # a learned [1, 4, 4, 2] grid
])
def test_selections_import_as_their_ops(how: str, ops: tuple[str, ...], params: int, buffers: int, macs: int,
                                        tmp_path: Path) -> None:
    target = f"{FACTORIES}:selections"
    spec = tmp_path / "select.yaml"
    text = _import(target, "3,8,8", spec, "--reference-arg", f"how={how}")
    assert all(op in text for op in ops), text
    t = analyze_file(spec)[0].total
    model = _model("selections", how=how)
    assert (t.params, t.buffers, t.macs) == (params, buffers, macs)
    assert (t.params, t.buffers) == (sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers()))
    _verify(spec, target, "--reference-arg", f"how={how}")


@pytest.mark.parametrize(("how", "message"), [
    ("topk_indices", "topk with its indices used: convcost's topk gives the values only"),
    ("mask", "by a mask: convcost selects along one dim by a 1-D index"),
])
def test_selections_by_the_values_are_refused(how: str, message: str) -> None:
    r = runner.invoke(app, ["import", f"{FACTORIES}:selections", "--input", "3,8,8", "--reference-arg", f"how={how}"])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert message in r.stderr, r.stderr
