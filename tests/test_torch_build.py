"""The torch builder: one module per spec layer, named like the spec, for every registry op."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from convcost.crosscheck.torch_build import build_model, example_input  # noqa: E402
from convcost.errors import SpecError  # noqa: E402
from convcost.frontend.spec import parse_spec  # noqa: E402
from convcost.graph.build import build_graph  # noqa: E402
from convcost.ops import REGISTRY  # noqa: E402
from convcost.ops.shapes import torch_dims  # noqa: E402

SPEC = """
input: [8, 12, 12]
layers:
  - conv: {out: 8, kernel: 3, padding: 1}
  - conv_transpose: {out: 8, kernel: 3, padding: 1}
  - bn
  - relu
  - residual:
      body:
        - conv: {out: 8, kernel: 3, padding: same, groups: 2, bias: false}
        - relu6
  - concat:
      branches:
        a: [{maxpool: {kernel: 3, stride: 1, padding: 1}}]
        b: [{avgpool: {kernel: 3, stride: 1, padding: 1, count_include_pad: false}}, silu]
  - split: {sizes: [4, 12], branches: [[relu], []]}
  - channel_shuffle: {groups: 4}
  - upsample: {scale: 2, mode: bilinear, align_corners: false}
  - pixel_unshuffle: {factor: 2}
  - pixel_shuffle: {factor: 2}
  - upsample: {size: [12, 12]}
  - tile: {sizes: [1, 2, 2]}
  - avgpool: {kernel: 2}
  - flip: {dims: [2]}
  - roll: {name: rl, shifts: [1], dims: [3]}
  - gt: {scalar: 0.0}
  - where: {name: w1, from: [gt1, rl], scalar: 0}
  - lt: {scalar: 0.5}
  - where: {name: w2, from: [lt1, w1], scalar: 0}
  - ge: {scalar: 0.1}
  - where: {name: w3, from: [ge1, w2], scalar: 0}
  - le: {scalar: 0.4}
  - where: {name: w4, from: [le1, w3], scalar: 0}
  - eq: {scalar: 0.0}
  - where: {name: w5, from: [eq1, w4], scalar: 1}
  - ne: {scalar: 0.3}
  - where: {from: [ne1, w5], scalar: 0}
  - index_select: {dim: 1, index: 16}
  - topk: {k: 12, dim: 3}
  - grid_sample: {name: gs, grid: [12, 12]}
  - mean: {dims: 1, keepdim: true}
  - expand: {name: ex, sizes: [16, -1, -1]}
  - add: {from: [ex, gs]}
  - gate: [global_avgpool, {conv: {out: 16, kernel: 1}}, hardsigmoid]
  - leaky_relu: {slope: 0.2}
  - groupnorm: {groups: 4}
  - instancenorm: {affine: true}
  - layernorm
  - layernorm: {channels_last: true}
  - linear: {out: 16, over: channels}
  - layer_scale
  - mish
  - elu: {alpha: 0.5}
  - hardtanh: {min: -2, max: 3}
  - softplus: {beta: 2, threshold: 5}
  - celu: {alpha: 0.5}
  - selu
  - threshold: {threshold: 0.1, value: 2}
  - logsigmoid
  - batchnorm: {track_running_stats: false}
  - prelu: {num_parameters: 16}
  - softmax
  - chunk: {index: 1}
  - upsample: {scale: 2}
  - adaptive_avgpool: {out: [4, 6]}
  - adaptive_maxpool: {out: [4, 6]}
  - lppool: {norm: 2, kernel: 1}
  - fractional_maxpool: {kernel: 1, out: [4, 6]}
  - to_tokens: {grid: true}
  - unflatten: {dim: 1, sizes: [2, 2]}
  - window_attention_3d: {heads: 2, window: [1, 2, 4], shift: [0, 1, 2]}
  - flatten: {start: 1, end: 2}
  - window_attention_v2: {heads: 2, window: 2, shift: 1, cpb_hidden: 8}
  - patch_merging_v2
  - window_attention: {heads: 2, window: 2, shift: 1}
  - partition_attention: {heads: 2, window: [1, 3], grid: true, head_first: false}
  - patch_merging
  - to_map
  - to_tokens
  - pos_embed
  - layernorm
  - attention: {heads: 2}
  - attention: {heads: 3, head_dim: 2, qkv_bias: false}
  - to_map: {height: 2}
  - patch_embed: {out: 8, patch: 1}
  - spacetime_embed: {grid: [1, 2, 1]}
  - class_token
  - pooling_attention: {heads: 2, grid: [1, 3, 1], kernel_q: [1, 3, 1], stride_q: [1, 2, 1], kernel_kv: [1, 3, 1],
                        stride_kv: [1, 2, 1], residual_pool: true, rel_pos: true}
  - grid_pool: {grid: [1, 2, 1], kernel: [1, 3, 1], stride: [1, 2, 1], padding: [0, 1, 0]}
  - token_pool
  - flatten
  - dropout: {p: 0.1}
  - linear: {out: 10}
  - unused: {params: 3, buffers: 2}
  - unsupported: {shape: [10], what: a part convcost cannot express}
  - bn
  - gelu
  - sigmoid
  - tanh
  - hardswish
  - identity
  - unflatten: {name: u, dim: 1, sizes: [2, 5]}
  - reshape: {name: r, shape: [2, 5]}
  - sub: {name: s, from: [u, r]}
  - div: {name: d, scalar: 2}
  - pow: {name: p, scalar: 2}
  - maximum: {name: mx, from: [d, p]}
  - minimum: {name: mn, param: [5]}
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
  - clamp: {min: -1, max: 1}
  - log_softmax: {dim: -1}
  - permute: {dims: [0, 2, 1]}
  - transpose: {dim0: 1, dim1: 2}
  - pad: {pad: [1, 1], mode: replicate}
  - slice: {dim: 2, start: 1, stop: 6}
  - select: {dim: 1, index: 0}
  - unflatten: {dim: 1, sizes: [5, 1]}
  - matmul: {name: mm, param: [1, 4]}
  - einsum: {name: es, from: [mm, mm], equation: "bij,bik->bjk"}
  - scaled_dot_product_attention: {name: at, from: [es, es, es]}
  - stack: {from: [at, es]}
  - mean: {dims: 1}
  - sum: {dims: -1, keepdim: true}
  - amax: {dims: 2, keepdim: true}
  - amin: {dims: 2, keepdim: true}
  - norm: {dims: 2, keepdim: true}
  - var: {dims: 1, keepdim: true, correction: 0}
  - std: {dims: 1, keepdim: true, correction: 0}
  - constant: {shape: [3, 4]}
