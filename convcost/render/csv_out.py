"""One CSV row per layer, exact integers."""

from __future__ import annotations

import csv
import io

from ..cost import Cost
from ..costmodel.analysis import Analysis
from ..costmodel.convention import ConventionView
from ..costmodel.extras import NONE, Extras
from ..ops.shapes import fmt_shape

COST_FIELDS = [*Cost().as_dict()]


def csv_shape(shape: tuple[int, ...]) -> str:
    """'32x28x28' (an ASCII x, which spreadsheets and scripts read without surprises; tokens '197tokx768')."""
    return fmt_shape(shape).replace("×", "x").replace(" ", "")


def render_csv(analyses: list[Analysis], views: list[ConventionView] | None = None,
               extras: list[Extras] | None = None) -> str:
    from .extras_out import CsvCells, csv_headers

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    more = extras or [NONE for _ in analyses]
    # inputs: the producers' names ('input' or an input's name for a model input), space-separated;
    # model_output: 1 for the layers that are the model's outputs (the last layer unless 'outputs:' names them);
    # then --rf's and --training's columns; with --convention a last column named after it: the tool's count for
    # the layer (empty: it does not see it)
    extra = [views[0].name] if views else []
    w.writerow(["model", "layer", "op", "category", "output_shape", *COST_FIELDS, "inputs", "model_output",
                *csv_headers(more[0] if more else NONE), *extra])
    for k, (a, e) in enumerate(zip(analyses, more)):
        g = a.graph
        outputs = set(g.outputs)
        cells = CsvCells(e)
        for lc in a.layers:
            d = lc.cost.as_dict()
            w.writerow(
                [g.model, lc.node.name, lc.node.op, lc.node.rule.category, csv_shape(lc.node.shape)]
                + [d[f] for f in COST_FIELDS]
                + [" ".join(g.name_of(i) for i in lc.node.inputs), int(lc.node.index in outputs)]
                + cells(lc.node.name)
                + ([_counted(views[k], lc.node.name)] if views else [])
            )
    return out.getvalue()


def _counted(view: ConventionView, name: str) -> str:
    value = view.layers[name].value
    return "" if value is None else str(value)
