"""One aten op → one convcost layer (torch-free): the leaf ops, however the model's code spelled them.

``aten.convolution`` is every convolution (nn.Conv*d and its subclasses, ``F.conv2d``, timm's Conv2dSame after its
pad); ``native_batch_norm`` every batch norm in eval (nn.BatchNorm*d, ``F.batch_norm``, timm's BatchNormAct2d);
``native_layer_norm`` / ``native_group_norm`` / ``instance_norm`` the other norms; ``linear`` (kept whole by the
recorder) every linear; the activations with their arguments (``hardtanh(0, 6)`` is relu6); the pools, adaptive
pools and means; ``upsample_*`` every ``F.interpolate`` and nn.Upsample; ``cat``, ``add``, ``mul`` of traced tensors.
Patterns over several nodes (tokens, channels-last runs, slices, shuffles, attention) are recognised before these
(importer/patterns.py). Each function returns a :mod:`~.found` result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..ops.registry import rule, spec_dims
from .flow import numel
from .found import Emit, Found, Pass, Refuse, Several
from .graph import V
from .std_weight import StdWeight, fixed, standardised

if TYPE_CHECKING:
    from .graph import Node
    from .recognise import Context

LeafFn = Callable[["Node", "Context"], Found]
TABLE: dict[str, LeafFn] = {}


def leaf(*names: str) -> Callable[[LeafFn], LeafFn]:
    def deco(fn: LeafFn) -> LeafFn:
        for n in names:
            TABLE[n] = fn
        return fn

    return deco


def _v(a: Any) -> int | None:
    return a.id if isinstance(a, V) else None


def _roles(*held: Any) -> tuple[tuple[str, str], ...]:
    """(weight, path), (bias, path) of the parameters a layer holds, in that order (those its op calls so)."""
    return tuple((role, h[0]) for role, h in zip(("weight", "bias"), held) if h)


def _dims(value: Any, rank: int) -> Any:
    """An aten int list (one per spatial dim, or one for all) as a spec writes it."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = [value[0]] * rank
    return spec_dims(value)


# ---- convolution --------------------------------------------------------------------------------------------------
def _input_and_weights(n: Node, c: Context, kind: str, std: StdWeight | None = None) -> tuple[Any, Any, Any, Any, Any] | Refuse:
    """A convolution's or linear's traced input, weight and bias (None: none), and the weight and bias as the layer
    holds them (the bias: () when there is none), or why they cannot be read. ``std``: a convolution's weight
    standardised in the forward, held as the parameters it is made of (importer/std_weight.py)."""
    x, w, b = _v(n.args.get("input")), _v(n.args.get("weight")), _v(n.args.get("bias"))
    if x is None or w is None:
        return Refuse(f"{n.fn} without a traced input and weight")
    weight = (std.held[0][1],) if std is not None else c.held(w, f"weight of a {kind}")
    if isinstance(weight, Refuse):
        return weight
    bias = c.held(b, f"bias of a {kind}") if b is not None else ()
    if isinstance(bias, Refuse):
        return bias
    return x, w, b, weight, bias


@leaf("convolution", "_convolution", "conv1d", "conv2d", "conv3d")
def convolution(n: Node, c: Context) -> Found:
    w = _v(n.args.get("weight"))
    std = (standardised(c, w) or fixed(c, w)) if w is not None else None  # timm's StdConv2d, its BlurPool2d
    if isinstance(std, Refuse):
        return std
    held = _input_and_weights(n, c, "convolution", std)
    if isinstance(held, Refuse):
        return held
    x, w, b, weight, bias = held
    shape = c.flow.shape(w)
    rank = len(shape) - 2
    groups = int(n.args.get("groups", 1))
    transposed = bool(n.args.get("transposed", False))
    args: dict[str, Any] = {
        "out": shape[1] * groups if transposed else shape[0], "kernel": spec_dims(list(shape[2:])),
        "stride": _dims(n.args.get("stride", 1), rank), "padding": _dims(n.args.get("padding", 0), rank),
    }
    if transposed:
        args["output_padding"] = _dims(n.args.get("output_padding", 0), rank)
    args.update({"dilation": _dims(n.args.get("dilation", 1), rank), "groups": groups, "bias": b is not None})
    written = n.args.get("padding_written")
    if written == "same" and not transposed:
        # the numbers aten got are d·(k - 1) // 2, and for an even kernel torch padded the extra side before (its pad passes
        # through, general.pad): `padding: same` builds torch's module, whose aten::_convolution_mode fvcore counts apart
        args["padding"] = "same"
    if c.layout(x) != "map" or len(c.flow.shape(x)) != rank + 2:
        return Refuse(f"{n.fn} of {c.shown(x)}: convcost convolves a channels-first map")
    if std is not None:
        if transposed:
            return Refuse(f"{n.fn}: a transposed convolution with a {std.args['weight']} weight (convcost's conv_transpose "
                          "has none)")
        gain = tuple(p for role, p in std.held if role == "gain")
        roles = _roles(weight, bias) if std.args["weight"] != "fixed" else _roles((), bias)  # a buffer is not tied
        return Emit("conv", {**args, **std.args}, (x,), (*weight, *bias, *gain), roles=(*roles, *(("gain", p) for p in gain)))
    return Emit("conv_transpose" if transposed else "conv", args, (x,), (*weight, *bias), roles=_roles(weight, bias))


