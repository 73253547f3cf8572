"""Option types shared by several commands."""

from __future__ import annotations

from enum import Enum
from typing import Any

import typer


class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"


class Clock(str, Enum):
    wall = "wall"
    cpu = "cpu"


SET_HELP = (
    "Set a var of the spec, the input size or the batch for this run: NAME=VALUE, e.g. width=0.5, input=160 "
    "(every spatial dim; 160x128 each; 3x160x160 the whole shape), batch=8. Repeatable."
)
PLOT_HELP = "Also draw the charts into this file (.png or .svg; needs the 'plot' extra: pip install 'convcost[plot]')."


def set_option() -> Any:
    """``--set NAME=VALUE`` (repeatable): analyze, compare, check and report; sweep takes lists of values."""
    return typer.Option(None, "--set", "-s", help=SET_HELP, metavar="NAME=VALUE")


def plot_option() -> Any:
    """``--plot FILE``: sweep, compare and analyze draw charts with matplotlib (render/chart.py)."""
    return typer.Option(None, "--plot", help=PLOT_HELP, metavar="FILE")
