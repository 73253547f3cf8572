"""The general tensor ops against torch and the real counters (their shapes and costs by hand: tests/tensor_op_cases.py).

Each spec below is built in torch and run through fvcore and FlopCounterMode layer by layer (verify: shapes, params,
buffers and both counts exactly as predicted), and ptflops and thop are run on the same modules against the modelled
totals. configs/general_ops.yaml's blocks are checked against timm's own modules, an independent source.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("fvcore")

import torch
from conftest import CONFIGS, graph_of

from convcost.api import load_graphs
from convcost.cli import app
from convcost.costmodel.analysis import analyze
from convcost.crosscheck.counters import explain
from convcost.crosscheck.verify import verify_graph
from convcost.errors import SpecError
from convcost.ops import REGISTRY
from convcost.ops.counting import counters_run_on, fvcore_einsum

runner = CliRunner()

# the ops this module adds or extends, each reached below (test_every_general_op_is_verified)
GENERAL = {
    "reshape", "flatten", "unflatten", "permute", "transpose", "slice", "select", "pad", "chunk",
    "add", "multiply", "sub", "div", "pow", "maximum", "minimum",
    "sqrt", "rsqrt", "exp", "log", "abs", "neg", "reciprocal", "square", "sin", "cos", "erf", "clamp",
    "mean", "sum", "amax", "amin", "norm", "var", "std", "softmax", "log_softmax",
    "matmul", "einsum", "scaled_dot_product_attention", "concat", "stack", "constant", "tile", "expand", "flip", "roll",
    "gt", "lt", "ge", "le", "eq", "ne", "where", "index_select", "topk", "grid_sample",
}

X = "[4, 6, 5]"
SPECS: list[tuple[str, int, str]] = [
    # views and copies
    (X, 2, "reshape: {shape: [4, -1]}"),
    ("[4, 2, 3]", 2, "to_tokens\n- view: {shape: [2, 3, 4]}\n- layernorm"),  # tokens → a grid, nn.LayerNorm per token
    (X, 2, "flatten: {start: 2}"),
    ("[4, 2, 3]", 1, "to_tokens: {grid: true}\n- flatten: {start: 1, end: 2}\n- linear: {out: 3}"),
    (X, 2, "unflatten: {dim: 1, sizes: [2, -1]}"),
    (X, 2, "permute: {dims: [0, 2, 3, 1]}\n- linear: {out: 3}\n- permute: {dims: [0, 3, 1, 2]}"),
    (X, 1, "transpose: {dim0: 1, dim1: -1}"),
    (X, 2, "slice: {dim: 2, start: 1, stop: 5, step: 2}"),
    (X, 2, "select: {dim: -1, index: 2}"),
    (X, 2, "pad: {pad: [1, 2, 0, 3], value: 0.5}"),
    (X, 1, "pad: {pad: [-1, -1]}"),
    ("[4, 6]", 2, "pad: {pad: [2, 2], mode: reflect}"),
    (X, 1, "pad: {pad: [1, 1, 1, 1], mode: circular}"),
    ("[2, 3, 4, 5]", 1, "pad: {pad: [0, 1, 0, 1, 2, 0], mode: replicate}"),
    (X, 2, "chunk: {index: 1, dim: 2}"),
    ("[4, 2, 3]", 1, "to_tokens\n- chunk: {index: 0, dim: -1, sizes: [1, 3]}"),
    # copies: tile (x.repeat), flip, roll; expand (a view)
    (X, 2, "tile: {sizes: [1, 2, 3]}"),
    ("[4, 2, 3]", 1, "to_tokens\n- tile: {sizes: [2, 1]}\n- layernorm"),
    (X, 2, "mean: {dims: 1, keepdim: true}\n- expand: {sizes: [4, -1, -1]}"),
    (X, 2, "flip: {dims: [2, -1]}"),
    (X, 1, "roll: {shifts: [1, -2], dims: [2, 3]}"),
    # selection: comparisons, where of a comparison's mask, index_select, topk's values, grid_sample
    (X, 2, "gt: {scalar: 0.5}"),
    (X, 1, "lt: {from: [input, input]}"),
    (X, 1, "ge: {buffer: [4, 1, 1]}"),
    (X, 1, "le: {scalar: 0}"),
    (X, 1, "eq: {from: [input, input]}"),
    (X, 1, "ne: {scalar: 1}"),
    (X, 2, "gt: {name: m, scalar: 0.5}\n- where: {from: [m, input, input]}"),
    (X, 1, "gt: {name: m, scalar: 0.5}\n- where: {from: [m, input], scalar: 0}"),
    (X, 1, "lt: {name: m, scalar: 0.5}\n- where: {from: [m, input], const: [6, 5], reverse: true}"),
    (X, 2, "index_select: {dim: 1, index: 3}"),
    (X, 1, "index_select: {dim: -1, index: 7, buffer: true}"),
    (X, 2, "topk: {k: 2, dim: 2}"),
    (X, 1, "topk: {k: 3, largest: false}"),
    (X, 2, "conv: {name: g, out: 2, kernel: 1}\n- permute: {name: gp, dims: [0, 2, 3, 1]}\n- grid_sample: {from: [input, gp]}"),
    (X, 1, "grid_sample: {grid: [3, 7], mode: nearest}"),
    (X, 2, "grid_sample: {grid: [2, 2], mode: bicubic, align_corners: true, padding_mode: border}"),
    (X, 1, "grid_sample: {grid: [3, 3], padding_mode: reflection}"),
    # elementwise binary ops: a second output, a number, a learned tensor, a buffer
    (X, 2, "sub: {buffer: [4, 1, 1]}"),
    (X, 1, "div: {buffer: [1, 4, 1, 1], reverse: true}"),
    (X, 2, "add: {scalar: 1.5}"),
    ("[4, 2, 3]", 2, "to_tokens\n- add: {param: [1, 6, 4]}"),
    (X, 2, "mean: {name: m, dims: [2, 3], keepdim: true}\n- add: {from: [input, m]}"),
    (X, 2, "permute: {dims: [0, 2, 3, 1]}\n- mul: {param: [4]}"),
    (X, 1, "multiply: {scalar: 0.5, reverse: true}"),
    (X, 2, "sub: {from: [input, input]}"),
    (X, 1, "sub: {scalar: 1, reverse: true}"),
    (X, 1, "sub: {param: [5], reverse: true}"),
    (X, 2, "div: {param: [4, 1, 1]}"),
    (X, 1, "div: {scalar: 2, reverse: true}"),
    (X, 2, "pow: {scalar: 2}"),
    (X, 1, "pow: {scalar: 2, reverse: true}"),
    (X, 1, "pow: {from: [input, input]}"),
    (X, 1, "maximum: {param: [6, 1]}"),
    (X, 2, "minimum: {from: [input, input]}"),
    # unary math
    *((X, 2, op) for op in ("sqrt", "rsqrt", "exp", "log", "abs", "neg", "reciprocal", "square", "sin", "cos", "erf")),
    (X, 2, "clamp: {min: -0.5, max: 0.5}"),
    # reductions, softmax over any dim
    (X, 2, "mean: {dims: [2, 3], keepdim: true}"),
    ("[4, 2, 3]", 2, "to_tokens\n- mean: {dims: 1}"),
    (X, 2, "sum: {dims: 1}"),
    (X, 2, "amax: {dims: -1}"),
    (X, 1, "amin: {dims: [1, 3]}"),
    (X, 2, "norm: {dims: [2, 3], keepdim: true}"),
    (X, 1, "norm: {dims: 1, p: 1}"),
    (X, 1, "norm: {dims: -1, p: inf}"),
    (X, 2, "var: {dims: 1}"),
    (X, 1, "std: {dims: [2, 3], correction: 0, keepdim: true}"),
    (X, 2, "softmax: {dim: -1}"),
    ("[4, 2, 3]", 2, "to_tokens\n- softmax: {dim: 2}"),
    (X, 1, "log_softmax: {dim: 2}"),
    # products
    ("[3, 4, 4]", 2, "matmul: {from: [input, input]}"),
    ("[4, 4]", 2, "matmul: {from: [input, input], call: bmm}"),
    ("[3, 4, 4]", 1, "matmul: {from: [input, input], call: matmul}"),
    ("[4, 2, 3]", 2, "to_tokens\n- matmul: {param: [4, 7]}"),
    ("[3, 6, 4]", 2, "matmul: {param: [5, 6], reverse: true, call: matmul}"),
    ("[3, 6, 4]", 1, "matmul: {param: [3, 4, 2], call: matmul}"),
    ("[12]", 3, "matmul: {param: [12, 3], call: matmul}"),
    ("[3, 4, 5]", 2, "einsum: {from: [input, input], equation: 'bcij,bckj->bcik'}"),
    ("[4]", 2, "einsum: {from: [input, input], equation: 'bi,bj->bij'}"),
    ("[3, 3]", 2, "einsum: {from: [input, input], equation: 'bij,bjk->bi'}"),
    ("[4, 2, 3]", 2, "to_tokens\n- einsum: {equation: 'bnd,de->bne', param: [4, 7]}"),
    ("[6, 5]", 2, "einsum: {from: [input, input], equation: 'bij,bik->bjk'}"),  # fvcore's exact 'abc,abd->acd'
    ("[3, 1]", 2, "einsum: {from: [input, input], equation: 'bij,bij->bi'}"),  # j of size 1: torch multiplies
    # three operands, contracted left to right as torch does (fvcore: numpy's optimal path estimate)
    ("[4, 4]", 2, "einsum: {from: [input, input, input], equation: 'bij,bjk,bkl->bil'}"),
    ("[4, 4]", 2, "einsum: {from: [input, input, input], equation: 'bij,bjk,bkl->bi'}"),
    ("[5]", 2, "einsum: {from: [input, input, input], equation: 'bi,bi,bi->bi'}"),
    ("[3, 4]", 2, "einsum: {from: [input, input, input], equation: 'bij,bij,bij->bi'}"),
    ("[4, 4]", 2, "einsum: {from: [input, input], equation: 'bij,bjk,kl->bil', param: [4, 6]}"),
    ("[6, 5]", 1, "pad: {name: w, pad: [0, 2]}\n- einsum: {from: [input, input, w], equation: 'bij,bik,bil->bjkl'}"),
    # a size whose numpy estimate fvcore rounds: 2·(8·64·56·56) + 1 printed as 3.211e+06
    ("[64, 56]", 1, "conv: {name: w, out: 8, kernel: 1}\n- einsum: {from: [input, w], equation: 'bcl,bkl->bck'}"),
    # attention: [B, H, L, E] of one width runs CPU's flash kernel (FlopCounterMode sees nothing); another v width,
    # or [B, L, E], the math path's bmm
    ("[2, 5, 4]", 2, "scaled_dot_product_attention: {from: [input, input, input]}"),
    ("[2, 5, 4]", 1, "sdpa: {from: [input, input, input], is_causal: true, scale: 0.3}"),
    ("[2, 5, 4]", 2, "mean: {name: m, dims: -1, keepdim: true}\n- sdpa: {from: [input, input, input, m]}"),
    ("[2, 5, 4]", 2, "pad: {name: v, pad: [0, 2]}\n- sdpa: {from: [input, input, v]}"),  # v of width 6
    ("[5, 4]", 2, "sdpa: {from: [input, input, input]}"),
    # a learned mask held by the layer, or gathered from its table by a fixed index (timm's RelPosBias); v of width 6
    # (the math path, which FlopCounterMode sees on CPU)
    ("[2, 5, 4]", 2, "pad: {name: v, pad: [0, 2]}\n- sdpa: {from: [input, input, v], mask: [1, 2, 5, 5]}"),
    ("[2, 5, 4]", 1, "sdpa: {from: [input, input, input], mask: [2, 5, 1]}"),  # 3 dims: the math path
    # gathered under no_grad (verify's forward): no gradient, CPU's flash kernel as without a mask
    ("[2, 5, 4]", 1, "sdpa: {from: [input, input, input], mask: [1, 2, 5, 5], table: [9, 2], index: [25]}"),
    ("[2, 5, 4]", 2, "pad: {name: v, pad: [0, 2]}\n- sdpa: {from: [input, input, v], mask: [1, 2, 5, 5], table: [9, 2], "
                     "index: [25]}"),
    # a constant grid (EdgeNeXt's Fourier position encoding), a 1×1 conv of it added to the input
    (X, 2, "constant: {name: grid, shape: [8, 6, 5]}\n- conv: {name: proj, out: 4, kernel: 1}\n- add: {from: [input, proj]}"),
    # joins along any dim
    (X, 2, "concat: {from: [input, input], dim: -1}"),
    ("[4, 2, 3]", 1, "to_tokens\n- concat: {from: [to_tokens1, to_tokens1], dim: 2}"),
    (X, 1, "concat: {branches: [[relu], [sigmoid]], dim: 3}"),
    ("[4, 6]", 2, "stack: {from: [input, input]}"),
    ("[4, 6]", 1, "stack: {from: [input, input, input], dim: -1}"),
]


def _spec(shape: str, batch: int, layers: str) -> str:
    return f"input: {{shape: {shape}, batch: {batch}}}\nlayers:\n" + "".join(f"  {line}\n" for line in
                                                                           ("- " + layers).splitlines())


@pytest.mark.parametrize(("shape", "batch", "layers"), SPECS, ids=[s[2].replace("\n", "; ") for s in SPECS])
def test_torch_and_fvcore_and_flop_counter_agree_layer_by_layer(shape: str, batch: int, layers: str) -> None:
    graph = graph_of(_spec(shape, batch, layers))
    report = verify_graph(graph)
    assert report.real_forward
    bad = [(lr.name, k, c.reason) for lr in report.layers for k, c in lr.checks.items() if c.status == "mismatch"]
    assert report.ok, bad
    for lr in report.layers:  # torch's shape, params and buffers of every layer agree
        assert all(lr.checks[k].status == "ok" for k in ("shape", "params", "buffers")), (lr.name, lr.checks)


def _ptflops_and_thop():  # type: ignore[no-untyped-def]
    pytest.importorskip("ptflops")
    pytest.importorskip("thop")
    from test_other_counters import _modelled, _ptflops, _thop

    return _modelled, _ptflops, _thop


@pytest.mark.parametrize(("shape", "batch", "layers"), SPECS, ids=[s[2].replace("\n", "; ") for s in SPECS])
def test_ptflops_and_thop_count_what_is_modelled(shape: str, batch: int, layers: str) -> None:
    modelled, ptflops, thop = _ptflops_and_thop()
    one = graph_of(_spec(shape, 1, layers))  # ptflops as users run it: batch 1 (tests/test_other_counters.py)
    assert modelled(one)["ptflops"] == ptflops(one)
    graph = graph_of(_spec(shape, batch, layers))
    assert modelled(graph)["thop"] == thop(graph)


def test_every_general_op_is_verified() -> None:
    ops = {n.op for shape, batch, layers in SPECS for n in graph_of(_spec(shape, batch, layers)).nodes}
    assert GENERAL <= ops, GENERAL - ops
    assert GENERAL <= set(REGISTRY)


def test_flash_and_math_attention_as_flop_counter_sees_them() -> None:
    """On CPU, FlopCounterMode sees nothing of [B, H, L, E] attention of one width (flash kernel) and the math path's
    bmm otherwise; on the meta device always the bmm: 2 · (L·S·E + L·S·Ev) per head and sample."""
    flash = graph_of(_spec("[2, 5, 4]", 2, "sdpa: {from: [input, input, input]}"))
    math = graph_of(_spec("[2, 5, 4]", 2, "pad: {name: v, pad: [0, 2]}\n- sdpa: {from: [input, input, v]}"))
    real = verify_graph(flash)
    check = real.layers[-1].checks["flop_counter"]
    assert (check.status, check.actual) == ("not_compared", 0)
    on_meta = verify_graph(flash, max_bytes=1)  # too big for a real forward: FlopCounterMode runs on meta
    assert on_meta.device == "meta"
    assert on_meta.layers[-1].checks["flop_counter"].actual == 2 * 2 * 2 * (25 * 4 + 25 * 4)  # batch 2, 2 heads
    # v of width 6 ≠ 4 (padded): the math path, seen on CPU too
    assert verify_graph(math).layers[-1].checks["flop_counter"].actual == 2 * 2 * 2 * (25 * 4 + 25 * 6)
    # [B, L, E] (no heads dim): the math path too, 2 · 2·(25·4 + 25·4) at batch 2
    three = verify_graph(graph_of(_spec("[5, 4]", 2, "sdpa: {from: [input, input, input]}")))
    assert (three.layers[-1].checks["flop_counter"].status, three.layers[-1].checks["flop_counter"].actual) == (
        "ok", 2 * 2 * (25 * 4 + 25 * 4))


@pytest.mark.parametrize(("mask", "grad", "flops"), [
    ("mask: [1, 2, 5, 5], table: [9, 2], index: [25]", False, 0),  # gathered under no_grad: CPU's flash kernel
    ("mask: [1, 2, 5, 5], table: [9, 2], index: [25]", True, 2 * 2 * (25 * 4 + 25 * 4)),  # it needs a gradient: bmm
    ("mask: [1, 2, 5, 5]", False, 2 * 2 * (25 * 4 + 25 * 4)),  # a parameter needs one under no_grad too
    ("mask: [1, 2, 5, 5]", True, 2 * 2 * (25 * 4 + 25 * 4)),
])
def test_a_learned_mask_needing_a_gradient_takes_the_math_path(mask: str, grad: bool, flops: int) -> None:
    """CPU's flash kernel takes no mask that needs a gradient (measured on torch 2.13): FlopCounterMode then counts the
    math path's q·kᵀ and a·v, 2 heads of 5 queries, width 4, batch 1: 2 · 2·(25·4 + 25·4)."""
    from torch.utils.flop_counter import FlopCounterMode

    from convcost.crosscheck.torch_build import build_model
    from convcost.ops.counting import counters_run_on, counters_with_grad

    graph = graph_of(_spec("[2, 5, 4]", 1, f"sdpa: {{from: [input, input, input], {mask}}}"))
    with counters_run_on("real"), counters_with_grad(grad):
        ex = explain([(lc.node, lc.cost) for lc in analyze(graph).layers], graph.batch)
    predicted = next(c.total for c in ex.counters if c.convention.key == "flop_counter")
    with torch.set_grad_enabled(grad), FlopCounterMode(display=False) as fc:
        build_model(graph).eval()(torch.rand(1, 2, 5, 4))
    assert predicted == fc.get_total_flops() == flops


