"""Charts drawn with matplotlib (the optional 'plot' extra: pip install 'convcost[plot]'), PNG or SVG.

Figures are built with matplotlib's object API (``matplotlib.figure.Figure``, the Agg canvas), never
pyplot's global state, so a test can read what a chart shows from its axes, bars and lines. The data
comes from render/chart_data.py (shared with the mermaid charts of reports) and the sweep's rows.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConvcostError, Loc, UsageError, escape_controls
from .chart_data import Bars

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..costmodel.analysis import Analysis
    from ..costmodel.compare import Comparison
    from ..costmodel.sweep import SweepResult
    from .sweep_out import Objective

FORMATS = (".png", ".svg")
INSTALL = "pip install 'convcost[plot]'"
FRONT_COLOR = "#d62728"


def require_matplotlib(option: str) -> None:
    """A usage error (exit 2) naming the extra when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(f"{option} draws charts with matplotlib, which is not installed; install the extra: {INSTALL}") from None


def check_plot_path(path: str, inputs: Sequence[str]) -> None:
    """A chart file ends in .png or .svg and is none of the input files."""
    from ..commands._output import check_output

    if Path(path).suffix.lower() not in FORMATS:
        raise UsageError(f"--plot {escape_controls(path)}: the file name must end in .png or .svg (the chart's format)")
    check_output(path, list(inputs), "--plot", "chart")


def save(fig: Figure, path: str | Path, option: str = "--plot") -> None:
    """Write the figure (PNG or SVG by the file's suffix) atomically, like every other output, and never over a file
    the command read (util/paths.py)."""
    import io

    from ..util.paths import refuse_input

    refuse_input(str(path), option, "chart")
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, bbox_inches="tight", metadata={"Software": "convcost"} if fmt == "png" else {"Date": None})
    data = buf.getvalue()
    directory = path.parent if str(path.parent) else Path(".")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise ConvcostError(f"cannot write: {e.strerror or e}", Loc(str(path))) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _figure(rows: int, cols: int, width: float = 6.0, height: float = 3.6) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width * cols, height * rows), layout="constrained")


def draw_bars(ax: Any, bars: Bars, horizontal: bool = False) -> None:
    """Grouped bars: one group per category, one bar per series (a legend when there are several)."""
    n = len(bars.series)
    width = 0.8 / n
    positions = range(len(bars.categories))
    for k, (name, values) in enumerate(bars.series):
        offsets = [p - 0.4 + width * (k + 0.5) for p in positions]
        if horizontal:
            ax.barh(offsets, values, height=width, label=name)
        else:
            ax.bar(offsets, values, width=width, label=name)
    if horizontal:
        ax.set_yticks(list(positions), bars.categories)
        ax.invert_yaxis()  # the first category on top, as in the tables
        ax.set_xlabel(bars.unit)
    else:
        crowded = len(bars.categories) > 4 or max(map(len, bars.categories), default=0) > 8
        ax.set_xticks(list(positions), bars.categories, rotation=30 if crowded else 0, ha="right" if crowded else "center")
        ax.set_ylabel(bars.unit)
    ax.set_title(bars.title)
    if n > 1:
        ax.legend()


# ---- analyze --plot ------------------------------------------------------------------------------
def analysis_figure(analyses: Sequence[Analysis], depth: int = 1) -> Figure:
    """Where MACs and params go: per model, shares by block (at ``depth``) and by op type."""
    from .chart_data import where_cost_goes

    fig = _figure(len(analyses), 2, width=6.5, height=max(3.0, 0.3 * 12 + 1))
    axes = fig.subplots(len(analyses), 2, squeeze=False)
    for row, a in zip(axes, analyses):
        blocks, ops = where_cost_goes(a, depth)
        draw_bars(row[0], blocks, horizontal=True)
        draw_bars(row[1], ops, horizontal=True)
    return fig


