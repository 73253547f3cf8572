"""Issue 20's pools and resampling: adaptive max pooling, LP pooling, average pooling with divisor_override, fractional
max pooling, nearest-exact and antialiased interpolation. Their numbers by hand, their windows against torch's own
(a NaN placed at one input position turns every output whose window reads it into NaN), every counter's prediction
against the real tools, and `convcost import` of each as users write it (tests/pools20_factories.py) exact and
verified against the model."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import graph_of
from typer.testing import CliRunner

from convcost.cli import app
from convcost.costmodel.analysis import analyze
from convcost.ops.pool import adaptive_window_total
from convcost.ops.resample import aa_taps_total

TESTS = Path(__file__).resolve().parent
FACTORIES = TESTS / "pools20_factories.py"
runner = CliRunner()


def _cost(text: str):
    return analyze(graph_of(text)).total


# ---- numbers by hand -------------------------------------------------------------------------------------------------
def test_adaptive_maxpool_sums_torchs_windows() -> None:
    # 8 → 3: windows [0, 3), [2, 6), [5, 8): 3 + 4 + 3 = 10; 7 → 2: [0, 4), [3, 7): 4 + 4 = 8; 4 channels: 4 · 10 · 8
    t = _cost("input: [4, 8, 7]\nlayers:\n  - adaptive_maxpool: {out: [3, 2]}\n")
    assert (t.pool_ops, t.activations) == (4 * 10 * 8, 4 * 3 * 2)
    # 1-D, 10 → 4: [0, 3), [2, 5), [5, 8), [7, 10): 12; global (out 1): every element once
    assert _cost("input: [2, 10]\nlayers:\n  - adaptive_maxpool: {out: 4}\n").pool_ops == 2 * 12
    assert _cost("input: [3, 5, 6, 7]\nlayers:\n  - adaptive_maxpool\n").pool_ops == 3 * 5 * 6 * 7


def test_avgpool_divisor_costs_the_same_windows() -> None:
    # 8×8, kernel 3, stride 2, padding 1: floor((8 + 2 − 3) / 2) + 1 = 4 per dim; 4 channels · 16 outputs · 9 taps
    t = _cost("input: [4, 8, 8]\nlayers:\n  - avgpool: {kernel: 3, stride: 2, padding: 1, divisor: 4}\n")
    assert (t.pool_ops, t.activations) == (4 * 16 * 9, 4 * 16)


def test_lppool_counts_the_power_the_window_and_the_root() -> None:
    # 8×8, kernel 3, stride 2: floor((8 − 3) / 2) + 1 = 3 per dim. x^p on 4·64 inputs, 6 per output after the sum
    # (sign, abs, relu, product, ×9, root) on 4·9 outputs; the window 9 per output
    t = _cost("input: [4, 8, 8]\nlayers:\n  - lppool: {norm: 2, kernel: 3, stride: 2}\n")
    assert (t.pool_ops, t.elementwise_ops, t.activations) == (4 * 9 * 9, 4 * 64 + 6 * 4 * 9, 4 * 9)


def test_fractional_maxpool_counts_a_full_window_per_output() -> None:
    # out 4×5, kernel 3×3: 4 channels · 20 outputs · 9; ratio 0.5 of 9×9: int(4.5) = 4 per dim
    assert _cost("input: [4, 9, 9]\nlayers:\n  - fractional_maxpool: {kernel: 3, out: [4, 5]}\n").pool_ops == 4 * 20 * 9
    t = _cost("input: [4, 9, 9]\nlayers:\n  - fractional_maxpool: {kernel: 2, ratio: 0.5}\n")
    assert (t.pool_ops, t.activations) == (4 * 16 * 4, 4 * 16)


def test_antialiased_windows_by_hand() -> None:
    # bilinear 16 → 5: scale 3.2, support 3.2; centers 3.2·(i + ½) = 1.6, 4.8, 8.0, 11.2, 14.4; window
    # [trunc(c − 3.2 + ½), trunc(c + 3.2 + ½)) clipped to [0, 16): [0, 5), [2, 8), [5, 11), [8, 14), [11, 16): 28
    assert aa_taps_total(16, 5, 2, False, None) == 5 + 6 + 6 + 6 + 5
    # 16 → 3: scale 16/3, centers 8/3, 8, 40/3: [0, 8), [3, 13), [8, 16): 26
    assert aa_taps_total(16, 3, 2, False, None) == 8 + 10 + 8
    # upscaling (scale < 1): support stays 1: 4 → 8, centers ½·(i + ½): windows of 1 or 2 (the first clipped at 0)
    assert aa_taps_total(4, 8, 2, False, None) == 1 + 2 * 6 + 1
    t = _cost("input: [2, 16, 16]\nlayers:\n  - upsample: {size: [5, 3], mode: bilinear, antialias: true}\n")
    assert (t.pool_ops, t.activations) == (2 * 28 * 26, 2 * 15)


def test_nearest_exact_copies() -> None:
    t = _cost("input: [2, 5, 6]\nlayers:\n  - upsample: {scale: 2, mode: nearest-exact}\n")
    assert (t.pool_ops, t.activations) == (0, 2 * 10 * 12)


@pytest.mark.parametrize(("spec", "message"), [
    ("input: [2, 8]\nlayers:\n  - avgpool: {kernel: 2, divisor: 3}\n", "torch's AvgPool1d and F.avg_pool1d have no"),
    ("input: [2, 8, 8]\nlayers:\n  - avgpool: {kernel: 2, divisor: 0}\n", "must be a positive integer"),
    ("input: [2, 8, 8]\nlayers:\n  - upsample: {scale: 2, antialias: true}\n", "'antialias' works with modes bilinear"),
    ("input: [2, 8, 8]\nlayers:\n  - upsample: {scale: 2, mode: nearest-exact, align_corners: true}\n",
     "'align_corners' can only be set"),
    ("input: [2, 8, 8]\nlayers:\n  - lppool: {kernel: 2}\n", "norm"),
    ("input: [2, 8, 8]\nlayers:\n  - lppool: {norm: 0, kernel: 2}\n", "must be a positive finite number"),
    ("input: [2, 8]\nlayers:\n  - fractional_maxpool: {kernel: 2, out: 3}\n", "torch has no FractionalMaxPool1d"),
    ("input: [2, 8, 8]\nlayers:\n  - fractional_maxpool: {kernel: 2}\n", "needs 'out' or 'ratio'"),
    ("input: [2, 8, 8]\nlayers:\n  - fractional_maxpool: {kernel: 3, out: 7}\n", "needs at least 9 inputs"),
    ("input: [2, 8, 8]\nlayers:\n  - fractional_maxpool: {kernel: 2, ratio: 1.5}\n", "between 0 and 1"),
    ("input: [2, 8, 8]\nlayers:\n  - adaptive_maxpool: {out: [2, 2, 2]}\n", "out has 3 values"),
])
def test_bad_arguments_exit_2_with_a_located_message(spec: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(spec)
    r = runner.invoke(app, ["analyze", str(path)])
    assert r.exit_code == 2 and message in r.output and f"{path}:" in r.output and "Traceback" not in r.output, r.output


# ---- against torch's own windows -------------------------------------------------------------------------------------
torch = pytest.importorskip("torch")
F = torch.nn.functional


def _nan_reach(fn, shape: tuple[int, ...]) -> int:
    """Σ over the input positions of the outputs whose window reads it: one sample per position, NaN there (torch's
    max pooling and interpolation propagate NaN), ones elsewhere."""
    n = math.prod(shape)
    x = torch.ones(n, 1, *shape)
    x.view(n, n)[torch.arange(n), torch.arange(n)] = float("nan")
    return int(torch.isnan(fn(x)).sum())


def test_adaptive_windows_are_torchs() -> None:
    differ = [(size, out) for size in range(1, 14) for out in range(1, size + 1)
              if _nan_reach(lambda x, o=out: F.adaptive_max_pool1d(x, o), (size,)) != adaptive_window_total(size, out)]
    assert not differ


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_antialiased_windows_are_torchs(mode: str) -> None:
    """Both dims resampled (torch skips a dim whose size does not change); sizes, scale factors and align_corners."""
    interp = {"bilinear": 2, "bicubic": 4}[mode]
    differ = []
    for h, w, oh, ow in [(16, 16, 5, 3), (13, 7, 4, 2), (9, 11, 12, 20), (20, 17, 7, 9), (6, 10, 3, 30), (31, 5, 10, 4)]:
        for corners in (False, True):
            got = _nan_reach(lambda x, s=(oh, ow), c=corners: F.interpolate(x, size=s, mode=mode, antialias=True,
                                                                              align_corners=c), (h, w))
            want = aa_taps_total(h, oh, interp, corners, None) * aa_taps_total(w, ow, interp, corners, None)
            if got != want:
                differ.append((h, w, oh, ow, corners, got, want))
    for h, w, scale in [(16, 16, 0.3), (15, 14, 0.45), (10, 10, 1.7), (17, 9, 0.7)]:
        out = F.interpolate(torch.zeros(1, 1, h, w), scale_factor=scale, mode=mode, antialias=True).shape[2:]
        got = _nan_reach(lambda x, s=scale: F.interpolate(x, scale_factor=s, mode=mode, antialias=True), (h, w))
        want = aa_taps_total(h, out[0], interp, False, scale) * aa_taps_total(w, out[1], interp, False, scale)
        if got != want:
            differ.append((h, w, scale, got, want))
    assert not differ


def test_shapes_are_torchs() -> None:
    from convcost.errors import SpecError

    def ours(spec_layer: str, shape: list[int]) -> tuple[int, ...] | None:
        try:
            return tuple(graph_of(f"input: {shape}\nlayers:\n  - {spec_layer}\n").nodes[-1].shape)
        except SpecError:
            return None

    def theirs(module: torch.nn.Module, shape: list[int]) -> tuple[int, ...] | None:
        try:
            return tuple(module(torch.zeros(1, *shape)).shape[1:])
        except (RuntimeError, ValueError):
            return None

    differ = []
    for size in range(2, 10):
        for k in (1, 2, 3):
            for s in (1, 2, 3):
                for ceil in (False, True):
                    layer = f"lppool: {{norm: 2, kernel: {k}, stride: {s}, ceil_mode: {str(ceil).lower()}}}"
                    for shape in ([2, size], [2, size, size + 1], [2, size, size, 3]):
                        module = (torch.nn.LPPool1d, torch.nn.LPPool2d, torch.nn.LPPool3d)[len(shape) - 2](2, k, s, ceil)
                        if ours(layer, shape) != theirs(module, shape):
                            differ.append((layer, shape))
        for out in range(1, size + 1):
            for k in (1, 2, 3):
                mine = ours(f"fractional_maxpool: {{kernel: {k}, out: {out}}}", [2, size, size])
                if mine != theirs(torch.nn.FractionalMaxPool2d(k, output_size=out), [2, size, size]):
                    differ.append(("fractional", size, out, k))
    assert not differ


# ---- every counter's prediction against the real tools (fvcore and FlopCounterMode: verify) ------------------------------
SPECS = {
    # each form in turn, back to 9×9 after each: 9×9 → 7×6 → 9×9 → 9×9 → 8×8 → 6×5 → 12×10 → 6×5 → 5×4 → 9×9 (scale
    # factors whose products are exact in float: ptflops sums its F.interpolate counts as floats, int() at the end)
    "pools": (
        "input: [3, 9, 9]\nlayers:\n  - conv: {out: 3, kernel: 1}\n" + "".join(
            f"  - {op}: {{{args}torch: {form}}}\n"
            for form in ("module", "function", "subclass")
            for op, args in (("adaptive_maxpool", "out: [7, 6], "),
                             ("upsample", "size: [9, 9], mode: nearest-exact, "),
                             ("avgpool", "kernel: 3, stride: 1, padding: 1, divisor: 2, "),
                             ("lppool", "norm: 2, kernel: 2, stride: 1, "),
                             ("fractional_maxpool", "kernel: 2, out: [6, 5], "),
                             ("upsample", "scale: 2, mode: nearest-exact, "),
                             ("upsample", "scale: 0.5, mode: bicubic, antialias: true, "),
                             ("upsample", "size: [5, 4], mode: bilinear, antialias: true, "),
                             ("upsample", "size: [9, 9], mode: bilinear, antialias: true, "))
        ) + "  - adaptive_maxpool\n"
    ),
    "ranks": (
        "input: [3, 10]\nlayers:\n  - conv: {out: 3, kernel: 1}\n  - adaptive_maxpool: {out: 4}\n"
        "  - lppool: {norm: 1.5, kernel: 2, ceil_mode: true}\n  - lppool: {norm: 3, kernel: 1, torch: function}\n"
        "  - upsample: {size: 7, mode: nearest-exact}\n  - adaptive_maxpool: {out: 3, torch: function}\n"
    ),
    "ranks3d": (
        "input: [3, 6, 6, 6]\nlayers:\n  - conv: {out: 3, kernel: 1}\n  - fractional_maxpool: {kernel: 1, ratio: 0.5}\n"
        "  - adaptive_maxpool: {out: [2, 3, 2]}\n  - lppool: {norm: 2, kernel: [1, 2, 2], torch: function}\n"
        "  - avgpool: {kernel: 1, divisor: 2}\n  - upsample: {scale: 2, mode: nearest-exact, torch: function}\n"
    ),
}


@pytest.mark.parametrize("case", SPECS)
@pytest.mark.parametrize("batch", [1, 2])
def test_every_tool_equals_its_prediction(case: str, batch: int) -> None:
    from test_convention_tools import TOOLS, _compare

    graph = replace(graph_of(SPECS[case]), batch=batch)
    _compare(graph, tools=TOOLS if batch == 1 else [t for t in TOOLS if t != "ptflops"])


@pytest.mark.parametrize("case", SPECS)
def test_verify_measures_fvcore_and_flop_counter(case: str, tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(SPECS[case])
    # --training runs the backward on the meta device, where torch 2.13 has no kernel for fractional_max_pool3d_backward
    r = runner.invoke(app, ["verify", str(spec), *(["--training"] if case != "ranks3d" else [])])
    assert r.exit_code == 0, r.output


# ---- import, as users write them ---------------------------------------------------------------------------------------
IMPORTS = [
    ("adaptive_max", 2, "adaptive_maxpool: {name: pool, out: [3, 2]}"),
    ("adaptive_max_fn", 2, "adaptive_maxpool: {name: adaptive_max_pool2d, out: [3, 2], torch: function}"),
    ("adaptive_max_1d", 1, "adaptive_maxpool: {name: pool, out: 4}"),
    ("adaptive_max_3d_fn", 3, "adaptive_maxpool: {name: adaptive_max_pool3d, out: 2, torch: function}"),
    ("global_max", 2, "adaptive_maxpool: {name: pool}"),  # out: 1, the default
    ("divisor", 2, "divisor: 4"),
    ("divisor_fn", 2, "divisor: 3"),
    ("divisor_3d", 3, "divisor: 3"),
    ("lp", 2, "lppool: {name: pool, norm: 2.0, kernel: 3, stride: 2}"),
    ("lp_fn", 2, "lppool: {name: lp_pool2d, norm: 3.0, kernel: [2, 3], torch: function}"),
    ("lp_1d", 1, "lppool: {name: pool, norm: 1.5, kernel: 3}"),
    ("lp_3d", 3, "lppool: {name: pool, norm: 2.0, kernel: 2}"),
    ("lp_ceil", 2, "ceil_mode: true"),
    ("nearest_exact", 2, "mode: nearest-exact"),
    ("nearest_exact_module", 2, "upsample: {name: pool, size: [5, 9], mode: nearest-exact}"),
    ("aa_bilinear", 2, "mode: bilinear, align_corners: false, antialias: true"),
    ("aa_square", 2, "size: [5, 5], mode: bilinear, align_corners: false, antialias: true"),
    ("aa_bicubic", 2, "mode: bicubic, align_corners: false, antialias: true"),
    ("aa_up", 2, "mode: bilinear, align_corners: true, antialias: true"),
    ("fractional", 2, "fractional_maxpool: {name: pool, kernel: 3, out: [4, 5]}"),
    ("fractional_ratio", 2, "fractional_maxpool: {name: pool, kernel: 2, ratio: 0.5}"),
    ("fractional_fn", 2, "fractional_maxpool: {name: fractional_max_pool2d, kernel: 2, out: 3, torch: function}"),
    ("fractional_3d", 3, "fractional_maxpool: {name: pool, kernel: 2, ratio: 0.5}"),
    ("max_indices_unused", 2, "maxpool"),
    # the 1-D pools, which torch runs as their 2-D op between an unsqueeze and a squeeze: one layer each
    ("max_1d_fn", 1, "maxpool: {name: max_pool1d, kernel: 2, torch: function}"),
    ("max_1d_indices_unused", 1, "maxpool: {name: max_pool1d_with_indices, kernel: 3, stride: 2, torch: function}"),
    ("avg_1d_fn", 1, "avgpool: {name: avg_pool1d, kernel: 3, stride: 2, padding: 1, torch: function}"),
    ("adaptive_avg_1d_fn", 1, "adaptive_avgpool: {name: adaptive_avg_pool1d, out: 3, torch: function}"),
]
SHAPES = {1: "3,10", 2: "3,16,16", 3: "3,6,6,6"}


@pytest.mark.parametrize(("how", "rank", "line"), IMPORTS, ids=[i[0] for i in IMPORTS])
def test_import_is_exact_and_verifies(how: str, rank: int, line: str, tmp_path: Path) -> None:
    from test_import import spec_counts, torch_counts

    target = f"{FACTORIES}:pooled"
    args = ["--reference-arg", f"how={how}", "--reference-arg", f"rank={rank}"]
    spec = tmp_path / "p.yaml"
    r = runner.invoke(app, ["import", target, "--input", SHAPES[rank], "-o", str(spec), *args])
    assert r.exit_code == 0, r.output
    assert line in spec.read_text(), spec.read_text()
    assert spec_counts(spec) == torch_counts("pools20_factories.py:pooled", SHAPES[rank], f"how={how}", f"rank={rank}")
    v = runner.invoke(app, ["verify", str(spec), "--reference", target, *args])
    assert v.exit_code == 0, v.output


def test_max_unpool_is_refused_in_one_line(tmp_path: Path) -> None:
    r = runner.invoke(app, ["import", f"{FACTORIES}:pooled", "--input", "3,16,16", "-o", str(tmp_path / "u.yaml"),
                            "--reference-arg", "how=unpool"])
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert any("max_unpool2d: it places values at a max pool's indices" in ln for ln in lines), r.stderr
    assert any("indices used" in ln for ln in lines), r.stderr


# ---- what training keeps, against torch's autograd ---------------------------------------------------------------------
@pytest.mark.parametrize("layer", [
    "adaptive_maxpool: {out: [2, 3]}",  # the input and the int64 indices
    "adaptive_maxpool",
    "avgpool: {kernel: 2, divisor: 3}",  # the input, as without a divisor
    "lppool: {norm: 2, kernel: 2}",  # x, x^p, and four out-sized tensors
    "lppool: {norm: 3, kernel: [3, 2], stride: 1, ceil_mode: true}",
    "fractional_maxpool: {kernel: 2, out: [3, 2]}",  # the input and the indices
    "upsample: {scale: 2, mode: nearest-exact}",  # nothing: the backward needs sizes only
    "upsample: {size: [3, 2], mode: bilinear, antialias: true}",
    "upsample: {scale: 0.6, mode: bicubic, antialias: true}",
])
def test_training_saved_bytes_match_torch_autograd(layer: str) -> None:
    from test_saved_bytes import saved_by_autograd

    torch_saved, model_saved = saved_by_autograd(f"input: [3, 6, 5]\nlayers:\n  - conv: {{out: 4, kernel: 1}}\n  - {layer}\n")
    assert torch_saved == model_saved