# ---- the modules compute what the spec says, with the calls models write ----------------------------------------
@pytest.mark.parametrize(("layers", "expected"), [
    ("sub: {scalar: 1, reverse: true}", lambda x: 1 - x),
    ("div: {scalar: 2, reverse: true}", lambda x: 2 / x),
    ("pow: {scalar: 2, reverse: true}", lambda x: 2 ** x),
    ("sub: {from: [input, m]}", None),
    ("pad: {pad: [1, 0], value: 3}", lambda x: torch.nn.functional.pad(x, [1, 0], value=3.0)),
    ("clamp: {min: -0.5}", lambda x: x.clamp(min=-0.5)),
    ("permute: {dims: [0, 3, 1, 2]}", lambda x: x.permute(0, 3, 1, 2)),
    ("slice: {dim: -2, start: 1, step: 2}", lambda x: x[:, :, 1::2]),
    ("select: {dim: 2, index: -1}", lambda x: x[:, :, -1]),
    ("flatten: {start: 2}", lambda x: x.flatten(2)),
    ("var: {dims: [2, 3], correction: 0}", lambda x: x.var((2, 3), correction=0)),
    ("norm: {dims: -1, p: 1}", lambda x: x.norm(p=1, dim=-1)),
    ("einsum: {from: [input, input], equation: 'bcij,bckj->bcik'}", lambda x: x @ x.transpose(-1, -2)),
    ("sdpa: {from: [input, input, input], is_causal: true}",
     lambda x: torch.nn.functional.scaled_dot_product_attention(x, x, x, is_causal=True)),
])
def test_modules_compute_what_the_spec_says(layers: str, expected: object) -> None:
    from convcost.crosscheck.torch_build import build_model

    text = _spec(X, 2, layers if expected is not None else "mean: {name: m, dims: 1, keepdim: true}\n- " + layers)
    graph = graph_of(text)
    x = torch.rand(2, 4, 6, 5) + 0.5
    out = build_model(graph)(x)
    want = expected(x) if callable(expected) else x - x.mean(1, keepdim=True)
    assert torch.allclose(out, want)