# ---- compare --plot ------------------------------------------------------------------------------
def comparison_figure(comp: Comparison, name: str = "macs", depth: int = 1) -> Figure:
    """Bars per model for each metric, then grouped bars per alike block (when the models share any)."""
    from .chart_data import block_bars, model_bars

    per_model = model_bars(comp)
    blocks = block_bars(comp, name, depth)
    fig = _figure(2 if blocks else 1, 1, width=10, height=3.8)
    if blocks:
        top, bottom = fig.subfigures(2, 1)
    else:
        top, bottom = fig, None
    axes = top.subplots(1, len(per_model))
    for ax, bars in zip(axes, per_model):
        draw_bars(ax, bars)
    if bottom is not None and blocks is not None:
        draw_bars(bottom.subplots(), blocks)
    return fig


# ---- sweep --plot --------------------------------------------------------------------------------
def sweep_figure(result: SweepResult, marks: list[bool | None] | None, objectives: tuple[Objective, ...] | None,
                 metric: str = "macs") -> Figure:
    """The metric against each swept name (one line per combination of the others, per model), and a scatter of
    the first two Pareto objectives (or the metric against params) with the front drawn through its points."""
    from .sweep_out import TITLES, _axis_number, metric_value, show_value

    names = [a.name for a in result.axes]
    numeric = [k for k, a in enumerate(result.axes) if len(a.values) > 1]
    fig = _figure(1, len(numeric) + 1, width=5.2, height=4.0)
    axes = fig.subplots(1, len(numeric) + 1, squeeze=False)[0]
    ok = [(k, p) for k, p in enumerate(result.points) if p.ok]
    for ax, a in zip(axes, numeric):
        lines: dict[tuple[Any, ...], list[tuple[float, float]]] = {}
        for _, p in ok:
            rest = (p.model, *(p.values[j] for j in range(len(names)) if j != a))
            lines.setdefault(rest, []).append((_axis_number(names[a], p.values[a]) if _numeric(names[a], p.values[a])
                                               else float(result.axes[a].values.index(p.values[a])),
                                               float(metric_value(p, metric))))
        for rest, xy in lines.items():
            label = ", ".join(
                [*(rest[:1] if len({p.model for _, p in ok}) > 1 else []),
                 *(f"{names[j]}={show_value(names[j], v)}" for j, v in zip([j for j in range(len(names)) if j != a], rest[1:])
                   if len(result.axes[j].values) > 1)]
            )
            ax.plot([x for x, _ in xy], [y for _, y in xy], marker="o", label=label or None)
        sizes = names[a] == "input" and any(len(v) > 1 for v in result.axes[a].values)
        ax.set_xlabel(names[a] + (" (elements per sample)" if sizes else ""))
        ax.set_ylabel(TITLES[metric])
        ax.set_title(f"{TITLES[metric]} against {names[a]}")
        if not all(_numeric(names[a], v) for v in result.axes[a].values):
            ax.set_xticks(range(len(result.axes[a].values)), [show_value(names[a], v) for v in result.axes[a].values])
        if 1 < len(lines) <= 10:
            ax.legend(fontsize="small")
    scatter = axes[-1]
    if objectives is not None:
        x_name, y_name = objectives[0].name, objectives[1].name
    else:
        x_name, y_name = metric, "params" if metric != "params" else "macs"

    def value(p: Any, name: str) -> float:
        return _axis_number(name, p.values[names.index(name)]) if name in names else float(metric_value(p, name))

    xs = [value(p, x_name) for _, p in ok]
    ys = [value(p, y_name) for _, p in ok]
    scatter.scatter(xs, ys, s=18, color="#1f77b4", label="points")
    if marks is not None:
        front = sorted((value(p, x_name), value(p, y_name)) for k, p in ok if marks[k])
        scatter.plot([x for x, _ in front], [y for _, y in front], marker="D", color=FRONT_COLOR, label="Pareto front")
        scatter.legend(fontsize="small")
    scatter.set_xlabel(TITLES.get(x_name, x_name))
    scatter.set_ylabel(TITLES.get(y_name, y_name))
    against = f"{TITLES.get(y_name, y_name)} against {TITLES.get(x_name, x_name)}"
    scatter.set_title("Pareto front" if marks is not None else against)
    return fig


def _numeric(name: str, value: Any) -> bool:
    return name == "input" or (isinstance(value, (int, float)) and not isinstance(value, bool))
