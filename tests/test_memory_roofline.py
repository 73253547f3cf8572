"""Analytic memory traffic, activation memory and roofline, with hand-derived numbers."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys

import pytest
from conftest import CONFIGS, analysis_of, config_analysis
from typer.testing import CliRunner

from convcost.cli import app
from convcost.costmodel.memory import analyze_memory
from convcost.costmodel.roofline import BUILTIN, layer_span, parse_profiles, resolve_profile, roofline
from convcost.errors import SpecError, UsageError

runner = CliRunner()


def traffic(a, name):  # type: ignore[no-untyped-def]
    return next(lt for lt in a.layers if lt.node.name == name)


def test_traffic_of_the_bottleneck_convs_fp32() -> None:
    mem = analyze_memory(config_analysis("inception_naive_vs_bottleneck.yaml", "bottleneck"), "fp32")
    r = traffic(mem, "reduce1x1").traffic
    assert r.input_bytes == 192 * 28 * 28 * 4 == 602_112
    assert r.weight_bytes == 192 * 16 * 4 == 12_288
    assert r.output_bytes == 16 * 28 * 28 * 4 == 50_176
    c = traffic(mem, "conv5x5").traffic
    assert (c.input_bytes, c.weight_bytes, c.output_bytes) == (50_176, 16 * 25 * 32 * 4, 32 * 784 * 4)
    # intensity: 2·2,408,448 FLOPs over 602,112 + 12,288 + 50,176 bytes
    assert traffic(mem, "reduce1x1").intensity == pytest.approx(4_816_896 / 664_576)


def test_dtype_scales_bytes_not_flops() -> None:
    a = config_analysis("inception_naive_vs_bottleneck.yaml", "naive")
    fp32, bf16, int8 = (analyze_memory(a, d) for d in ("fp32", "bf16", "int8"))
    # input 192·784 + weights 153,600 + output 32·784 elements
    elems = 192 * 784 + 153_600 + 32 * 784
    assert (fp32.traffic.total, bf16.traffic.total, int8.traffic.total) == (4 * elems, 2 * elems, elems)
    assert fp32.layers[0].flops == bf16.layers[0].flops == 2 * 120_422_400


def test_batchnorm_reads_scale_shift_and_running_stats_not_the_counter() -> None:
    a = analysis_of("input: [8, 4, 4]\nlayers: [bn]\n")
    (lt,) = analyze_memory(a, "fp32").layers
    assert lt.traffic.weight_bytes == (2 * 8 + 2 * 8) * 4  # gamma, beta, running mean, running var


def test_views_move_nothing_and_share_storage() -> None:
    a = analysis_of("input: [4, 2, 2]\nlayers: [relu, flatten, dropout, {linear: {out: 3}}]\n")
    mem = analyze_memory(a, "fp32")
    assert traffic(mem, "flatten1").traffic.total == 0
    assert traffic(mem, "dropout1").traffic.total == 0
    # peak: input 16 + relu 16 elements (flatten/dropout are views of relu's output), then
    # input + relu + linear 3 = 35 elements at the linear
    assert mem.activations.peak_bytes == (16 + 16 + 3) * 4
    assert mem.activations.peak_layer == "linear1"


def test_peak_keeps_concat_inputs_alive() -> None:
    mem = analyze_memory(config_analysis("inception_a.yaml", "inception_a"), "fp32")
    act = mem.activations
    # at branch_pool.conv1: input 192 + branch outputs 16 + 24 + 24 (waiting for the concat)
    # + avgpool 192 + the conv's own 24 channels, all 28×28 fp32
    assert act.peak_bytes == (192 + 16 + 24 + 24 + 192 + 24) * 28 * 28 * 4 == 1_480_192
    assert act.peak_layer == "branch_pool.conv1"
    assert "branch1x1.relu1" in act.live_at_peak and "input" in act.live_at_peak


def test_peak_keeps_residual_input_alive() -> None:
    mem = analyze_memory(config_analysis("resnet_bottleneck.yaml", "bottleneck"), "fp32")
    # at block.bn3: the block input (the shortcut) + conv3 out + bn3 out, 256×56×56 each
    assert mem.activations.peak_bytes == 3 * 256 * 56 * 56 * 4 == 9_633_792
    assert mem.activations.peak_layer == "block.bn3"


def test_training_saved_hand_count() -> None:
    a = analysis_of("input: [3, 8, 8]\nlayers: [{conv: {out: 4, kernel: 3, padding: 1}}, bn, relu, "
                    "{maxpool: {kernel: 2}}, flatten, {linear: {out: 5}}]\n")
    act = analyze_memory(a, "fp32").activations
    elems = (
        3 * 64  # conv saves the input
        + 4 * 64  # bn saves conv's output
        + 4 * 64  # relu saves its output; maxpool saves the same tensor (counted once)
        + 4 * 16  # linear saves the flatten view of maxpool's output
    )
    extra = 4 * 16 * 8 + 2 * 4 * 4  # maxpool int64 indices; bn mean and inverse std (fp32)
    assert act.training_saved_bytes == elems * 4 + extra


def test_unknown_dtype_is_a_usage_error() -> None:
    a = config_analysis("inception_naive_vs_bottleneck.yaml", "naive")
    with pytest.raises(UsageError, match="did you mean 'fp16'"):
        analyze_memory(a, "fp61")


# ---- roofline -------------------------------------------------------------------------------------
def test_layer_span_picks_the_larger_time() -> None:
    h100 = BUILTIN["h100"]
    s = layer_span(10**9, 10**6, h100.peak_for("fp32"), h100.bandwidth)
    assert s.compute_s == pytest.approx(1e9 / 67e12)
    assert s.memory_s == pytest.approx(1e6 / 3.35e12)
    assert s.ideal_s == s.compute_s and s.bound == "compute"
    m = layer_span(10**6, 10**9, h100.peak_for("fp32"), h100.bandwidth)
    assert m.bound == "memory" and m.ideal_s == pytest.approx(1e9 / 3.35e12)


def test_bottleneck_1x1_is_memory_bound_and_5x5_compute_bound_on_h100_bf16() -> None:
    h100 = BUILTIN["h100"]
    assert h100.ridge("bf16") == pytest.approx(989.5e12 / 3.35e12)  # ≈ 295 FLOP/B
    naive = roofline(analyze_memory(config_analysis("inception_naive_vs_bottleneck.yaml", "naive"), "bf16"), h100)
    # 2·120,422,400 FLOPs over (192·784 + 153,600 + 32·784)·2 = 658,432 bytes ≈ 366 FLOP/B > ridge
    assert naive.layers[0].intensity == pytest.approx(240_844_800 / 658_432)
    assert naive.total.bound == "compute"
    assert naive.total.ideal_s == pytest.approx(240_844_800 / 989.5e12)
    bott = roofline(
        analyze_memory(config_analysis("inception_naive_vs_bottleneck.yaml", "bottleneck"), "bf16"), h100
    )
    # reduce1x1: 4,816,896 FLOPs over (150,528 + 3,072 + 12,544)·2 = 332,288 bytes ≈ 14.5 FLOP/B
    assert bott.layers[0].bound == "memory"
    assert bott.layers[0].ideal_s == pytest.approx(332_288 / 3.35e12)


def test_segments_sum_to_the_total() -> None:
    r = roofline(analyze_memory(config_analysis("inception_a.yaml", "inception_a"), "fp16"), BUILTIN["a100"])
    segs = r.segments()
    assert [name for name, _, _ in segs] == ["branch1x1", "branch5x5", "branch3x3", "branch_pool", "concat1"]
    assert sum(s.ideal_s for _, _, s in segs) == pytest.approx(r.total.ideal_s)
    assert sum(s.bytes for _, _, s in segs) == r.total.bytes


USER = """\
devices:
  rtx:
    description: my card
    peak: {fp32: 82.6 TFLOP/s, fp16: 165T}
    bandwidth: 1008 GB/s
  slow:
    peak: {fp32: 1e9}
    bandwidth: 1000000000
