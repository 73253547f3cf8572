"""`verify --reference` compares what the model computes: every op and its arguments, matched by data flow.

The models are tests/reference_structure_nets.py's, written from torchvision's and ConvMixer's sources. Every number
is derived by hand in the comment beside it or measured here on the model by torch / the real fvcore."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from convcost.cli import app

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")

import reference_structure_nets as nets  # noqa: E402

NETS = Path(__file__).resolve().parent / "reference_structure_nets.py"
runner = CliRunner()


def verify(tmp_path: Path, spec: str, factory: str, *more: str) -> Result:
    path = tmp_path / "spec.yaml"
    path.write_text(spec)
    return runner.invoke(app, ["verify", str(path), "--reference", f"{NETS}:{factory}", *more])


def report(tmp_path: Path, spec: str, factory: str) -> tuple[int, dict]:
    r = verify(tmp_path, spec, factory, "-f", "json")
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, json.loads(r.stdout)["models"][0]


def divergence(doc: dict) -> dict:
    assert doc["first_divergence"] is not None
    return doc["layers"][doc["first_divergence"]]


def counters_agree(doc: dict) -> bool:
    """What the comparison saw before it compared ops: the output, params, buffers and both counters' totals."""
    return all(doc["totals"][k]["status"] == "ok" for k in ("output", "params", "buffers", "flop_counter", "fvcore"))


def fvcore_total(model: torch.nn.Module, *shape: int) -> int:
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with torch.no_grad():
        return int(FlopCountAnalysis(model.eval(), torch.randn(1, *shape)).unsupported_ops_warnings(False).total())


# ---- ops without weights: they used to agree whatever the spec said ------------------------------------------------
CLASSIFIER = """\
input: [3, 32, 32]
layers:
  - seq:
      name: features
      layers:
        - conv: {{name: 0, out: 16, kernel: 3, padding: 1, bias: false}}
        - bn: {{name: 1}}
        - relu: {{name: 2}}
{block}
  - global_avgpool: {{name: pool}}
  - flatten
  - linear: {{name: fc, out: 10}}
"""
ACT = """\
        - seq:
            name: 3
            layers:
              - conv: {{name: conv, out: 32, kernel: 3, padding: 1, bias: false}}
              - bn: {{name: bn}}
              - {act}: {{name: act}}"""
POOL = "        - {pool}: {{name: 3, kernel: 3, stride: 2, padding: 1}}"
BLOCK = """\
        - seq:
            name: 3
            layers:
{body}
              - relu: {{name: relu_out}}"""
BODY = """\
              - conv: {name: conv1, out: 16, kernel: 3, padding: 1, bias: false}
              - bn: {name: bn1}
              - relu: {name: relu}
              - conv: {name: conv2, out: 16, kernel: 3, padding: 1, bias: false}
              - bn: {name: bn2}"""
RESIDUAL = "              - residual:\n                  body:\n" + "\n".join("    " + line for line in BODY.splitlines())
ATTENTION = "input: {{tokens: [16, 8]}}\nlayers:\n  - attention: {{name: attn, heads: {heads}}}\n"


def classifier(block: str) -> str:
    return CLASSIFIER.format(block=block)


