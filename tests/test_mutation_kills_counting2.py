"""convcost/ops/counting.py: what each counter's shared default says of a layer it does not count, whole, with the
torch names that follow the input's rank, and the elements a layer reads and writes.

Written for issue 19's mutation run (docs/testing.md): these reasons are what `convcost verify` prints beside a
layer a tool does not see, and no test read them whole, so a mutant that changed their text ('XX...XX') or the
name in them survived. The torch names are torch's own for the layer: a max pool on a C×D×H×W map is nn.MaxPool3d
running aten::max_pool3d; nn.Identity runs no aten op at all.
"""

from __future__ import annotations

import pytest
from conftest import analysis_of

from convcost.ops import counting as c

LAYERS = """\
input: [4, 6, 6, 6]
layers:
  - maxpool: {kernel: 2}
  - identity
"""
FLAT = "input: [4, 6]\nlayers:\n  - maxpool: {kernel: 2}\n"  # C×L: a 1-d pool


def layers(text: str) -> list:  # type: ignore[type-arg]
    return [(lc.node, lc.cost) for lc in analysis_of(text).layers]


@pytest.mark.parametrize(("fn", "pool", "identity"), [
    (c._fvcore_unsupported, "fvcore has no handle for aten::max_pool3d (reports it as unsupported)",
     "nn.Identity runs no aten op"),
    (c._fvcore_ignored, "aten::max_pool3d is on fvcore's ignore list", " is on fvcore's ignore list"),
    (c._flop_counter_unseen, "FlopCounterMode counts only matmul, convolution and attention ops",
     "FlopCounterMode counts only matmul, convolution and attention ops"),
    (c._ptflops_no_hook, "ptflops has no module hook for nn.MaxPool3d: a zero-op",
     "ptflops has no module hook for nn.Identity: a zero-op"),
    (c._thop_no_rule, "thop has no counting method for nn.MaxPool3d", "thop has no counting method for nn.Identity"),
    (c._thop_zero, "thop registers nn.MaxPool3d as zero_ops", "thop registers nn.Identity as zero_ops"),
    (c._ptflops_no_patch, "ptflops patches no torch function that nn.MaxPool3d calls, and finds no hook for it",
     "ptflops patches no torch function that nn.Identity calls, and finds no hook for it"),
    (c._torchscan_unsupported, "torchscan has no MAC formula for nn.MaxPool3d", "torchscan has no MAC formula for nn.Identity"),
    (c._calflops_unpatched, "calflops patches no torch function that nn.MaxPool3d calls",
     "calflops patches no torch function that nn.Identity calls"),
    (c._torchvision_macs, "torchvision's metadata counts the MACs of convolutions, linears and matmuls only",
     "torchvision's metadata counts the MACs of convolutions, linears and matmuls only"),
    (c._torchinfo_per_sample, "torchinfo counts mult-adds from a module's parameters; nn.MaxPool3d has none",
     "torchinfo counts mult-adds from a module's parameters; nn.Identity has none"),
])
def test_a_counters_default_for_a_layer_it_does_not_count_says_why(fn, pool: str, identity: str) -> None:  # type: ignore[no-untyped-def]
    (p_node, p_cost), (i_node, i_cost) = layers(LAYERS)
    for node, cost, why in ((p_node, p_cost, pool), (i_node, i_cost, identity)):
        got = fn(node, cost, 2)
        assert (got.value, got.parts, got.reason) == (None, (), why)


def test_the_torch_names_follow_the_inputs_rank() -> None:
    ((pool, cost),) = layers(FLAT)
    assert c.rank(pool) == 1  # C×L: one spatial dim (a flat input is 1-d too)
    assert c.for_rank("nn.MaxPool{n}d", pool) == "nn.MaxPool1d" and c.for_rank("nn.ReLU", pool) == "nn.ReLU"
    assert c._ptflops_no_hook(pool, cost, 1).reason == "ptflops has no module hook for nn.MaxPool1d: a zero-op"
    (p3, _), _ = layers(LAYERS)
    assert c.rank(p3) == 3 and c.for_rank("aten::max_pool{n}d", p3) == "aten::max_pool3d"


