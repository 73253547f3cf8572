"""Issue 11's norms, layer scale, linear over channels and the new activations against torch itself.

The hand-derived shape and cost rows are in tests/test_ops.py (OP_CASES). Here: what fvcore and
FlopCounterMode report for the modules convcost builds (numbers by hand beside them), what autograd
really saves (saved_tensors_hooks), that ConvNeXt's modules as torchvision writes them are what
verify runs, and the errors for arguments torch refuses.
"""

from __future__ import annotations

import pytest
from conftest import graph_of
from typer.testing import CliRunner

from convcost.cli import app
from convcost.costmodel.analysis import analyze
from convcost.costmodel.memory import analyze_memory

runner = CliRunner()

# batch 2 on 8×6×5: 2·240 = 480 elements per layer (norms keep the shape)
VERIFY_SPEC = """
input: {shape: [8, 6, 5], batch: 2}
layers:
  - layernorm
  - layernorm: {affine: false, channels_last: true}
  - groupnorm: {groups: 4}
  - groupnorm: {groups: 2, affine: false}
  - instancenorm
  - instancenorm: {affine: true, track_running_stats: true}
  - linear: {out: 4, over: channels}
  - layer_scale
  - prelu: {num_parameters: 4}
  - mish
  - elu
  - hardtanh
  - softmax
  - flatten
  - layernorm: {name: flat_norm}
"""


def test_verify_counts_by_hand() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("fvcore")
    from convcost.crosscheck.verify import verify_graph

    r = verify_graph(graph_of(VERIFY_SPEC))
    assert r.ok
    fv = {lr.name: lr.checks["fvcore"].actual for lr in r.layers}
    fc = {lr.name: lr.checks["flop_counter"] for lr in r.layers}
    # fvcore's norm_flop_counter: 5 per input element with a weight, 4 without
    assert fv["layernorm1"] == 5 * 480
    assert fv["layernorm2"] == 4 * 480
    assert fv["groupnorm1"] == 5 * 480
    assert fv["groupnorm2"] == 4 * 480
    assert fv["instancenorm1"] == 4 * 480  # torch's default: no affine
    assert fv["instancenorm2"] == 5 * 480  # aten::instance_norm whatever the running stats
    # linear over 8 channels to 4 at 2·6·5 = 60 positions: 60·8·4 MACs (fvcore: 1 per MAC, FlopCounterMode: 2)
    assert fv["linear1"] == 60 * 8 * 4
    assert fc["linear1"].actual == 2 * 60 * 8 * 4
    assert fv["flat_norm"] == 5 * 2 * 4 * 6 * 5  # nn.LayerNorm(120) on 2 samples of 4·6·5
    for name in ("layer_scale1", "prelu1", "mish1", "elu1", "hardtanh1", "softmax1"):
        assert fv[name] == 0, name  # no fvcore handle for aten::mul, prelu, mish, elu, hardtanh, softmax
    for name in fc:
        if name != "linear1":
            assert fc[name].status == "not_compared" and fc[name].actual == 0, name  # FlopCounterMode: matmul/conv only
    params = {lr.name: lr.checks["params"].actual for lr in r.layers}
    assert params["groupnorm1"] == 2 * 8 and params["prelu1"] == 4 and params["layer_scale1"] == 4
    buffers = {lr.name: lr.checks["buffers"].actual for lr in r.layers}
    assert buffers["instancenorm2"] == 2 * 8 + 1 and buffers["instancenorm1"] == 0