@pytest.mark.parametrize(("right", "wrong", "factory", "at", "reason"), [
    (classifier(ACT.format(act="gelu")), classifier(ACT.format(act="relu")), "gelu_net",
     ("features.3.act", "features.3.act"), "spec relu, model gelu (GELU) at 'features.3.act'"),
    (classifier(POOL.format(pool="avgpool")), classifier(POOL.format(pool="maxpool")), "avgpool_net",
     ("features.3", "features.3"), "spec maxpool, model avgpool (AvgPool2d) at 'features.3'"),
    (ATTENTION.format(heads=2), ATTENTION.format(heads=4), "self_attention",  # nn.MultiheadAttention(8, 2)
     ("attn", "attn"), "attention heads: spec 4, model 2 at 'attn'"),
    (classifier(BLOCK.format(body=RESIDUAL)), classifier(BLOCK.format(body=BODY)), "basic_block_net",
     (None, "features.3.add"), "the spec has no add here: the model's 'features.3.add' reads 'features.3.bn2', "
                               "'features.2' before its relu; the spec's 'features.3.relu_out' (relu) reads "
                               "'features.3.bn2'"),
])
def test_an_op_without_weights_that_differs_is_a_divergence(right: str, wrong: str, factory: str,
                                                            at: tuple[str | None, str], reason: str, tmp_path: Path) -> None:
    code, doc = report(tmp_path, right, factory)
    assert code == 0 and doc["ok"] and doc["verified"], doc
    code, doc = report(tmp_path, wrong, factory)
    assert code == 1 and not doc["ok"]
    assert counters_agree(doc)  # params, buffers, FlopCounterMode and fvcore cannot tell: all the old check saw
    d = divergence(doc)
    assert ((d["spec"] or {}).get("name"), d["reference"]["name"]) == at
    assert d["checks"]["op"]["reason"] == reason
    assert sum(1 for p in doc["layers"] if not p["ok"]) == 1  # one layer differs; the rest pairs again
    r = verify(tmp_path, wrong, factory)
    assert r.exit_code == 1 and "first divergence at" in r.stdout and "agrees" not in r.stdout


@pytest.mark.parametrize(("wrong", "factory", "category", "field", "spec", "model"), [
    # softmax: 3 ops per score, heads·N² scores: 3·4·16² against 3·2·16²
    (ATTENTION.format(heads=4), "self_attention", "linear", "act_ops", 3 * 4 * 16 * 16, 3 * 2 * 16 * 16),
    # the residual add: one per element of the block's 16×32×32 output
    (classifier(BLOCK.format(body=BODY)), "basic_block_net", "join", "elementwise_ops", 0, 16 * 32 * 32),
])
def test_each_op_categorys_analytic_cost_is_compared(wrong: str, factory: str, category: str, field: str, spec: int,
                                                    model: int, tmp_path: Path) -> None:
    _, doc = report(tmp_path, wrong, factory)
    check = doc["totals"][f"analytic {category}"]
    assert check["status"] == "mismatch"
    assert check["reason"] == f"convcost's {category} cost: {field} spec {spec:,}, model {model:,}"


# ---- matched by data flow, not by run order --------------------------------------------------------------------
def run_order(model: torch.nn.Module, *shape: int) -> list[str]:
    """The module paths in the order the forward calls them (torch's own forward hooks)."""
    ran: list[str] = []
    for name, m in model.named_modules():
        if name and not list(m.children()):
            m.register_forward_hook(lambda mod, i, o, name=name: ran.append(name))
    with torch.no_grad():
        model.eval()(torch.randn(1, *shape))
    return ran


MBCONV_BODY = """\
        - bn: {{eps: 0.001}}
        - conv: {{out: 256, kernel: 1, bias: false}}
        - bn: {{eps: 0.001}}
        - gelu
        - conv: {{out: 256, kernel: 3, stride: {stride}, padding: 1, groups: 256, bias: false}}
        - bn: {{eps: 0.001}}
        - gelu
        - gate: [global_avgpool, {{conv: {{out: 16, kernel: 1}}}}, silu, {{conv: {{out: 256, kernel: 1}}}}, sigmoid]
        - conv: {{out: 64, kernel: 1}}"""
MBCONV = f"""\
input: [3, 32, 32]
layers:
  - conv: {{out: 64, kernel: 3, padding: 1}}
  - residual:
      body:
{MBCONV_BODY.format(stride=2)}
      shortcut:
        - avgpool: {{kernel: 3, stride: 2, padding: 1}}
        - conv: {{name: proj, out: 64, kernel: 1}}
  - residual:
      body:
{MBCONV_BODY.format(stride=1)}
"""


