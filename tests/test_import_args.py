"""Each op's ``from_torch`` (what `convcost import` reads off a torch.nn module) against torch itself: the
arguments it reads, written as a one-layer spec and built back by the op's ``build``, give a module torch
prints the same (``repr`` shows every constructor argument that differs from torch's default) with the
same parameter and buffer shapes; and what an op cannot express is refused, never read as something else.

Checked against mutations that survived the rest of the suite (issue 19): import accepting
``padding_mode='reflect'``, hardtanh's min/max read reversed, linear ``bias`` always true, ``spec_dims``'s
``all`` made ``any``.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

torch = pytest.importorskip("torch")
from conftest import analysis_of, graph_of  # noqa: E402
from torch import nn  # noqa: E402

from convcost.importer.trace import module_op  # noqa: E402
from convcost.ops.registry import spec_dims  # noqa: E402


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def one_layer_spec(module: nn.Module, shape: list[int]) -> tuple[str, str, dict[str, Any]]:
    found = module_op(module)
    assert not isinstance(found, str), found
    op, args = found
    layer = {op: {k: _plain(v) for k, v in args.items()}} if args else op
    return yaml.safe_dump({"input": shape, "layers": [layer]}, sort_keys=False), op, args


def _state(m: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(n, tuple(t.shape)) for n, t in [*m.named_parameters(), *m.named_buffers()]]


def _settings(m: nn.Module) -> dict[str, Any]:
    """The module's constructor settings as torch stores them (``repr`` leaves some out: AvgPool2d's ceil_mode),
    a per-dim tuple whose dims agree read as one number (torch keeps ``kernel_size=3`` as given, 3 or (3, 3))."""
    def one(v: Any) -> Any:
        return v[0] if isinstance(v, tuple) and v and all(x == v[0] for x in v) else v

    return {k: one(v) for k, v in vars(m).items() if not k.startswith("_") and k != "training"}


# (the module, its input, and the module convcost builds where it differs: UpsamplingBilinear2d is built as the
# Upsample it is; 'same' padding is built as torch's string, as the user's module has it)
CASES: list[tuple[nn.Module, list[int]] | tuple[nn.Module, list[int], nn.Module]] = [
    (nn.Conv2d(4, 6, (3, 5), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2, bias=False), [4, 16, 16]),
    (nn.Conv2d(4, 6, 3, padding=2, dilation=2), [4, 9, 9]),
    (nn.Conv2d(4, 4, 3, padding="same", dilation=2), [4, 9, 9]),
    (nn.Conv2d(4, 4, (3, 5), padding="same", dilation=(3, 1)), [4, 9, 9]),
    (nn.Conv1d(3, 5, 4, stride=3, bias=False), [3, 20]),
    (nn.Conv3d(2, 4, (1, 3, 3), padding=(0, 1, 1)), [2, 4, 8, 8]),
    (nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, bias=False), [4, 5, 5]),
    (nn.Linear(8, 3, bias=False), [8]),
    (nn.Linear(8, 3), [8]),
    (nn.Hardtanh(-2.0, 3.0), [4, 5, 5]),
    (nn.LeakyReLU(0.2), [4, 5, 5]),
    (nn.ELU(0.5), [4, 5, 5]),
    (nn.Softplus(beta=2.0, threshold=5.0), [4, 5, 5]),
    (nn.CELU(0.5), [4, 5, 5]),
    (nn.SELU(), [4, 5, 5]),
    (nn.Threshold(0.1, 20.0), [4, 5, 5]),
    (nn.LogSigmoid(), [4, 5, 5]),
    (nn.PReLU(4), [4, 5, 5]),  # (its init is a starting weight, not a setting: import reads the count)
    (nn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 0), ceil_mode=True), [4, 9, 9]),
    (nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), [4, 9, 9]),
    (nn.AdaptiveAvgPool2d((2, 3)), [4, 9, 9]),
    (nn.BatchNorm2d(4, eps=1e-3, momentum=0.05), [4, 5, 5]),
    (nn.BatchNorm2d(4, affine=False), [4, 5, 5]),
    (nn.BatchNorm2d(4, eps=1e-3, track_running_stats=False), [4, 5, 5]),
    (nn.BatchNorm1d(4, affine=False, track_running_stats=False), [4, 9]),
    (nn.GroupNorm(2, 4, eps=1e-4, affine=False), [4, 5, 5]),
    (nn.InstanceNorm2d(4, eps=1e-3, affine=True, track_running_stats=True), [4, 5, 5]),
    (nn.Dropout(0.3), [4, 5, 5]),
    (nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), [4, 5, 5]),
    (nn.Upsample(size=(7, 9), mode="nearest"), [4, 5, 5]),
    (nn.Upsample(scale_factor=(2, 3), mode="nearest"), [4, 5, 5]),
    (nn.UpsamplingBilinear2d(scale_factor=2), [4, 5, 5], nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)),
    (nn.AvgPool1d(3, stride=2, padding=1), [4, 9]),  # no divisor_override attribute in 1-D
    (nn.MaxPool1d(3, stride=2, padding=1, ceil_mode=True), [4, 9]),
    (nn.AdaptiveAvgPool1d(3), [4, 9]),
    (nn.AvgPool2d(3, stride=2, padding=1, divisor_override=4), [4, 9, 9]),
    (nn.AvgPool3d(2, divisor_override=3), [4, 4, 5, 6]),
    (nn.AdaptiveMaxPool2d((2, 3)), [4, 9, 8]),
    (nn.AdaptiveMaxPool1d(3), [4, 8]),
    (nn.AdaptiveMaxPool3d(2), [4, 3, 5, 5]),
    (nn.LPPool2d(2, 3, stride=2), [4, 9, 9]),
    (nn.LPPool1d(1.5, 3), [4, 9]),
    (nn.LPPool3d(3, (1, 2, 2), ceil_mode=True), [4, 3, 5, 5]),
    (nn.FractionalMaxPool2d(2, output_size=(3, 4)), [4, 9, 9]),
    (nn.FractionalMaxPool3d(2, output_ratio=0.5), [4, 6, 6, 6]),
    (nn.Upsample(size=(7, 9), mode="nearest-exact"), [4, 5, 5]),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: repr(c[0]))
def test_import_reads_what_build_writes_back(case: tuple[Any, ...]) -> None:
    module, shape = case[:2]
    expected = case[2] if len(case) > 2 else module
    text, _, _ = one_layer_spec(module, shape)
    graph = graph_of(text)
    (node,) = graph.nodes
    built = node.rule.build(node)
    assert type(built) is type(expected)
    assert _settings(built) == _settings(expected), text
    assert _state(built) == _state(expected), text
    a = analysis_of(text)
    assert a.total.params == sum(p.numel() for p in module.parameters())
    assert a.total.buffers == sum(b.numel() for b in module.buffers())
    with torch.no_grad():
        out = module.eval()(torch.zeros(1, *shape))
        assert tuple(built.eval()(torch.zeros(1, *shape)).shape) == tuple(out.shape)
    assert (1, *node.shape) == tuple(out.shape)


def test_the_arguments_read_are_torch_s() -> None:
    """The values themselves, by hand: a reversed or dropped attribute gives a module torch prints otherwise, but
    these say which."""
    assert module_op(nn.Hardtanh(-2.0, 3.0)) == ("hardtanh", {"min": -2.0, "max": 3.0})
    # issue 20: activations with arguments, in torch's order; a batch norm without running statistics
    assert module_op(nn.Softplus(beta=2.0, threshold=5.0)) == ("softplus", {"beta": 2.0, "threshold": 5.0})
    assert module_op(nn.CELU(0.5)) == ("celu", {"alpha": 0.5})
    assert module_op(nn.Threshold(0.1, 20.0)) == ("threshold", {"threshold": 0.1, "value": 20.0})
    assert module_op(nn.SELU()) == ("selu", {}) and module_op(nn.LogSigmoid()) == ("logsigmoid", {})
    assert module_op(nn.BatchNorm2d(4, eps=1e-3, affine=False, track_running_stats=False)) == ("batchnorm", {
        "eps": 1e-3, "momentum": 0.1, "affine": False, "track_running_stats": False})
    assert module_op(nn.BatchNorm1d(4, momentum=None, track_running_stats=False))[1]["momentum"] == 0.1  # never used
    assert module_op(nn.Linear(8, 3, bias=False)) == ("linear", {"out": 3, "bias": False})
    assert module_op(nn.Linear(8, 3)) == ("linear", {"out": 3, "bias": True})
    assert module_op(nn.Conv2d(4, 6, (3, 5), stride=(2, 1), dilation=(1, 1), bias=False)) == ("conv", {
        "out": 6, "kernel": [3, 5], "stride": [2, 1], "padding": 0, "dilation": 1, "groups": 1, "bias": False})
    assert module_op(nn.MultiheadAttention(8, 2, batch_first=True)) == ("attention", {"heads": 2, "qkv_bias": True,
                                                                                    "bias": True})
    assert module_op(nn.MultiheadAttention(8, 4, batch_first=True, bias=False)) == ("attention", {
        "heads": 4, "qkv_bias": False, "bias": False})
    assert module_op(nn.LayerNorm(8)) == ("layernorm", {"eps": 1e-5, "affine": True})
    assert module_op(nn.LayerNorm(8, eps=1e-6, elementwise_affine=False)) == ("layernorm", {"eps": 1e-6, "affine": False})
    # a weight and no bias (timm's LayerNormNoBias): layernorm's bias: false
    assert module_op(nn.LayerNorm(8, bias=False)) == ("layernorm", {"eps": 1e-5, "affine": True, "bias": False})
    assert module_op(nn.Softmax(dim=1)) == ("softmax", {"dim": 1})
    assert module_op(nn.Flatten()) == ("flatten", {"start": 1, "end": -1})  # torch's defaults start_dim=1, end_dim=-1
    # flatten and softmax of any dims (main's general ops): the dims as torch holds them, never refused
    assert module_op(nn.Flatten(0, -1)) == ("flatten", {"start": 0, "end": -1})
    assert module_op(nn.Flatten(1, 2)) == ("flatten", {"start": 1, "end": 2})
    assert module_op(nn.Flatten(2, -1)) == ("flatten", {"start": 2, "end": -1})
    assert module_op(nn.Softmax(dim=-1)) == ("softmax", {"dim": -1})
    assert module_op(nn.Identity()) == ("identity", {})
    for pool in (nn.AdaptiveAvgPool2d(1), nn.AdaptiveAvgPool2d((1, 1)), nn.AdaptiveAvgPool1d(1), nn.AdaptiveAvgPool3d(1)):
        assert module_op(pool) == ("global_avgpool", {})
    assert module_op(nn.AdaptiveAvgPool2d((1, 2))) == ("adaptive_avgpool", {"out": [1, 2]})
    assert module_op(nn.Dropout2d(0.2)) == ("dropout", {"p": 0.2})
    assert module_op(nn.ConvTranspose2d(2, 3, (3, 1), stride=2, bias=False)) == ("conv_transpose", {
        "out": 3, "kernel": [3, 1], "stride": 2, "padding": 0, "output_padding": 0, "dilation": 1, "groups": 1,
        "bias": False})


def _bias_without_weight() -> nn.Module:
    """A LayerNorm whose weight a subclass dropped: a shift and no scale (no convcost layernorm form)."""
    m = nn.LayerNorm(8)
    m.weight = None
    return m


@pytest.mark.parametrize(("module", "why"), [
    (nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"), "nn.Conv2d with padding_mode='reflect'"),
    (nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular"), "nn.Conv2d with padding_mode='circular'"),
    (nn.Conv1d(4, 4, 3, padding=1, padding_mode="replicate"), "nn.Conv1d with padding_mode='replicate'"),
    (nn.MaxPool2d(3, dilation=2), "nn.MaxPool2d with dilation=2"),
    (nn.BatchNorm2d(4, momentum=None), "nn.BatchNorm2d with momentum=None (a cumulative average)"),
    (nn.MaxPool2d(2, return_indices=True), "nn.MaxPool2d with return_indices=True"),
    (nn.AdaptiveMaxPool2d(2, return_indices=True), "nn.AdaptiveMaxPool2d with return_indices=True"),
    (nn.LPPool2d(float("inf"), 2), "nn.LPPool2d with norm_type=inf"),
    (nn.FractionalMaxPool2d(2, output_size=3, return_indices=True), "nn.FractionalMaxPool2d with return_indices=True"),
    (nn.Upsample(scale_factor=2, recompute_scale_factor=True), "nn.Upsample with recompute_scale_factor=True"),
    (nn.AdaptiveAvgPool2d((None, 2)), "nn.AdaptiveAvgPool2d with output_size=(None, 2)"),
    (nn.AdaptiveAvgPool2d(None), "nn.AdaptiveAvgPool2d with output_size=None"),
    (nn.MaxPool2d(2, dilation=(1, 2)), "nn.MaxPool2d with dilation=(1, 2)"),
    (nn.LayerNorm([4, 8]), "nn.LayerNorm with normalized_shape=[4, 8] (only the last dim)"),
    (_bias_without_weight(), "nn.LayerNorm with a bias without a weight"),
    (nn.MultiheadAttention(8, 2), "nn.MultiheadAttention with batch_first=False (tokens laid out [N, B, D]; "
                                  "convcost's are [B, N, D])"),
    (nn.MultiheadAttention(8, 2, batch_first=True, kdim=4, vdim=4),
     "nn.MultiheadAttention with kdim=4, vdim=4 (keys and values of another width)"),
    (nn.MultiheadAttention(8, 2, batch_first=True, add_bias_kv=True),
     "nn.MultiheadAttention with add_bias_kv=True (a learned extra key and value)"),
    (nn.MultiheadAttention(8, 2, batch_first=True, add_zero_attn=True),
     "nn.MultiheadAttention with add_zero_attn=True (an extra zero key and value)"),
])
def test_what_an_op_cannot_express_is_refused(module: nn.Module, why: str) -> None:
    found = module_op(module)
    assert isinstance(found, str) and found.startswith(why + ": convcost's '"), found


def test_a_transposed_conv_that_pads_otherwise_is_refused() -> None:
    module = nn.ConvTranspose2d(2, 2, 3)
    module.padding_mode = "reflect"  # torch's constructor refuses it for transposed convs; a subclass may set it
    assert module_op(module) == "nn.ConvTranspose2d with padding_mode='reflect': convcost's 'conv_transpose' cannot express it"


@pytest.mark.parametrize(("value", "written"), [
    ((3, 3), 3), ((3, 5), [3, 5]), ((5, 3), [5, 3]), ((2, 2, 2), 2), ((2, 2, 3), [2, 2, 3]), ((3, 2, 2), [3, 2, 2]),
    ((2.0, 2.0), 2), ((1.5, 1.5), 1.5), ((2.0, 3.0), [2, 3]), ([4], 4), ((), []), (7, 7), (None, None),
])
def test_spec_dims_writes_one_number_only_when_every_dim_agrees(value: Any, written: Any) -> None:
    assert spec_dims(value) == written
    assert type(spec_dims(value)) is type(written)
