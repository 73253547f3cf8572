"""Option types shared by several commands."""

from __future__ import annotations

from enum import Enum
from typing import Any

import typer


class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"


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


CONVENTION_HELP = (
    "Count as a well-known tool does, from the spec alone (no torch): fvcore, flop_counter (FlopCounterMode), ptflops, "
    "ptflops_aten, thop, torchinfo, torchscan, calflops, calflops_flops, torchvision (its weights' metadata); "
    "append ':grad' for the tool run with gradients on (default: under torch.no_grad()). See docs/conventions.md."
)


def convention_option() -> Any:
    """``--convention NAME``: analyze, compare, check and report print that tool's numbers (costmodel/convention.py)."""
    return typer.Option(None, "--convention", help=CONVENTION_HELP, metavar="NAME")


def chosen_convention(name: str | None) -> Any:
    """The --convention value parsed (None: convcost's own counts); a usage error (exit 2) for an unknown name."""
    from ..costmodel.convention import parse
    from ..errors import UsageError

    try:
        return parse(name)
    except ValueError as e:
        raise UsageError(f"--convention: {e}") from None
