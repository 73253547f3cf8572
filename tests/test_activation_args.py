"""Issue 20's activations with arguments (softplus, celu, selu, threshold, logsigmoid) and batch norm without running
statistics in the spec language: shapes and costs by hand, the arguments torch refuses, the modules verify builds
(against torch's own), what fvcore and FlopCounterMode report for them (measured by verify on the real counters), and
what autograd saves for training. Import: tests/test_import_acts.py."""

from __future__ import annotations

import pytest
from conftest import analysis_of, graph_of

from convcost.cost import Cost
from convcost.errors import SpecError

ACTS = ("softplus", "softplus: {beta: 2, threshold: 5}", "celu", "celu: {alpha: 0.5}", "selu",
        "threshold: {threshold: 0.1, value: 20}", "logsigmoid")


@pytest.mark.parametrize("act", ACTS)
def test_one_act_op_per_element(act: str) -> None:
    (lc,) = analysis_of(f"input: {{shape: [3, 4, 5], batch: 2}}\nlayers:\n  - {act}\n").layers
    assert lc.node.shape == (3, 4, 5)
    assert lc.cost == Cost(act_ops=2 * 3 * 4 * 5, activations=2 * 3 * 4 * 5)  # 120 elements, one op each


@pytest.mark.parametrize(("layer", "message"), [
    ("softplus: {beta: 0}", "t.yaml:3:22: softplus 'softplus1': beta=0 divides by zero (torch's softplus is "
                            "log(1 + exp(β·x)) / β): every output would be NaN"),
    ("celu: {alpha: 0}", "t.yaml:3:19: celu 'celu1': alpha=0 divides by zero (x/α): torch refuses it for CELU"),
    ("threshold: {threshold: 0.5}", "t.yaml:3:5: threshold 'threshold1': missing required argument 'value'"),
    ("threshold", "t.yaml:3:5: threshold 'threshold1': missing required argument 'threshold'"),
    ("softplus: {beta: [1]}", "t.yaml:3:22: softplus 'softplus1': 'beta' must be a finite number, got a list"),
    ("selu: {alpha: 1}", "t.yaml:3:12: unknown key 'alpha' in 'selu'; expected one of: name, repeat, when, first, frozen, "
                         "torch, each, scope, from"),  # torch's SELU has its constants, no arguments
])
def test_arguments_torch_refuses_are_refused(layer: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        graph_of(f"input: [4, 6, 5]\nlayers:\n  - {layer}\n")
    assert str(e.value).splitlines()[0] == message


@pytest.mark.parametrize(("layer", "module"), [
    ("softplus", lambda nn: nn.Softplus()),
    ("softplus: {beta: 2, threshold: 0.5}", lambda nn: nn.Softplus(beta=2.0, threshold=0.5)),
    ("celu: {alpha: 0.5}", lambda nn: nn.CELU(0.5)),
    ("selu", lambda nn: nn.SELU()),
    ("threshold: {threshold: 0.1, value: 20}", lambda nn: nn.Threshold(0.1, 20.0)),
    ("logsigmoid", lambda nn: nn.LogSigmoid()),
])
@pytest.mark.parametrize("form", ["module", "function", "subclass"])
def test_built_modules_compute_what_torchs_do(layer: str, module, form: str) -> None:  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    text = layer.replace("}", f", torch: {form}}}") if "{" in layer else f"{layer}: {{torch: {form}}}"
    (node,) = graph_of(f"input: [4, 5, 5]\nlayers:\n  - {text}\n").nodes
    built = node.rule.build(node)
    theirs = module(torch.nn)
    assert isinstance(built, type(theirs)) == (form != "function")
    x = torch.linspace(-4, 4, 100).reshape(1, 4, 5, 5)
    assert torch.equal(built(x), theirs(x))


BN = "input: {shape: [8, 6, 5], batch: 2}\nlayers:\n  - batchnorm: {track_running_stats: false%s}\n"


@pytest.mark.parametrize(("extra", "params", "per"), [("", 2 * 8, 5), (", affine: false", 0, 3)])
def test_batch_norm_with_the_batchs_statistics_by_hand(extra: str, params: int, per: int) -> None:
    (lc,) = analysis_of(BN % extra).layers
    n = 2 * 8 * 6 * 5  # 480 elements
    # γ and β (or none); no running mean, variance or num_batches_tracked; mean, variance, normalise (+ scale, shift)
    assert lc.cost == Cost(params=params, norm_ops=per * n, activations=n)
    assert lc.node.rule.receptive(lc.node).kind == "global"  # the statistics span every position


def test_batch_norm_fixed_and_without_statistics_is_refused() -> None:
    with pytest.raises(SpecError) as e:
        graph_of("input: [4, 6, 5]\nlayers:\n  - batchnorm: {fixed: true, track_running_stats: false}\n")
    assert str(e.value).splitlines()[0] == (
        "t.yaml:3:51: batchnorm 'batchnorm1': a fixed batchnorm normalises with the statistics it holds; "
        "'track_running_stats: false' holds none: leave one out")


@pytest.mark.parametrize(("shape", "cls"), [("[6, 10]", "BatchNorm1d"), ("[6, 5, 5]", "BatchNorm2d"),
                                            ("[6, 3, 4, 5]", "BatchNorm3d")])
def test_batch_norm_without_statistics_builds_torchs_module(shape: str, cls: str) -> None:
    torch = pytest.importorskip("torch")
    (lc,) = analysis_of(f"input: {shape}\nlayers:\n  - batchnorm: {{track_running_stats: false, eps: 0.001}}\n").layers
    built = lc.node.rule.build(lc.node).eval()
    theirs = getattr(torch.nn, cls)(6, eps=1e-3, track_running_stats=False).eval()
    assert type(built) is type(theirs) and built.running_mean is None and not built.track_running_stats
    assert lc.cost.params == sum(p.numel() for p in theirs.parameters())
    assert lc.cost.buffers == sum(b.numel() for b in theirs.buffers()) == 0
    x = torch.randn(2, *lc.node.in_shapes[0])
    assert torch.allclose(built(x), theirs(x))


# batch 2 on 8×6×5: 2·240 = 480 elements per layer
VERIFY_SPEC = """
input: {shape: [8, 6, 5], batch: 2}
layers:
  - softplus: {beta: 2, threshold: 5}
  - celu: {alpha: 0.5}
  - selu
  - threshold: {threshold: 0.1, value: 20}
  - logsigmoid
  - batchnorm: {track_running_stats: false}
  - batchnorm: {track_running_stats: false, affine: false}
  - batchnorm
"""


def test_verify_counts_by_hand() -> None:
    """fvcore and FlopCounterMode run on the modules verify builds (torch's own): each count beside its derivation."""
    pytest.importorskip("torch")
    pytest.importorskip("fvcore")
    from convcost.crosscheck.verify import verify_graph

    r = verify_graph(graph_of(VERIFY_SPEC))
    assert r.ok
    fv = {lr.name: lr.checks["fvcore"].actual for lr in r.layers}
    fc = {lr.name: lr.checks["flop_counter"] for lr in r.layers}
    for name in ("softplus1", "celu1", "selu1", "threshold1", "logsigmoid1"):
        assert fv[name] == 0, name  # no fvcore handle for aten::softplus, celu, selu, threshold, log_sigmoid
    # aten::batch_norm called with training=True (no running statistics): fvcore's norm_flop_counter, 5 per element
    # with a weight, 4 without; with running statistics in eval 2 per element (scale and shift)
    assert (fv["batchnorm1"], fv["batchnorm2"], fv["batchnorm3"]) == (5 * 480, 4 * 480, 2 * 480)
    for name, check in fc.items():
        assert check.status == "not_compared" and check.actual == 0, name  # FlopCounterMode: matmul/conv only
    buffers = {lr.name: lr.checks["buffers"].actual for lr in r.layers}
    assert (buffers["batchnorm1"], buffers["batchnorm2"], buffers["batchnorm3"]) == (0, 0, 2 * 8 + 1)


@pytest.mark.parametrize("layer", [
    "softplus", "softplus: {beta: 2, threshold: 0.5}", "celu: {alpha: 0.5}", "selu",
    "threshold: {threshold: 0.1, value: 20}",
    "logsigmoid",  # its input and, on the CPU, log_sigmoid_forward's buffer of the input's size
    "batchnorm: {track_running_stats: false}", "batchnorm: {track_running_stats: false, affine: false}",
])
def test_training_saved_bytes_match_torch_autograd(layer: str) -> None:
    """What each definition says its backward keeps against what torch's autograd saves (saved_tensors_hooks); a 1×1
    conv first puts the op on the gradient path."""
    pytest.importorskip("torch")
    from test_saved_bytes import saved_by_autograd

    torch_saved, model_saved = saved_by_autograd(f"input: [3, 6, 5]\nlayers:\n  - conv: {{out: 4, kernel: 1}}\n  - {layer}\n")
    assert torch_saved == model_saved


@pytest.mark.parametrize(("layer", "params", "read"), [
    ("batchnorm: {track_running_stats: false}", 2 * 8, 2 * 8),  # γ and β read; no buffers at all
    ("batchnorm: {track_running_stats: false, affine: false}", 0, 0),
])
def test_batch_norm_without_statistics_reads_its_weights_and_no_buffer(layer: str, params: int, read: int) -> None:
    """The memory model's weight traffic (params + buffers − those inference never reads): no num_batches_tracked to
    leave out, so nothing is subtracted (the traffic would be 4 bytes short of the weights)."""
    from convcost.costmodel.memory import analyze_memory

    a = analysis_of(f"input: [8, 4, 4]\nlayers:\n  - {layer}\n")
    (lt,) = analyze_memory(a, "fp32").layers
    assert (a.total.params, a.total.buffers) == (params, 0)
    assert lt.traffic.weight_bytes == read * 4  # fp32