# ---- norms ----------------------------------------------------------------------------------------------------------
@leaf("native_batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit", "batch_norm",
      "_batch_norm_impl_index", "cudnn_batch_norm", "miopen_batch_norm")
def batch_norm(n: Node, c: Context) -> Found:
    x = _v(n.args.get("input"))
    mean, var = _v(n.args.get("running_mean")), _v(n.args.get("running_var"))
    if x is None:
        return Refuse(f"{n.fn} without a traced input")
    if mean is None and var is None and n.args.get("training", True):
        return _batch_statistics(n, c, x)  # nn.BatchNorm*d(track_running_stats=False): the batch's statistics in eval too
    if n.args.get("training", False) or mean is None or var is None:
        return Refuse(f"{n.fn} with the batch's statistics (training mode, or no running statistics): convcost counts a "
                      "batch norm at inference, with running statistics (call model.eval())")
    if c.layout(x) != "map":
        return Refuse(f"{n.fn} of {c.shown(x)}: convcost's batchnorm normalises the channels of a map or flat vector")
    w, b = _v(n.args.get("weight")), _v(n.args.get("bias"))
    held = [c.held(t, "batch norm's tensor", want) for t, want in ((w, "param"), (b, "param"), (mean, "buffer"), (var, "buffer"))
            if t is not None]
    roles = _roles(*held[:2]) if w is not None else ()
    bad = next((h for h in held if isinstance(h, Refuse)), None)
    if bad is not None:
        return bad
    if (w is None) != (b is None):
        return Refuse(f"{n.fn} with a weight and no bias, or a bias and no weight: convcost's affine has both")
    tensors = tuple(p for h in held for p in h)  # type: ignore[union-attr]
    counter = c.sibling(mean, "num_batches_tracked")  # torch's BatchNorm holds it; the spec's batchnorm counts it
    if counter is None:
        return Refuse(f"{n.fn} with running statistics not held by a torch BatchNorm (no num_batches_tracked beside "
                      "them): convcost's batchnorm counts that buffer")
    eps, momentum = n.args.get("eps", 1e-5), n.args.get("momentum", 0.1)
    args = {"eps": eps, "momentum": momentum if momentum else 0.1, "affine": w is not None}
    return Emit("batchnorm", args, (x,), (*tensors, counter), roles=roles)


def _batch_statistics(n: Node, c: Context, x: int) -> Found:
    """A batch norm with no running statistics (``F.batch_norm(x, None, None, w, b, training=True)``, as
    nn.BatchNorm*d(track_running_stats=False) calls it in eval): `batchnorm: {track_running_stats: false}`."""
    if c.layout(x) != "map":
        return Refuse(f"{n.fn} of {c.shown(x)}: convcost's batchnorm normalises the channels of a map or flat vector")
    w, b = _v(n.args.get("weight")), _v(n.args.get("bias"))
    if (w is None) != (b is None):
        return Refuse(f"{n.fn} with a weight and no bias, or a bias and no weight: convcost's affine has both")
    held = [c.held(t, "batch norm's tensor", "param") for t in (w, b) if t is not None]
    bad = next((h for h in held if isinstance(h, Refuse)), None)
    if bad is not None:
        return bad
    tensors = tuple(p for h in held for p in h)  # type: ignore[union-attr]
    args = {"eps": n.args.get("eps", 1e-5), "momentum": n.args.get("momentum") or 0.1, "affine": w is not None,
            "track_running_stats": False}
    return Emit("batchnorm", args, (x,), tensors, roles=_roles(*held) if w is not None else ())


@leaf("native_layer_norm", "layer_norm")
def layer_norm(n: Node, c: Context) -> Found:
    x = _v(n.args.get("input"))
    if x is None:
        return Refuse(f"{n.fn} without a traced input")
    shape = c.flow.shape(x)
    if list(n.args.get("normalized_shape", ())) != [shape[-1]]:
        return Refuse(f"{n.fn} over {list(n.args.get('normalized_shape', ()))} of {c.shown(x)}: convcost's layernorm "
                      "normalises the last dim only")
    if c.layout(x) == "map" and len(shape) > 2:
        return Refuse(f"{n.fn} over the last dim of {c.shown(x)}: convcost's layernorm normalises a map's channels (at "
                      "every position, or channels-last between permutes)")
    return _affine_norm(n, c, "layernorm", {"eps": n.args.get("eps", 1e-5)}, x)