@pytest.mark.parametrize(
    "layer",
    [
        "layernorm",
        "layernorm: {channels_last: true}",
        "layernorm: {bias: false}",
        "groupnorm: {groups: 2}",
        "instancenorm: {affine: true}",
        "instancenorm: {track_running_stats: true}",
        "instancenorm: {affine: true, track_running_stats: true}",
        "linear: {out: 5, over: channels}",
        "layer_scale",
        "prelu",
        "softmax",
        "mish",
        "elu",
        "hardtanh",
    ],
)
def test_training_saved_bytes_match_torch_autograd(layer: str) -> None:
    """What each op's definition says its backward keeps (inputs, output, statistics) against what torch's
    autograd saves (saved_tensors_hooks). A 1×1 conv first puts the op on the gradient path."""
    torch = pytest.importorskip("torch")
    from convcost.crosscheck.torch_build import build_model
    from convcost.frontend.spec import parse_spec
    from convcost.graph.build import build_graph

    text = f"input: [3, 6, 5]\nlayers:\n  - conv: {{out: 4, kernel: 1}}\n  - {layer}\n"
    g = build_graph(parse_spec(text, "t.yaml"), "t", batch=2)
    model = build_model(g).train()
    own = {p.untyped_storage().data_ptr() for p in [*model.parameters(), *model.buffers()]}
    saved: dict[int, int] = {}

    def pack(t):  # type: ignore[no-untyped-def]
        s = t.untyped_storage()
        if s.data_ptr() not in own:
            saved[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(2, *g.input_shape)).sum()
    assert sum(saved.values()) == analyze_memory(analyze(g), "fp32").activations.training_saved_bytes