def test_mbconv_runs_its_shortcut_first_and_pairs(tmp_path: Path) -> None:
    order = run_order(nets.mbconv_net(), 3, 32, 32)
    assert order.index("1.proj.1") < order.index("1.layers.pre_norm")  # the model: projection, then body
    code, doc = report(tmp_path, MBCONV, "mbconv_net")  # the spec: body, then shortcut
    assert code == 0 and doc["ok"] and doc["verified"], doc
    pairs = {p["spec"]["name"]: p["reference"]["name"] for p in doc["layers"]}
    assert pairs["shortcut.proj"] == "1.proj.1" and pairs["shortcut.avgpool1"] == "1.proj.0"
    assert pairs["bn1"] == "1.layers.pre_norm" and pairs["conv2"] == "1.layers.conv_a.conv"
    spec_order = [p["spec"]["name"] for p in doc["layers"]]
    assert spec_order.index("shortcut.proj") > spec_order.index("conv2")
    proj = next(p for p in doc["layers"] if p["spec"]["name"] == "shortcut.proj")
    assert proj["reference"]["params"] == 64 * 64 + 64  # the 1×1 projection with bias
    # momentum=0.99 on every batch norm of the model (maxvit.py's norm_layer), the spec's default 0.1: it only trains
    assert all(p["checks"]["op"]["status"] == "ok" for p in doc["layers"])


LRASPP = """\
input: [3, 32, 32]
layers:
  - conv: {out: 16, kernel: 3, stride: 2, padding: 1, bias: false}
  - bn
  - relu: {name: low}
  - conv: {out: 32, kernel: 3, stride: 2, padding: 1, bias: false}
  - bn
  - relu: {name: high}
  - conv: {name: cbr, out: 8, kernel: 1, bias: false}
  - bn
  - relu: {name: cbr_out}
  - global_avgpool: {from: high}
  - conv: {out: 8, kernel: 1, bias: false}
  - sigmoid: {name: s}
  - multiply: {from: [cbr_out, s]}
  - upsample: {scale: 2, mode: bilinear}
  - conv: {name: high_classifier, out: 3, kernel: 1}
  - conv: {name: low_classifier, from: low, out: 3, kernel: 1}
  - add: {from: [high_classifier, low_classifier]}
"""


def test_lraspp_runs_its_low_branch_first_and_pairs(tmp_path: Path) -> None:
    order = run_order(nets.lraspp(), 3, 32, 32)
    assert order.index("classifier.low_classifier") < order.index("classifier.high_classifier")
    code, doc = report(tmp_path, LRASPP, "lraspp")  # the spec: high classifier, then low
    assert code == 0 and doc["ok"] and doc["verified"], doc
    pairs = {p["spec"]["name"]: p["reference"]["name"] for p in doc["layers"]}
    assert pairs["high_classifier"] == "classifier.high_classifier"
    assert pairs["low_classifier"] == "classifier.low_classifier"
    low = next(p for p in doc["layers"] if p["spec"]["name"] == "low_classifier")
    assert low["reference"]["params"] == 16 * 3 + 3  # 1×1 conv, 16 → 3 classes, with bias


def test_pairs_follow_what_layers_read_not_their_names(tmp_path: Path) -> None:
    # the spec's two classifiers named the other way round: each is still paired with the model's conv that reads the
    # same branch (names carry no meaning; torchvision's are not a spec's)
    swapped = LRASPP.replace("{name: high_classifier, out", "{name: low_classifier, out").replace(
        "{name: low_classifier, from: low, out", "{name: high_classifier, from: low, out").replace(
        "from: [high_classifier, low_classifier]", "from: [low_classifier, high_classifier]")
    code, doc = report(tmp_path, swapped, "lraspp")
    assert code == 0 and doc["ok"], doc
    pairs = {p["spec"]["name"]: p["reference"]["name"] for p in doc["layers"]}
    assert pairs["high_classifier"] == "classifier.low_classifier"  # it reads `low`, as the model's low_classifier
    assert pairs["low_classifier"] == "classifier.high_classifier"