def test_the_elements_a_layer_reads_and_writes() -> None:
    (pool, _), (ident, _) = layers(LAYERS)
    assert c.in_elements(pool, 2) == 2 * 4 * 6 * 6 * 6  # 1,728: the batch of 2 of the 4×6×6×6 input
    assert c.out_elements(pool, 2) == 2 * 4 * 3 * 3 * 3  # 216: kernel 2 halves every spatial dim
    assert c.in_elements(ident, 3) == c.out_elements(ident, 3) == 3 * 4 * 3 * 3 * 3


def test_a_layers_parameters_under_thop_and_torchinfo() -> None:
    text = "input: [3, 4, 4]\nlayers:\n  - conv: {out: 2, kernel: 1}\n  - identity\n  - flatten\n  - linear: {out: 5}\n"
    (conv, conv_cost), (ident, ident_cost), _, (linear, linear_cost) = layers(text)
    assert c._thop_params_hooked(conv, conv_cost, 1).parts == (("params", 3 * 2 + 2),)  # 8: weight and bias
    got = c._thop_params_hooked(ident, ident_cost, 1)  # thop has no rule for nn.Identity at all
    assert (got.value, got.reason) == (None, "thop has no rule for nn.Identity: its parameters are not counted")
    # torchinfo: a linear's weight and bias once per sample: 32·5 + 5 = 165, for a batch of 3
    got = c._torchinfo_per_sample(linear, linear_cost, 3)
    assert (got.value, got.parts) == (3 * 165, (("linear", 3 * 165),))
    got = c._torchvision_macs(linear, linear_cost, 3)
    assert (got.value, got.parts) == (32 * 5, (("linear", 32 * 5),))  # its MACs per sample, whatever the batch


def test_ptflops_aten_backend_counts_what_flop_counter_counts_in_macs() -> None:
    text = "input: [3, 4, 4]\nlayers:\n  - conv: {out: 2, kernel: 1}\n  - relu\n"
    (conv, conv_cost), (relu, relu_cost) = layers(text)
    got = c._ptflops_aten_half(conv, conv_cost, 1)
    macs = 4 * 4 * 2 * 3  # 96: H·W·C_out·C_in, FlopCounterMode's 192 FLOPs halved
    assert (got.value, got.reason) == (macs, "the aten ops FlopCounterMode counts, in MACs")
    assert [n for _, n in got.parts] == [macs]
    got = c._ptflops_aten_half(relu, relu_cost, 1)
    assert (got.value, got.reason) == (None, "ptflops' aten backend counts only aten.mm, matmul, addmm, bmm and convolution")


@pytest.mark.parametrize("equation", ["bij,bjk->bik", "x y z , x z w -> x y w", "pqr,prs->pqs"])
def test_calflops_einsum_estimate_is_numpys_count_not_halved(equation: str) -> None:
    # one contraction over four letters of sizes 2, 3, 4, 5: 120, ×2 as one is summed away, + 1 = 241 (2.410e+02)
    assert c.numpy_einsum_estimate(equation, [(2, 3, 4), (2, 4, 5)]) == 241
    assert c.numpy_optimized_flops("abc,acd->abd", [(2, 3, 4), (2, 4, 5)]) == 241.0


def test_a_layer_written_as_torch_calls_it() -> None:
    """maxpool is nn.MaxPool{n}d, or F.max_pool{n}d (the spec's `torch: function`), or a subclass of the module;
    a layer written as a function calls that function, whatever its module's forward would call."""
    text = "input: [4, 6, 6]\nlayers:\n  - maxpool: {kernel: 2, torch: function}\n  - maxpool: {kernel: 3}\n"
    (fn, _), (module, _) = layers(text)
    assert (c.form_of(fn), c.form_of(module)) == ("function", "module")
    assert c.called(fn, "F.something_else{n}d") == "F.max_pool2d"  # its op's function, for a 2-d map
    assert c.called(module, "F.max_pool{n}d") == "F.max_pool2d" and c.called(module, "torch.max") == "torch.max"
    assert fn.rule.counting.forms() == ("module", "function", "subclass")
    assert c.form_of(object()) == "module"  # a node made outside a spec
    identity = layers("input: [4]\nlayers:\n  - identity\n")[0][0]
    assert identity.rule.counting.forms() == ("module", "subclass")  # nn.Identity has no functional form