def test_convnext_block_as_torchvision_writes_it_counts_alike() -> None:
    """One ConvNeXt block from configs/convnext_tiny.yaml against torchvision's CNBlock (tests/reference_modern.py):
    the same params, and the same fvcore, FlopCounterMode, ptflops and thop totals."""
    torch = pytest.importorskip("torch")
    fvcore_nn = pytest.importorskip("fvcore.nn")
    import reference_modern
    from torch.utils.flop_counter import FlopCounterMode

    from convcost.crosscheck.torch_build import build_model

    text = """
input: [16, 7, 7]
layers:
  - residual:
      body:
        - conv: {name: dwconv, out: 16, kernel: 7, padding: 3, groups: 16}
        - layernorm: {name: norm, eps: 1e-6, channels_last: true}
        - linear: {name: pwconv1, out: 64, over: channels}
        - gelu
        - linear: {name: pwconv2, out: 16, over: channels}
        - layer_scale: {init: 1e-6}
"""
    ours = build_model(graph_of(text)).eval()
    theirs = reference_modern.CNBlock(16).eval()
    x = torch.randn(1, 16, 7, 7)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())

    def counts(m: torch.nn.Module) -> tuple[int, int]:
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            m(x)
        fca = fvcore_nn.FlopCountAnalysis(m, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(fca.total()), int(fc.get_total_flops())

    # 49 positions: dwconv 49·16·49 MACs, pwconvs 2·49·16·64; layer norm 5·49·16 (fvcore)
    macs = 49 * 16 * 49 + 2 * 49 * 16 * 64
    assert counts(ours) == counts(theirs) == (macs + 5 * 49 * 16, 2 * macs)
    ptflops = pytest.importorskip("ptflops")
    thop = pytest.importorskip("thop")
    import contextlib
    import io

    def tools(m: torch.nn.Module) -> tuple[int, int]:
        with contextlib.redirect_stdout(io.StringIO()):
            p, _ = ptflops.get_model_complexity_info(m, (16, 7, 7), as_strings=False, print_per_layer_stat=False,
                                                     verbose=False, backend="pytorch")
            t, _ = thop.profile(m, inputs=(x,), verbose=False)
        return int(p), int(t)

    assert tools(ours) == tools(theirs)


@pytest.mark.parametrize(
    ("layer", "input_", "message"),
    [
        ("groupnorm: {groups: 3}", "[8, 4, 4]", "t.yaml:3:25: groupnorm 'groupnorm1': groups=3 must divide channels=8"),
        ("prelu: {num_parameters: 5}", "[8, 4, 4]",
         "t.yaml:3:29: prelu 'prelu1': num_parameters=5 must be 1 or the input's channels (8)"),
        ("hardtanh: {min: 2, max: 1}", "[8, 4, 4]",
         "t.yaml:3:29: hardtanh 'hardtanh1': max=1 must be more than min=2 (as in torch)"),
        ("instancenorm", "[8]",
         "t.yaml:3:5: instancenorm 'instancenorm1': instancenorm needs C followed by 1 to 3 spatial dims, got 8"),
        ("linear: {out: 4, over: channels}", "[8]",
         "t.yaml:3:28: linear 'linear1': linear over channels needs C followed by spatial dims, got 8; "
         "leave 'over' out for a flat input"),
        ("layernorm: {channels_last: true}", "[8]",
         "t.yaml:3:32: layernorm 'layernorm1': channels_last needs C followed by spatial dims; "
         "a flat input is already channels-last"),
        ("layernorm: {affine: false, bias: false}", "[8, 4, 4]",
         "t.yaml:3:38: layernorm 'layernorm1': 'bias: false' drops the shift of affine; without affine there is none: "
         "leave it out"),
        ("linear: {out: 4, over: pixels}", "[8, 4, 4]",
         "t.yaml:3:28: linear 'linear1': 'over' must be one of features, channels, got 'pixels'"),
    ],
)
def test_arguments_torch_refuses_are_located_errors(layer: str, input_: str, message: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "t.yaml"
    p.write_text(f"input: {input_}\nlayers:\n  - {layer}\n")
    result = runner.invoke(app, ["analyze", str(p)])
    assert result.exit_code == 2
    assert result.stderr.strip().endswith(message), result.stderr


# Part of issue 11 adds [C, L] and [C, D, H, W] inputs; these ops' shape rules, costs and modules are
# rank-generic already (C, then any spatial dims). Checked here on those shapes directly, against torch.
RANKS = [(4, 10), (4, 3, 5, 6)]
GENERIC = [
    ("layernorm", {}),
    ("layernorm", {"channels_last": True}),
    ("groupnorm", {"groups": 2}),
    ("instancenorm", {"affine": True}),
    ("layer_scale", {}),
    ("linear", {"out": 3, "over": "channels"}),
    ("prelu", {"num_parameters": 4}),
    ("softmax", {}),
]


@pytest.mark.parametrize("shape", RANKS, ids=["C×L", "C×D×H×W"])
@pytest.mark.parametrize(("op", "kwargs"), GENERIC, ids=[f"{o}-{i}" for i, (o, _) in enumerate(GENERIC)])
def test_rank_generic_shape_cost_and_module(op: str, kwargs: dict, shape: tuple[int, ...]) -> None:  # type: ignore[type-arg]
    torch = pytest.importorskip("torch")
    from types import SimpleNamespace

    from convcost.ops import REGISTRY

    rule = REGISTRY[op]
    args = rule.args(**kwargs)
    out = rule.shape(args, (shape,))
    cost = rule.cost(args, (shape,), out, 2)
    node = SimpleNamespace(op=op, args=args, in_shapes=(shape,), shape=out, rule=rule)
    module = rule.build(node).eval()
    with torch.no_grad():
        y = module(torch.randn(2, *shape))
    assert tuple(y.shape) == (2, *out)
    assert cost.params == sum(p.numel() for p in module.parameters())
    n = 2 * torch.Size(out).numel()
    assert cost.activations == n
    if op == "linear":  # 2 samples × positions, 4·3 MACs each
        assert cost.macs == 2 * torch.Size(shape[1:]).numel() * 4 * 3


class _ScaleOnlyLayerNorm2d:
    """Written here as timm's LayerNorm2dNoBias runs it (caformer's stem, downsample and block norms): permute to
    channels-last, F.layer_norm with a weight and no bias, permute back (a factory: torch is imported lazily)."""

    @staticmethod
    def make(c: int):  # type: ignore[no-untyped-def]
        import torch
        import torch.nn.functional as F

        class Norm(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.weight = torch.nn.Parameter(torch.ones(c))

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                y = F.layer_norm(x.permute(0, 2, 3, 1), (c,), self.weight, None, 1e-6)
                return y.permute(0, 3, 1, 2)

        return Norm()


# (layer, input shape, torch's module (None: tokens), its params): batch 2 of 8·6·5 = 240 elements is 480 everywhere
SCALE_ONLY = [
    ("layernorm: {bias: false, eps: 1e-6}", (8, 6, 5), lambda: _ScaleOnlyLayerNorm2d.make(8), 8),
    ("layernorm: {bias: false}", (240,), lambda: __import__("torch").nn.LayerNorm(240, bias=False), 240),
    ("to_tokens\n  - layernorm: {bias: false}", (8, 6, 5), None, 8),  # 30 tokens of width 8
]


@pytest.mark.parametrize(("layer", "shape", "module", "params"), SCALE_ONLY)
def test_a_scale_without_a_shift_as_fvcore_and_flop_counter_count_torchs_own_modules(
        layer: str, shape: tuple[int, ...], module, params: int) -> None:  # type: ignore[no-untyped-def]
    """`layernorm: {bias: false}` against torch's nn.LayerNorm(bias=False) and F.layer_norm(x, (C,), w, None): fvcore's
    norm_flop_counter looks at the weight only (5 per element, as with a bias), FlopCounterMode sees nothing; the
    weight's C params; convcost's own count 4 per element (mean, variance, normalise, scale: no shift)."""
    torch = pytest.importorskip("torch")
    fvcore_nn = pytest.importorskip("fvcore.nn")
    from test_conventions import predicted
    from torch.utils.flop_counter import FlopCounterMode

    graph = graph_of(f"input: {{shape: {list(shape)}, batch: 2}}\nlayers:\n  - {layer}\n")
    m = (module() if module else torch.nn.Sequential(torch.nn.Flatten(2), _Transpose(), torch.nn.LayerNorm(8, bias=False)))
    x = torch.randn(2, *shape)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        m.eval()(x)
    fca = fvcore_nn.FlopCountAnalysis(m, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    pred = predicted(graph)
    assert (pred["fvcore"], pred["flop_counter"]) == (int(fca.total()), fc.get_total_flops()) == (5 * 480, 0)
    total = analyze(graph).total
    assert total.params == sum(p.numel() for p in m.parameters()) == params
    assert total.norm_ops == 4 * 480


class _Transpose:
    """[B, C, N] → [B, N, C] (tokens as to_tokens lays them out), made lazily."""

    def __new__(cls):  # type: ignore[no-untyped-def]
        import torch

        class T(torch.nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return x.transpose(1, 2)

        return T()


def test_scale_only_layer_norms_import_exactly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """timm's LayerNorm2dNoBias and torch's nn.LayerNorm(bias=False) import as `layernorm: {bias: false}` (not a norm
    and a multiply, which fvcore counts 4 + 0 per element where it counts the real norm 5); params, buffers and MACs
    are torch's and verify --reference passes on a real forward, fvcore compared."""
    pytest.importorskip("timm")
    pytest.importorskip("fvcore")
    from pathlib import Path

    import conv_weight_factories
    from zoo import spec_counts, torch_counts

    spec = tmp_path / "s.yaml"
    target = f"{Path(__file__).resolve().parent / 'conv_weight_factories.py'}:scale_only_norms"
    r = runner.invoke(app, ["import", target, "--input", "3,8,8", "-o", str(spec)])
    assert r.exit_code == 0, r.output
    assert spec_counts(spec) == torch_counts(conv_weight_factories.scale_only_norms().eval(), (3, 8, 8))
    text = spec.read_text()
    assert "layernorm: {name: norm, eps: 1e-06, bias: false, torch: subclass}" in text
    assert "layernorm: {name: token_norm, bias: false}" in text and "multiply" not in text
    v = runner.invoke(app, ["verify", str(spec), "--reference", target])
    assert v.exit_code == 0 and "fvcore flops" in v.output, v.output