"""


def _modern():  # type: ignore[no-untyped-def]
    import reference_modern

    return reference_modern


def _timm_no_bias(name: str, c: int):  # type: ignore[no-untyped-def]
    """timm's MetaFormer norms with a weight and no bias (caformer's LayerNorm2dNoBias: F.layer_norm(x, w, None))."""
    metaformer = pytest.importorskip("timm.models.metaformer")
    return getattr(metaformer, name)(c)


class _LayerScale(torch.nn.Module):
    """torchvision CNBlock's layer scale: a (C, 1, 1) parameter times the block's output."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.layer_scale = torch.nn.Parameter(torch.ones(dim, 1, 1) * 1e-6)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.layer_scale * x


def _graph(text: str = SPEC, batch: int | None = None):
    spec = parse_spec(text, "t.yaml")
    return build_graph(spec, next(iter(spec.models)), batch)


def test_spec_above_uses_every_op() -> None:
    # keeps the other tests here honest: every registered op is built at least once
    assert {n.op for n in _graph().nodes} == set(REGISTRY)


def test_modules_are_named_like_the_spec_layers() -> None:
    g = _graph()
    model = build_model(g)
    names = dict(model.named_modules())
    for node in g.nodes:
        assert names[node.name] is model.module_for(node.name)


def test_forward_shapes_match_every_layer() -> None:
    g = _graph(batch=2)
    model = build_model(g)
    seen: dict[str, tuple[int, ...]] = {}
    hooks = [
        model.module_for(n.name).register_forward_hook(lambda m, i, o, name=n.name: seen.__setitem__(name, tuple(o.shape)))
        for n in g.nodes
    ]
    with torch.no_grad():
        model(example_input(g))
    for h in hooks:
        h.remove()
    assert seen == {n.name: (2, *torch_dims(n.shape)) for n in g.nodes}  # a token grid is [B, H, W, D]


def test_same_padding_with_even_kernel_keeps_the_size() -> None:
    # torch pads an even kernel asymmetrically for 'same': 4×4 on 9×9 stays 9×9
    g = _graph("input: [3, 9, 9]\nlayers:\n  - conv: {out: 4, kernel: 4, padding: same}\n")
    out = build_model(g)(example_input(g))
    assert tuple(out.shape) == (1, 4, 9, 9)


