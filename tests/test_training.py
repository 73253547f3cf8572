"""Training cost (`--training`): backward FLOPs per layer, trainable and frozen params, optimizer state, saved
activations and the peak-memory estimate.

Every number is derived by hand beside it, or is what torch reports: FlopCounterMode's backward (on the meta
device) for ResNet-50, MobileNetV2 and ViT-B/16, layer by layer and in total; the bytes of a real training step
(gradients, optimizer state, saved_tensors_hooks) for small nets with frozen layers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CONFIGS, analysis_of, graph_of
from typer.testing import CliRunner

from convcost.api import analyze_file
from convcost.cli import app
from convcost.cost import Backward
from convcost.costmodel.training import analyze_training
from convcost.ops.grad import Need

runner = CliRunner()

TWO_CONVS = """
input: [3, 8, 8]
layers:
  - conv: {out: 8, kernel: 3, padding: 1, bias: false, frozen: $f1}
  - conv: {out: 4, kernel: 3, padding: 1, bias: false, frozen: $f2}
vars: {f1: false, f2: false}
"""
C1 = 8 * 8 * 8 * 27  # positions · C_out · C_in·k² = 13,824 MACs
C2 = 8 * 8 * 4 * 72  # 18,432


def backward_of(text: str, **frozen: bool) -> tuple[Backward, ...]:
    for k, v in frozen.items():
        text = text.replace(f"{k}: false", f"{k}: {str(v).lower()}")
    return tuple(lt.backward for lt in analyze_training(analysis_of(text)).layers)


# ---- by hand ----------------------------------------------------------------------------------------
def test_two_convs_first_layer_has_no_input_gradient() -> None:
    b1, b2 = backward_of(TWO_CONVS)
    assert b1 == Backward(weight_macs=C1)  # the model input needs no gradient
    assert b2 == Backward(input_macs=C2, weight_macs=C2)  # g·W back into conv1's output, xᵀ·g for its weight
    assert (b1 + b2).flops == 2 * (C1 + 2 * C2)  # 101,376


def test_frozen_layers_compute_no_weight_gradient_and_a_frozen_prefix_no_input_gradient() -> None:
    b1, b2 = backward_of(TWO_CONVS, f1=True)
    assert b1 == Backward() and b2 == Backward(weight_macs=C2)  # nothing before conv2 needs a gradient
    b1, b2 = backward_of(TWO_CONVS, f2=True)
    assert b1 == Backward(weight_macs=C1) and b2 == Backward(input_macs=C2)  # through the frozen head to conv1
    t = analyze_training(analysis_of(TWO_CONVS.replace("f2: false", "f2: true")))
    assert (t.trainable, t.frozen) == (3 * 8 * 9, 8 * 4 * 9)  # 216 trainable, 288 frozen


def test_non_mac_backward_ops_per_op() -> None:
    spec = """
input: {shape: [2, 4, 4], batch: 2}
layers:
  - conv: {out: 2, kernel: 1}
  - bn
  - relu
  - maxpool: {kernel: 2}
  - flatten
  - linear: {out: 3}
"""
    conv, bn, relu, pool, flat, fc = backward_of(spec)
    assert conv == Backward(weight_macs=2 * 16 * 2 * 2, weight_ops=2 * 16 * 2)  # batch·positions·C_out·C_in; Σg of the bias
    assert bn == Backward(input_ops=9 * 2 * 2 * 16)  # x̂ 2, g·x̂ 1, two sums 2, then the input's 4: 9 per element
    assert relu == Backward(input_ops=2 * 64)  # the derivative and the multiply: 2 per element
    assert pool == Backward(input_ops=2 * 2 * 2 * 2)  # one add per output element (into the window's maximum)
    assert flat == Backward()
    assert fc == Backward(input_macs=2 * 8 * 3, weight_macs=2 * 8 * 3, weight_ops=2 * 3)
    total = sum((conv, bn, relu, pool, flat, fc), Backward())
    assert total.flops == 2 * 48 + (576 + 128 + 16) + 2 * (128 + 48) + (64 + 6)  # 1,238


def test_gradients_of_an_output_read_twice_are_added() -> None:
    spec = """
input: [2, 4, 4]
layers:
  - conv: {out: 2, kernel: 1, bias: false}
  - residual: [conv: {out: 2, kernel: 3, padding: 1, bias: false}]
