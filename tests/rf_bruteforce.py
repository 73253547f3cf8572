"""Receptive fields measured on torch: the gradient of one output position with respect to the input.

The graph is built as convcost builds it for verify (crosscheck/torch_build.py), then adjusted so that no path can
hide: float64, every weight between 0.5/fan_in and 1.5/fan_in and every bias about 0.01 (all positive, drawn at
random so that no symmetry cancels a gradient through a norm's statistics or a softmax), batch norm the identity
plus that bias, a positive input, so every ReLU passes its gradient; max pools become average pools of the same
window (a max passes its gradient to one element of the window, an average to all). The input positions where
the gradient is not zero are the positions the output position reads: their first and last per spatial dim are
its span on this input, which convcost's unbounded span must match wherever it lies inside the input
(``disagreement``).

``thin(graph)`` rebuilds a graph with one channel per conv (and linear) and the shapes that follow: a receptive
field does not depend on channel counts, so large inputs stay cheap.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from fractions import Fraction

import torch
from torch import nn

from convcost.costmodel.receptive import DimField, ReceptiveFields, Unknown, number, spatial
from convcost.crosscheck.torch_build import GraphModule, build_model
from convcost.graph.build import Graph, Node
from convcost.ops.basic import LinearArgs
from convcost.ops.conv import ConvArgs
from convcost.ops.registry import rule as op_rule
from convcost.ops.shapes import is_tokens


def thin(graph: Graph) -> Graph:
    """The graph with every conv one channel wide (groups 1) and every linear one feature wide, shapes recomputed."""
    shapes = {i.index: i.shape for i in graph.inputs}
    nodes: list[Node] = []
    for n in graph.nodes:
        args = n.args
        if isinstance(args, ConvArgs):
            args = dataclasses.replace(args, out=1, groups=1)
        elif isinstance(args, LinearArgs) and not is_tokens(n.in_shapes[0]):
            args = dataclasses.replace(args, out=1)
        ins = tuple(shapes[i] for i in n.inputs)
        out = op_rule(n.op).shape(args, ins)
        shapes[n.index] = out
        nodes.append(n._replace(args=args, in_shapes=ins, shape=out))
    return dataclasses.replace(graph, nodes=tuple(nodes))


POOLS = {nn.MaxPool1d: nn.AvgPool1d, nn.MaxPool2d: nn.AvgPool2d, nn.MaxPool3d: nn.AvgPool3d}
ADAPTIVE_POOLS = {nn.AdaptiveMaxPool1d: nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool2d: nn.AdaptiveAvgPool2d,
                  nn.AdaptiveMaxPool3d: nn.AdaptiveAvgPool3d}


def positive_model(graph: Graph) -> GraphModule:
    """The graph's torch model with nothing that can hide a path (see the module docstring)."""
    model = build_model(graph).double().eval()
    for k, (node, module) in enumerate(model.named_layers()):
        if type(module) in POOLS or type(module) in ADAPTIVE_POOLS:  # the same window, averaged: all get a gradient
            avg = POOLS[type(module)](module.kernel_size, module.stride, module.padding, module.ceil_mode) \
                if type(module) in POOLS else ADAPTIVE_POOLS[type(module)](module.output_size)
            model._layers[k] = avg
            parent = model
            for part in node.scope:
                parent = parent._modules[part]
            parent._modules[node.short_name] = avg
    gen = torch.Generator().manual_seed(0)

    def jitter(p: torch.Tensor) -> torch.Tensor:  # positive, and unequal: no symmetry can cancel a norm's gradient
        return 0.5 + torch.rand(p.shape, generator=gen, dtype=p.dtype)

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
                module.running_mean.zero_()
                module.running_var.fill_(1.0)
            for pname, p in module.named_parameters(recurse=False):
                if pname == "weight" and p.dim() > 1:
                    p.copy_(jitter(p) / (p[0].numel() or 1))
                elif pname == "weight":  # a norm's γ (Σ_c γ_c·x̂_c of a uniform γ sums the centred x̂ to 0), slopes
                    p.copy_(jitter(p))
                else:
                    p.copy_(0.01 * jitter(p))
    return model


Request = tuple[Node, tuple[int, ...], int]  # a layer, one of its output positions, a model input (0, 1, ...)
Extent = tuple[tuple[int, int] | None, ...]