# ---- ConvMixer: padding='same' ----------------------------------------------------------------------------------------
CONVMIXER = """\
input: [3, 56, 56]
blocks:
  mixer:
    layers:
      - residual:
          body:
            - conv: {out: 32, kernel: 9, groups: 32, padding: same}
            - gelu
            - bn
      - conv: {out: 32, kernel: 1}
      - gelu
      - bn
layers:
  - conv: {out: 32, kernel: 7, stride: 7}
  - gelu
  - bn
  - mixer: {repeat: 2}
  - global_avgpool
  - flatten
  - linear: {out: 10}
"""


def test_convmixer_padded_same_agrees_with_fvcore(tmp_path: Path) -> None:
    from fvcore.nn import FlopCountAnalysis

    model = nets.convmixer().eval()
    with torch.no_grad():
        by_module = FlopCountAnalysis(model, torch.randn(1, 3, 56, 56)).unsupported_ops_warnings(False).by_module()
    assert by_module["3.0.fn.0"] == 0 and by_module["4.0.fn.0"] == 0  # the real fvcore: nothing for a 'same' conv
    code, doc = report(tmp_path, CONVMIXER, "convmixer")
    assert code == 0 and doc["ok"] and doc["verified"], doc
    # fvcore: the patch conv 8·8·32·3·7·7, the two 1×1 convs 2·8·8·32·32, the batch norms 5·2·8·8·32 (2 per element),
    # the pool 8·8·32 and the linear 32·10; not the 'same' depthwise convs
    by_hand = 8 * 8 * 32 * 3 * 7 * 7 + 2 * 8 * 8 * 32 * 32 + 5 * 2 * 8 * 8 * 32 + 8 * 8 * 32 + 32 * 10
    assert doc["totals"]["fvcore"]["spec"] == doc["totals"]["fvcore"]["reference"] == by_hand == fvcore_total(model, 3, 56, 56)
    assert runner.invoke(app, ["verify", str(tmp_path / "spec.yaml")]).exit_code == 0  # each layer against fvcore


@pytest.mark.parametrize("kernel", [8, 9])
def test_padding_same_builds_torchs_same(kernel: int) -> None:
    from conftest import graph_of

    from convcost.crosscheck.torch_build import build_model

    graph = graph_of(f"input: [4, 10, 10]\nlayers:\n  - conv: {{name: c, out: 4, kernel: {kernel}, padding: same}}\n")
    conv = build_model(graph).get_submodule("c")
    assert conv.padding == "same"
    assert fvcore_total(conv, 4, 10, 10) == 0  # fvcore: aten::_convolution_mode is unsupported


def test_padding_given_as_numbers_where_the_model_says_same_is_named(tmp_path: Path) -> None:
    code, doc = report(tmp_path, CONVMIXER.replace("padding: same", "padding: 4"), "convmixer")
    assert code == 1
    d = divergence(doc)
    assert d["reference"]["name"] == "3.0.fn.0"
    assert d["checks"]["op"]["reason"] == "conv padding: spec 4, model same at '3.0.fn.0'"
    # fvcore counts the explicitly padded depthwise convs: 2 · 8·8·32·9·9
    assert doc["totals"]["fvcore"]["spec"] - doc["totals"]["fvcore"]["reference"] == 2 * 8 * 8 * 32 * 9 * 9