"""
    first = analyze_training(analysis_of(spec)).layers[0]
    assert first.backward.accumulate_ops == 2 * 4 * 4  # read by the body's conv and by the add: one add per element


def test_attention_backward_by_hand() -> None:
    # N 4 tokens of width D 8, 2 heads of 4; scores heads·N² = 32. Between the projections: dO = g·W_out (N·I·D = 256),
    # dA, dV, dQ, dK (4 · 32 · 4 = 512); softmax 4 per score (128) and q's scale (N·I = 32)
    spec = "input: {tokens: [4, 8]}\nlayers:\n  - linear: {out: 8}\n  - attention: {heads: 2}\n"
    _, attn = backward_of(spec)
    assert attn == Backward(input_macs=256 + 512 + 4 * 3 * 8 * 8,  # + the input's gradient through W_qkv (N·3I·D)
                            input_ops=128 + 32,
                            weight_macs=4 * 8 * 8 + 4 * 8 * 24,  # W_out (N·I·D) and W_qkv (N·D·3I)
                            weight_ops=4 * 8 + 4 * 24)  # both biases: N·D and N·3I
    (alone,) = backward_of("input: {tokens: [4, 8]}\nlayers:\n  - attention: {heads: 2}\n")
    assert alone == Backward(weight_macs=256 + 512 + 256 + 768, weight_ops=128 + 32 + 32 + 96)  # no input gradient


def test_memory_estimate_by_hand() -> None:
    t = analyze_training(analysis_of(TWO_CONVS), "adam", "fp16")
    m = t.memory
    params = 216 + 288
    assert (m.weight_bytes, m.grad_bytes, m.optimizer_bytes) == (2 * params, 2 * params, 2 * 2 * params)
    # saved: conv1 keeps its input (3·64) for its weight's gradient, conv2 its input (8·64): fp16
    assert m.saved_bytes == 2 * (3 * 64 + 8 * 64)
    # transient: conv2's backward holds its output's gradient (4·64) and its input's (8·64)
    assert (m.transient_bytes, m.transient_layer, m.transient_phase) == (2 * (4 * 64 + 8 * 64), "conv2", "backward")
    assert m.peak_bytes == m.weight_bytes + m.grad_bytes + m.optimizer_bytes + m.saved_bytes + m.transient_bytes
    sgd = analyze_training(analysis_of(TWO_CONVS), "sgd").memory
    momentum = analyze_training(analysis_of(TWO_CONVS), "momentum").memory
    assert (sgd.optimizer_bytes, momentum.optimizer_bytes) == (0, 4 * params)


def test_frozen_layers_save_less() -> None:
    # frozen conv1 with an input that needs no gradient: torch records nothing for it; conv2 then keeps its input
    t = analyze_training(analysis_of(TWO_CONVS.replace("f1: false", "f1: true")))
    assert [lt.saved_bytes for lt in t.layers] == [0, 4 * 8 * 64]
    # frozen conv2 after a trainable conv1: its input still needs a gradient, and torch's convolution_backward (one
    # formula for input, weight and bias) keeps the input whenever any of them needs one (tests/test_saved_bytes.py)
    t = analyze_training(analysis_of(TWO_CONVS.replace("f2: false", "f2: true")))
    assert [lt.saved_bytes for lt in t.layers] == [4 * 3 * 64, 4 * 8 * 64]
    # before the first trainable layer nothing is recorded: the ReLU keeps no output, the max pool no indices
    t = analyze_training(analysis_of("input: [2, 8, 8]\nlayers: [relu, maxpool: {kernel: 2}, conv: {out: 2, kernel: 1}]\n"))
    assert [lt.saved_bytes for lt in t.layers] == [0, 0, 4 * 2 * 4 * 4]  # the conv keeps its input, fp32


# ---- the spec's 'frozen' ------------------------------------------------------------------------------
def test_frozen_on_blocks_structures_models_and_files() -> None:
    spec = """
frozen: true
blocks:
  head: {layers: [conv: {out: 2, kernel: 1, name: b, frozen: false}, conv: {out: 2, kernel: 1, name: a}]}
models:
  net:
    input: [2, 4, 4]
    frozen: false
    layers:
      - conv: {out: 2, kernel: 1, name: c}
      - head: {frozen: true}
      - conv: {out: 2, kernel: 1, name: e}   # after the frozen call: the model's default again
      - residual: {frozen: $freeze, body: [conv: {out: 2, kernel: 1, name: d}]}
    vars: {freeze: true}
  all_frozen:
    input: [2, 4, 4]
    layers: [conv: {out: 2, kernel: 1}]
