"""Review rev20 of issue 20: imports that were exit 0 but not exact, or refused with a misleading line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from convcost.api import analyze_file  # noqa: E402
from convcost.cli import app  # noqa: E402

TESTS = Path(__file__).resolve().parent
HOSTILE = TESTS / "import_hostile_factories.py"
runner = CliRunner()


def _import(target: str, shape: str, spec: Path, *more: str) -> str:
    r = runner.invoke(app, ["import", target, "--input", shape, "-o", str(spec), *more])
    assert r.exit_code == 0, r.output
    return spec.read_text()


@pytest.mark.parametrize(("rank", "shape", "macs"), [
    # 3→8, kernel 4 on 16 ('same': 16 out), then 8→4, kernel 4 dilated 2 ('same'): 16·(8·3·4 + 4·8·4)
    (1, "3,16", 16 * (8 * 3 * 4 + 4 * 8 * 4)),
    # 16·16 · (8·3·4·4 + 4·8·3·4)
    (2, "3,16,16", 16 * 16 * (8 * 3 * 16 + 4 * 8 * 12)),
    # 6·6·6 · (8·3·4³ + 4·8·2·3·4)
    (3, "3,6,6,6", 6 ** 3 * (8 * 3 * 64 + 4 * 8 * 24)),
])
def test_same_padding_with_an_even_kernel_is_one_conv_and_verifies(rank: int, shape: str, macs: int, tmp_path: Path) -> None:
    target = f"{HOSTILE}:same_padded"
    spec = tmp_path / "same.yaml"
    text = _import(target, shape, spec, "--reference-arg", f"rank={rank}")
    assert text.count("padding: same") == 2 and "pad:" not in text, text
    assert analyze_file(spec)[0].total.macs == macs
    v = runner.invoke(app, ["verify", str(spec), "--reference", target, "--reference-arg", f"rank={rank}"])
    assert v.exit_code == 0, v.output  # fvcore: 0 on both sides (aten::_convolution_mode)


@pytest.mark.parametrize(("how", "outputs", "macs"), [
    ("input", ["conv", "output_1"], 14 * 14 * 4 * 3 * 9),  # the conv 3→4, 3×3 on 16×16: 14·14·4·27
    ("twice", ["conv", "output_1"], 14 * 14 * 4 * 3 * 9),
    ("identity", ["output_0"], 0),
])
def test_outputs_the_spec_cannot_list_become_identity_layers(how: str, outputs: list[str], macs: int, tmp_path: Path) -> None:
    """Each output is a distinct layer: an `identity` named after its place reads the input or the repeated tensor, so
    the spec analyzes (it was refused: 'output 'input' is an input of the model', 'listed twice', 'layers must be a
    list') with as many outputs as the model, and verify --reference passes."""
    target = f"{HOSTILE}:returns"
    spec = tmp_path / "returns.yaml"
    _import(target, "3,16,16", spec, "--reference-arg", f"how={how}")
    a = analyze_file(spec)[0]
    assert [n.name for n in a.graph.output_nodes] == outputs
    assert a.total.macs == macs
    v = runner.invoke(app, ["verify", str(spec), "--reference", target, "--reference-arg", f"how={how}"])
    assert v.exit_code == 0, v.output


def test_a_buffer_read_as_a_number_is_kept_in_the_totals(tmp_path: Path) -> None:
    target = f"{HOSTILE}:item_scale"
    spec = tmp_path / "item.yaml"
    text = _import(target, "3,8,8", spec)
    assert "multiply: {name: mul, scalar: 2.0}" in text and "unused: {name: scale, buffers: 1}" in text, text
    t = analyze_file(spec)[0].total
    assert (t.params, t.buffers, t.macs) == (4 * 3 * 9 + 4, 1, 8 * 8 * 4 * 3 * 9)  # torch: 112 params, 1 buffer value
    v = runner.invoke(app, ["verify", str(spec), "--reference", target])
    assert v.exit_code == 0, v.output


@pytest.mark.parametrize(("how", "line", "wrong"), [
    ("index", "x[...] as aten.index with 2 index tensors: convcost selects along one dim", "getitem is not a"),
    ("dropout", "dropout_p=0.1: it drops attention weights at random in eval mode too", "call model.eval()"),
])
def test_refusals_name_what_the_call_ran(how: str, line: str, wrong: str, tmp_path: Path) -> None:
    r = runner.invoke(app, ["import", f"{HOSTILE}:refusals", "--input", "3,16,16", "--reference-arg", f"how={how}"])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    lines = r.stderr.splitlines()
    assert len(lines) == 2 and line in lines[0] and wrong not in r.stderr, r.stderr


def test_max_and_min_over_a_dim_are_amax_and_amin(tmp_path: Path) -> None:
    target = f"{HOSTILE}:max_pool_of_channels"
    spec = tmp_path / "cbam.yaml"
    text = _import(target, "3,16,16", spec)
    assert "amax: {name: max, dims: [1], keepdim: true}" in text
    assert "amin: {name: min, dims: [1], keepdim: true, from: conv}" in text
    # 16·16 · (8·3·9 + 1·3·49): the conv and the 7×7 spatial conv
    assert analyze_file(spec)[0].total.macs == 16 * 16 * (8 * 3 * 9 + 3 * 49)
    v = runner.invoke(app, ["verify", str(spec), "--reference", target])
    assert v.exit_code == 0, v.output


def test_circular_padding_mode_is_a_circular_pad_and_a_conv(tmp_path: Path) -> None:
    target = f"{HOSTILE}:circular_conv"
    spec = tmp_path / "circular.yaml"
    text = _import(target, "3,16,16", spec, "--no-blocks")
    assert "pad: {name: pad, pad: [1, 1, 1, 1], mode: circular}" in text and "pad: [2, 2, 0, 0], mode: circular" in text
    # 16·16·8·3·9, then (16 - 2)·(16 + 4 - 2)·4·8·9 (H unpadded, W padded 2 a side)
    assert analyze_file(spec)[0].total.macs == 16 * 16 * 8 * 27 + 14 * 18 * 4 * 72
    v = runner.invoke(app, ["verify", str(spec), "--reference", target])
    assert v.exit_code == 0, v.output


def test_an_unsupported_part_on_a_channels_last_grid_keeps_the_grid(tmp_path: Path) -> None:
    target = f"{HOSTILE}:channels_last_cumsum"
    spec = tmp_path / "grid.yaml"
    text = _import(target, "3,16,16", spec, "--allow-unsupported")
    assert "unsupported: {name: cumsum, shape: [16, 16, 8], grid: true" in text, text
    a = analyze_file(spec)[0]
    assert a.uncounted == ("cumsum",)
    fc = next(lc for lc in a.layers if lc.node.name == "fc")
    assert fc.cost.macs == 16 * 16 * 6 * 8  # the Linear at each of the 16·16 positions, as torch's 12,288
    assert fc.cost.params == 6 * 8 + 6 and a.total.params == sum(p.numel() for p in _model(target).parameters())
    assert [n.name for n in a.graph.output_nodes] == ["permute_1"] and tuple(a.graph.output.shape) == (6, 16, 16)


def _model(target: str) -> torch.nn.Module:
    import importlib.util

    path, _, name = target.rpartition(":")
    spec = importlib.util.spec_from_file_location("hostile_rev20", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)()


def test_a_0d_learned_scalar_is_one_param(tmp_path: Path) -> None:
    target = f"{HOSTILE}:rezero"
    spec = tmp_path / "rezero.yaml"
    text = _import(target, "4,8,8", spec)
    assert "multiply: {name: mul, param: [1]" in text, text
    t = analyze_file(spec)[0].total
    assert (t.params, t.macs) == (4 * 4 * 9 + 4 + 1 + 4 * 2 + 2, 8 * 8 * 4 * 4 * 9 + 4 * 2)  # conv, alpha, fc
    v = runner.invoke(app, ["verify", str(spec), "--reference", target])
    assert v.exit_code == 0, v.output


def test_squeeze_of_every_dim_says_it_drops_the_batch_at_batch_1() -> None:
    r = runner.invoke(app, ["import", f"{HOSTILE}:rezero", "--input", "4,8,8", "--reference-arg", "how=squeeze"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "x.squeeze() drops the batch dim too at batch 1" in r.stderr.splitlines()[0], r.stderr


def test_a_weight_shared_by_layers_of_two_ops_is_refused_not_tied(tmp_path: Path) -> None:
    target = f"{HOSTILE}:linear_as_conv"
    r = runner.invoke(app, ["import", target, "--input", "3,8,8", "-o", str(tmp_path / "s.yaml")])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert "a tensor 'conv2d' (conv) holds too (shared weights)" in r.stderr.splitlines()[0], r.stderr
    r = runner.invoke(app, ["import", target, "--input", "3,8,8", "-o", str(tmp_path / "s.yaml"), "--allow-unsupported"])
    assert r.exit_code == 0 and analyze_file(tmp_path / "s.yaml")[0].uncounted == ("fc",)


@pytest.mark.parametrize(("how", "traced"), [("view", "[256, 4]"), ("flatten", "[1024]")])  # 16*16 pixels; 4*16*16
def test_allow_unsupported_refuses_a_part_that_moves_the_batch_dim(how: str, traced: str, tmp_path: Path) -> None:
    """An `unsupported` row keeps a shape per sample: for a part whose output has no batch dim first it would size the
    Linear after it from the wrong shape (the spec said 1×2 outputs where torch makes 256×2, exit 0): refused, exit 2,
    nothing written, even with --allow-unsupported."""
    spec = tmp_path / "s.yaml"
    r = runner.invoke(app, ["import", f"{HOSTILE}:batch_moved", "--input", "3,16,16", "--reference-arg", f"how={how}",
                            "-o", str(spec), "--allow-unsupported"])
    assert r.exit_code == 2, r.output
    assert f"its output, {traced} from a batch of 1, has no batch dim first" in r.stderr
    assert "--allow-unsupported cannot write this model" in r.stderr
    assert "Traceback" not in r.output and not spec.exists()