def test_meta_device_allocates_nothing_and_keeps_shapes() -> None:
    g = _graph("input: [3, 4096, 4096]\nlayers:\n  - conv: {out: 64, kernel: 7, stride: 2, padding: 3}\n")
    model = build_model(g, "meta")
    out = model(example_input(g, "meta"))
    assert out.device.type == "meta"
    assert tuple(out.shape) == (1, 64, 2048, 2048)  # floor((4096 + 6 - 6 - 1)/2) + 1


def test_layer_names_that_are_module_methods_still_build() -> None:
    g = _graph("input: [3, 8, 8]\nlayers:\n  - conv: {name: eval, out: 4, kernel: 3}\n  - relu: {name: forward}\n")
    model = build_model(g)
    assert [n for n, _ in model.named_modules()] == ["", "eval", "forward"]
    assert tuple(model(example_input(g)).shape) == (1, 4, 6, 6)  # 8 - 3 + 1


def test_layer_name_that_is_a_module_attribute_is_a_located_error() -> None:
    g = _graph("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 3}\n  - relu: {name: training}\n")
    with pytest.raises(SpecError) as e:
        build_model(g)
    assert str(e.value).startswith("t.yaml:4:5: relu 'training': the name 'training' clashes")


@pytest.mark.parametrize(("layer", "shape", "module"), [
    ("bn", "[8, 5, 5]", lambda: torch.nn.BatchNorm2d(8)),
    ("bn: {affine: false}", "[8, 5, 5]", lambda: torch.nn.BatchNorm2d(8, affine=False)),
    ("bn: {affine: false}", "[6]", lambda: torch.nn.BatchNorm1d(6, affine=False)),
    ("maxpool: {kernel: [3, 2], stride: [2, 1]}", "[2, 9, 8]", lambda: torch.nn.MaxPool2d((3, 2), (2, 1))),
    ("adaptive_avgpool: {out: [3, 2]}", "[2, 7, 8]", lambda: torch.nn.AdaptiveAvgPool2d((3, 2))),
    ("groupnorm: {groups: 4}", "[8, 5, 5]", lambda: torch.nn.GroupNorm(4, 8)),
    ("groupnorm: {groups: 2, affine: false}", "[6]", lambda: torch.nn.GroupNorm(2, 6, affine=False)),
    ("instancenorm", "[8, 5, 5]", lambda: torch.nn.InstanceNorm2d(8)),
    ("instancenorm: {affine: true, track_running_stats: true}", "[8, 5, 5]",
     lambda: torch.nn.InstanceNorm2d(8, affine=True, track_running_stats=True)),
    ("layernorm", "[12]", lambda: torch.nn.LayerNorm(12)),
    ("layernorm: {affine: false}", "[12]", lambda: torch.nn.LayerNorm(12, elementwise_affine=False)),
    ("layernorm", "[8, 5, 5]", lambda: _modern().LayerNorm2d(8)),
    ("layernorm: {bias: false}", "[12]", lambda: torch.nn.LayerNorm(12, bias=False)),
    ("layernorm: {bias: false, eps: 1e-6}", "[8, 5, 5]", lambda: _timm_no_bias("LayerNorm2dNoBias", 8)),
    ("layernorm: {bias: false, channels_last: true}", "[8, 5, 5]", lambda: torch.nn.Sequential(
        _modern().Permute([0, 2, 3, 1]), torch.nn.LayerNorm(8, bias=False), _modern().Permute([0, 3, 1, 2]))),
    ("layernorm: {channels_last: true}", "[8, 5, 5]", lambda: torch.nn.Sequential(
        _modern().Permute([0, 2, 3, 1]), torch.nn.LayerNorm(8), _modern().Permute([0, 3, 1, 2]))),
    ("linear: {out: 6, over: channels}", "[8, 5, 5]", lambda: torch.nn.Sequential(
        _modern().Permute([0, 2, 3, 1]), torch.nn.Linear(8, 6), _modern().Permute([0, 3, 1, 2]))),
    ("layer_scale", "[8, 5, 5]", lambda: _LayerScale(8)),
    ("prelu", "[8, 5, 5]", lambda: torch.nn.PReLU()),
    ("prelu: {num_parameters: 8}", "[8, 5, 5]", lambda: torch.nn.PReLU(8)),
    ("softmax", "[8, 5, 5]", lambda: torch.nn.Softmax(dim=1)),
    ("hardtanh: {min: -2, max: 3}", "[8, 5, 5]", lambda: torch.nn.Hardtanh(-2, 3)),
    # 1-D and 3-D inputs, conv_transpose (issue 11)
    ("bn", "[6, 10]", lambda: torch.nn.BatchNorm1d(6)),
    ("bn", "[6, 3, 4, 5]", lambda: torch.nn.BatchNorm3d(6)),
    ("conv: {out: 4, kernel: [1, 3, 3], groups: 2}", "[6, 3, 4, 5]", lambda: torch.nn.Conv3d(6, 4, (1, 3, 3), groups=2)),
    ("conv: {out: 4, kernel: 5, stride: 2}", "[3, 20]", lambda: torch.nn.Conv1d(3, 4, 5, 2)),
    ("conv_transpose: {out: 4, kernel: 3, stride: 2, output_padding: 1}", "[6, 3, 4, 5]",
     lambda: torch.nn.ConvTranspose3d(6, 4, 3, 2, output_padding=1)),
    ("maxpool: {kernel: 3, stride: 2}", "[2, 9]", lambda: torch.nn.MaxPool1d(3, 2)),
    ("adaptive_avgpool: {out: [1, 2, 2]}", "[2, 3, 5, 5]", lambda: torch.nn.AdaptiveAvgPool3d((1, 2, 2))),
])
def test_params_buffers_and_shape_equal_a_module_written_here(layer: str, shape: str, module) -> None:  # type: ignore[no-untyped-def]
    # the reference is torch's own module, not convcost's builder: params and buffers are numel() sums
    from conftest import analysis_of

    (lc,) = analysis_of(f"input: {shape}\nlayers:\n  - {layer}\n").layers
    m = module().eval()
    assert lc.cost.params == sum(p.numel() for p in m.parameters())
    assert lc.cost.buffers == sum(b.numel() for b in m.buffers())
    assert (1, *lc.node.shape) == tuple(m(torch.zeros(1, *lc.node.in_shapes[0])).shape)


