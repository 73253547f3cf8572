"""Stable JSON for scripts and CI baselines (documented in docs/json.md)."""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from ..costmodel.analysis import Analysis
from ..costmodel.convention import DEFAULT, ConventionView
from ..costmodel.extras import NONE, Extras
from ..graph.build import Graph
from ..ops.shapes import Shape, grid_of, layout

SCHEMA = "convcost.analyze/1"


def shape_list(graph: Graph, shape: tuple[int, ...]) -> list[int]:
    return [graph.batch, *shape]


def layout_dict(shape: Shape) -> dict[str, Any]:
    """Tokens say so: "layout" 'tokens' ([B, N, D]) or 'token_grid' ([B, H, W, D], with its "grid": [H, W]; [T, H, W]);
    a map (the only layout before tokens) has neither field, so earlier documents read the same."""
    kind = layout(shape)
    if kind == "map":
        return {}
    grid = grid_of(shape)
    return {"layout": kind, **({"grid": list(grid)} if grid is not None else {})}


def io_dict(g: Graph) -> dict[str, Any]:
    """Every input and output by name (a model may have several; 'input'/'output' are the first)."""
    return {
        "inputs": [{"name": i.name, "shape": shape_list(g, i.shape), **layout_dict(i.shape)} for i in g.inputs],
        "outputs": [{"name": n.name, "shape": shape_list(g, n.shape), **layout_dict(n.shape)} for n in g.output_nodes],
    }


def parts_dict(a: Analysis, lc: Any) -> dict[str, Any]:
    """A layer's named pieces (attention's qkv, q·kᵀ, softmax, ...), for layers whose op has them."""
    node = lc.node
    if node.rule.parts is None:
        return {}
    parts = node.rule.parts(node.args, node.in_shapes, node.shape, a.graph.batch)
    return {"parts": [{"name": p.name, "op": p.op, "shape": shape_list(a.graph, p.shape), **p.cost.as_dict()} for p in parts]}


def model_dict(a: Analysis, view: ConventionView | None = None, extras: Extras = NONE) -> dict[str, Any]:
    if view is not None:  # convention_out (and what it imports) loads only for --convention: start-up time
        from .convention_out import json_dict
    g = a.graph
    counted = {} if view is None else {lc.node.name: view.layers[lc.node.name].value for lc in a.layers}
    t, rf = extras.training, extras.rf
    if t is not None or rf is not None:  # their renderers load only when --training or --rf asked for them
        from .extras_out import layer_training_json, rf_json, training_json
    per_layer = layer_training_json(t) if t is not None else {}
    doc = {
        "name": g.model,
        "file": g.file,
        "description": g.description,
        "batch": g.batch,
        "input": shape_list(g, g.input_shape),
        "output": shape_list(g, g.output.shape),
        **io_dict(g),
        "totals": a.total.as_dict(),
        "convention": json_dict(view) if view is not None else {"name": DEFAULT},
        "uncounted": list(a.uncounted),
        "by_category": {cat: c.as_dict() for cat, c in sorted(a.by_category().items())},
        **({"training": training_json(t)} if t is not None else {}),
        "scopes": [
            {"name": s.name, "kind": s.kind, "label": s.label, "totals": a.scope_total(s.path).as_dict(),
             **({"training": {"backward": t.scope_backward(s.path).as_dict(),
                              "trainable_params": t.scope_trainable.get(s.path, 0)}} if t is not None else {})}
            for s in g.scopes
        ],
        "layers": [
            {
                "name": lc.node.name,
                "op": lc.node.op,
                "category": lc.node.rule.category,
                "scope": ".".join(lc.node.scope),
                "inputs": [g.name_of(i) for i in lc.node.inputs],
                "output_shape": shape_list(g, lc.node.shape),
                **lc.cost.as_dict(),
                **layout_dict(lc.node.shape),
                **parts_dict(a, lc),
                **({"convention": counted[lc.node.name]} if view is not None else {}),
                **({"training": per_layer[lc.node.name]} if t is not None else {}),
                **({"rf": rf_json(rf.by_name[lc.node.name].fields, g)} if rf is not None else {}),
            }
            for lc in a.layers
        ],
    }
    return doc


def render_json(analyses: list[Analysis], views: list[ConventionView] | None = None,
                extras: list[Extras] | None = None) -> str:
    """Indented JSON whose list items (layers, scopes) sit one per line: readable and fast for big nets."""
    more = extras or [NONE for _ in analyses]
    doc = {"schema": SCHEMA, "convcost": __version__,
           "models": [model_dict(a, v, e) for a, v, e in zip(analyses, views or [None] * len(analyses), more)]}
    return _dump(doc, 0) + "\n"


def _expands(value: Any) -> bool:
    """Dicts holding lists of records are laid out over several lines; records stay on one line."""
    return isinstance(value, dict) and any(
        (isinstance(v, list) and v and isinstance(v[0], dict)) or (isinstance(v, dict) and _expands(v))
        for k, v in value.items() if k not in ("parts", "rf")  # a layer's parts and fields stay on its line
    )


def _dump(value: Any, indent: int) -> str:
    pad, inner = "  " * indent, "  " * (indent + 1)
    if _expands(value):
        items = [f"{inner}{json.dumps(k)}: {_dump(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and value and isinstance(value[0], dict):
        if _expands(value[0]):
            return "[\n" + ",\n".join(inner + _dump(v, indent + 1) for v in value) + "\n" + pad + "]"
        return "[\n" + ",\n".join(inner + _scalar_json(v) for v in value) + "\n" + pad + "]"
    return _scalar_json(value)


# json.dumps with options builds a new encoder per call; one encoder serves every row
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)  # every count is an integer: never Infinity/NaN


def _scalar_json(value: Any) -> str:
    return _ENCODER.encode(value)