# ---- configs/general_ops.yaml against timm ----------------------------------------------------------
def _predicted_flop_counter(name: str, where: str) -> int:
    (graph,) = load_graphs(CONFIGS / "general_ops.yaml", [name])
    a = analyze(graph)
    with counters_run_on(where):
        ex = explain([(lc.node, lc.cost) for lc in a.layers], graph.batch)
    return next(c.total for c in ex.counters if c.convention.key == "flop_counter")


def _timm_block(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    pytest.importorskip("timm")
    if name == "vit_block":
        from timm.models.vision_transformer import Block

        return Block(192, num_heads=3, qkv_bias=True, init_values=1e-5).eval(), torch.randn(1, 197, 192)
    from timm.models.convnext import ConvNeXtBlock

    return ConvNeXtBlock(96, use_grn=True, ls_init_value=None).eval(), torch.randn(1, 96, 14, 14)


@pytest.mark.parametrize("name", ["vit_block", "convnextv2_block"])
def test_config_blocks_count_as_timm_does(name: str) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    block, x = _timm_block(name)
    (graph,) = load_graphs(CONFIGS / "general_ops.yaml", [name])
    assert analyze(graph).total.params == sum(p.numel() for p in block.parameters())
    for where, device in (("real", "cpu"), ("meta", "meta")):
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            block.to(device)(x.to(device))
        assert counter.get_total_flops() == _predicted_flop_counter(name, where), where


def test_vit_block_macs_by_hand() -> None:
    (graph,) = load_graphs(CONFIGS / "general_ops.yaml", ["vit_block"])
    # N = 197, D = 192, 3 heads of 64: qkv N·D·3D, q·kᵀ and a·v 3·N²·64 each, proj N·D², fc1 and fc2 N·D·4D
    n, d = 197, 192
    assert analyze(graph).total.macs == n * d * 3 * d + 2 * 3 * n * n * 64 + n * d * d + 2 * n * d * 4 * d


# ---- fvcore's einsum estimate ----------------------------------------------------------------------------
class _Einsum(torch.nn.Module):
    def __init__(self, equation: str) -> None:
        super().__init__()
        self.equation = equation

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.einsum(self.equation, a, b)


@pytest.mark.parametrize(("equation", "shapes"), [
    ("bhnd,bhmd->bhnm", [(2, 3, 5, 4), (2, 3, 6, 4)]),
    ("bi,bj->bij", [(2, 5), (2, 7)]),  # nothing contracted: numpy's estimate is prod + 1, halved
    ("bi,bj->bij", [(1, 3), (1, 5)]),  # 15 + 1 = 16, halved: 8 (without numpy 2's + 1: 7)
    ("bij,bjk->bi", [(2, 5, 4), (2, 4, 4)]),
    ("bnd,bne->bde", [(2, 5, 3), (2, 5, 7)]),  # fvcore's exact 'abc,abd->acd'
    ("bnd,bmd->bmn", [(2, 5, 3), (2, 6, 3)]),  # fvcore's exact 'abc,adc->adb'
    ("nct,ncp->ntp", [(1, 98, 448), (1, 98, 448)]),  # 'abc,abd->acd' again: exact 19,668,992
    ("bchw,bkc->bkhw", [(2, 64, 56, 56), (2, 10, 64)]),  # 4,014,080 exact, rounded to 4.014e+06
    ("bcl,bkl->bck", [(1, 64, 56), (1, 8, 56)]),
])
def test_fvcore_einsum_estimate_is_what_fvcore_reports(equation: str, shapes: list[tuple[int, ...]]) -> None:
    from fvcore.nn import FlopCountAnalysis

    fca = FlopCountAnalysis(_Einsum(equation), tuple(torch.zeros(s) for s in shapes)).unsupported_ops_warnings(False)
    assert fvcore_einsum(equation, shapes) == int(fca.total())


def test_fvcore_einsum_rounds_an_exact_count() -> None:
    # b c l, b k l -> b c k on [1, 64, 56] and [1, 8, 56]: an exact 64·8·56 = 28,672 MACs; numpy reports
    # 2·28,672 + 1 = 57,345 as 5.734e+04, so fvcore says floor(57,340 / 2) = 28,670
    assert fvcore_einsum("bcl,bkl->bck", [(1, 64, 56), (1, 8, 56)]) == 28_670
    # 'abc,abd->acd' (after renaming the letters) is counted exactly: 98·448·448
    assert fvcore_einsum("nct,ncp->ntp", [(1, 98, 448), (1, 98, 448)]) == 98 * 448 * 448


# ---- the command line: verify on a spec of every general op ------------------------------------------
EVERY = """\
input: {shape: [4, 6, 6], batch: 2}
layers:
  - conv: {name: a, out: 8, kernel: 1}
  - constant: {name: grid, shape: [8, 6, 6]}
  - add: {name: with_grid, from: [a, grid]}
  - permute: {dims: [0, 2, 3, 1]}
  - mul: {param: [8]}
  - add: {scalar: 1.0}
  - permute: {name: back, dims: [0, 3, 1, 2]}
  - sub: {from: [back, a]}
  - div: {scalar: 2, reverse: true}
  - pow: {scalar: 2}
  - maximum: {param: [8, 1, 1]}
  - minimum: {from: [maximum1, a]}
  - abs
  - sqrt
  - rsqrt
  - exp
  - log
  - neg
  - reciprocal
  - square
  - sin
  - cos
  - erf
  - norm: {dims: [2, 3], keepdim: true}
  - mean: {name: nx, dims: 1, keepdim: true}
  - div: {from: [norm1, nx]}
  - mul: {name: g, from: [a, div2]}
  - concat: {from: [g, a], dim: 2}
  - reshape: {name: r, shape: [8, -1]}
  - transpose: {name: rt, dim0: 1, dim1: 2}
  - matmul: {name: mm, from: [r, rt], call: matmul}
  - clamp: {min: 0}
  - softmax: {dim: -1}
  - log_softmax: {dim: 1}
  - slice: {dim: -1, start: 0, stop: 6}
  - amax: {dims: 2, keepdim: true}
  - amin: {dims: 2, keepdim: true}
  - sum: {dims: 2, keepdim: true}
  - std: {dims: 2, keepdim: true}
  - var: {dims: 2, keepdim: true}
  - flatten: {start: 1}
  - unflatten: {dim: 1, sizes: [2, 4]}
  - chunk: {index: 0, dim: 1}
  - select: {dim: 1, index: 0}
  - unflatten: {dim: 1, sizes: [2, 2]}
  - einsum: {name: e, from: [unflatten2, unflatten2], equation: "bij,bkj->bik"}
  - pad: {pad: [1, 1, 0, 1], mode: reflect}
  - stack: {name: s, from: [pad1, pad1], dim: 1}
  - scaled_dot_product_attention: {name: attn, from: [s, s, s]}
  - sub: {name: centred, buffer: [1, 3, 1]}
  - tile: {sizes: [1, 1, 2]}
  - flip: {dims: -1}
  - roll: {shifts: 1, dims: 2}
  - topk: {name: top, k: 4}
  - mean: {dims: 1, keepdim: true}
  - expand: {name: wide, sizes: [2, -1, -1]}
  - gt: {name: m1, from: [top, wide]}
  - lt: {name: m2, scalar: 0}
  - ge: {name: m3, from: [top, wide]}
  - le: {name: m4, scalar: 0}
  - eq: {name: m5, scalar: 0}
  - ne: {name: m6, scalar: 0}
  - where: {name: picked, from: [m1, top, wide]}
  - where: {from: [m2, picked], scalar: 0}
  - index_select: {dim: 2, index: 2}
  - einsum: {name: e3, from: [attn, attn, attn], equation: "bhij,bhkj,bhkl->bhil"}
  - slice: {name: grid2, from: attn, dim: -1, stop: 2}
  - grid_sample: {from: [e3, grid2]}
  - grid_sample: {grid: [2, 2], mode: nearest}
"""


def test_verify_exits_0_on_a_spec_of_every_general_op(tmp_path: Path) -> None:
    path = tmp_path / "every.yaml"
    path.write_text(EVERY)
    result = runner.invoke(app, ["verify", str(path), "-f", "json"])
    assert result.exit_code == 0, result.output
    layers = json.loads(result.stdout)["models"][0]["layers"]
    assert GENERAL <= {layer["op"] for layer in layers}


# ---- errors read like a compiler's ---------------------------------------------------------------------------
@pytest.mark.parametrize(("layers", "message"), [
    ("permute: {dims: [1, 0, 2, 3]}", "t.yaml:3:21: permute 'permute1': dims [1, 0, 2, 3] moves the batch (dim 0); "
                                      "convcost counts per sample: keep 0 first"),
    ("flatten: {start: 0}", "t.yaml:3:22: flatten 'flatten1': start=0 is the batch dim of [B, 4, 6, 5]; convcost counts "
                            "per sample: the sample's dims are 1 to 3 (or -1 to -3)"),
    ("reshape: {shape: [7, -1]}", "t.yaml:3:22: reshape 'reshape1': [B, 4, 6, 5] (120 values per sample) does not "
                                  "reshape to [7, -1]: 7 does not divide it"),
    ("mean: {dims: 4}", "t.yaml:3:18: mean 'mean1': dims=4 is out of range for [B, 4, 6, 5] (-4 to 3)"),
    ("add: {param: [2, 4, 6, 5]}", "t.yaml:3:18: add 'add1': param [2, 4, 6, 5] reaches past the sample's dims "
                                   "[B, 4, 6, 5] into the batch; give at most 3 dims (or a leading 1)"),
    ("mul: {param: [3, 1, 1]}", "t.yaml:3:18: multiply 'multiply1': param [3, 1, 1] does not broadcast with the input "
                                "[B, 4, 6, 5]"),
    ("sub", "t.yaml:3:5: sub 'sub1': needs a second operand: another output ('from: [a, b]'), a number ('scalar'), "
            "a learned tensor ('param') or a buffer ('buffer')"),
    ("sub: {from: [input, input, input]}", "t.yaml:3:17: 'sub' reads 2 outputs from a 'from' list, got 3"),
    ("div: {from: [input, input], scalar: 2}", "t.yaml:3:41: div 'div1': takes no 'scalar' with 2 inputs: its operands "
                                              "are the inputs"),
    ("maximum: {scalar: 0}", "t.yaml:3:23: maximum 'maximum1': torch.maximum takes tensors; for a number write "
                             "'clamp: {min: 0}'"),
    ("matmul: {from: [input, input]}", "t.yaml:3:5: matmul 'matmul1': cannot multiply [B, 4, 6, 5] by [B, 4, 6, 5]: "
                                       "5 ≠ 6"),
    ("einsum: {from: [input, input], equation: 'bij->bi'}", "t.yaml:3:46: einsum 'einsum1': 'equation' must be an "
     "einsum of two or three operands with its output, such as 'bnd,bmd->bnm' (letters, no '...'), got 'bij->bi'"),
    ("einsum: {from: [input, input], equation: 'bcij,kcij->bk'}", "t.yaml:3:46: einsum 'einsum1': 'bcij,kcij->bk': the "
     "batch letter 'b' must lead the input, the output and a second output (and not appear in a learned tensor)"),
    # an op of several inputs written without a 'from' list gets one: refused before its shape rule reads three
    ("sdpa", "t.yaml:3:5: 'scaled_dot_product_attention' reads 3 or 4 outputs from a 'from' list, got 1"),
    ("scaled_dot_product_attention: {is_causal: true}", "t.yaml:3:5: 'scaled_dot_product_attention' reads 3 or 4 "
                                                        "outputs from a 'from' list, got 1"),
    ("stack", "t.yaml:3:5: 'stack' reads at least 2 outputs from a 'from' list, got 1"),
    ("sdpa: {from: [input, input]}", "t.yaml:3:18: 'scaled_dot_product_attention' reads 3 or 4 outputs from a 'from' "
                                     "list, got 2"),
    # torch pads the last dim of a 2-D or 3-D tensor only ([B, C, L]); this sample is [B, C, H, W]
    ("pad: {pad: [6, 0], mode: reflect}", "t.yaml:3:30: pad 'pad1': reflect padding pads the last 1, 2 or 3 dims of a "
     "tensor with one or two more ([B, 4, 6, 5] with 1), as torch requires; use mode constant"),
    ("pad: {pad: [0, 0, 6, 0], mode: reflect}", "t.yaml:3:16: pad 'pad1': reflect padding of dim 2 (6) must be smaller "
                                                "than it, got 6, 0"),
    ("slice: {dim: 1, start: 4}", "t.yaml:3:28: slice 'slice1': 4: of dim 1 (size 4) is empty"),
    ("relu: {from: [input, input]}", "t.yaml:3:18: 'relu' reads one input: give 'from' one name (a list is read by "
     "concat, add, multiply, div, einsum, eq, ge, grid_sample, gt, le, lt, matmul, maximum, minimum, ne, pow, "
     "scaled_dot_product_attention, stack, sub, where)"),
])
def test_bad_general_ops_read_like_a_compiler(layers: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        graph_of(_spec(X, 1, layers))
    assert str(e.value) == message


# ---- random stacks of general ops (tests/test_verify_property.py's generator) under ptflops and thop ----------
@pytest.mark.parametrize("start", range(0, 45, 8))
def test_random_general_ops_modelled_equal_ptflops_and_thop(start: int) -> None:
    from dataclasses import replace

    from acceptance import Acceptance
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from test_verify_property import tensor_specs

    modelled, ptflops, thop = _ptflops_and_thop()
    seen = Acceptance()

    @settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(tensor_specs(start, batches=st.just(1)), st.integers(1, 3))
    def modelled_equals_real(text: str, batch: int) -> None:
        try:
            graph = graph_of(text)
        except SpecError as e:
            seen.accept(False, f"{e}\n{text}")
            return
        seen.accept(True)
        assert modelled(graph)["ptflops"] == ptflops(graph), text
        batched = replace(graph, batch=batch)
        assert modelled(batched)["thop"] == thop(batched), text

    modelled_equals_real()
    seen.check(min_accepted=7)


# ---- `convcost import` reads torch.nn's modules for the general ops -------------------------------------------
MODEL = """\
from torch import nn


def net():
    return nn.Sequential(nn.ZeroPad2d((1, 0, 1, 0)), nn.Conv2d(3, 4, 3), nn.ReflectionPad2d(1), nn.ConstantPad2d(1, 0.5),
                         nn.Flatten(2), nn.Unflatten(2, (11, -1)), nn.LogSoftmax(dim=-1), nn.Softmax(dim=1))
"""


def test_import_writes_general_ops_for_torch_modules(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(MODEL)
    out = tmp_path / "m.yaml"
    imported = runner.invoke(app, ["import", f"{tmp_path / 'm.py'}:net", "--input", "3,8,8", "-o", str(out)])
    assert imported.exit_code == 0, imported.output
    text = out.read_text()
    for line in ("- pad: {name: 0, pad: [1, 0, 1, 0]}", "- pad: {name: 2, pad: [1, 1, 1, 1], mode: reflect}",
                 "- pad: {name: 3, pad: [1, 1, 1, 1], value: 0.5}", "- flatten: {name: 4, start: 2}",
                 "- unflatten: {name: 5, dim: 2, sizes: [11, 11]}",  # the code's -1: 121 / 11
                 "- log_softmax: {name: 6, dim: -1}", "- softmax: {name: 7}"):
        assert line in text, text
    checked = runner.invoke(app, ["verify", str(out), "--reference", f"{tmp_path / 'm.py'}:net"])
    assert checked.exit_code == 0, checked.output