def test_activations_with_arguments_built_as_functions_match_their_modules() -> None:
    """`torch: function` on an activation with arguments passes them by name: F.gelu takes `approximate` only as a
    keyword (main's gelu arguments met the conventions branch's function form)."""
    text = ("input: [4, 5, 5]\nlayers:\n  - gelu: {approximate: tanh, torch: function}\n"
            "  - leaky_relu: {slope: 0.2, torch: function}\n  - hardtanh: {min: -2, max: 3, torch: function}\n")
    x = torch.linspace(-4, 4, 100).reshape(1, 4, 5, 5)
    expected = (torch.nn.GELU("tanh"), torch.nn.LeakyReLU(0.2), torch.nn.Hardtanh(-2.0, 3.0))
    for node, module in zip(_graph(text).nodes, expected, strict=True):
        assert torch.equal(node.rule.build(node)(x), module(x))


@pytest.mark.parametrize(("layer", "shape", "module"), [
    ("layernorm: {bias: false}", "[12]", lambda: torch.nn.LayerNorm(12, bias=False)),
    ("layernorm", "[12]", lambda: torch.nn.LayerNorm(12)),
    ("conv: {out: 6, kernel: 3, weight: scaled}", "[4, 5, 5]",
     lambda: pytest.importorskip("timm.layers.std_conv").ScaledStdConv2d(4, 6, 3)),
    ("conv: {out: 6, kernel: 3, weight: standardised, bias: false}", "[4, 5, 5]",
     lambda: pytest.importorskip("timm.layers.std_conv").StdConv2d(4, 6, 3)),
    ("conv: {out: 4, kernel: 3, groups: 4, bias: false, weight: fixed}", "[4, 5, 5]",
     lambda: pytest.importorskip("timm.layers.blur_pool").BlurPool2d(4, 3, 1)),
])
def test_the_parameters_a_layer_holds_are_the_modules(layer: str, shape: str, module) -> None:  # type: ignore[no-untyped-def]
    """What a layer says it holds (the names `tied` may share) are the parameters of torch's or timm's module, by name
    and shape: a fixed filter's buffer is none of them."""
    (node,) = _graph(f"input: {shape}\nlayers:\n  - {layer}\n").nodes
    assert node.tensors() == {n: tuple(p.shape) for n, p in module().named_parameters()}
