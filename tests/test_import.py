"""`convcost import`: a spec written from the user's torch module, checked by round trip.

Every expected number is measured here on the torch module itself (parameter and buffer sums,
FlopCounterMode FLOPs / 2), never copied from convcost; and `verify --reference` on the imported spec
and the same target must pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from acceptance import Acceptance
from golden_files import assert_golden
from typer.testing import CliRunner, Result

from convcost.api import analyze_file
from convcost.cli import app

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

TESTS = Path(__file__).resolve().parent
runner = CliRunner()


def run_import(target: str, shape: str, out: Path, *more: str) -> Result:
    return runner.invoke(app, ["import", target, "--input", shape, "-o", str(out), *more])


def factory_model(target: str, *args: str) -> torch.nn.Module:
    """The factory's module in eval mode, called with the --reference-arg's KEY=VALUE (each value read as YAML, as
    docs/import.md says the command reads it: `grow=4`, `how=chunk`, `stages=[[1, 8, 1, 1, 0, 1]]`)."""
    import importlib

    import yaml

    file, factory = target.rsplit(":", 1)
    kwargs = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args)}
    return getattr(importlib.import_module(Path(file).stem), factory)(**kwargs).eval()


def torch_flops(model: torch.nn.Module, shape: str) -> FlopCounterMode:
    """FlopCounterMode over one forward on a zero input of `shape` (batch 1), attention on torch's math path so it
    sees the attention matmuls: autograd on keeps nn.MultiheadAttention off its fused inference kernel (taken only
    under no_grad), and scaled_dot_product_attention's MATH backend is plain matmuls (CPU's fused kernel has no
    FLOP formula)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel([SDPBackend.MATH]), FlopCounterMode(display=False) as fc:
        model(torch.zeros(1, *map(int, shape.split(","))))
    return fc


def torch_counts(target: str, shape: str, *args: str) -> tuple[int, int, int]:
    """(params, buffers, FlopCounterMode FLOPs / 2) of the factory's module, measured by torch."""
    model = factory_model(target, *args)
    flops = torch_flops(model, shape).get_total_flops()
    return (sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers()), flops // 2)


def spec_counts(spec: Path) -> tuple[int, int, int]:
    t = analyze_file(spec)[0].total
    return t.params, t.buffers, t.macs


SHUFFLES = ("view", "reshape", "torch_transpose", "permute", "unflatten")
SMALL_VIT = ("image=32", "patch=8", "layers=2", "heads=2", "dim=64", "mlp=128")  # 16 patches + the class token


def reference_args(args: tuple[str, ...]) -> list[str]:
    return [o for a in args for o in ("--reference-arg", a)]


