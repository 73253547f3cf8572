"""A convolution whose weight is not a parameter (torch-free): conv's `weight: standardised` / `scaled` / `fixed`.

timm's StdConv2d (BiT) and ScaledStdConv2d (NFNets) convolve with ``F.batch_norm(self.weight.reshape(1, C_out,
-1), None, None, weight=gain, training=True, momentum=0., eps=eps).reshape_as(self.weight)``, where ScaledStdConv2d's
``gain`` is ``(self.gain * self.scale).view(-1)``: its learned (C_out, 1, 1, 1) gain times gamma/√fan-in. The trace
shows the reshape, the training-mode batch norm with no running statistics and no bias, the reshape back, and for
the gain a multiply by a number. Anything else computed from parameters stays a weight convcost cannot hold.

timm's BlurPool2d convolves with a fixed filter held as a buffer (``F.conv2d(x, self.filt, groups=C)``): conv's
`weight: fixed`, whose weight counts as buffers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .flow import RESHAPES, first_tensor, numel
from .found import Refuse
from .graph import V

if TYPE_CHECKING:
    from .graph import Node
    from .recognise import Context

BATCH_NORMS = frozenset({"native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_functional",
                         "batch_norm", "_batch_norm_impl_index", "cudnn_batch_norm", "miopen_batch_norm"})
_VIEWS = RESHAPES | {"reshape_as", "view_as"}


@dataclass(frozen=True)
class StdWeight:
    """The conv's arguments for its weight's form, and the parameters the weight is made of (role, path)."""

    args: dict[str, Any]
    held: tuple[tuple[str, str], ...]  # ('weight', path), ('gain', path)


def _behind_views(c: Context, v: int) -> tuple[int, Node | None]:
    """``v`` with the reshapes that made it undone, and the node that made that value."""
    p = c.flow.producer(v)
    while p is not None and p.op in _VIEWS and (src := first_tensor(p)) is not None:
        v, p = src, c.flow.producer(src)
    return v, p


def _param(c: Context, v: Any, numel_wanted: int, what: str) -> str | Refuse:
    path = c.flow.param(v) if isinstance(v, V) else None
    if path is None or c.rec.tensors[path][0] != "param":
        return Refuse(f"a standardised convolution weight whose {what} is not a parameter: convcost's conv holds its "
                      "weight and gain")
    if numel(c.rec.tensors[path][1]) != numel_wanted:
        return Refuse(f"a standardised convolution weight whose {what} ({path}) has {numel(c.rec.tensors[path][1])} "
                      f"values, not {numel_wanted}")
    return path


def fixed(c: Context, w: int) -> StdWeight | None:
    """The convolution weight ``w`` as a buffer (or a view of one, with as many values): `weight: fixed`."""
    path = c.flow.param(w)
    if path is None or c.rec.tensors[path][0] != "buffer" or numel(c.rec.tensors[path][1]) != numel(c.flow.shape(w)):
        return None
    return StdWeight({"weight": "fixed"}, (("filter", path),))


def standardised(c: Context, w: int) -> StdWeight | Refuse | None:
    """How the convolution weight ``w`` (a value computed from parameters) was standardised, or None: not a
    standardised weight (a parameter, or something else: the caller says why it cannot hold it)."""
    if c.flow.data(w):
        return None
    shape = c.flow.shape(w)
    made, bn = _behind_views(c, w)
    if bn is None or bn.op not in BATCH_NORMS or not bn.outs or made != bn.outs[0] or len(shape) < 3:
        return None
    if not bn.args.get("training", False) or any(bn.args.get(k) is not None for k in ("running_mean", "running_var")):
        return Refuse(f"a convolution weight normalised by {bn.fn} with running statistics: convcost standardises a "
                      "weight over each output channel's values (timm's StdConv2d)")
    if bn.args.get("bias") is not None:
        return Refuse(f"a convolution weight standardised by {bn.fn} with a shift (bias): convcost's scaled weight has "
                      "a gain and no shift")
    out, total = shape[0], numel(shape)
    x = bn.args.get("input")
    if not isinstance(x, V) or c.flow.shape(x.id)[:2] != (1, out):
        return Refuse(f"a convolution weight standardised by {bn.fn} over other groups than each output channel's "
                      "fan-in: convcost standardises over C_in/groups · kernel per output channel")
    weight = _param(c, x, total, "weight")
    if isinstance(weight, Refuse):
        return weight
    eps = float(bn.args.get("eps", 1e-5))
    gain = bn.args.get("weight")
    if gain is None:
        return StdWeight({"weight": "standardised", "eps": eps}, (("weight", weight),))
    if not isinstance(gain, V):
        return Refuse(f"a convolution weight standardised by {bn.fn} with a gain it cannot read")
    made, mul = _behind_views(c, gain.id)
    factor = mul.args.get("other") if mul is not None and mul.op == "mul" and made == mul.outs[0] else None
    if mul is None or not isinstance(factor, (int, float)) or isinstance(factor, bool):
        return Refuse(f"a convolution weight standardised by {bn.fn} with a gain not made as a parameter times a number "
                      "(timm's ScaledStdConv2d: gain · gamma/√fan-in)")
    gain_path = _param(c, mul.args.get("self"), out, "gain")
    if isinstance(gain_path, Refuse):
        return gain_path
    gamma = _gamma(float(factor), total // out)
    args = {"weight": "scaled", "eps": eps, **({"gamma": gamma} if gamma != 1.0 else {})}
    return StdWeight(args, (("weight", weight), ("gain", gain_path)))


def _gamma(scale: float, fan_in: int) -> float:
    """The gamma timm's ScaledStdConv2d was given: its scale is ``gamma * fan_in ** -0.5``. The shortest decimal
    that gives exactly that scale, near scale · √fan-in (which is off by an ulp or two); else that product."""
    near = scale * math.sqrt(fan_in)
    values = [near]
    for _ in range(3):
        values = [math.nextafter(values[0], -math.inf), *values, math.nextafter(values[-1], math.inf)]
    exact = [float(f"{v:.{k}g}") for v in values for k in range(1, 18)]
    exact = [g for g in exact if g * fan_in ** -0.5 == scale]
    return min(exact, key=lambda g: (len(repr(g)), abs(g - near))) if exact else near