"""
    g = graph_of(spec, "net")
    assert {n.name: n.frozen for n in g.nodes} == {"c": False, "head1.b": False, "head1.a": True, "e": False,
                                                   "d": True, "add1": True}
    assert [n.frozen for n in graph_of(spec, "all_frozen").nodes] == [True]


def test_frozen_must_be_true_or_false(tmp_path: Path) -> None:
    p = tmp_path / "f.yaml"
    p.write_text("input: [2, 4, 4]\nlayers:\n  - conv: {out: 2, kernel: 1, frozen: 3}\n")
    result = runner.invoke(app, ["analyze", str(p), "--training"])
    assert result.exit_code == 2
    assert "f.yaml:3:39: 'frozen' must be true or false, got number 3" in result.stderr


# ---- the command line -------------------------------------------------------------------------------
def test_analyze_training_table_json_csv() -> None:
    spec = TWO_CONVS.replace("f1: false", "f1: true")
    table = runner.invoke(app, ["analyze", "-", "--training"], input=spec)
    assert table.exit_code == 0, table.output
    assert "trainable 288, frozen 216" in table.stdout
    # conv1 frozen and first: no gradient at all; conv2 its weight's only (nothing trainable before its input): C2
    assert f"backward MACs 18.43 K ({C2:,}): input gradients 0, weight gradients 18.43 K" in table.stdout
    doc = json.loads(runner.invoke(app, ["analyze", "-", "--training", "--optimizer", "sgd", "-f", "json"], input=spec).stdout)
    m = doc["models"][0]
    assert m["training"]["backward"]["weight_macs"] == C2 and m["training"]["optimizer"] == "sgd"
    assert m["layers"][0]["training"] == {"frozen": True, "trainable_params": 0, "frozen_params": 216,
                                          "input_grads": [False], "weight_grads": False,
                                          "backward": Backward().as_dict(), "saved_bytes": 0}
    csv = runner.invoke(app, ["analyze", "-", "--training", "-f", "csv"], input=spec).stdout.splitlines()
    assert csv[0].endswith("trainable_params,frozen_params,backward_input_flops,backward_weight_flops,"
                           "backward_accumulate_ops,backward_flops")
    assert csv[2].endswith(f"288,0,0,{2 * C2},0,{2 * C2}")


@pytest.mark.parametrize(("args", "message"), [
    (["--optimizer", "adam"], "--optimizer sets the training estimate: add --training"),
    (["--training", "--optimizer", "adamm"], "unknown optimizer 'adamm' (did you mean 'adam'?)"),
    (["--training", "--dtype", "fp64"], "unknown dtype 'fp64'"),
])
def test_training_options_are_checked(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["analyze", "-", *args], input=TWO_CONVS)
    assert result.exit_code == 2 and message in result.stderr


def test_check_budgets_training_numbers(tmp_path: Path) -> None:
    budget = tmp_path / "b.yaml"
    budget.write_text(f"all:\n  backward_flops: {2 * (C1 + 2 * C2)}\n  trainable_params: 503\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(TWO_CONVS)
    result = runner.invoke(app, ["check", str(spec), "-B", str(budget)])
    assert result.exit_code == 2 and "is a training number: run check with --training" in result.stderr
    result = runner.invoke(app, ["check", str(spec), "-B", str(budget), "--training", "-v"])
    assert result.exit_code == 1  # backward FLOPs exactly at the limit pass; 504 trainable params are over 503
    assert "backward FLOPs 101,376 (101.38 K) within budget" in result.stdout
    assert "trainable params 504 (504) over budget 503" in result.stdout


def test_api_check_budgets_training_numbers() -> None:
    from convcost import api
    from convcost.errors import UsageError

    budgets = {"all": {"backward_flops": 2 * (C1 + 2 * C2), "trainable_params": 503}}
    with pytest.raises(UsageError, match="is a training number"):
        api.check(api.loads(TWO_CONVS, "s.yaml"), budgets=budgets)
    result = api.check(api.loads(TWO_CONVS, "s.yaml"), budgets=budgets, training=True, optimizer="sgd")
    found = {f.metric: (f.actual, f.ok) for f in result.findings}
    # 2·(C1 + 2·C2): conv1's weight gradient only (the first layer), conv2's input and weight gradients;
    # 8·3·9 + 4·8·9 = 504 trainable params, over 503
    assert found == {"backward_flops": (2 * (C1 + 2 * C2), True), "trainable_params": (504, False)}
    with pytest.raises(UsageError, match="add --training"):
        api.check(api.loads(TWO_CONVS, "s.yaml"), budgets=budgets, optimizer="sgd")


def test_training_beside_a_convention(tmp_path: Path) -> None:
    """--training with --convention (issue 21's two parts together): analyze shows both; check refuses a tool's
    --convention with --training (the training numbers are convcost's own) but takes a budget that pins one."""
    from convcost import api
    from convcost.errors import UsageError

    spec = tmp_path / "s.yaml"
    spec.write_text(TWO_CONVS)
    doc = json.loads(runner.invoke(app, ["analyze", str(spec), "--training", "--convention", "thop", "-f", "json"]).stdout)
    model = doc["models"][0]
    # thop: C1 + C2 MACs (bias-free convs); backward 2·(C1 + 2·C2) as in test_check_budgets_training_numbers
    assert model["convention"]["total"] == C1 + C2 and model["training"]["backward"]["flops"] == 2 * (C1 + 2 * C2)
    assert [lay["convention"] for lay in model["layers"]] == [C1, C2]
    budget = tmp_path / "b.yaml"
    budget.write_text(f"all:\n  backward_flops: {2 * (C1 + 2 * C2)}\n")
    result = runner.invoke(app, ["check", str(spec), "-B", str(budget), "--training", "--convention", "thop"])
    assert result.exit_code == 2 and "--training cannot be combined with --convention thop" in result.stderr
    result = runner.invoke(app, ["check", str(spec), "-B", str(budget), "--convention", "thop"])
    assert result.exit_code == 2 and "a budget pinned to convention 'thop'" in result.stderr  # not thop's number
    result = runner.invoke(app, ["check", str(spec), "-B", str(budget), "--training", "--convention", "convcost", "-v"])
    assert result.exit_code == 0, result.output  # convcost's own convention is no tool's
    # the way to check both: pin the tool in the budget of the forward count; training limits stay convcost's
    budget.write_text(f"all:\n  backward_flops: {2 * (C1 + 2 * C2)}\nmodels:\n  s: {{convention: thop, macs: {C1 + C2 - 1}}}\n")
    result = runner.invoke(app, ["check", str(spec), "-B", str(budget), "--training", "-v"])
    assert result.exit_code == 1  # thop's C1 + C2 = 32,256 MACs over 32,255; the backward exactly at its limit
    assert "MACs (thop) 32,256" in result.stdout and "backward FLOPs 101,376 (101.38 K) within budget" in result.stdout
    budget.write_text("models:\n  s: {convention: thop, backward_flops: 1G}\n")
    result = runner.invoke(app, ["check", str(spec), "-B", str(budget), "--training"])
    assert result.exit_code == 2 and "a budget pinned to convention 'thop'" in result.stderr
    with pytest.raises(UsageError, match="--training cannot be combined with --convention thop"):
        api.check(api.loads(TWO_CONVS, "s.yaml"), budgets={"all": {"macs": "1G"}}, training=True, convention="thop")


def test_compare_and_report_training(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(TWO_CONVS)
    b.write_text(TWO_CONVS.replace("f1: false", "f1: true"))
    doc = json.loads(runner.invoke(app, ["compare", str(a), str(b), "--training", "-f", "json"]).stdout)
    t = doc["models"][1]["training"]
    assert t["trainable_params"] == 288 and t["backward"]["flops"] == 2 * C2
    assert t["change_pct"]["backward_flops"] == pytest.approx(100 * (2 * C2 - 2 * (C1 + 2 * C2)) / (2 * (C1 + 2 * C2)))
    report = runner.invoke(app, ["report", str(a), str(b), "--training"])
    assert report.exit_code == 0, report.output
    assert "### Training step (adamw, fp32; an estimate)" in report.stdout
    assert f"| {C1 * 2 + C2 * 4:,} |" in report.stdout  # a's backward FLOPs, exact in its per-model table


# ---- against torch: FlopCounterMode's backward --------------------------------------------------------
# FlopCounterMode's backward on the meta device (torch 2.13), measured: ResNet-50 2·(conv+linear MACs) less the
# first conv's input gradient (2·118,013,952); MobileNetV2 counts its depthwise convs' weight gradients ×groups
# (C_in, not C_in/groups); ViT-B/16 2·(its MACs) less the patch conv's input gradient, with attention's four
# matmuls (the meta device takes the math path)
NETS = [
    ("resnet50.yaml", "resnet50", 16_120_709_120),
    ("mobilenet_v2.yaml", "mobilenet_v2", 11_678_152_448),
    ("vit_b_16.yaml", "vit_b_16", 70_024_101_888),
]


def _predicted_backward(config: str, model: str) -> tuple[object, dict[str, int]]:
    from convcost.ops.counting import counters_run_on

    (a,) = analyze_file(CONFIGS / config, [model])
    with counters_run_on("meta"):
        pred = {lt.node.name: lt.node.rule.counting.flop_counter_backward.predict(lt.node, lt.backward, a.graph.batch).value
                or 0 for lt in analyze_training(a).layers}
    return a.graph, pred


@pytest.mark.parametrize(("config", "model", "total"), NETS)
def test_backward_flops_equal_flop_counter_mode(config: str, model: str, total: int) -> None:
    pytest.importorskip("torch")
    from convcost.crosscheck.verify import run_backward_counter

    graph, pred = _predicted_backward(config, model)
    _, measured, _ = run_backward_counter(graph, per_layer=False)  # one real backward, on the meta device
    assert measured == total
    assert sum(pred.values()) == total


@pytest.mark.parametrize(("config", "model", "total"), NETS)
def test_the_totals_are_torchvisions_own_models_backward(config: str, model: str, total: int) -> None:
    """The same totals from torchvision's own models (not built from the specs): one training step on the meta
    device under FlopCounterMode, the loss the output's sum (ViT-B/16's MultiheadAttention in training mode with
    gradients leaves its fast path: the math attention the spec predicts)."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        net = getattr(torchvision.models, model)().train()
        x = torch.randn(1, 3, 224, 224)
    counter = FlopCounterMode(display=False)
    with counter:
        y = net(x)
        forward = counter.get_total_flops()
        y.sum().backward()
    assert counter.get_total_flops() - forward == total
    _, pred = _predicted_backward(config, model)
    assert sum(pred.values()) == total


@pytest.mark.slow
@pytest.mark.parametrize(("config", "model", "total"), NETS)
def test_backward_flops_equal_flop_counter_mode_layer_by_layer(config: str, model: str, total: int) -> None:
    pytest.importorskip("torch")
    from convcost.crosscheck.counters import Status
    from convcost.crosscheck.verify import BACKWARD, verify_graph

    (a,) = analyze_file(CONFIGS / config, [model])
    report = verify_graph(a.graph, "cpu", max_bytes=1, training=True)  # nothing real: shapes and counters on meta
    assert report.totals[BACKWARD].actual == total and report.totals[BACKWARD].status == Status.OK
    bad = [(lr.name, c.expected, c.actual) for lr in report.layers for c in [lr.checks[BACKWARD]]
           if c.status == Status.MISMATCH]
    assert not bad
    assert sum(1 for lr in report.layers if lr.checks[BACKWARD].status == Status.OK) >= 38  # ViT-B/16's 38 with MACs


SMALL = """
input: [4, 12, 12]
layers:
  - conv: {out: 8, kernel: 3, padding: 1, frozen: true}
  - bn
  - relu
  - conv: {out: 8, kernel: 3, padding: 1, groups: 4}
  - depthwise: {kernel: 3}
  - gate: [global_avgpool, conv: {out: 8, kernel: 1}, sigmoid]
  - conv_transpose: {out: 4, kernel: 4, stride: 2, padding: 1, groups: 2}
  - upsample: {scale: 0.5, mode: bilinear}
  - layernorm
  - to_tokens
  - attention: {heads: 2}
  - to_map
  - conv: {out: 4, kernel: 1, frozen: true}
  - global_avgpool
  - flatten
  - linear: {out: 3}
"""


def test_every_kind_of_layer_against_flop_counter_mode() -> None:
    pytest.importorskip("torch")
    from convcost.crosscheck.counters import Status
    from convcost.crosscheck.verify import BACKWARD, TRAINABLE, verify_graph

    report = verify_graph(graph_of(SMALL), "cpu", training=True)
    bad = [(lr.name, k, c.reason) for lr in report.layers for k, c in lr.checks.items() if c.status == Status.MISMATCH]
    assert not bad
    assert report.totals[BACKWARD].status == Status.OK and report.totals[TRAINABLE].status == Status.OK
    # the grouped and depthwise convs and the grouped transposed conv: FlopCounterMode's weight gradient ×groups
    checks = {lr.name: lr.checks[BACKWARD] for lr in report.layers}
    assert checks["conv2"].status == Status.OK and checks["conv2"].actual == 2 * 144 * 8 * 18 + 2 * 4 * 144 * 8 * 18
    assert checks["conv1"].status == Status.NOT_COMPARED  # frozen, and nothing before it: no backward at all


def test_verify_training_cli() -> None:
    pytest.importorskip("torch")
    result = runner.invoke(app, ["verify", "-", "--training", "-f", "json"], input=SMALL)
    assert result.exit_code == 0, result.output
    m = json.loads(result.stdout)["models"][0]
    assert m["training"] is True and m["totals"]["flop_counter_backward"]["status"] == "ok"


# ---- against torch: the memory of a real training step -----------------------------------------------
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "adamw"])
def test_profile_training_measures_what_the_estimate_counts(optimizer: str) -> None:
    pytest.importorskip("torch")
    from convcost.crosscheck.training_check import measure_training_step

    spec = """
input: {shape: [3, 16, 16], batch: 2}
layers:
  - relu
  - maxpool: {kernel: 3, stride: 1, padding: 1}
  - conv: {out: 8, kernel: 3, padding: 1, bias: false, frozen: true}
  - bn: {frozen: true}
  - relu
  - conv: {out: 8, kernel: 3, stride: 2, padding: 1, bias: false}
  - bn
  - relu
  - maxpool: {kernel: 2}
  - residual: [conv: {out: 8, kernel: 3, padding: 1}, relu]
  - global_avgpool
  - flatten
  - dropout: {p: 0.1}
  - linear: {out: 5, frozen: true}
"""
    check = measure_training_step(graph_of(spec), "cpu", "fp32", optimizer)
    e, m = check.estimate.memory, check.measured
    assert (m.weight_bytes, m.grad_bytes, m.optimizer_bytes, m.saved_bytes) == (
        e.weight_bytes, e.grad_bytes, e.optimizer_bytes, e.saved_bytes)
    assert m.peak_bytes is None and "not measurable on CPU" in m.peak_note
    # Adam keeps a step counter per trainable parameter tensor (4 of them: 2 convs' weights... and a conv bias, a bn's
    # γ and β): apart, not in the estimate
    assert m.step_counter_bytes == (4 * 5 if optimizer in ("adam", "adamw") else 0)


def test_profile_training_peak_on_cuda() -> None:
    """On CUDA torch's allocator measures the step's peak: at the end of the forward the weights, the gradients
    (zeroed, kept), the optimizer's state and every saved activation are alive at once, so the peak holds them all."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: the peak is measured only by torch's CUDA allocator")
    from convcost.crosscheck.training_check import measure_training_step

    check = measure_training_step(graph_of(TWO_CONVS), "cuda", "fp32", "adamw")
    e, m = check.estimate.memory, check.measured
    assert (m.weight_bytes, m.grad_bytes, m.optimizer_bytes, m.saved_bytes) == (
        e.weight_bytes, e.grad_bytes, e.optimizer_bytes, e.saved_bytes)
    assert m.peak_bytes is not None and "max_memory_allocated" in m.peak_note
    assert m.peak_bytes >= m.weight_bytes + m.grad_bytes + m.optimizer_bytes + m.saved_bytes


def test_profile_training_cli(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    result = runner.invoke(app, ["profile", "-", "--training", "--optimizer", "sgd", "-f", "json"], input=TWO_CONVS)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "convcost.training/1"
    rows = {r["name"]: r for r in doc["models"][0]["memory"]}
    assert rows["gradients"]["estimate_bytes"] == rows["gradients"]["measured_bytes"] == 4 * 504
    assert rows["peak"]["measured_bytes"] is None
    result = runner.invoke(app, ["profile", "-", "--optimizer", "sgd"], input=TWO_CONVS)
    assert result.exit_code == 2 and "add --training" in result.stderr
    # markdown shows a layer's name literally: '_c_' is not emphasis
    named = "input: [3, 8, 8]\nlayers:\n  - conv: {name: _c_, out: 4, kernel: 3}\n"
    result = runner.invoke(app, ["profile", "-", "--training", "-f", "markdown"], input=named)
    assert result.exit_code == 0, result.output
    assert "| forward, \\_c\\_; not measured apart |" in result.stdout


# ---- every general tensor op (tests/tensor_op_cases.py) against FlopCounterMode's backward -------------------
def _case_spec(layers: str, shape: str, batch: int) -> str:
    # a learned tensor added first (its shape the sample's) makes every later layer compute its input's gradient;
    # what the case reads as 'input' is then that sum
    layers = layers.replace("[input", "[add1").replace(" input,", " add1,").replace(" input]", " add1]")
    return f"input: {{shape: {shape}, batch: {batch}}}\nlayers:\n  - add: {{param: {shape}}}\n  - {layers}\n"


def _cases() -> list[tuple[object, ...]]:
    from tensor_op_cases import CASES

    return list(CASES)


@pytest.mark.parametrize("case", _cases(), ids=lambda c: f"{c[0]}: {c[1]}")
def test_general_ops_backward_against_flop_counter_mode(case: tuple[object, ...]) -> None:
    pytest.importorskip("torch")
    from convcost.crosscheck.verify import run_backward_counter
    from convcost.ops.counting import counters_run_on

    _, layers, shape, batch, _, _ = case
    g = graph_of(_case_spec(str(layers), str(shape), int(batch)))  # type: ignore[call-overload]
    t = analyze_training(analysis_of(_case_spec(str(layers), str(shape), int(batch))))  # type: ignore[call-overload]
    per_layer, total, trainable = run_backward_counter(g)
    with counters_run_on("meta"):
        predicted = {lt.node.name: lt.node.rule.counting.flop_counter_backward.predict(lt.node, lt.backward, g.batch).value
                     or 0 for lt in t.layers}
    assert predicted == per_layer
    assert sum(predicted.values()) == total
    assert {lt.node.name: lt.trainable for lt in t.layers} == trainable


@pytest.mark.parametrize("mask", ["mask: [1, 2, 5, 5]", "mask: [1, 2, 5, 5], table: [9, 2], index: [25]"])
def test_a_learned_attention_mask_alone_needs_da(mask: str) -> None:
    """q, k and v the model's input (no gradient): the learned mask's gradient alone is the weight gradient, dA = dO·Vᵀ
    (2 heads · 5·5 scores · width 4 = 200 MACs at batch 1), softmax's backward (4 per score) and its add (1 per
    score), as FlopCounterMode's backward sees the bmm."""
    pytest.importorskip("torch")
    from convcost.crosscheck.verify import run_backward_counter
    from convcost.ops.counting import counters_run_on

    text = f"input: {{shape: [2, 5, 4], batch: 1}}\nlayers:\n  - sdpa: {{from: [input, input, input], {mask}}}\n"
    (lt,) = analyze_training(analysis_of(text)).layers
    assert lt.backward == Backward(weight_macs=2 * 25 * 4, weight_ops=(4 + 1) * 2 * 25)
    per_layer, total, _ = run_backward_counter(graph_of(text))
    with counters_run_on("meta"):
        predicted = lt.node.rule.counting.flop_counter_backward.predict(lt.node, lt.backward, 1).value
    assert predicted == per_layer[lt.node.name] == total == 2 * 2 * 25 * 4


def test_a_constant_passes_no_gradient_back() -> None:
    """A conv of a constant (EdgeNeXt's position grid) added to a learned sum: the conv computes its weights' gradient
    only (its input needs none): 6·5 positions · 8·4 = 960 MACs per sample, at batch 2; no gradient flows into the
    constant's input (add1's gradient has one reader, the join)."""
    pytest.importorskip("torch")
    from convcost.crosscheck.verify import run_backward_counter
    from convcost.ops.counting import counters_run_on

    text = ("input: {shape: [4, 6, 5], batch: 2}\nlayers:\n  - add: {param: [4, 6, 5]}\n"
            "  - constant: {name: grid, shape: [8, 6, 5]}\n  - conv: {name: proj, out: 4, kernel: 1}\n"
            "  - add: {from: [add1, proj]}\n")
    layers = analyze_training(analysis_of(text)).layers
    add1, grid, proj, _ = layers
    assert grid.need.inputs == (False,) and proj.need.inputs == (False,) and proj.need.weights
    assert proj.backward == Backward(weight_macs=2 * 6 * 5 * 8 * 4, weight_ops=2 * 6 * 5 * 4)  # + the bias's sum
    assert add1.backward.accumulate_ops == 0  # one reader of its gradient: the join, not the constant
    per_layer, total, _ = run_backward_counter(graph_of(text))
    with counters_run_on("meta"):
        predicted = {lt.node.name: lt.node.rule.counting.flop_counter_backward.predict(lt.node, lt.backward, 2).value or 0
                     for lt in layers}
    assert predicted == per_layer and total == 2 * (2 * 6 * 5 * 8 * 4)
    # the learned sum reaches the output only through the constant: no gradient reaches it, its backward is none
    only = text.replace("  - add: {from: [add1, proj]}\n", "")
    add1, *_ = analyze_training(analysis_of(only)).layers
    assert add1.need == Need((False,), False) and add1.backward == Backward()


def test_general_ops_backward_by_hand() -> None:
    spec = """
input: [2, 3, 4]
layers:
  - add: {param: [2, 3, 4]}
  - mean: {name: m, dims: [2, 3], keepdim: true}
  - sub: {name: s, from: [add1, m]}
  - div: {name: d, from: [s, m]}
  - multiply: {scalar: 2}
  - var: {dims: 1}
"""
    add1, m, s, d, mul, var = (lt.backward for lt in analyze_training(analysis_of(spec)).layers)
    # the learned [2, 3, 4] has the output's 24 elements (batch 1): its gradient is the output's, no sum; read twice
    assert add1 == Backward(accumulate_ops=24)
    assert m == Backward(input_ops=24, accumulate_ops=2)  # g/N to each of 24 elements; m is read by s and d
    assert s == Backward(input_ops=24 + 24)  # −g for m, summed back over the 3·4 positions it was broadcast to
    assert d == Backward(input_ops=24 + 3 * 24 + 24)  # g/y for s; −g·x/y² for m (3) and its sum back
    assert mul == Backward(input_ops=24)  # g·2
    assert var == Backward(input_ops=3 * 24)  # g·2(x − μ)/(N − 1)


def test_attention_without_its_operands_is_an_input_error() -> None:
    # found by tests/test_fuzz.py: scaled_dot_product_attention written without 'from' read one input and crashed
    spec = "input: {tokens: [8, 16]}\nlayers:\n  - reshape: {shape: [8, 1, 16]}\n  - scaled_dot_product_attention: {}\n"
    result = runner.invoke(app, ["analyze", "-"], input=spec)
    assert result.exit_code == 2
    assert "'scaled_dot_product_attention' reads 3 or 4 outputs from a 'from' list, got 1" in result.stderr


BLOCK_NET = """
blocks:
  pair:
    layers:
      - conv: {out: 8, kernel: 3, padding: 1, bias: false}
      - conv: {out: 4, kernel: 3, padding: 1, bias: false}
input: [3, 8, 8]
layers:
  - pair: {name: body}
  - conv: {name: head, out: 2, kernel: 1, bias: false}
"""


def test_check_training_budgets_of_blocks_and_layers() -> None:
    """A block's training numbers (a scope: body) and a layer's (body.conv2, head), each its own."""
    from convcost import api

    head = 8 * 8 * 2 * 4  # positions · C_out · C_in: 512 MACs
    expected = {
        # body = TWO_CONVS: 216 + 288 params; backward 2·(C1 + 2·C2); step = forward 2·(C1 + C2) + backward
        ("body", "trainable_params"): 216 + 288,
        ("body", "backward_flops"): 2 * (C1 + 2 * C2),  # 101,376
        ("body", "step_flops"): 2 * (C1 + C2) + 2 * (C1 + 2 * C2),  # 165,888
        # body.conv2: 4·8·3·3 = 288 params; input and weight gradients 2·2·C2; its forward 2·C2 more
        ("body.conv2", "trainable_params"): 288,
        ("body.conv2", "backward_flops"): 4 * C2,  # 73,728
        ("body.conv2", "step_flops"): 2 * C2 + 4 * C2,  # 110,592
        # head: 2·4 = 8 params; its input and weight gradients 2·2·512; forward 2·512
        ("head", "trainable_params"): 8,
        ("head", "backward_flops"): 4 * head,
        ("head", "step_flops"): 6 * head,
    }
    blocks: dict[str, dict[str, int]] = {}
    for (block, metric), value in expected.items():
        blocks.setdefault(block, {})[metric] = value
    result = api.check(api.loads(BLOCK_NET, "n.yaml"), budgets={"all": {"blocks": blocks}}, training=True)
    assert {(f.block, f.metric): f.actual for f in result.findings} == expected
    assert result.ok  # each exactly at its limit