def _affine_norm(n: Node, c: Context, op: str, args: dict[str, Any], x: int) -> Found:
    w, b = _v(n.args.get("weight")), _v(n.args.get("bias"))
    scale_only = op == "layernorm" and w is not None and b is None  # nn.LayerNorm(bias=False): layernorm's bias: false
    if (w is None) != (b is None) and not scale_only:
        return Refuse(f"{n.fn} with a weight and no bias, or a bias and no weight: convcost's affine has both")
    held = [c.held(t, f"{n.fn}'s weight") for t in (w, b) if t is not None]
    bad = next((h for h in held if isinstance(h, Refuse)), None)
    if bad is not None:
        return bad
    paths = tuple(p for h in held for p in h)  # type: ignore[union-attr]
    args = {**args, "affine": w is not None, **({"bias": False} if scale_only else {})}
    return Emit(op, args, (x,), paths, roles=_roles(*held) if op != "instancenorm" else ())


@leaf("native_group_norm", "group_norm")
def group_norm(n: Node, c: Context) -> Found:
    x = _v(n.args.get("input"))
    if x is None or c.layout(x) != "map" or len(c.flow.shape(x)) < 3:
        return Refuse(f"{n.fn} of {c.shown(x) if x is not None else 'no traced input'}: convcost's groupnorm normalises a map")
    groups = n.args.get("group", n.args.get("num_groups"))
    return _affine_norm(n, c, "groupnorm", {"groups": groups, "eps": n.args.get("eps", 1e-5)}, x)


@leaf("instance_norm")
def instance_norm(n: Node, c: Context) -> Found:
    x = _v(n.args.get("input"))
    if x is None or c.layout(x) != "map" or len(c.flow.shape(x)) < 3:
        return Refuse(f"{n.fn} of {c.shown(x) if x is not None else 'no traced input'}: convcost's instancenorm "
                      "normalises a map")
    mean, var = _v(n.args.get("running_mean")), _v(n.args.get("running_var"))
    tracked = mean is not None and var is not None and not n.args.get("use_input_stats", True)
    if (mean is not None) != tracked:
        return Refuse(f"{n.fn} with running statistics it does not use: convcost's instancenorm uses them at inference")
    found = _affine_norm(n, c, "instancenorm", {"eps": n.args.get("eps", 1e-5), "momentum": n.args.get("momentum", 0.1)}, x)
    if not isinstance(found, Emit) or not tracked:
        return found
    held = [c.held(t, "instance norm's running statistics", "buffer") for t in (mean, var)]
    bad = next((h for h in held if isinstance(h, Refuse)), None)
    if bad is not None:
        return bad
    counter = c.sibling(mean, "num_batches_tracked")
    extra = tuple(p for h in held for p in h) + ((counter,) if counter else ())  # type: ignore[union-attr]
    return Emit(found.op, {**found.args, "track_running_stats": True}, found.ins, found.tensors + extra)


# ---- linear -------------------------------------------------------------------------------------------------------
@leaf("linear")
def linear(n: Node, c: Context) -> Found:
    held = _input_and_weights(n, c, "linear")
    if isinstance(held, Refuse):
        return held
    x, w, b, weight, bias = held
    shape = c.flow.shape(x)
    if c.layout(x) == "map" and len(shape) > 2:
        return Refuse(f"{n.fn} over the last dim of {c.shown(x)}: convcost's linear reads a flat vector, tokens, or a map's "
                      "channels between permutes to channels-last and back")
    return Emit("linear", {"out": c.flow.shape(w)[0], "bias": b is not None}, (x,), (*weight, *bias), roles=_roles(weight, bias))


# ---- activations ----------------------------------------------------------------------------------------------------
_PLAIN = {"relu": "relu", "sigmoid": "sigmoid", "silu": "silu", "hardswish": "hardswish", "hardsigmoid": "hardsigmoid",
          "mish": "mish", "tanh": "tanh"}


def _one(n: Node, c: Context) -> int | None:
    x = c.flow.source(n)
    return x if x is not None and c.flow.data(x) and len(set(c.data_ins(n))) == 1 else None