@pytest.mark.parametrize(("target", "shape", "args"), [
    ("reference_factories.py:ResNet", "3,224,224", ()),  # torchvision's names, Bottleneck's reused relu, downsample
    ("reference_factories.py:mobilenet_v2", "3,224,224", ()),  # x + self.conv(x) residuals
    ("reference_factories.py:googlenet", "3,224,224", ()),  # torch.cat of four branches, ceil-mode pools
    ("import_factories.py:unet", "3,64,64", ()),  # skips through torch.cat, ConvTranspose2d
    ("import_factories.py:small_cnn", "3,32,32", ()),  # F.relu, cat, +, *, x.mean, view, GroupNorm, Upsample
    ("import_factories.py:untraceable", "3,16,16", ()),  # control flow on a value: a real forward (not the meta device)
    # nn.MultiheadAttention, flatten(2).transpose(1, 2), class token, position embedding, x[:, 0]
    ("reference_tokens.py:ViT", "3,32,32", SMALL_VIT),
    ("reference_tokens.py:Hybrid", "3,64,64", ()),  # conv stem to tokens, transpose(1, 2).reshape back to a map
    ("reference_tokens.py:Hybrid", "3,64,32", ()),  # 16×8 tokens back to a map: to_map's height and width
    ("import_factories.py:mean_pooled_vit", "3,16,16", ()),  # view(B, C, -1).permute(0, 2, 1), pos + x, x.mean(dim=1)
    # torchvision's own layout: reshape + permute, encoder.pos_embedding (a nested path), torch._assert, dropouts
    ("import_factories.py:torchvision_vit", "3,32,32", SMALL_VIT),
    # x1, x2 = x.chunk(2, dim=1), cat, torchvision's channel_shuffle (view, transpose, contiguous, view), x.mean([2, 3])
    ("reference_modern.py:ShuffleNetV2", "3,224,224", ()),
    # YOLOv8's C2f: list(cv1(x).chunk(2, 1)), forward_split's split((c, c), 1), torch.split/chunk, uneven sizes
    *(("import_factories.py:c2f", "3,32,32", (f"how={how}",)) for how in ("chunk", "split", "torch_split", "torch_chunk",
                                                                          "uneven")),
    # channel shuffles: .reshape, torch.transpose, .permute(0, 2, 1, 3, 4), unflatten(1, ...) and flatten(1, 2)
    # torch.cat(x.chunk(2, 1), 1): the parts used together are two chunk layers and a concat
    *(("import_factories.py:shuffled", "3,8,8", (f"how={how}",)) for how in (*SHUFFLES, "thirds", "second_half", "together")),
    # general ops where no named one fits: a grouped view swapped with the rows, one not merged back, a chunk along
    # the rows (reshape, transpose, chunk with dim); a map's rows flatten(2) read by a Conv1d, tokens transposed back
    *(("import_factories.py:shuffled", "3,8,8", (f"how={how}",)) for how in ("spatial", "not_back", "dim2")),
    *(("import_factories.py:rows", "3,8,8", (f"how={how}",)) for how in ("rows", "back")),
    # ConvNeXt blocks whose channels-last part is no clean run: a mean over H, W of the channels-last map, an add in it
    *(("import_factories.py:convnext_variant", "3,32,32", (f"how={how}",)) for how in ("open", "inner_add")),
])
def test_round_trip(target: str, shape: str, args: tuple[str, ...], tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    full = f"{TESTS / target.split(':')[0]}:{target.split(':')[1]}"
    r = run_import(full, shape, spec, *reference_args(args))
    assert r.exit_code == 0, r.output
    assert spec_counts(spec) == torch_counts(target, shape, *args)
    v = runner.invoke(app, ["verify", str(spec), "--reference", full, *reference_args(args)])
    if "small_cnn" in target:
        # x.mean([2, 3]) becomes `global_avgpool: {mean: true}`, built as the same x.mean: fvcore sees aten::mean
        # on both sides (an adaptive pool module would add 16·16·16 + 16·32·32 = 20,480 on the spec's side only)
        assert "mean: true" in spec.read_text()
    # untraceable too: control flow on a value stops fx, not the eager aten recording, so its data flow is known
    assert v.exit_code == 0, v.output
    if "vit" in target.lower():  # conv_proj, class_token, (encoder.)pos_embedding, ...self_attention: by their paths
        assert "matched by structure, every op, argument" in v.output


def test_vit_attention_macs_match_torch_exactly(tmp_path: Path) -> None:
    spec = tmp_path / "vit.yaml"
    target = f"{TESTS / 'reference_tokens.py'}:ViT"
    assert run_import(target, "3,32,32", spec, *reference_args(SMALL_VIT)).exit_code == 0
    layers = {lc.node.name: lc for lc in analyze_file(spec)[0].layers}
    assert {layers[n].node.op for n in ("conv_proj", "class_token", "pos_embedding", "layers.1.self_attention")} == \
        {"conv", "class_token", "pos_embed", "attention"}
    # N = (32/8)² + 1 = 17 tokens of D = 64, 2 heads of 32, per sample:
    #   Q/K/V projection N·D·3D = 17·64·192 = 208,896   (in_proj: one addmm)
    #   q·kᵀ  heads·N·N·32 = N²·D = 17·17·64 = 18,496    (math SDPA: a bmm)
    #   a·v   N²·D = 18,496                              (a bmm)
    #   out_proj N·D·D = 17·64·64 = 69,632               (an addmm)
    #   = 315,520 MACs; softmax and the 1/√32 scaling are no MACs (FlopCounterMode counts neither)
    fc = torch_flops(model := factory_model(target, *SMALL_VIT), "3,32,32")
    for i in (0, 1):
        torch_macs = sum(fc.get_flop_counts()[f"ViT.layers.{i}.self_attention"].values()) // 2
        assert layers[f"layers.{i}.self_attention"].cost.macs == torch_macs == 208_896 + 18_496 + 18_496 + 69_632
    # class token D and position embedding N·D parameters, as the module's own tensors
    assert layers["class_token"].cost.params == model.class_token.numel() == 64
    assert layers["pos_embedding"].cost.params == model.pos_embedding.numel() == 17 * 64


@pytest.mark.parametrize("args", [(), ("qkv_bias=false",)])
def test_timm_attention_is_built_as_timm_computes_it(args: tuple[str, ...], tmp_path: Path) -> None:
    """timm's Attention on its fused path (nn.Linear, F.scaled_dot_product_attention, nn.Linear) imports as `attention`
    with `sdpa: true`, built the same way, so what fvcore sees of the spec's layer is what it sees of the model's: the
    two projections (it has no handle for aten::scaled_dot_product_attention). fvcore runs only on a real forward,
    which verify takes here. Built as nn.MultiheadAttention instead (2 heads and both biases: its fused fast path, none
    of it seen) or as the explicit module (no qkv bias: the matmuls seen too), the prediction missed by the projections
    or by the matmuls, and verify exited 1 (timm's vit_small_patch16_224: spec 2,856,330,624, model 4,250,674,560)."""
    import json

    spec, target = tmp_path / "vit.yaml", f"{TESTS / 'import_factories.py'}:timm_vit"
    r = run_import(target, "3,32,32", spec, *reference_args(args))
    assert r.exit_code == 0, r.output
    assert spec_counts(spec) == torch_counts("import_factories.py:timm_vit", "3,32,32", *args)
    assert {lc.node.op for lc in analyze_file(spec)[0].layers if lc.node.name.endswith(".attn")} == {"attention"}
    assert "sdpa: true" in spec.read_text()
    v = runner.invoke(app, ["verify", str(spec), "--reference", target, *reference_args(args), "-f", "json"])
    assert v.exit_code == 0, v.output
    (report,) = json.loads(v.stdout)["models"]
    # fvcore on the model, by hand: N = (32/8)² + 1 = 17 tokens of D = 64, MLP 128, 2 blocks, 10 classes:
    #   patch conv 16·64·(3·8·8) = 196,608
    #   per block: qkv 17·64·192 = 208,896, proj 17·64·64 = 69,632 (the attention matmuls: not seen),
    #              fc1 and fc2 17·64·128 = 139,264 each, 2 LayerNorms 5·17·64 = 5,440 each
    #   the last norm 5,440, the head on the class token 64·10 = 640
    block = 208_896 + 69_632 + 2 * 139_264 + 2 * 5_440
    fvcore = report["totals"]["fvcore"]
    assert report["real_forward"] and fvcore["status"] == "ok"
    assert fvcore["spec"] == fvcore["reference"] == 196_608 + 2 * block + 5_440 + 640


def test_vit_b_16_imports_as_the_hand_written_spec_counts(tmp_path: Path) -> None:
    spec = tmp_path / "vit_b_16.yaml"
    assert run_import(f"{TESTS / 'reference_tokens.py'}:ViT", "3,224,224", spec).exit_code == 0
    assert spec_counts(spec) == torch_counts("reference_tokens.py:ViT", "3,224,224") == \
        spec_counts(TESTS.parent / "configs" / "vit_b_16.yaml")


@pytest.mark.parametrize(("how", "why"), [
    ("seq_first", "nn.MultiheadAttention with batch_first=False"),
    ("cross", "nn.MultiheadAttention called with different query, key and value (cross-attention)"),
    ("masked", "nn.MultiheadAttention called with attn_mask: convcost's 'attention' has no mask"),
    ("kdim", "nn.MultiheadAttention with kdim=8, vdim=8"),
])
def test_unsupported_attention_fails_naming_its_path(how: str, why: str, tmp_path: Path) -> None:
    spec = tmp_path / "attn.yaml"
    r = run_import(f"{TESTS / 'import_factories.py'}:attending", "16,4,4", spec, "--reference-arg", f"how={how}")
    assert r.exit_code == 2
    assert f"error: attn: {why}" in r.stderr and not spec.exists()


def test_shufflenet_v2_imports_as_the_hand_written_spec_counts(tmp_path: Path) -> None:
    """torchvision's ShuffleNetV2 x1.0 layout: the hand-written configs/shufflenet_v2.yaml's totals, 2,278,604 params
    (torchvision's ShuffleNet_V2_X1_0_Weights) and the torch module's MACs; 16 units, each ending in a channel
    shuffle of 2 groups; the 13 stride-1 units (3 + 7 + 3) each take both halves of their input, x.chunk(2, dim=1)."""
    spec = tmp_path / "shufflenet.yaml"
    assert run_import(f"{TESTS / 'reference_modern.py'}:ShuffleNetV2", "3,224,224", spec).exit_code == 0
    counts = spec_counts(spec)
    assert counts == torch_counts("reference_modern.py:ShuffleNetV2", "3,224,224")
    assert counts[0] == spec_counts(TESTS.parent / "configs" / "shufflenet_v2.yaml")[0] == 2_278_604
    assert counts[2] == spec_counts(TESTS.parent / "configs" / "shufflenet_v2.yaml")[2] == 144_907_992
    layers = analyze_file(spec)[0].layers
    shuffles = [lc.node for lc in layers if lc.node.op == "channel_shuffle"]
    assert len(shuffles) == 4 + 8 + 4 and {n.args.groups for n in shuffles} == {2}
    assert all(n.name.endswith(".transpose") for n in shuffles)  # named after the transpose, as to_tokens is
    parts = [lc.node for lc in layers if lc.node.op == "chunk"]
    # each stride-1 unit is a `split` (x.chunk(2, dim=1)'s parts: the spec's chunk1 in each branch's scope)
    assert [(n.name.split(".", 2)[2], n.args.index, n.args.count) for n in parts] == \
        [("identity.chunk1", 0, 2), ("branch2.chunk1", 1, 2)] * 13
    assert "stage3.7.branch2.chunk1" in {n.name for n in parts}
    text = spec.read_text()
    assert text.count("- split:") == 1 and "- chunk:" not in text  # one block holds the unit's split


@pytest.mark.parametrize(("how", "expected"), [
    # (name, index, parts, sizes) of each part: C2f(16, 32) slices cv1's 32 channels, C2f(64, 64) its 64
    ("chunk", [("chunk", 0, None, None), ("chunk_1", 1, None, None)]),  # x.chunk(2, 1): two halves (parts 2: the default)
    ("torch_split", [("split", 0, None, None), ("split_1", 1, None, None)]),  # torch.split(y, c, 1): equal parts
    ("split", [("split", 0, None, (16, 16)), ("split_1", 1, None, (16, 16))]),  # split((c, c), 1): sizes, as written
    ("uneven", [("split", 0, None, (8, 24)), ("split_1", 1, None, (8, 24))]),  # split((c // 2, 3 * c // 2), 1)
])
def test_c2f_parts_are_chunk_layers(how: str, expected: list[tuple[str, int, int | None, tuple[int, ...] | None]],
                                    tmp_path: Path) -> None:
    spec = tmp_path / "c2f.yaml"
    assert run_import(f"{TESTS / 'import_factories.py'}:c2f", "3,32,32", spec, "--reference-arg", f"how={how}").exit_code == 0
    layers = {lc.node.name: lc.node for lc in analyze_file(spec)[0].layers}
    found = [(name.split(".", 1)[1], n.args.index, n.args.parts, n.args.sizes) for name, n in layers.items()
             if n.op == "chunk" and name.startswith("1.")]
    assert found == expected
    # the bottleneck m.0 reads the last part (y[-1]): c = 16 channels, the uneven split's 3·16/2 = 24; and c = 32 or 48
    assert layers["1.m.0.cv1.conv"].in_shapes[0][0] == (24 if how == "uneven" else 16)
    assert layers["3.m.0.cv1.conv"].in_shapes[0][0] == (48 if how == "uneven" else 32)
    # torch.cat(y, 1) reads both parts, then each bottleneck: (2 + n)·c = 4·16 and 3·32 channels into cv2
    assert layers["1.cat"].shape[0] == 64 and layers["3.cat"].shape[0] == 96


def test_chunk_in_three_parts(tmp_path: Path) -> None:
    """torch.cat([c, a, b], 1) of a, b, c = x.chunk(3, 1): three `chunk` layers, `parts: 3`, read in that order."""
    spec = tmp_path / "thirds.yaml"
    assert run_import(f"{TESTS / 'import_factories.py'}:shuffled", "3,8,8", spec, "--reference-arg", "how=thirds").exit_code == 0
    nodes = {lc.node.name: lc.node for lc in analyze_file(spec)[0].layers}
    parts = {name: (n.args.index, n.args.parts, n.shape[0]) for name, n in nodes.items() if n.op == "chunk"}
    assert parts == {"chunk": (0, 3, 8), "chunk_1": (1, 3, 8), "chunk_2": (2, 3, 8)}  # 24 channels in 3 parts of 8
    assert [nodes[n].index for n in ("chunk_2", "chunk", "chunk_1")] == [nodes["cat"].inputs[k] for k in range(3)]


def test_a_part_never_used_is_no_layer(tmp_path: Path) -> None:
    spec = tmp_path / "half.yaml"
    r = run_import(f"{TESTS / 'import_factories.py'}:shuffled", "3,8,8", spec, "--reference-arg", "how=second_half")
    assert r.exit_code == 0, r.output
    nodes = [lc.node for lc in analyze_file(spec)[0].layers]
    assert [(n.op, n.name) for n in nodes] == [("conv", "a"), ("chunk", "chunk_1"), ("conv", "b")]
    assert nodes[1].args.index == 1 and nodes[1].shape[0] == 12  # the second half of 24 channels


@pytest.mark.parametrize("how", SHUFFLES)
def test_channel_shuffle_spellings_are_one_layer(how: str, tmp_path: Path) -> None:
    """The view (or unflatten), the swap and the view back are one `channel_shuffle` of the 3 groups the module uses
    (24 channels: its 8 channels per group would divide them too)."""
    spec = tmp_path / "shuffled.yaml"
    assert run_import(f"{TESTS / 'import_factories.py'}:shuffled", "3,8,8", spec, "--reference-arg", f"how={how}").exit_code == 0
    nodes = [lc.node for lc in analyze_file(spec)[0].layers]
    assert [n.op for n in nodes] == ["conv", "channel_shuffle", "conv"]
    assert nodes[1].args.groups == 3 and nodes[1].name == ("permute" if how == "permute" else "transpose")


def test_resnet_layers_are_named_by_module_path(tmp_path: Path) -> None:
    spec = tmp_path / "r50.yaml"
    assert run_import(f"{TESTS / 'reference_factories.py'}:ResNet", "3,224,224", spec).exit_code == 0
    names = {layer.node.name for layer in analyze_file(spec)[0].layers}
    assert {"conv1", "layer1.0.conv1", "layer2.0.shortcut.downsample.0", "layer4.2.bn3", "fc"} <= names


def test_real_forward_where_the_meta_device_cannot_run_it(tmp_path: Path) -> None:
    """`if y.sum() > -1e30`: the meta device cannot read a value; the real forward runs, and the spec's first line
    says so and why (its branch is traced as it ran: the spec round-trips in test_round_trip)."""
    spec = tmp_path / "u.yaml"
    assert run_import(f"{TESTS / 'import_factories.py'}:untraceable", "3,16,16", spec).exit_code == 0
    head = spec.read_text().splitlines()[0]
    assert "an aten trace of a real forward" in head and "Tensor.item() cannot be called on meta tensors" in head


def test_unsupported_module_fails_naming_its_path(tmp_path: Path) -> None:
    spec = tmp_path / "lstm.yaml"
    r = run_import(f"{TESTS / 'import_factories.py'}:with_lstm", "4,10", spec)
    assert r.exit_code == 2
    assert "rnn: torch.nn.rnn.LSTM is not a convcost op" in r.stderr
    assert "--allow-unsupported" in r.stderr and not spec.exists()


def test_unsupported_function_kept_with_its_shape_when_allowed(tmp_path: Path) -> None:
    spec = tmp_path / "cumsum.yaml"
    target = f"{TESTS / 'import_factories.py'}:with_custom_op"
    r = run_import(target, "3,8,8", spec)
    assert r.exit_code == 2 and "error: 1: cumsum is not a convcost op" in r.stderr  # module 1 is one torch.cumsum
    r = run_import(target, "3,8,8", spec, "--allow-unsupported")
    assert r.exit_code == 0, r.output
    text = spec.read_text()
    assert "- unsupported: {name: 1, shape: [8, 8, 8], what: 'cumsum is not a convcost op'}" in text, text
    # the two convs survive: 3·8·9 + 8 and 8·4 + 4 params; MACs 8·8·(8·3·9 + 4·8)
    assert spec_counts(spec) == (3 * 8 * 9 + 8 + 8 * 4 + 4, 0, 8 * 8 * (8 * 3 * 9 + 4 * 8))
    out = runner.invoke(app, ["analyze", str(spec)]).output
    assert "not counted: 1 unsupported part (1)" in out


def test_an_unsupported_part_keeps_the_next_layers_sized_right(tmp_path: Path) -> None:
    """Issue 19: an unsupported pool (a max pool of |x|: LPPool2d of norm_type=inf) before a Linear. Kept as an
    identity, the Linear was sized from the unpooled 16×8×8 map (there: 15,914 params against torch's 314); kept with
    its traced 16×1×1 shape, the Linear is the model's: params 3·16·9 + 16 (conv) + 16·10 + 10 (fc), as torch counts
    them."""
    spec = tmp_path / "pool.yaml"
    target = f"{TESTS / 'import_factories.py'}:max_pooled"
    r = run_import(target, "3,8,8", spec, "--allow-unsupported")
    assert r.exit_code == 0, r.output
    assert "warning: pool: nn.LPPool2d: lp_pool2d with norm_type=inf" in r.stderr, r.stderr
    model = factory_model("import_factories.py:max_pooled")
    assert spec_counts(spec)[0] == sum(p.numel() for p in model.parameters()) == 3 * 16 * 9 + 16 + 16 * 10 + 10
    layers = {lc.node.name: lc.node for lc in analyze_file(spec)[0].layers}
    assert tuple(layers["pool"].shape) == (16, 1, 1) and layers["pool"].op == "unsupported"


def test_bad_input_shape_and_target(tmp_path: Path) -> None:
    r = runner.invoke(app, ["import", f"{TESTS / 'import_factories.py'}:small_cnn", "--input", "3,a"])
    assert r.exit_code == 2 and "--input '3,a'" in r.stderr
    r = runner.invoke(app, ["import", f"{TESTS / 'import_factories.py'}:nope", "--input", "3,8,8"])
    assert r.exit_code == 2 and "has no 'nope'" in r.stderr


def test_spec_writer_is_torch_free() -> None:
    code = "import sys, convcost.importer.write, convcost.commands.import_; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"



# ---- ConvNeXt (torchvision's layout) ----------------------------------------------------------------------------
def convnext_layers(spec: Path) -> dict[str, tuple[str, Any, int]]:
    """Layer name -> (op, args, params) of the imported spec."""
    return {lc.node.name: (lc.node.op, lc.node.args, lc.cost.params) for lc in analyze_file(spec)[0].layers}


@pytest.mark.parametrize(("factory", "shape", "args"), [
    ("small_convnext", "3,32,32", ()),  # reference_modern's ConvNeXt: LayerNorm2d, Permute modules, CNBlock, 2 stages
    ("convnext_variant", "3,32,32", ("how=torchvision",)),  # StochasticDepth (fx-wrapped function), result += x
    ("convnext_variant", "3,32,32", ("how=functional",)),  # x.permute, F.gelu, nn.Dropout, torch.permute, x.mul(scale)
    ("convnext_variant", "3,8,16,16", ("how=3d",)),  # permute(0, 2, 3, 4, 1) of a Conv3d's map and back
    ("convnext_variant", "3,32,32", ("how=two_back",)),  # the run forks and is permuted back twice
])
def test_convnext_imports_exactly_by_path(factory: str, shape: str, args: tuple[str, ...], tmp_path: Path) -> None:
    """A ConvNeXt imports to the torch module's params, buffers and MACs, `verify --reference` pairs every weighted
    layer by path (LayerNorm2d's module, the channels-last nn.LayerNorm and nn.Linear, the layer_scale parameter), and
    each stage of blocks is one block call with `repeat`."""
    import import_factories

    spec, target = tmp_path / "convnext.yaml", f"{TESTS / 'import_factories.py'}:{factory}"
    r = run_import(target, shape, spec, *reference_args(args))
    assert r.exit_code == 0, r.output
    model = getattr(import_factories, factory)(**dict(a.split("=") for a in args)).eval()
    flops = torch_flops(model, shape).get_total_flops()
    assert spec_counts(spec) == (sum(p.numel() for p in model.parameters()), 0, flops // 2)
    v = runner.invoke(app, ["verify", str(spec), "--reference", target, *reference_args(args)])
    assert v.exit_code == 0 and "matched by structure, every op, argument" in v.output, v.output
    assert "fvcore flops" in v.output and "not compared" not in v.output
    layers = convnext_layers(spec)
    block = "0.1.0.block." if factory == "small_convnext" else "1.0."
    norm, fc1, fc2 = (f"{block}{n}" for n in (("2", "3", "5") if factory == "small_convnext" else ("norm", "pwconv1", "pwconv2")))
    assert layers[norm][0] == "layernorm" and layers[norm][1].channels_last  # nn.LayerNorm(8) on the channels-last view
    assert layers[norm][2] == 2 * 8  # its weight and bias
    assert layers[fc1][:2] == ("linear", type(layers[fc1][1])(out=32, over="channels"))  # nn.Linear(8, 32) at every position
    assert layers[fc2][:2] == ("linear", type(layers[fc2][1])(out=8, over="channels"))
    scale = "0.1.0.layer_scale" if factory == "small_convnext" else "1.0.layer_scale"
    assert layers[scale][0] == "layer_scale" and layers[scale][2] == 8  # the [8, 1, 1] parameter
    if factory == "small_convnext":  # LayerNorm2d (stem, downsample, head): over channels, named by the module's path
        for path, c in (("0.0.1", 8), ("0.2.0", 8), ("2.0", 16)):
            assert layers[path][0] == "layernorm" and not layers[path][1].channels_last and layers[path][2] == 2 * c
    stages = [ln.strip() for ln in spec.read_text().splitlines() if "repeat:" in ln]
    assert len(stages) == (2 if factory == "small_convnext" else 1) and all("repeat: 2" in ln for ln in stages), stages


def test_convnext_tiny_imports_as_the_hand_written_spec_counts(tmp_path: Path) -> None:
    """ConvNeXt-T (reference_modern's default): torchvision's 28,589,128 params and 4,455,531,264 MACs, as
    configs/convnext_tiny.yaml; its four stages of CNBlocks are block calls repeated 3, 3, 9 and 3 times."""
    spec, target = tmp_path / "convnext_tiny.yaml", f"{TESTS / 'reference_modern.py'}:convnext"
    assert run_import(target, "3,224,224", spec).exit_code == 0
    assert spec_counts(spec) == torch_counts("reference_modern.py:convnext", "3,224,224") == (28_589_128, 0, 4_455_531_264)
    assert spec_counts(spec) == spec_counts(TESTS.parent / "configs" / "convnext_tiny.yaml")
    calls = [ln.strip() for ln in spec.read_text().splitlines() if "repeat:" in ln]
    assert [c.startswith("- CNBlock:") for c in calls] == [True] * 4
    assert [c.split("repeat: ")[1].split(",")[0].rstrip("}") for c in calls] == ["3", "3", "9", "3"]
    v = runner.invoke(app, ["verify", str(spec), "--reference", target])
    assert v.exit_code == 0 and "layers matched by structure, every op, argument" in v.output, v.output


@pytest.mark.parametrize(("factory", "how", "why"), [
    ("convnext_variant", "training", "1.0.stochastic_depth: mul of random values (dropout or stochastic depth in training "
     "mode): convcost counts inference (call model.eval())"),
])
def test_convnext_parts_convcost_cannot_express_fail(factory: str, how: str, why: str, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    more = ("--reference-arg", f"how={how}") if how else ()
    r = run_import(f"{TESTS / 'import_factories.py'}:{factory}", "3,32,32", spec, *more)
    assert r.exit_code == 2 and f"error: {why}" in r.stderr and not spec.exists(), r.stderr


def test_a_buffer_the_forward_never_reads_is_kept(tmp_path: Path) -> None:
    """A LayerNorm2d holding a buffer its forward never reads: the layer norm is convcost's, the 8 buffer values an
    `unused` row, so the spec's totals are the module's (params 3·8·4 + 8 conv, 2·8 norm; buffers 8)."""
    spec = tmp_path / "spec.yaml"
    r = run_import(f"{TESTS / 'import_factories.py'}:layernorm2d_with_buffer", "3,32,32", spec)
    assert r.exit_code == 0, r.output
    assert "note: 1.extra: a tensor the forward never reads: its 8 buffer values are kept as the `unused` row '1_extra'" \
        in r.stderr
    assert spec_counts(spec) == torch_counts("import_factories.py:layernorm2d_with_buffer", "3,32,32")
    assert spec_counts(spec)[:2] == (3 * 8 * 4 + 8 + 2 * 8, 8)


# ---- folding repeated modules into blocks ---------------------------------------------------------
def test_resnet50_folds_into_one_block_under_60_lines(tmp_path: Path) -> None:
    """ResNet-50's 16 bottlenecks are one block: the 4 stages are 4 calls with `repeat`, the first unit's
    stride and projection shortcut in `first:` (the spec's counts are checked in test_round_trip)."""
    spec = tmp_path / "r50.yaml"
    assert run_import(f"{TESTS / 'reference_factories.py'}:ResNet", "3,224,224", spec).exit_code == 0
    text = spec.read_text()
    assert len(text.splitlines()) < 60, text
    assert_golden("import_resnet50.yaml", text.replace(str(TESTS) + "/", "tests/"))
    calls = [line for line in text.splitlines() if "repeat:" in line]
    assert [c.split("repeat: ")[1].split(",")[0] for c in calls] == ["3", "4", "6", "3"]  # torchvision's [3, 4, 6, 3]
    assert all("first: {" in c and "downsample: true" in c for c in calls)
    for stage in ("layer2", "layer3", "layer4"):  # the stride-2 3×3 conv of v1.5 in the first unit only
        assert "conv2_stride: 2" in next(c for c in calls if f"name: {stage}," in c).split("first:")[1]


# torchvision's own models fold as their architecture repeats (issue 20). Each bound: the spec's lines with every
# repeated unit one call line, and the blocks defined once; a unit written out instead costs it 10 or more lines.
# The spec is exact (params, buffers, MACs are torch's; verify --reference passes: tests/zoo.py).
FOLDS = {
    # 2 comment lines + a 22-line Bottleneck block + input, layers:, a 4-layer stem, 4 stage calls (repeat: 3, 4, 6,
    # 3), avgpool, flatten, fc = 37; issue 20's bound: 40
    "resnet50": 40,
    # 4 stages of depth 1, 3, 6, 6 = 16 ResBottleneckBlocks, all one block (the first of a stage has `proj`, a shortcut
    # under `when:`), each stage one call line with `repeat` and `each: 'blockN-${i}'` (torchvision names the units
    # block2-0...): 2 comments + input, layers: + a 6-line stem seq + the trunk_output seq header 3 + 4 stage calls +
    # avgpool, flatten, fc = 20, and 42 lines of blocks (`blocks:`, ResBottleneckBlock 15, BottleneckTransform 7,
    # SqueezeExcitation 8, Conv2dNormActivation 6 and 5) -> 62. Each stage a seq of its units' calls: 86
    "regnet_y_400mf": 62,
    # 15 inverted-residual rows (features.1..15), all one block: ReLU or Hardswish a parameter (`- $act`), the
    # squeeze-excite and the expanding conv (row 1 has none) under `when:` on flags, the projection (named 1, 2 or 3
    # after what is before it) named by a parameter, and Conv2dNormActivation without its activation the same block
    # with `act: ~`. 2 comments + `blocks:` + Conv2dNormActivation 6 + SqueezeExcitation 9 + Sequential 7 +
    # InvertedResidual 7 = 32; input, layers: + features seq header 3 + stem call + 15 rows + last conv call +
    # avgpool, flatten + classifier seq 3 + 3 layers = 30 -> 62. With a block per (SE, expansion) variant and one
    # more for the conv without activation (row 1 written out): 89; with the activation fixed in a block too: 122
    "mobilenet_v3_large": 62,
    # one nn.Sequential of 31 layers named 0..30: 13 (conv, ReLU) pairs in runs of 2, 2, 3, 3, 3 between 5 max pools,
    # no module around them: each run one call of one block with `scope: false` (its layers named by `at`, the index
    # in features), 10 lines; 2 comments + `blocks:` + ConvRelu 5 + input, layers: + features seq header 3 + 10 +
    # avgpool, flatten + classifier seq header 3 + its 5 layers (the dropouts are no layers in eval) = 33. One line a
    # layer: 48
    "vgg16": 33,
}


@pytest.mark.parametrize("name", sorted(FOLDS))
def test_torchvision_models_fold_exactly(name: str, tmp_path: Path) -> None:
    pytest.importorskip("torchvision")
    from zoo import build, imports_exactly

    target = f"torchvision.models:{name}"
    spec = imports_exactly(target, {}, (3, 224, 224), tmp_path, verify_on_meta=name != "regnet_y_400mf")
    lines = spec.read_text().splitlines()
    assert len(lines) <= FOLDS[name], "\n".join(lines)
    calls = [ln.split(":")[0].strip(" -") for ln in lines[lines.index("layers:"):] if "{name: " in ln]
    called = {c for c in calls if c[0].isupper()}  # block calls (blocks are named after module classes)
    # every layer keeps the model's module path (a residual's shortcut is a scope of the spec's own: `shortcut`)
    leaves = {n for n, m in build(target, {}).named_modules()  # a dropout is the identity in eval: no layer
              if n and not list(m.children()) and not isinstance(m, torch.nn.Dropout)}
    spec_names = {lc.node.name.replace(".shortcut.", ".") for lc in analyze_file(spec)[0].layers}
    assert leaves <= spec_names, sorted(leaves - spec_names)
    if name == "regnet_y_400mf":  # each stage one call, its units named by `each` (block2-0, block2-1...)
        assert calls.count("ResBottleneckBlock") == 4 and called == {"ResBottleneckBlock"}
        stages = [ln for ln in lines if "each: 'block" in ln]
        assert [s.split("repeat: ")[1].split(",")[0] for s in stages] == ["1", "3", "6", "6"], stages
        assert all(f"name: block{k}, " in s and f"each: 'block{k}-${{i}}'" in s for k, s in enumerate(stages, 1))
    if name == "mobilenet_v3_large":  # rows 1..15 calls of one block, whatever their activation, SE and expansion
        rows = [c for c in calls if c.startswith("InvertedResidual")]
        assert len(rows) == 15 and set(rows) == {"InvertedResidual"}, rows
        text = spec.read_text()
        assert "- $act: {name: 2}" in text and "act: ~}" in text and "when: $with_SqueezeExcitation}" in text, text
    if name == "vgg16":  # the 13 (conv, ReLU) pairs of features: 5 flat runs of one block, between the 5 max pools
        runs = [ln for ln in lines if "scope: false" in ln]
        assert [r.split("repeat: ")[1].split(",")[0] for r in runs] == ["2", "2", "3", "3", "3"], runs
        assert [lc.node.name for lc in analyze_file(spec)[0].layers][:31] == [f"features.{k}" for k in range(31)]


def layer_costs(spec: Path) -> list[tuple[str, str, int, int, tuple[int, ...]]]:
    """Each layer's name (verify --reference and the user read the folded spec by it: folding must keep every one),
    op, params, MACs and shape."""
    return [(lc.node.name, lc.node.op, lc.cost.params, lc.cost.macs, tuple(lc.node.shape)) for lc in analyze_file(spec)[0].layers]


@pytest.mark.parametrize(("target", "shape", "args"), [
    ("reference_factories.py:ResNet", "3,224,224", []),
    ("reference_factories.py:mobilenet_v2", "3,224,224", []),  # connect: a residual only where the shapes allow
    ("reference_factories.py:googlenet", "3,224,224", []),  # concat branches inside a block
    ("fold_factories.py:net", "3,16,16", ["--reference-arg", "grow=4"]),  # SE gates, optional shortcuts, DenseNet
    ("import_factories.py:small_convnext", "3,32,32", []),  # CNBlocks: channels-last runs, layer scale, LayerNorm2d
    ("reference_modern.py:ShuffleNetV2", "3,224,224", []),  # stride-2 units a block, stride-1 units (a split) another
    ("import_factories.py:c2f", "3,32,32", []),  # Conv and Bottleneck blocks; the chunks read cv1 by name
])
def test_blocks_change_nothing(target: str, shape: str, args: list[str], tmp_path: Path) -> None:
    """The folded spec and the one written layer by layer (--no-blocks) have the same layers in the same order,
    each with the same op, params, MACs and shape; and the folded one is the shorter."""
    full = f"{TESTS / target.split(':')[0]}:{target.split(':')[1]}"
    folded, flat = tmp_path / "folded.yaml", tmp_path / "flat.yaml"
    assert run_import(full, shape, folded, *args).exit_code == 0
    assert run_import(full, shape, flat, *args, "--no-blocks").exit_code == 0
    assert "blocks:" in folded.read_text() and "blocks:" not in flat.read_text()
    assert layer_costs(folded) == layer_costs(flat)
    assert len(folded.read_text().splitlines()) < len(flat.read_text().splitlines()) * 2 // 3


def test_random_nets_fold_exactly(tmp_path: Path) -> None:
    """Random stacks of units (stride, expansion, SE, projection shortcut or none, residual or not) import into
    specs whose params, buffers and MACs are the torch module's, with every stage of ≥ 2 units a block call."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    stage = st.tuples(st.integers(1, 3), st.sampled_from([8, 16, 24]), st.sampled_from([1, 2]), st.integers(1, 2),
                      st.integers(0, 1), st.integers(0, 1)).map(list)
    seen = Acceptance()

    @settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow,
              HealthCheck.function_scoped_fixture])
    @given(st.lists(stage, min_size=1, max_size=3), st.sampled_from([0, 4]))
    def imports_exactly(stages: list[list[int]], grow: int) -> None:
        seen.accept(True)
        spec = tmp_path / "net.yaml"
        r = run_import(f"{TESTS / 'fold_factories.py'}:net", "3,16,16", spec, "--reference-arg", f"stages={stages}",
                       "--reference-arg", f"grow={grow}")
        assert r.exit_code == 0, r.output
        expected = torch_counts("fold_factories.py:net", "3,16,16", f"stages={stages}", f"grow={grow}")
        assert spec_counts(spec) == expected, spec.read_text()
        lines = spec.read_text().splitlines()
        cin = 8
        for k, (n, cout, stride, _, _, project) in enumerate(stages):
            # units 1..n-1 add their input back; unit 0 too when it has a projection or keeps the shape: then all
            # n units are one block (unit 0's stride and shortcut in `first:`) and the stage is one call
            if n >= 2 and ((project and (stride != 1 or cin != cout)) or (stride == 1 and cin == cout)):
                folded.append(k)
                assert any(f"name: {k}," in ln and f"repeat: {n}" in ln for ln in lines), "\n".join(lines)
            cin = cout

    folded: list[int] = []
    imports_exactly()
    seen.check(min_accepted=12)
    assert len(folded) >= 6  # the draw reaches the repeat calls it checks


def test_readme_import_example_is_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's `convcost import` block: the message and the `grep repeat` lines are what import writes."""
    readme = (TESTS.parent / "README.md").read_text()
    block = readme.split("$ convcost import tests/reference_factories.py:ResNet", 1)[1].split("```", 1)[0]
    shown = block.splitlines()[1:]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tests").symlink_to(TESTS)
    r = runner.invoke(app, ["import", "tests/reference_factories.py:ResNet", "--input", "3,224,224", "-o", "resnet50.yaml"])
    assert r.exit_code == 0, r.output
    assert shown[0] == r.stderr.strip()
    assert shown[1] == "$ grep repeat resnet50.yaml"
    assert shown[2:] == [ln for ln in (tmp_path / "resnet50.yaml").read_text().splitlines() if "repeat" in ln]


def test_docs_show_the_imported_resnet50() -> None:
    """docs/import.md's imported ResNet-50 is the golden file's spec (without its two comment lines)."""
    docs = (TESTS.parent / "docs" / "import.md").read_text()
    shown = docs.split("The imported ResNet-50:\n\n```yaml\n", 1)[1].split("```", 1)[0]
    golden = (TESTS / "golden" / "import_resnet50.yaml").read_text()
    assert shown == "".join(golden.splitlines(True)[2:])


# ---- hostile models (tests/fold_hostile_factories.py): fold or not, never a wrong spec ----------------------
@pytest.mark.parametrize("factory", [
    "inner_reads",  # a caller reads a layer inside a repeated module: that module is written out (was a KeyError)
    "inner_outputs",  # the model's outputs: a layer inside a repeated module, and repeated modules' outputs
    "input_cat",  # cat([body(x), x]) and cat([x, body(x), x]): the input read twice (it was read once)
    "twice",  # x + x, x * x, cat([x, x]) in a repeated module (were refused as 'with a constant')
    "shadow",  # a shortcut module named 'when' (its flag parameter was 'when'), layers named add1, repeat, first
    "stage_skip",  # a block reads its own repeat's first iteration (`from: units.0`); a class named ReLU
    "flex",  # one class, two wirings: a block call reading another layer's output (were folded as one: wrong params)
    "resize_modes",  # align_corners None in most units: a parameter default of ~ made it required (analyze failed)
    "resize_first",  # ... and None on the first iteration only: `first: {up_align_corners: ~}`
    "floats",  # per-iteration bias (bool), dropout p, leaky slope: lists `${[true, false, ...][i]}`; eps in `first`
    "skip_into_repeat",  # a later concat reads the repeat's middle iteration (`from: [stage.1, stage]`)
    "nested_repeats",  # a stage of stages
    "middle_down",  # projection shortcuts on units 1 and 3: `when` flag as a list over i
    "connect_varies",  # residual in some units only: `connect` as a list over i
])
def test_hostile_models_import_exactly(factory: str, tmp_path: Path) -> None:
    """Folded and --no-blocks specs of a hostile model: the torch module's params, buffers and MACs, the same
    layers one by one, and verify --reference passes on the folded one."""
    target = f"fold_hostile_factories.py:{factory}"
    full = str(TESTS / target)
    folded, flat = tmp_path / "folded.yaml", tmp_path / "flat.yaml"
    r = run_import(full, "3,16,16", folded)
    assert r.exit_code == 0, r.output
    assert run_import(full, "3,16,16", flat, "--no-blocks").exit_code == 0
    assert spec_counts(folded) == torch_counts(target, "3,16,16"), folded.read_text()
    assert layer_costs(folded) == layer_costs(flat)
    v = runner.invoke(app, ["verify", str(folded), "--reference", full])
    assert v.exit_code == 0, v.output


@pytest.mark.parametrize(("target", "shape", "more"), [
    ("reference_factories.py:ResNet", "3,224,224", ()),
    ("import_factories.py:unet", "3,64,64", ()),
    ("import_factories.py:small_convnext", "3,32,32", ()),  # LayerNorm2d's and the layer scale's parameters on meta
    ("import_factories.py:c2f", "3,32,32", ()),  # list(x.chunk(2, 1)) traced on meta tensors: the parts' shapes
    ("import_factories.py:shape_branch", "3,8,8", ()),  # Python control flow on a shape: the meta device runs it
    # the fc reads `flat * 2`: a product with a number (multiply: {scalar: 2.0})
    ("import_factories.py:shape_branch", "3,8,8", ("--reference-arg", "scaled=true")),
])
def test_meta_device_import_writes_the_real_forwards_spec(target: str, shape: str, more: tuple[str, ...],
                                                          tmp_path: Path) -> None:
    """The trace on the meta device (what import keeps where the model runs there) writes the spec a real forward's
    trace writes; over --max-memory the command says a real forward would not fit (verify --reference of the spec
    then runs on the meta device too), and writes the same spec."""
    from convcost.importer.trace import import_model
    from convcost.importer.write import write_spec

    allow = "--allow-unsupported" in more
    args = [a for a in more if "=" in a]
    dims = tuple(map(int, shape.split(",")))
    with torch.device("meta"):
        on_meta = factory_model(target, *args)
    texts = [write_spec(i.layers, dims, i.outputs, [], i.classes) for i in
             (import_model(factory_model(target, *args), dims, allow), import_model(on_meta, dims, allow, "meta"))]
    assert texts[0] == texts[1]
    full = f"{TESTS / target.split(':')[0]}:{target.split(':')[1]}"
    real, meta = tmp_path / "real.yaml", tmp_path / "meta.yaml"
    r = run_import(full, shape, real, *more)
    assert r.exit_code == 0, r.output
    assert "a real forward needs" not in r.stderr
    m = run_import(full, shape, meta, *more, "--max-memory", "1k")  # 1,000 bytes: less than any of these weights
    assert m.exit_code == 0, m.output
    assert "on the meta device: a real forward needs" in m.stderr
    assert meta.read_text() == real.read_text()
    assert ("multiply: {name: mul, scalar: 2.0}" in real.read_text()) == ("scaled=true" in more)


def test_meta_device_cannot_read_a_value(tmp_path: Path) -> None:
    """`if y.sum() > ...` needs a real forward; over --max-memory the import refuses, in one line."""
    spec = tmp_path / "u.yaml"
    r = run_import(f"{TESTS / 'import_factories.py'}:untraceable", "3,16,16", spec, "--max-memory", "1k")
    assert r.exit_code == 2 and not spec.exists()
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    assert "on the meta device failed: RuntimeError: Tensor.item() cannot be called on meta tensors" in lines[0]
    # only the weights, buffers and input are known: params 3·8·9 + 2·8 + 8·5 + 5 = 277, buffers 8 + 8 + 1 = 17,
    # input 3·16·16 = 768; (277 + 17 + 768) · 4 bytes = 4,248
    assert "a real forward needs at least 4.25 kB" in lines[0] and lines[0].endswith("raise --max-memory to run it for real")
    r = run_import(f"{TESTS / 'import_factories.py'}:untraceable", "3,16,16", spec, "--max-memory", "4248")
    assert r.exit_code == 0, r.output  # at the limit: the real forward runs
    r = run_import(f"{TESTS / 'import_factories.py'}:untraceable", "3,16,16", spec, "--max-memory", "0")
    assert r.exit_code == 2 and "--max-memory must be more than 0 bytes" in r.stderr


def test_tensors_the_forward_never_uses_are_kept(tmp_path: Path) -> None:
    """An nn.Linear never called (an auxiliary head) and a buffer never read: 8·10 + 10 params and 3 buffer values the
    spec once left out (exit 0, wrong totals). Each is an `unused` row, named after its path and noted, so the spec's
    totals are torch's sum(p.numel())."""
    spec = tmp_path / "spare.yaml"
    r = run_import(str(TESTS / "fold_hostile_factories.py:spare"), "3,16,16", spec)
    assert r.exit_code == 0, r.output
    assert "note: 1.aux: a module the forward never runs: its 90 params are kept as the `unused` row '1_aux'" in r.stderr
    assert "note: 1.seen: a tensor the forward never reads: its 3 buffer values are kept" in r.stderr
    assert spec_counts(spec) == torch_counts("fold_hostile_factories.py:spare", "3,16,16")
    rows = [lc for lc in analyze_file(spec)[0].layers if lc.node.op == "unused"]
    assert [(lc.node.name, lc.cost.params, lc.cost.buffers, lc.cost.macs) for lc in rows] == \
        [("1_aux", 8 * 10 + 10, 0, 0), ("1_seen", 0, 3, 0)]


# ---- hostile models (tests/import_hostile_factories.py) ----------------------------------------------------------------
def test_names_torch_allows_and_a_spec_does_not_are_renamed(tmp_path: Path) -> None:
    """Issue 19: module names 'input' (the top level's input), with spaces, 'über', '~', 120 characters, '$x', '${1/0}',
    YAML's words, a leading '-': every name written is one analyze accepts (it analyzes, with torch's counts), and the
    torch name is kept beside it (`# torch: über`)."""
    import import_hostile_factories as hostile

    spec = tmp_path / "named.yaml"
    target = f"{TESTS / 'import_hostile_factories.py'}:named"
    r = run_import(target, "3,8,8", spec)
    assert r.exit_code == 0, r.output
    assert spec_counts(spec) == torch_counts("import_hostile_factories.py:named", "3,8,8")
    names = [lc.node.name for lc in analyze_file(spec)[0].layers if lc.node.op == "conv"]
    assert names[:4] == ["input_", "a_b", "uber", "_"] and names[5:7] == ["_x", "__1_0_"]
    assert len(names[4]) == 100 and names[4].startswith("x" * 91)  # cut to 100, with a hash of the whole
    assert names[7:] == ["true", "null", "_-lead", "0x10"] and len(names) == len(hostile.HOSTILE_NAMES)
    text = spec.read_text()
    for torch_name in ("input", "a b", "über", "$x", "${1/0}", "über pool"):
        assert f"  # torch: {torch_name}\n" in text
    assert "# torch: true" not in text  # kept as it is (quoted), so no note


def test_shared_weights_are_tied_and_counted_once(tmp_path: Path) -> None:
    """Issue 19: `b.weight = a.weight` (8·8·9 = 576 shared; b keeps its own 8 bias values), and a Linear called twice:
    the later layer is `tied` to the earlier one, so the spec counts each tensor once, as torch's parameters() does
    (it was 1,168 against 592 for the two convs alone)."""
    for how, ties in (("weight", ["tied: {weight: a}"]), ("twice", ["tied: {weight: a}", "tied: {weight: fc, bias: fc}"])):
        spec = tmp_path / f"{how}.yaml"
        r = run_import(f"{TESTS / 'import_hostile_factories.py'}:tied", "8,8,8", spec, "--reference-arg", f"how={how}")
        assert r.exit_code == 0, r.output
        assert [t for t in ties if t in spec.read_text()] == ties
        params, _, macs = spec_counts(spec)
        want = torch_counts("import_hostile_factories.py:tied", "8,8,8", f"how={how}")
        assert (params, macs) == (want[0], want[2])
        assert params == 8 * 8 * 9 + 8 + 8 + 8 * 8 + 8  # a's weight and bias, b's bias, the fc once


def test_optional_arguments_dict_outputs_and_modules_that_never_run(tmp_path: Path) -> None:
    """forward(x, mask=None, scale=1.0) is one input; its dict output {'out': ..., 'features': [y, 1.0]} is two
    outputs (the number is no tensor); the aux head, never run in eval, is an `unused` row: 8·8·9 + 8 + 2·8 + 8·2 + 2
    params and 2·8 + 1 buffers, so the totals are torch's."""
    spec = tmp_path / "options.yaml"
    r = run_import(f"{TESTS / 'import_hostile_factories.py'}:options", "3,8,8", spec)
    assert r.exit_code == 0, r.output
    assert "second input" not in r.stderr and "note: aux: a module the forward never runs" in r.stderr
    a = analyze_file(spec)[0]
    assert [n.name for n in a.graph.output_nodes] == ["head", "relu"]
    assert spec_counts(spec) == torch_counts("import_hostile_factories.py:options", "3,8,8")
    unused = [lc for lc in a.layers if lc.node.op == "unused"]
    assert [(lc.node.name, lc.cost.params, lc.cost.buffers) for lc in unused] == [("aux", 8 * 8 * 9 + 8 + 2 * 8 + 8 * 2 + 2, 17)]


def test_a_refusal_is_a_few_lines(tmp_path: Path) -> None:
    """24 torch.cumsum in 24 blocks: one line for the kind (where, and how many more), not one per place, and no line
    about the relus after them."""
    r = run_import(f"{TESTS / 'import_hostile_factories.py'}:many_unsupported", "4,8,8", tmp_path / "s.yaml")
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert lines == [
        "convcost: error: cumsum: cumsum is not a convcost op (and 23 more like it: cumsum_1, cumsum_2, cumsum_3, …)",
        f"convcost: error: {TESTS / 'import_hostile_factories.py'}:many_unsupported: 24 parts of the model convcost cannot "
        "express (above); --allow-unsupported writes the spec anyway (each as an `unsupported` row with its traced shape, "
        "not counted)",
    ]


@pytest.mark.parametrize(("how", "first"), [
    ("module", "pool: nn.LPPool2d: lp_pool2d with norm_type=inf"),  # nn.LPPool2d(inf), then nn.Flatten
    ("function", "lp_pool2d with norm_type=inf"),  # F.lp_pool2d(x, inf, 2), then torch.flatten
    ("fractional", "pool: nn.FractionalMaxPool2d: fractional_max_pool2d with fixed _random_samples"),
])
def test_an_unsupported_pool_before_flatten_is_one_refusal(how: str, first: str, tmp_path: Path) -> None:
    """Issue 20's messages: the pool is named, and nothing about the flatten, ReLU and Linear reading its output (it once
    went on "flatten is not a convcost op")."""
    r = run_import(f"{TESTS / 'import_hostile_factories.py'}:pool_then_flatten", "3,8,8", tmp_path / "s.yaml",
                   "--reference-arg", f"how={how}")
    assert r.exit_code == 2 and not (tmp_path / "s.yaml").exists()
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and first in lines[0] and "1 part of the model convcost cannot express" in lines[1], r.stderr
    assert not any(w in lines[0] for w in ("flatten", "relu", "linear")) and "Traceback" not in r.output, r.stderr


@pytest.mark.parametrize("how", ["keyword", "positional"])
def test_an_optional_argument_of_a_submodule_is_not_an_input(how: str, tmp_path: Path) -> None:
    """timm's Attention.forward(x, attn_mask=None) called with None (by keyword or position) imports exactly: one
    input (it was refused as "a second input")."""
    target = f"{TESTS / 'import_hostile_factories.py'}:optional_arguments"
    spec = tmp_path / "o.yaml"
    r = run_import(target, "3,8,8", spec, "--reference-arg", f"how={how}")
    assert r.exit_code == 0, r.output
    assert "input" not in r.stderr
    assert spec_counts(spec) == torch_counts("import_hostile_factories.py:optional_arguments", "3,8,8", f"how={how}")
    v = runner.invoke(app, ["verify", str(spec), "--reference", target, "--reference-arg", f"how={how}"])
    assert v.exit_code == 0, v.output


def test_a_refusal_stays_short_however_many_parts_follow(tmp_path: Path) -> None:
    """An unsupported pool, then 40 blocks each with a torch.cumsum and layers reading it: one line per kind (the pool;
    the cumsums, 40 places in one line) and the summary; nothing about the convs, ReLUs and adds reading them."""
    r = run_import(f"{TESTS / 'import_hostile_factories.py'}:deep_after_unsupported", "3,8,8", tmp_path / "s.yaml")
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 3, r.stderr
    assert "nn.LPPool2d: lp_pool2d with norm_type=inf" in lines[0]
    assert "cumsum is not a convcost op (and 39 more like it:" in lines[1]
    assert "41 parts of the model convcost cannot express (above); --allow-unsupported" in lines[2]  # the layers after
    # them are sized by the parts' traced shapes: nothing else to say about them


def test_torchvision_swin_window_attention_and_patch_merging_are_kept_whole(tmp_path: Path) -> None:
    """torchvision's ShiftedWindowAttention and PatchMerging (v1) are recorded as one node each (their window partition
    moves the batch dim, which no per-sample op writes): `window_attention` and `patch_merging`, with the model's params,
    buffers and MACs. A 4×4 grid of 16 tokens (patch 4 on 16×16), windows 2×2: stage 1's second block shifted by 1;
    after the merge a 2×2 grid, one window, where torchvision drops the shift (the op drops it too)."""
    pytest.importorskip("torchvision")
    from torchvision.models.swin_transformer import SwinTransformer

    kwargs = {"patch_size": [4, 4], "embed_dim": 16, "depths": [2, 2], "num_heads": [2, 4], "window_size": [2, 2],
              "num_classes": 10}
    spec = tmp_path / "swin.yaml"
    args = [o for k, v in kwargs.items() for o in ("--reference-arg", f"{k}={v}")]
    target = "torchvision.models.swin_transformer:SwinTransformer"
    r = run_import(target, "3,16,16", spec, *args)
    assert r.exit_code == 0, r.output
    text = spec.read_text()
    # one block definition (folded): its window attention, the second block of each stage shifted by 1, one merge
    assert "- window_attention: {name: attn, heads: $attn_heads, window: [2, 2], shift: $attn_shift}" in text, text
    assert "attn_shift: [1, 1], repeat: 2, first: {attn_shift: [0, 0]}" in text and "- patch_merging: {name: 2}" in text, text
    model = SwinTransformer(**kwargs).eval()  # type: ignore[arg-type]
    flops = torch_flops(model, "3,16,16").get_total_flops()
    want = (sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers()), flops // 2)
    assert spec_counts(spec) == want
    v = runner.invoke(app, ["verify", str(spec), "--reference", target, *args])
    assert v.exit_code == 0, v.output


def test_tensors_made_in_the_forward_are_const_operands(tmp_path: Path) -> None:
    """Anchor points and strides made from the map's size (held by no module: YOLO's Detect) are `const` operands:
    the op's elementwise work, no params. 8×8 map: d is [4, 64]; anchors [2, 64] minus lt, plus rb."""
    spec = tmp_path / "anchored.yaml"
    target = f"{TESTS / 'import_factories.py'}:anchored"
    r = run_import(target, "3,8,8", spec)
    assert r.exit_code == 0, r.output
    text = spec.read_text()
    for line in ("- sub: {name: sub, const: [2, 64], reverse: true, from: chunk}",  # anchors - lt
                 "- add: {name: add, const: [2, 64], reverse: true, from: chunk_1}",  # anchors + rb
                 "- sub: {name: sub_1, from: [add, sub]}", "- multiply: {name: mul, const: [1, 64]}"):  # · strides
        assert line in text, text
    assert spec_counts(spec) == torch_counts(target, "3,8,8")  # params 3·4 + 4 = 16: none from the constants
    assert analyze_file(spec)[0].total.params == 3 * 4 + 4
    v = runner.invoke(app, ["verify", str(spec), "--reference", target])
    assert v.exit_code == 0, v.output


@pytest.mark.parametrize("args", [(), ("cached=true",)])
def test_a_bias_gathered_from_a_table_counts_the_table_and_its_index(args: tuple[str, ...], tmp_path: Path) -> None:
    """A relative position bias, table[index] viewed as [2, 4, 4] and added to a map: `param` is the gathered shape,
    `table` and `index` what torch holds. Params 3 + 1 (conv) + 9·2 (table) = 22, buffers 4·4 = 16. Cached as timm's
    LeViT caches it (its eval forward keeps the gathered bias in a dict, train() clears it): verify --reference reads
    the model after its own forward ran, and read the cached tensor as a constant unless the model is put in eval()
    again first (LeViT and EfficientFormer failed there)."""
    spec = tmp_path / "bias.yaml"
    target = f"{TESTS / 'import_factories.py'}:relative_bias"
    r = run_import(target, "3,4,4", spec, *reference_args(args))
    assert r.exit_code == 0, r.output
    assert "add: {name: add, param: [2, 4, 4], table: [9, 2], index: [16]}" in spec.read_text(), spec.read_text()
    assert spec_counts(spec)[:2] == (22, 16)
    assert spec_counts(spec) == torch_counts(target, "3,4,4", *args)
    v = runner.invoke(app, ["verify", str(spec), "--reference", target, *reference_args(args)])
    assert v.exit_code == 0, v.output


@pytest.mark.parametrize(("mask", "written", "counts"), [
    # params 3·24 + 24 (qkv) + 49·2 (table) = 194, buffers 16·16 = 256 (the index)
    ("table", "mask: [1, 2, 16, 16], table: [49, 2], index: [256]", (194, 256)),
    ("param", "mask: [1, 2, 16, 16]", (96 + 2 * 16 * 16, 0)),  # the learned mask's 512 elements
])
def test_an_attention_mask_held_by_the_model_is_a_learned_mask(mask: str, written: str, counts: tuple[int, int],
                                                               tmp_path: Path) -> None:
    """timm's RelPosBias as F.scaled_dot_product_attention's attn_mask (CoAtNet, MaxViT): a bias gathered from a table
    by a fixed index, or a parameter held as it is, is the op's learned `mask` (its params; the index's buffers).
    MACs: the qkv conv 16·3·24 = 1152, q·kᵀ and a·v 2 heads · 16·16·4 each = 2048 + 2048."""
    spec = tmp_path / "mask.yaml"
    target = f"{TESTS / 'import_factories.py'}:relative_mask_attention"
    r = run_import(target, "3,4,4", spec, "--reference-arg", f"mask={mask}")
    assert r.exit_code == 0, r.output
    text = spec.read_text()
    assert f"scaled_dot_product_attention: {{name: scaled_dot_product_attention, {written}, from: " in text, text
    assert spec_counts(spec) == (*counts, 1152 + 2048 + 2048)
    assert spec_counts(spec) == torch_counts(target, "3,4,4", f"mask={mask}")
    v = runner.invoke(app, ["verify", str(spec), "--reference", target, "--reference-arg", f"mask={mask}"])
    assert v.exit_code == 0, v.output


@pytest.mark.parametrize(("order", "written", "scores"), [
    # [B, N, H, d] → [B, H, N, d]: 2 heads, q·kᵀ and a·v 16·16·4 each
    ("vit", "- permute: {name: unbind_1, dims: [0, 2, 1, 3], layout: map}", 2 * 2 * 16 * 16 * 4),
    # [B, N, H, d] → [B, H, d, N]: the scores are d×d, 4·4·16 each
    ("xca", "- permute: {name: unbind_1, dims: [0, 2, 3, 1], layout: map}", 2 * 2 * 4 * 4 * 16),
])
def test_a_permute_that_puts_the_batch_second_before_unbind_is_a_select_and_permute_per_part(
        order: str, written: str, scores: int, tmp_path: Path) -> None:
    """``qkv.reshape(B, N, 3, H, d).permute(2, 0, ...).unbind(0)`` (timm's unfused attention, EdgeNeXt's XCA) moves the
    batch second, which no per-sample view writes; each part is ``x.select(2, k)`` with the rest permuted. Params
    3·8 + 8 + 8·24 + 24 = 248; MACs 16·3·8 (conv) + 16·8·24 (qkv) + the two products = 384 + 3072 + scores."""
    spec = tmp_path / "qkv.yaml"
    target = f"{TESTS / 'import_factories.py'}:unbound_qkv"
    r = run_import(target, "3,4,4", spec, "--reference-arg", f"order={order}")
    assert r.exit_code == 0, r.output
    text = spec.read_text()
    assert "- select: {name: unbind, dim: 2, index: 0" in text and written in text, text
    assert spec_counts(spec) == (248, 0, 384 + 3072 + scores)
    assert spec_counts(spec) == torch_counts(target, "3,4,4", f"order={order}")
    v = runner.invoke(app, ["verify", str(spec), "--reference", target, "--reference-arg", f"order={order}"])
    assert v.exit_code == 0, v.output


def test_a_grid_made_in_the_forward_and_read_by_a_conv_is_a_constant(tmp_path: Path) -> None:
    """EdgeNeXt's Fourier position encoding: a [B, 4, H, W] grid made from the map's size alone, a 1×1 conv of it added
    to the map: the grid is a `constant` (no params, no MACs), the conv counted where the model runs it. Params 3·8 +
    8 + 4·8 + 8 = 72; MACs 16·3·8 + 16·4·8 = 384 + 512 on a 4×4 map."""
    spec = tmp_path / "grid.yaml"
    target = f"{TESTS / 'import_factories.py'}:fourier_grid"
    r = run_import(target, "3,4,4", spec)
    assert r.exit_code == 0, r.output
    text = spec.read_text()
    # the constant reads the model's input (for its batch), as the embed conv does: a residual block of the two
    assert "- constant: {name: constant, shape: [4, 4, 4]}\n        - conv: {name: proj, out: 8, kernel: 1}" in text, text
    assert spec_counts(spec) == (72, 0, 384 + 512)
    assert spec_counts(spec) == torch_counts(target, "3,4,4")
    v = runner.invoke(app, ["verify", str(spec), "--reference", target])
    assert v.exit_code == 0, v.output


def test_a_pad_with_minus_infinity_is_written_as_the_spec_reads_it(tmp_path: Path) -> None:
    """F.pad(x, ..., value=-inf) before a max pool (timm's MaxPool2dSame): `value: '-inf'`, which the spec reads back."""
    spec = tmp_path / "pad.yaml"
    target = f"{TESTS / 'import_factories.py'}:padded_maxpool"
    r = run_import(target, "3,9,9", spec)
    assert r.exit_code == 0, r.output
    assert "- pad: {name: pad, pad: [0, 1, 0, 1], value: '-inf'}" in spec.read_text(), spec.read_text()
    assert spec_counts(spec) == torch_counts(target, "3,9,9")
    v = runner.invoke(app, ["verify", str(spec), "--reference", target])
    assert v.exit_code == 0, v.output


def test_a_batch_norm_over_tokens_merged_with_the_batch_is_written_per_sample(tmp_path: Path) -> None:
    """LeViT's bn(x.flatten(0, 1)).reshape_as(x) of tokens [B, 16, 16]: no per-sample view merges the batch, so the spec
    writes the same arithmetic as transpose, batchnorm of the [16, 16] map, transpose back. Params 3·8·4 + 8 (conv) +
    8·16 (linear) + 2·16 (bn) = 264; buffers 2·16 + 1 = 33."""
    spec = tmp_path / "bn.yaml"
    target = f"{TESTS / 'import_factories.py'}:token_batchnorm"
    r = run_import(target, "3,8,8", spec)
    assert r.exit_code == 0, r.output
    text = spec.read_text()
    assert "- transpose: {name: flatten, dim0: 1, dim1: 2, layout: map}\n  - batchnorm: {name: bn}\n  - transpose: {name: " \
        "reshape_as, dim0: 1, dim1: 2, layout: tokens}" in text, text
    assert spec_counts(spec)[:2] == (264, 33)
    assert spec_counts(spec) == torch_counts(target, "3,8,8")
    v = runner.invoke(app, ["verify", str(spec), "--reference", target])
    assert v.exit_code == 0, v.output


def test_one_module_holding_the_weights_of_two_layers_is_compared_with_both(tmp_path: Path) -> None:
    """timm's ResMLP Affine, torch.addcmul(beta, alpha, x) in one module: a multiply by alpha and an add of beta, two
    layers of 8 params each; verify --reference compares the module's 16 with the two together (each alone differed:
    8 of 16). Params: stem 3·4·4·8 + 8 = 392, two Affines 2·(8 + 8) = 32, linear_tokens 4·4 + 4 = 20, head 8·5 + 5 = 45."""
    import json

    spec, target = tmp_path / "affine.yaml", f"{TESTS / 'import_factories.py'}:affine_mlp"
    r = run_import(target, "3,8,8", spec)
    assert r.exit_code == 0, r.output
    assert spec_counts(spec) == torch_counts(target, "3,8,8")
    assert spec_counts(spec)[0] == 392 + 32 + 20 + 45
    v = runner.invoke(app, ["verify", str(spec), "--reference", target, "-f", "json"])
    assert v.exit_code == 0, v.output
    (report,) = json.loads(v.stdout)["models"]
    # the multiply is named after the module ('norm1'), the add after its second layer ('norm1_1')
    affine = {lay["reference"]["name"]: lay["checks"]["params"] for lay in report["layers"]
              if lay["reference"] and lay["reference"]["name"] in ("norm1", "norm1_1")}
    assert affine["norm1"]["status"] == "ok" and affine["norm1"]["spec"] == affine["norm1"]["reference"] == 16
    assert affine["norm1_1"]["status"] == "not_compared" and "counted with" in affine["norm1_1"]["reason"]