def measure(graph: Graph, requests: list[Request], chunk: int = 64) -> list[Extent]:
    """For each request, per spatial dim of the model input: the first and last input position whose gradient is
    not zero (None where the output position reads nothing; all channels summed). Each request gets a sample of
    its own in the batch, so one backward answers a whole chunk of them."""
    model = positive_model(graph)
    out: list[Extent] = []
    for start in range(0, len(requests), chunk):
        part = requests[start:start + chunk]
        outputs: dict[str, torch.Tensor] = {}
        wanted = {node.name for node, _, _ in part}
        hooks = [m.register_forward_hook(_keep(outputs, node.name)) for node, m in model.named_layers()
                 if node.name in wanted]
        gen = torch.Generator().manual_seed(1)
        xs = tuple((0.5 + torch.rand((1, *i.shape), generator=gen, dtype=torch.float64)).expand(len(part), *i.shape)
                   .clone().requires_grad_() for i in graph.inputs)
        try:
            model(*xs)
        finally:
            for h in hooks:
                h.remove()
        loss = sum(outputs[node.name][_index(node, b, pos)].sum() for b, (node, pos, _) in enumerate(part))
        grads = torch.autograd.grad(loss, xs, allow_unused=True)
        for b, (_, _, k) in enumerate(part):
            out.append(_spans(grads[k], b, graph.inputs[k].shape))
    return out


def _keep(outputs: dict[str, torch.Tensor], name: str):  # type: ignore[no-untyped-def]
    def hook(module: nn.Module, inputs: object, value: torch.Tensor) -> None:
        outputs[name] = value

    return hook


def _index(node: Node, b: int, position: tuple[int, ...]) -> tuple[object, ...]:
    if is_tokens(node.shape):  # [B, N, D] (a grid: [B, H, W, D]): the width last
        return (b, *position, slice(None))
    return (b, slice(None), *position)


def _spans(grad: torch.Tensor | None, b: int, shape: tuple[int, ...]) -> Extent:
    dims = len(spatial(shape))
    if grad is None:
        return tuple(None for _ in range(dims))
    g = grad[b].abs()
    g = g.sum(-1) if is_tokens(shape) else g.sum(0)  # over the input's channels (a token input: its width)
    spans = []
    for d in range(g.dim()):
        other = tuple(i for i in range(g.dim()) if i != d)
        line = g.sum(other) if other else g
        hit = torch.nonzero(line).flatten()
        spans.append((int(hit[0]), int(hit[-1])) if len(hit) else None)
    return tuple(spans)


def disagreement(field: tuple[DimField, ...], position: tuple[int, ...], sizes: tuple[int, ...],
                 measured: Extent) -> tuple[str | None, int]:
    """How convcost's unbounded span of ``position`` fails the measured one on an input of ``sizes`` positions (None:
    it does not), and how many span ends were compared exactly.

    An end of the span inside the input must be the measured end exactly. An end outside it only bounds the
    measured one: near a border a layer may read padding, which reads no input (a padded position's span always
    reaches past the input's edge, so a span inside the input involved none: spans grow with the position, and a
    position past either end of a map reads past that end of its input)."""
    exact = 0
    spans = [None if f.whole else f.span(position[d]) for d, f in enumerate(field)] if position else []
    empty = [d for d, (f, span) in enumerate(zip(field, spans)) if not f.whole and span is None]
    if empty or all(got is None for got in measured):  # reading nothing along one dim is reading nothing at all
        outside = [d for d, (span, n) in enumerate(zip(spans, sizes)) if span is not None and (span[1] < 0 or span[0] > n - 1)]
        if any(got is not None for got in measured):
            return f"dims {empty}: convcost reads nothing, torch {measured}", exact
        if not empty and not outside:
            return f"torch reads nothing, convcost {spans}", exact
        return None, exact
    for d, (f, n, got) in enumerate(zip(field, sizes, measured)):
        assert got is not None
        lo, hi = got
        if f.whole:
            if lo != 0 or hi > n - 1:
                return f"dim {d}: global, but torch reads {got}", exact
            continue
        span = spans[d]
        assert span is not None
        a, b = span
        if a >= 0:
            exact += 1
            if lo != a:
                return f"dim {d}: span {(number(a), number(b))} starts at {number(a)}, torch at {lo}", exact
        elif lo < 0:
            return f"dim {d}: torch {got}", exact
        if b <= n - 1:
            exact += 1
            if hi != b:
                return f"dim {d}: span {(number(a), number(b))} ends at {number(b)}, torch at {hi}", exact
        elif hi > n - 1:
            return f"dim {d}: torch {got}", exact
        if lo > hi:
            return f"dim {d}: torch {got}", exact
    return None, exact


