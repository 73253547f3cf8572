"""One CSV row per layer, exact integers."""

from __future__ import annotations

import csv
import io

from ..costmodel.analysis import Analysis
from ..costmodel.cost import Cost
from ..ops.shapes import fmt_shape

COST_FIELDS = [*Cost().as_dict()]


def render_csv(analyses: list[Analysis]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["model", "layer", "op", "category", "output_shape", *COST_FIELDS])
    for a in analyses:
        for lc in a.layers:
            d = lc.cost.as_dict()
            w.writerow(
                [a.graph.model, lc.node.name, lc.node.op, lc.node.rule.category, fmt_shape(lc.node.shape)]
                + [d[f] for f in COST_FIELDS]
            )
    return out.getvalue()