"""


def test_user_profiles_with_units() -> None:
    profiles = parse_profiles(USER, "hw.yaml")
    rtx = profiles["rtx"]
    assert rtx.peak == {"fp32": 82.6e12, "fp16": 165e12}
    assert rtx.bandwidth == 1008e9
    assert rtx.description == "my card"
    assert profiles["slow"].peak_for("fp32") == 1e9


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("devices:\n  x:\n    peak: {fp32: 1T}\n    bandwidth: fast\n", "hw.yaml:4:16", "cannot read 'fast'"),
        ("devices:\n  x:\n    peak: {fp23: 1T}\n    bandwidth: 1\n", "hw.yaml:3:12", "did you mean 'fp32'"),
        ("devices:\n  x:\n    bandwidth: 1\n", "hw.yaml:2:3", "needs 'peak'"),
        ("devices:\n  x:\n    peak: {fp32: -3}\n    bandwidth: 1\n", "hw.yaml:3:18", "must be positive"),
        ("devices:\n  x:\n    peak: {fp32: 1 TB/s}\n    bandwidth: 1\n", "hw.yaml:3:18", "cannot read"),
        ("gpus: {}\n", "hw.yaml:1:1", "unknown key 'gpus'"),
        # a float overflows to inf: out of range, not "must be positive"
        ("devices:\n  x:\n    peak: {fp32: 1e400 TFLOP/s}\n    bandwidth: 1\n", "hw.yaml:3:18",
         "peak fp32 is out of range: 1e400 TFLOP/s is not a finite rate"),
        ("devices:\n  x:\n    peak: {fp32: .inf}\n    bandwidth: 1\n", "hw.yaml:3:18", "is out of range: inf"),
        ("devices:\n  x:\n    peak: {fp32: 1T}\n    bandwidth: 1e400\n", "hw.yaml:4:16", "bandwidth is out of range"),
        ("devices:\n  x:\n    peak: {fp32: .nan}\n    bandwidth: 1\n", "hw.yaml:3:18", "must be a positive number, got nan"),
    ],
)
def test_user_profile_errors_are_located(text: str, where: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_profiles(text, "hw.yaml")
    assert str(e.value).startswith(where + ":"), str(e.value)
    assert message in str(e.value)


def test_resolve_profile(tmp_path) -> None:  # type: ignore[no-untyped-def]
    one = tmp_path / "one.yaml"
    one.write_text("devices:\n  mine: {peak: {fp32: 1T}, bandwidth: 1 TB/s}\n")
    assert resolve_profile(None, one).name == "mine"  # the file's only device
    assert resolve_profile("H100").name == "h100"
    with pytest.raises(UsageError, match="did you mean 'h100'"):
        resolve_profile("h10")
    with pytest.raises(SpecError) as e:  # located at the device's peak mapping in the file: column of its "{"
        resolve_profile("mine", one).peak_for("int8")
    assert str(e.value).startswith(f"{one}:2:16: device profile 'mine' has no peak for int8; it has: fp32")
    with pytest.raises(UsageError, match="no peak for tf32"):  # a built-in has no file to point at
        resolve_profile("cpu").peak_for("tf32")


def test_a_file_that_redefines_a_builtin(tmp_path) -> None:  # type: ignore[no-untyped-def]
    hw = tmp_path / "hw.yaml"
    hw.write_text("devices:\n  cpu: {peak: {fp16: 1T}, bandwidth: 1 TB/s}\n  mine: {peak: {fp32: 1T}, bandwidth: 1}\n")
    assert resolve_profile("cpu", hw).source == str(hw)  # the file's cpu wins
    assert resolve_profile("CPU", hw).source == str(hw)  # built-in names are case-insensitive
    with pytest.raises(UsageError) as e:
        resolve_profile("nope", hw)
    assert str(e.value).endswith(f"known: cpu (from {hw}, overrides the built-in), mine, h100, h200, a100")
    result = runner.invoke(app, ["roofline", "--hw-file", str(hw), "--hw", "cpu"])
    assert result.exit_code == 2 and f"{hw}:2:15: device profile 'cpu' has no peak for fp32" in result.stderr


# ---- the roofline command --------------------------------------------------------------------------
def test_roofline_command_json() -> None:
    result = runner.invoke(
        app, ["roofline", str(CONFIGS / "inception_naive_vs_bottleneck.yaml"), "--hw", "h100", "--dtype", "bf16",
              "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "convcost.profile/1" and doc["environment"] is None
    assert doc["hardware"]["name"] == "h100" and doc["hardware"]["peak_dtype"] == "bf16"
    naive, bott = doc["models"]
    assert naive["memory"]["traffic_bytes"] == 658_432  # (192·784 + 153,600 + 32·784)·2
    assert naive["model"]["roofline"]["bound"] == "compute"
    assert naive["model"]["measured"] is None
    assert [layer["bound"] for layer in bott["layers"]] == ["memory", "memory"]
    # at conv5x5: input 192 + reduce1x1's 16 + conv5x5's 32 channels, 28×28, 2 bytes
    assert bott["memory"]["peak_activation_bytes"] == (192 + 16 + 32) * 784 * 2
    assert bott["memory"]["peak_activation_layer"] == "conv5x5"


def test_roofline_command_table_and_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ok = runner.invoke(app, ["roofline", "--dtype", "int8"])
    assert ok.exit_code == 0, ok.output
    assert "conv5x5" in ok.stdout and "memory (int8)" in ok.stdout
    bad = runner.invoke(app, ["roofline", "--dtype", "fp8"])
    assert bad.exit_code == 2 and "unknown dtype 'fp8'" in bad.stderr
    hw = tmp_path / "hw.yaml"
    hw.write_text("devices:\n  x:\n    peak: {fp32: 1T}\n    bandwidth: [1]\n")
    bad_hw = runner.invoke(app, ["roofline", "--hw-file", str(hw)])
    assert bad_hw.exit_code == 2 and f"{hw}:4:16:" in bad_hw.stderr


def test_analytic_commands_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from convcost.cli import app\n"
        "r = CliRunner().invoke(app, ['roofline', '--hw', 'a100'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


ROOFLINE_BLOCK = re.compile(r"```console\n\$ (convcost roofline[^\n]*)\n(.*?)```", re.S)


def test_readme_roofline_output_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import ROOT

    blocks = ROOFLINE_BLOCK.findall((ROOT / "README.md").read_text())
    assert blocks, "README shows no `convcost roofline` example"
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    for cmd, shown in blocks:
        result = runner.invoke(app, shlex.split(cmd)[1:])
        assert result.exit_code == 0, result.output
        assert result.stdout.rstrip() == shown.rstrip(), cmd