def probes(shape: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    """The first, a middle and the last position of every spatial dim, together."""
    for pick in (lambda n: 0, lambda n: n // 2, lambda n: n - 1):
        yield tuple(pick(n) for n in shape)


def lines(shape: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    """Every position along each spatial dim, the others in their middle."""
    for d, n in enumerate(shape):
        for i in range(n):
            yield tuple(i if e == d else m // 2 for e, m in enumerate(shape))


def centred(field: tuple[DimField, ...], shape: tuple[int, ...], sizes: tuple[int, ...]) -> tuple[int, ...]:
    """The position whose span's centre is nearest the input's centre (its span is unclipped where it fits)."""
    out = []
    for f, n, size in zip(field, shape, sizes):
        best, pos = None, 0
        for p in range(n):
            span = f.span(p)
            if span is None:
                continue
            gap = abs((span[0] + span[1]) / 2 - Fraction(size - 1, 2))
            if best is None or gap < best:
                best, pos = gap, p
        out.append(pos)
    return tuple(out)


def _token_grid(field: tuple[DimField, ...], n: int, sizes: tuple[int, ...]) -> tuple[tuple[int, int], int] | None:
    """A token sequence made from a map (patch_embed, to_tokens): token k is grid position divmod(k, width), after
    ``first`` tokens prepended (a class token), the grid being the input's size over the jump."""
    if len(field) != 2 or any(f.whole for f in field):
        return None
    grid = (int(sizes[0] // field[0].jump), int(sizes[1] // field[1].jump))
    first = n - grid[0] * grid[1]
    return (grid, first) if first in (0, 1) else None


def compare(rf: ReceptiveFields, every: bool = False, graph: Graph | None = None, only: set[str] | None = None,
            chunk: int = 64, where: str = "probes") -> tuple[int, list[str]]:
    """Every layer's span (of ``rf``) against the one measured on ``graph`` (default: rf's own; a thinned graph has
    the same positions), at ``where``: 'probes' (first, middle, last), 'lines' (every position along each dim),
    'centred' (the one position most likely unclipped) or 'all' (``every``). Returns how many span ends were
    compared exactly (see ``disagreement``) and the mismatches."""
    g = rf.graph
    requests: list[Request] = []
    expected: list[tuple[tuple[DimField, ...], tuple[int, ...], tuple[int, ...]]] = []
    for lr in rf.layers:
        node = lr.node
        if only is not None and node.name not in only:
            continue
        dims = spatial(node.shape)
        for key, field in lr.fields.items():
            sizes = spatial(g.input_for(key).shape)
            if isinstance(field, Unknown):
                raise AssertionError(f"{node.name}: unknown ({field.why})")
            if any(d.moved for d in field):
                continue  # its elements were moved to other positions: what each reads is kept, not where it sits
            pairs: list[tuple[tuple[int, ...], tuple[int, ...]]]  # (position in the output, position of the field)
            tokens = _token_grid(field, dims[0], sizes) if len(dims) == 1 and len(field) == 2 else None
            if tokens is not None:  # a sequence of a map's tokens
                (gh, gw), first = tokens
                pairs = [((first + k,), divmod(k, gw)) for k in range(gh * gw)]
            elif len(field) != len(dims) or all(f.whole for f in field):  # global: every position reads everything
                if not all(f.whole for f in field):
                    continue
                whole = [(pos, (0,) * len(field)) for pos in (itertools.product(*(range(n) for n in dims)))]
                pairs = whole if where == "all" or every else whole[:1] + whole[-1:]
            else:
                if every or where == "all":
                    positions = list(itertools.product(*(range(n) for n in dims)))
                elif where == "lines":
                    positions = list(dict.fromkeys(lines(dims)))
                elif where == "centred":
                    positions = [centred(field, dims, sizes)]
                else:
                    positions = list(dict.fromkeys(probes(dims)))
                pairs = [(pos, pos) for pos in positions]
            for pos, at in pairs:
                requests.append((node, pos, -1 - key))  # INPUT (-1) is input 0, INPUT - 1 input 1
                expected.append((field, at, sizes))
    target = graph or g
    by_name = {n.name: n for n in target.nodes}
    got = measure(target, [(by_name[n.name], pos, k) for n, pos, k in requests], chunk)
    bad, exact = [], 0
    for (node, pos, _), (field, at, sizes), measured in zip(requests, expected, got):
        why, n = disagreement(field, at, sizes, measured)
        exact += n
        if why is not None:
            bad.append(f"{node.name} ({node.op}) at {pos}: {why}")
    return exact, bad