def test_import_writes_padding_same(tmp_path: Path) -> None:
    out = tmp_path / "convmixer.yaml"
    r = runner.invoke(app, ["import", f"{NETS}:convmixer", "--input", "3,56,56", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "padding: same" in out.read_text()


# ---- MaxViT's attention: torch.einsum --------------------------------------------------------------------------
MAXVIT = """\
input: [64, 56, 56]
layers:
  - to_tokens: {{grid: true}}
  - window_attention: {{heads: 2, window: 7{einsum}}}
  - to_map
"""
# 64 windows of 7·7 = 49 tokens, 2 heads of 32: q·kᵀ and a·v are each 64·2·49·49·32 = 9,834,496 MACs; numpy's
# einsum_path prints 2 · 9,834,496 = 19,668,992 as 1.967e+07, and fvcore reports half of that: 9,835,000
EINSUM_EXACT, EINSUM_FVCORE = 64 * 2 * 49 * 49 * 32, 9_835_000


def test_fvcore_einsum_matches_the_real_fvcore() -> None:
    from fvcore.nn import FlopCountAnalysis

    from convcost.ops.counting import fvcore_einsum

    class Einsum(torch.nn.Module):
        def __init__(self, equation: str) -> None:
            super().__init__()
            self.equation = equation

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.einsum(self.equation, a, b)

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    cases = [
        ("B G H I D, B G H J D -> B G H I J", (1, 64, 2, 49, 32), (1, 64, 2, 49, 32)),  # maxvit.py's q·kᵀ
        ("B G H I J, B G H J D -> B G H I D", (1, 64, 2, 49, 49), (1, 64, 2, 49, 32)),  # its a·v
        ("nct,ncp->ntp", (2, 3, 4), (2, 3, 5)),  # fvcore's exact special cases: 2·3·4·5
        ("ntg,ncg->nct", (2, 3, 4), (2, 5, 4)),
        ("ij,jk->ik", (7, 11), (11, 13)),  # 7·11·13 = 1,001: four digits, nothing rounded
    ]
    for equation, a, b in cases:
        real = FlopCountAnalysis(Einsum(equation), (torch.randn(a), torch.randn(b))).total()
        assert fvcore_einsum(equation, [a, b]) == real, equation
    assert fvcore_einsum(cases[0][0], [cases[0][1], cases[0][2]]) == EINSUM_FVCORE
    assert fvcore_einsum("nct,ncp->ntp", [(2, 3, 4), (2, 3, 5)]) == 2 * 3 * 4 * 5
    assert fvcore_einsum("ij,jk->ik", [(7, 11), (11, 13)]) == 7 * 11 * 13


def test_maxvit_attention_with_einsum_agrees_with_fvcore(tmp_path: Path) -> None:
    model = nets.maxvit_attention()
    measured = fvcore_total(model, 64, 56, 56)
    # qkv 56·56·64·192 and merge 56·56·64·64 exactly, each einsum as fvcore rounds it
    assert measured == 56 * 56 * 64 * 192 + 56 * 56 * 64 * 64 + 2 * EINSUM_FVCORE
    _, doc = report(tmp_path, MAXVIT.format(einsum=", einsum: true"), "maxvit_attention")
    assert doc["totals"]["fvcore"] == {"status": "ok", "spec": measured, "reference": measured, "reason": ""}
    assert runner.invoke(app, ["verify", str(tmp_path / "spec.yaml")]).exit_code == 0  # the layer against fvcore
    _, matmul = report(tmp_path, MAXVIT.format(einsum=""), "maxvit_attention")
    assert matmul["totals"]["fvcore"]["reference"] - matmul["totals"]["fvcore"]["spec"] == 2 * (EINSUM_FVCORE - EINSUM_EXACT)


@pytest.mark.xfail(strict=True, reason="the importer now reads MaxViT's attention op by op (reshape, chunk, einsum, "
                   "softmax): the pairing does not yet see the spec's window_attention in them, so verify says 'differs' "
                   "where it said 'agrees, not verified' (exit 1 either way)")
def test_maxvit_attention_is_compared_whole(tmp_path: Path) -> None:
    code, doc = report(tmp_path, MAXVIT.format(einsum=", einsum: true"), "maxvit_attention")
    # the attention's weights compared whole: qkv 64·192 + 192, merge 64·64 + 64, the bias table 13·13·2 heads
    whole = next(p for p in doc["layers"] if p["reference"] and p["reference"]["params"])
    assert whole["spec"]["params"] == whole["reference"]["params"] == 64 * 192 + 192 + 64 * 64 + 64 + 13 * 13 * 2
    assert whole["checks"]["macs"]["status"] == "ok"
    # convcost's importer cannot read the window partition and the einsums: not verified, and it says so
    assert code == 1 and doc["agrees"] and not doc["verified"] and doc["not_compared"]


# ---- what the importer cannot read is never called agreement -------------------------------------------------
def test_a_functional_interpolate_to_a_size_is_the_specs_upsample_by_a_scale(tmp_path: Path) -> None:
    code, doc = report(tmp_path, LRASPP, "lraspp_interpolate")  # F.interpolate(x, size=low.shape[-2:]): 8×8 → 16×16
    assert code == 0 and doc["ok"] and doc["verified"], doc
    up = next(p for p in doc["layers"] if p["spec"]["name"] == "upsample1")
    assert up["reference"]["name"] == "classifier.interpolate" and up["checks"]["op"]["status"] == "ok"
    assert up["reference"]["shape"] == [1, 8, 16, 16]  # scale 2 and size 16 compared through the output


def test_a_part_the_importer_cannot_read_is_not_verified(tmp_path: Path) -> None:
    code, doc = report(tmp_path, LRASPP, "lraspp_roll")  # the head's torch.roll without dims: no per-sample op
    assert code == 1 and doc["agrees"] and not doc["verified"] and not doc["ok"]
    assert doc["not_compared"] == ["classifier.roll: roll of [1, 8, 16, 16] over every value: it moves values between "
                                   "samples; convcost counts per sample (give torch.roll its dims)"]  # the part, by its place
    # the layers around it are still compared one by one: the high classifier reads the roll's stand-in
    high = next(p for p in doc["layers"] if p["spec"] and p["spec"]["name"] == "high_classifier")
    assert high["reference"]["name"] == "classifier.high_classifier" and high["reference"]["params"] == 8 * 3 + 3
    r = verify(tmp_path, LRASPP, "lraspp_roll")
    assert r.exit_code == 1 and "not verified" in r.stdout and "every op, argument and count agrees" not in r.stdout


def test_a_model_fx_cannot_trace_is_verified(tmp_path: Path) -> None:
    """Control flow on a value stops torch.fx, not the importer's eager aten recording: the data flow is known."""
    model = tmp_path / "branchy.py"
    model.write_text(
        "import torch\nfrom torch import nn\n\n\n"
        "class Branchy(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 8, 3, padding=1)\n\n"
        "    def forward(self, x):\n"
        "        y = self.conv(x)\n"
        "        return y if float(y.sum()) > -1e30 else -y  # control flow on a value: fx cannot trace it\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers:\n  - conv: {out: 8, kernel: 3, padding: 1}\n")
    r = runner.invoke(app, ["verify", str(spec), "--reference", f"{model}:Branchy", "-f", "json"])
    doc = json.loads(r.stdout)["models"][0]
    assert r.exit_code == 0 and doc["agrees"] and doc["verified"] and not doc["not_compared"], doc


@pytest.mark.parametrize("einsum", [", einsum: true", ""])
def test_window_attention_einsum_under_ptflops_and_thop(einsum: str) -> None:
    pytest.importorskip("ptflops")
    pytest.importorskip("thop")
    from conftest import graph_of
    from test_other_counters import _modelled, _ptflops, _thop

    graph = graph_of(MAXVIT.format(einsum=einsum))
    modelled = _modelled(graph)
    # ptflops patches tensor.matmul (2 · 9,834,496 with matmul) but not torch.einsum; both: the softmax, 2·64·49·49
    assert modelled["ptflops"] == _ptflops(graph) == 2 * 64 * 49 * 49 + (0 if einsum else 2 * EINSUM_EXACT)
    assert modelled["thop"] == _thop(graph) == 0  # its nn.Linear hooks never fire (F.linear with their weights)