@leaf(*_PLAIN, *(f"{a}_" for a in _PLAIN))
def activation(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return Refuse(f"{n.fn} of more than one tensor")
    return Emit(_PLAIN[n.op.rstrip("_")], {}, (x,))


@leaf("gelu", "gelu_")
def gelu(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return Refuse(f"{n.fn} of more than one tensor")
    approximate = n.args.get("approximate", "none")
    return Emit("gelu", {"approximate": approximate} if approximate != "none" else {}, (x,))


@leaf("hardtanh", "hardtanh_")
def hardtanh(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return Refuse(f"{n.fn} of more than one tensor")
    lo, hi = n.args.get("min_val", -1.0), n.args.get("max_val", 1.0)
    if (lo, hi) == (0, 6):
        return Emit("relu6", {}, (x,))
    return Emit("hardtanh", {"min": float(lo), "max": float(hi)}, (x,))


@leaf("leaky_relu", "leaky_relu_")
def leaky_relu(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return Refuse(f"{n.fn} of more than one tensor")
    return Emit("leaky_relu", {"slope": float(n.args.get("negative_slope", 0.01))}, (x,))


# torch's SELU constants (aten/src/ATen/native/Activation.cpp): F.selu runs aten.elu with them
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


@leaf("elu", "elu_")
def elu(n: Node, c: Context) -> Found:
    """aten.elu(alpha, scale, input_scale) is ELU (scale and input_scale 1) or SELU (torch's constants: F.selu runs it;
    F.celu reaches aten as aten.celu, below)."""
    x = _one(n, c)
    if x is None:
        return Refuse(f"{n.fn} of more than one tensor")
    alpha, scale, input_scale = (float(n.args.get(k, 1.0)) for k in ("alpha", "scale", "input_scale"))
    if math.isclose(alpha, SELU_ALPHA) and math.isclose(scale, SELU_SCALE) and input_scale == 1:
        return Emit("selu", {}, (x,))
    if scale == 1 and input_scale == 1:
        return Emit("elu", {"alpha": alpha}, (x,))
    return Refuse(f"{n.fn} as aten.elu with alpha={alpha:g}, scale={scale:g}, input_scale={input_scale:g}: convcost has "
                  "elu (alpha) and selu (torch's constants)")


@leaf("celu", "celu_")
def celu(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return Refuse(f"{n.fn} of more than one tensor")
    return Emit("celu", {"alpha": float(n.args.get("alpha", 1.0))}, (x,))


@leaf("log_sigmoid_forward")
def logsigmoid(n: Node, c: Context) -> Found:
    """F.logsigmoid: aten.log_sigmoid_forward, its output and a buffer its backward reads (no code reaches that)."""
    x = _one(n, c)
    if x is None:
        return Refuse(f"{n.fn} of more than one tensor")
    return Emit("logsigmoid", {}, (x,))


@leaf("softplus")
def softplus(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return Refuse(f"{n.fn} of more than one tensor")
    return Emit("softplus", {"beta": float(n.args.get("beta", 1.0)), "threshold": float(n.args.get("threshold", 20.0))},
                (x,))


@leaf("threshold", "threshold_")
def threshold(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return Refuse(f"{n.fn} of more than one tensor")
    return Emit("threshold", {"threshold": float(n.args["threshold"]), "value": float(n.args["value"])}, (x,))


@leaf("_prelu_kernel", "prelu")
def prelu(n: Node, c: Context) -> Found:
    x, w = _v(n.args.get("self")), _v(n.args.get("weight"))
    if x is None or w is None:
        return Refuse(f"{n.fn} without a traced input and weight")
    weight = c.held(w, "PReLU's slopes")
    if isinstance(weight, Refuse):
        return weight
    return Emit("prelu", {"num_parameters": numel(c.flow.shape(w))}, (x,), weight)


@leaf("_softmax", "softmax")
def softmax(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return Refuse(f"{n.fn} of more than one tensor")
    rank = len(c.flow.shape(x))
    dim = int(n.args.get("dim", -1)) % rank
    if c.layout(x) == "map" and dim == 1:
        return Emit("softmax", {}, (x,))
    return Refuse(f"{n.fn} over dim {n.args.get('dim')} of {c.shown(x)}: convcost's softmax is over a map's channels")


# ---- pools ----------------------------------------------------------------------------------------------------------
def _pool_args(n: Node, rank: int) -> dict[str, Any]:
    kernel = _dims(n.args.get("kernel_size"), rank)
    stride = n.args.get("stride") or None
    args: dict[str, Any] = {"kernel": kernel}
    if stride is not None and _dims(stride, rank) != kernel:
        args["stride"] = _dims(stride, rank)
    args["padding"] = _dims(n.args.get("padding", 0), rank)
    args["ceil_mode"] = bool(n.args.get("ceil_mode", False))
    return args


@leaf(*(f"max_pool{d}d{s}" for d in (1, 2, 3) for s in ("", "_with_indices")))
def max_pool(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None or c.layout(x) != "map":
        return Refuse(f"{n.fn} of {c.shown(x) if x is not None else 'more than one tensor'}: convcost pools a map")
    rank = len(c.flow.shape(x)) - 2
    if _dims(n.args.get("dilation", 1), rank) != 1:
        return Refuse(f"{n.fn} with dilation={n.args.get('dilation')}: convcost's maxpool cannot express it")
    if c.used_output(n, 1):
        return Refuse(f"{n.fn} with its indices used: convcost's maxpool returns the pooled map only")
    return Emit("maxpool", _pool_args(n, rank), (x,))


@leaf("avg_pool1d", "avg_pool2d", "avg_pool3d")
def avg_pool(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None or c.layout(x) != "map":
        return Refuse(f"{n.fn} of {c.shown(x) if x is not None else 'more than one tensor'}: convcost pools a map")
    rank = len(c.flow.shape(x)) - 2
    divisor = n.args.get("divisor_override")
    return Emit("avgpool", {**_pool_args(n, rank), "count_include_pad": bool(n.args.get("count_include_pad", True)),
                            **({"divisor": int(divisor)} if divisor is not None else {})}, (x,))


@leaf("_adaptive_avg_pool1d", "_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool1d",
      "adaptive_avg_pool2d", "adaptive_avg_pool3d")
def adaptive_avg_pool(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None or c.layout(x) != "map":
        return Refuse(f"{n.fn} of {c.shown(x) if x is not None else 'more than one tensor'}: convcost pools a map")
    out = spec_dims(list(c.flow.shape(n.outs[0])[2:]))
    return Emit("global_avgpool", {}, (x,)) if out == 1 else Emit("adaptive_avgpool", {"out": out}, (x,))


@leaf("adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d")
def adaptive_max_pool(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None or c.layout(x) != "map":
        return Refuse(f"{n.fn} of {c.shown(x) if x is not None else 'more than one tensor'}: convcost pools a map")
    if c.used_output(n, 1):
        return Refuse(f"{n.fn} with its indices used: convcost's adaptive_maxpool returns the pooled map only")
    return Emit("adaptive_maxpool", {"out": spec_dims(list(c.flow.shape(n.outs[0])[2:]))}, (x,))


@leaf("lp_pool1d", "lp_pool2d", "lp_pool3d")
def lp_pool(n: Node, c: Context) -> Found:
    """F.lp_pool*d (nn.LPPool*d's forward), recorded whole (importer/record.py): `lppool`."""
    x = _v(n.args.get("input"))
    if x is None or not c.flow.data(x) or c.layout(x) != "map":
        return Refuse(f"{n.fn} of {c.shown(x) if x is not None else 'no traced input'}: convcost pools a map")
    norm = n.args.get("norm_type")
    if not isinstance(norm, (int, float)) or isinstance(norm, bool) or not 0 < float(norm) < float("inf"):
        return Refuse(f"{n.fn} with norm_type={norm}: convcost's lppool takes a finite positive power (norm_type=inf is "
                      "a max pool of |x|: write abs and maxpool)")
    rank = len(c.flow.shape(x)) - 2
    kernel = _dims(n.args.get("kernel_size"), rank)
    args: dict[str, Any] = {"norm": float(norm), "kernel": kernel}
    stride = n.args.get("stride")
    if stride is not None and _dims(stride, rank) != kernel:
        args["stride"] = _dims(stride, rank)
    args["ceil_mode"] = bool(n.args.get("ceil_mode", False))
    return Emit("lppool", args, (x,))


@leaf("fractional_max_pool2d", "fractional_max_pool3d", "fractional_max_pool2d_with_indices",
      "fractional_max_pool3d_with_indices")
def fractional_max_pool(n: Node, c: Context) -> Found:
    """F.fractional_max_pool*d (nn.FractionalMaxPool*d's forward), recorded whole (importer/record.py): the random offsets
    it draws are its own, not the model's data."""
    x = _v(n.args.get("input"))
    if x is None or not c.flow.data(x) or c.layout(x) != "map":
        return Refuse(f"{n.fn} of {c.shown(x) if x is not None else 'no traced input'}: convcost pools a map")
    if _v(n.args.get("_random_samples")) is not None:
        return Refuse(f"{n.fn} with fixed _random_samples: convcost's fractional_maxpool draws them as torch does")
    if c.used_output(n, 1):
        return Refuse(f"{n.fn} with its indices used: convcost's fractional_maxpool returns the pooled map only")
    rank = len(c.flow.shape(x)) - 2
    args: dict[str, Any] = {"kernel": _dims(n.args.get("kernel_size"), rank)}
    ratio = n.args.get("output_ratio")
    if n.args.get("output_size") is None and ratio is not None:
        args["ratio"] = spec_dims(list(ratio) if isinstance(ratio, (list, tuple)) else [ratio] * rank)
    else:
        args["out"] = spec_dims(list(c.flow.shape(n.outs[0])[2:]))
    return Emit("fractional_maxpool", args, (x,))


@leaf("max_unpool2d", "max_unpool3d")
def max_unpool(n: Node, c: Context) -> Found:
    """nn.MaxUnpool*d / F.max_unpool*d: refused (docs/import.md): it reads a max pool's indices, the pool's second
    output, and a spec layer makes one tensor."""
    return Refuse(f"{n.fn}: it places values at a max pool's indices (return_indices=True), the pool's second output, "
                  "which no convcost layer makes: each makes one tensor", whatever=True)


@leaf("mean")
def mean(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return Refuse(f"{n.fn} of more than one tensor")
    shape = c.flow.shape(x)
    rank = len(shape)
    dims = n.args.get("dim")
    over = {int(d) % rank for d in ([dims] if isinstance(dims, int) else dims or range(rank))}
    keep = bool(n.args.get("keepdim", False))
    if c.layout(x) == "tokens" and over == {1} and not keep:
        return Emit("token_pool", {"mode": "mean"}, (x,), layout="map")
    spatial = set(range(2, rank))
    if c.layout(x) == "map" and spatial and over == spatial:
        if n.fn.startswith("adaptive_avg_pool") and keep:  # nn.AdaptiveAvgPool2d(1), F.adaptive_avg_pool2d(x, 1)
            return Emit("global_avgpool", {}, (x,))
        pool = Emit("global_avgpool", {"mean": True}, (x,), out=-1 if not keep else None, suffix="_pool" if not keep else "")
        return pool if keep else Several((pool, Emit("flatten", {}, (-1,))))
    return Refuse(f"{n.fn} over dims {sorted(over)} of {c.shown(x)}: convcost averages a map over all its spatial dims, "
                  "or tokens over the sequence")


# ---- resampling ------------------------------------------------------------------------------------------------------
_MODES = {"nearest": "nearest", "linear": "linear", "bilinear": "bilinear", "bicubic": "bicubic", "trilinear": "trilinear",
          "nearest_exact": "nearest-exact"}
# the aten op of each mode (and antialias) -> (mode, antialias)
_UPSAMPLE = {**{f"upsample_{m}{d}d": (m, False) for m in _MODES for d in (1, 2, 3) if m != "nearest_exact"},
             **{f"_upsample_nearest_exact{d}d": ("nearest_exact", False) for d in (1, 2, 3)},
             "_upsample_bilinear2d_aa": ("bilinear", True), "_upsample_bicubic2d_aa": ("bicubic", True)}


@leaf(*_UPSAMPLE)
def upsample(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None or c.layout(x) != "map":
        return Refuse(f"{n.fn} of {c.shown(x) if x is not None else 'more than one tensor'}: convcost resamples a map")
    mode, antialias = _UPSAMPLE[n.op]
    rank = len(c.flow.shape(x)) - 2
    scales = n.args.get("scale_factors")
    if scales is None:
        found = [n.args.get(k) for k in ("scales", "scales_d", "scales_h", "scales_w") if k in n.args]
        scales = found if found and None not in found else None
    insize, outsize = c.flow.shape(x)[2:], c.flow.shape(n.outs[0])[2:]
    args: dict[str, Any]
    if scales is not None and all(int(i * s) == o for i, s, o in zip(insize, scales, outsize)):
        args = {"scale": _dims([float(s) if not float(s).is_integer() else int(s) for s in scales], rank)}
    else:
        # as the code wrote it: F.interpolate(x, size=(8, 8)) a list, size=8 one number (calflops counts them apart)
        args = {"size": list(outsize) if n.args.get("size_written") == "list" else spec_dims(list(outsize))}
    args["mode"] = _MODES[mode]
    if not mode.startswith("nearest"):
        args["align_corners"] = bool(n.args.get("align_corners", False))
    if antialias:
        args["antialias"] = True
    return Emit("upsample", args, (x,))


# ---- joins -----------------------------------------------------------------------------------------------------------
@leaf("cat", "concat", "concatenate")
def cat(n: Node, c: Context) -> Found:
    parts = n.args.get("tensors") or []
    ids = [_v(p) for p in parts]
    if any(i is None or not c.flow.data(i) for i in ids):
        return Refuse(f"{n.fn} of a parameter or a tensor made in the forward: convcost concatenates traced tensors")
    vals = [i for i in ids if i is not None]
    if len(vals) == 1:  # torch.cat([x], 1): x (DenseNet's first layer of a block)
        return Pass(vals[0])
    rank = len(c.flow.shape(vals[0]))
    dim = int(n.args.get("dim", 0)) % rank
    layouts = {c.layout(v) for v in vals}
    if layouts == {"map"} and dim == 1 and rank >= 2:
        return Emit("concat", {}, tuple(vals))
    if layouts == {"tokens"} and dim == 1:
        return Emit("concat", {}, tuple(vals), layout="tokens")
    return Refuse(f"{n.fn} along dim {n.args.get('dim', 0)} of {c.shown(vals[0])}: convcost concatenates a map's channels "
                  "(dim=1) or token sequences")


@leaf("add", "add_")
def add(n: Node, c: Context) -> Found:
    return _binary(n, c, "add")


@leaf("mul", "mul_")
def mul(n: Node, c: Context) -> Found:
    return _binary(n, c, "multiply")


def _binary(n: Node, c: Context, op: str) -> Found:
    a, b = n.args.get("self"), n.args.get("other")
    if n.args.get("alpha", 1) != 1:
        return Refuse(f"{n.fn} with alpha={n.args.get('alpha')}: convcost adds branches as they are")
    va, vb = _v(a), _v(b)
    what = "adds" if op == "add" else "multiplies"
    neutral = 0 if op == "add" else 1  # x + 0 (MobileOne's absent identity branch), x * 1: x
    if (va is None and a == neutral and vb is not None) or (vb is None and b == neutral and va is not None):
        return Pass(va if va is not None else vb)  # type: ignore[arg-type]
    if va is None or vb is None:
        return Refuse(f"{n.fn} with a constant: convcost {what} traced tensors only")
    for v in (va, vb):
        if not c.flow.data(v):
            kind = "a parameter or buffer" if c.flow.weight(v) else "a tensor made in the forward"
            return Refuse(f"{n.fn} with {kind} ({c.shown(v)}): convcost {what} traced tensors only")
    if op == "add" and c.flow.shape(va) != c.flow.shape(vb):
        return Refuse(f"{n.fn} of {c.shown(va)} and {c.shown(vb)}: convcost adds tensors of one shape")
    if c.layout(va) != c.layout(vb):
        return Refuse(f"{n.fn} of {c.shown(va)} and {c.shown(vb)}: one is tokens, the other a map")
    out = c.flow.shape(n.outs[0])
    if op == "multiply" and c.flow.shape(va) != out:  # the gate first: the spec's multiply broadcasts its second input
        va, vb = vb, va
    return Emit(op, {}, (va, vb))


# ---- reshapes --------------------------------------------------------------------------------------------------------
@leaf("view", "_unsafe_view", "reshape", "flatten")
def view(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return Refuse(f"{n.fn} of more than one tensor")
    shape, out = c.flow.shape(x), c.flow.shape(n.outs[0])
    if shape == out:
        return Pass(x)
    if c.layout(x) == "map" and len(out) == 2 and len(shape) >= 3 and out[0] == shape[0]:
        return Emit("flatten", {}, (x,))
    return Refuse(f"{n.fn} of {c.shown(x)} to {list(out)}: convcost reshapes a map to a flat vector (flatten), a map to "
                  "tokens and back (x.flatten(2).transpose(1, 2), x.transpose(1, 2).reshape(B, D, H, W)), or in a channel "
                  "shuffle")


@leaf("transpose", "permute", "t", "swapaxes", "swapdims")
def swap(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return Refuse(f"{n.fn} of more than one tensor")
    return Refuse(f"{n.fn} of {c.shown(x)}: convcost moves dims only between a map and tokens (to_tokens, to_map), to "
                  "channels-last and back around per-position layers, and in a channel shuffle")


@leaf("slice")
def channel_slice(n: Node, c: Context) -> Found:
    """``x[:, a:b]`` of a map: the channels a..b as a `chunk` (``sizes`` [a, b - a, C - b] without empty parts)."""
    x = _one(n, c)
    if x is None:
        return Refuse(f"{n.fn} of more than one tensor")
    shape = c.flow.shape(x)
    rank = len(shape)
    dim = int(n.args.get("dim", 0)) % rank
    size = shape[dim]
    start, end, step = n.args.get("start") or 0, n.args.get("end"), n.args.get("step", 1)
    start = max(0, start + size if start < 0 else min(start, size))
    end = size if end is None else max(0, end + size if end < 0 else min(end, size))
    if start == 0 and end == size and step == 1:
        return Pass(x)
    if c.layout(x) != "map" or dim != 1 or step != 1 or end <= start:
        return Refuse(f"slicing x[...] along dim {n.args.get('dim')} ({start}:{end}:{step}) of {c.shown(x)}: convcost slices "
                      "a map's channels (x[:, a:b]) only")
    sizes = [s for s in (start, end - start, size - end) if s]
    return Emit("chunk", {"index": 1 if start else 0, "sizes": sizes}, (x,))


@leaf("select")
def select(n: Node, c: Context) -> Found:
    x = _one(n, c)
    if x is None:
        return Refuse(f"{n.fn} of more than one tensor")
    rank = len(c.flow.shape(x))
    if c.layout(x) == "tokens" and int(n.args.get("dim", 0)) % rank == 1 and n.args.get("index") == 0:
        return Emit("token_pool", {}, (x,), layout="map")
    return Refuse(f"indexing x[...] (dim {n.args.get('dim')}, index {n.args.get('index')}) of {c.shown(x)}: convcost takes "
                  "the first token (x[:, 0]) of tokens only")


# ---- channel slices ----------------------------------------------------------------------------------------------------
@leaf("split", "split_with_sizes", "unsafe_split", "unsafe_split_with_sizes", "chunk", "unbind")
def split(n: Node, c: Context) -> Found:
    """The used parts of ``x.chunk(n, dim=1)`` / ``x.split(size_or_sizes, dim=1)``: one `chunk` layer each (index k;
    ``parts`` when equal and not 2, ``sizes`` where they differ or the code listed them); a part never used is none."""
    x = _one(n, c)
    if x is None:
        return Refuse(f"{n.fn} of more than one tensor")
    rank = len(c.flow.shape(x))
    dim = int(n.args.get("dim", 0)) % rank
    if c.layout(x) != "map" or dim != 1 or n.op == "unbind":
        return Refuse(f"{n.fn} along dim {n.args.get('dim', 0)} of {c.shown(x)}: convcost's chunk slices a map's "
                      "channels (dim=1) only")
    sizes = [c.flow.shape(o)[1] for o in n.outs]
    args: dict[str, Any] = {}
    if n.op.endswith("with_sizes") or len(set(sizes)) > 1:
        args["sizes"] = sizes
    elif len(sizes) != 2:
        args["parts"] = len(sizes)
    parts = tuple(Emit("chunk", {"index": k, **args, "count": len(sizes)}, (x,), out=o) for k, o in enumerate(n.outs)
                  if c.flow.users.get(o))
    return Several(parts)


# ---- shuffles ----------------------------------------------------------------------------------------------------------
@leaf("pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle")
def shuffle(n: Node, c: Context) -> Found:
    """nn.PixelShuffle / nn.PixelUnshuffle / nn.ChannelShuffle and their functions, each one aten op of a map (the
    view/transpose spelling of a channel shuffle is a pattern: importer/patterns.py)."""
    x = _one(n, c)
    if x is None or c.layout(x) != "map":
        return Refuse(f"{n.fn} of {c.shown(x) if x is not None else 'more than one tensor'}: convcost shuffles a map")
    if n.op.endswith("channel_shuffle"):
        return Emit("channel_shuffle", {"groups": int(n.args["groups"])}, (x,))
    factor = n.args.get("upscale_factor", n.args.get("downscale_factor"))
    return Emit(n.op, {"factor": int(factor)}, (x,))


# ---- modules kept whole ---------------------------------------------------------------------------------------------
_ATTENTION_ARGS = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask", "average_attn_weights", "is_causal")


def attention_call(args: list[Any], kwargs: dict[str, Any]) -> str | None:
    """Why convcost's `attention` cannot express this call of nn.MultiheadAttention, or None."""
    bound = {**dict(zip(_ATTENTION_ARGS, args)), **kwargs}
    q, k, v = (bound.get(n) for n in _ATTENTION_ARGS[:3])
    if not (isinstance(q, V) and q == k and k == v):
        return "called with different query, key and value (cross-attention): convcost's 'attention' is self-attention"
    for mask in ("key_padding_mask", "attn_mask"):
        if bound.get(mask) is not None:
            return f"called with {mask}: convcost's 'attention' has no mask"
    if bound.get("is_causal"):
        return "called with is_causal=True: convcost's 'attention' has no mask"
    return None


@leaf("module")
def module(n: Node, c: Context) -> Found:
    """A module kept whole (nn.MultiheadAttention): what its op definition makes of it, checked against the call, with
    what the definition reads of the call's other arguments (``from_call``: MViT's thw grid)."""
    found, args, kwargs = n.args["found"], n.args["args"], n.args["kwargs"]
    call = c.rec.calls[n.call]
    if isinstance(found, str):
        return Refuse(found)
    op, op_args = found
    problem = attention_call(args, kwargs) if op == "attention" else None
    if problem is not None:
        return Refuse(f"nn.{call.cls} {problem}")
    if op == "attention" and c.used_output(n, 1):
        return Refuse("the attention weights (nn.MultiheadAttention's output 1): convcost's 'attention' does not return them")
    x = args[0].id if args and isinstance(args[0], V) else None
    if x is None or not c.flow.data(x):
        return Refuse(f"nn.{call.cls} without a traced input")
    from_call = rule(op).from_call
    if from_call is not None:
        more = from_call(list(args[1:]), dict(kwargs))
        if isinstance(more, str):
            return Refuse(f"{call.cls} {more}")
        op_args = {**op_args, **more}
    tensors = tuple(p for p in c.rec.tensors if p.startswith(f"{call.path}.") and p not in c.rec.tied)
    return Emit(op, dict(op_args), (x,), tensors, layout="tokens" if op in TOKEN_OPS else "grid" if op in GRID_OPS else "")


# torchvision's Swin modules kept whole (v1, v2 and video Swin's 3-D attention): a token grid in and out
GRID_OPS = ("window_attention", "patch_merging", "window_attention_v2", "patch_merging_v2", "window_attention_3d")
# modules kept whole that give tokens: nn.MultiheadAttention; torchvision MViT's MultiscaleAttention, PositionalEncoding, Pool
TOKEN_OPS = ("attention", "pooling_attention", "spacetime_embed", "grid_pool")


def leaf_op(n: Node, c: Context) -> Found:
    """The layer a node is on its own: its named op, else the general op for it (importer/general.py), or why not."""
    from .general import GENERAL

    fn = TABLE.get(n.op)
    found = fn(n, c) if fn is not None else None
    if found is None or isinstance(found, Refuse):
        alt = GENERAL[n.op](n, c) if n.op in GENERAL else None
        if alt is not None and not isinstance(alt, Refuse):
            return alt
        found = alt or found  # the general op's reason where both refuse: it says what no op can
    if found is not None:
        return found
    if n.fn in ("bernoulli", "bernoulli_", "rand", "randn", "rand_like", "randn_like", "dropout", "native_dropout"):
        return Refuse(f"{n.fn}: random values (dropout or stochastic depth in training mode): convcost counts inference "
                      "(call model.eval())")
    if n.fn != n.op.rstrip("_"):  # F.interpolate(mode='nearest-exact'), x[[2, 0, 1]], torch.max(x, 1): the function has
        # convcost ops for its other forms, so name the aten op this call ran, not the function
        called = "x[...]" if n.fn == "getitem" else n.spelled or n.fn
        return Refuse(f"{called} as aten.{n.op} is not a convcost op", whatever=True)
    return Refuse(f"{n.fn} is not a convcost op", whatever=True)
