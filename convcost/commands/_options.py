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


TRAINING_HELP = (
    "Add the cost of a training step: backward FLOPs per layer (input and weight gradients), trainable and frozen "
    "params, and a peak-memory estimate (weights, gradients, optimizer state, saved activations, the largest "
    "transient). See docs/conventions.md."
)


def training_option() -> Any:
    """``--training``: analyze, compare, check and report add the training estimate (costmodel/training.py)."""
    return typer.Option(False, "--training", help=TRAINING_HELP)


def optimizer_option() -> Any:
    return typer.Option(
        None, "--optimizer", metavar="NAME",
        help="With --training: the optimizer whose state is counted: sgd (none), momentum (1 per trainable param), "
        "adam or adamw (2). Default adamw.",
    )


def dtype_option() -> Any:
    return typer.Option(
        None, "--dtype", metavar="DTYPE",
        help="With --training: bytes per value of weights, gradients, state and activations: fp32, fp16, bf16, int8. "
        "Default fp32.",
    )


# ---- shell completion (click's, through typer): model names read from the spec on the line, op names ----
def _words_on_the_line() -> list[str]:
    """The command line being completed, as the shell hands it over (bash: COMP_WORDS; zsh, fish and
    PowerShell through typer: _TYPER_COMPLETE_ARGS)."""
    import os
    import shlex

    line = os.environ.get("COMP_WORDS") or os.environ.get("_TYPER_COMPLETE_ARGS") or ""
    try:
        return shlex.split(line)
    except ValueError:  # an open quote while typing
        return line.split()


def complete_models(ctx: typer.Context, incomplete: str) -> list[str]:
    """The models of the spec file(s) on the command line (`convcost analyze net.yaml -m <TAB>`): the parsed
    SPEC argument(s), or, while an option still waits for its value (click has not assigned the arguments
    then), every word of the line that is a readable spec file."""
    import os

    paths = ctx.params.get("specs") or ([ctx.params["spec"]] if ctx.params.get("spec") else [])
    if not paths:
        paths = [w for w in _words_on_the_line()[1:] if not w.startswith("-") and os.path.isfile(w)]
    names: list[str] = []
    for path in paths:
        try:
            from ..frontend.spec import load_spec

            names += [m for m in load_spec(path).models if m not in names]
        except Exception:
            continue
    return [n for n in names if n.startswith(incomplete)]


def complete_ops(incomplete: str) -> list[str]:
    """Every op, alias, sugar layer and structure whose name starts with what is typed."""
    from ..frontend.spec import STRUCTURES
    from ..ops.registry import MACROS, all_names

    return sorted(n for n in {*all_names(), *MACROS, *STRUCTURES} if n.startswith(incomplete))


# ---- options several commands share ---------------------------------------------------------------
def model_option(help: str = "Model to analyse (repeatable; default all).") -> Any:
    """``--model/-m NAME`` (repeatable), its names completed from the spec on the line."""
    return typer.Option(None, "--model", "-m", help=help, autocompletion=complete_models)


def batch_option(help: str = "Override the spec's batch size.") -> Any:
    return typer.Option(None, "--batch", "-b", min=1, help=help)


def device_option(default: Device | None, help: str) -> Any:
    return typer.Option(default, "--device", help=help)


def max_memory_option(help: str) -> Any:
    from ..costmodel.sizes import DEFAULT_MAX_MEMORY

    return typer.Option(DEFAULT_MAX_MEMORY, "--max-memory", help=help)


# ---- a torch target where a spec goes (file.py:factory, package.module:factory; commands/_targets.py) ----------------
INPUT_HELP = ("The input's shape without the batch: 3,224,224; once per input for a forward of several (forward(x, y): "
              "--input 3,224,224 --input 3,224,224), written as the spec's `inputs`.")
TARGET_INPUT_HELP = (
    "With a torch target (path/to/file.py:factory or package.module:factory) in place of a spec: the input's shape "
    "without the batch, 3,224,224; once per input for a forward of several, in its order (every target on the line "
    "gets the same). The target is imported as `convcost import` does, its spec cached (docs/import.md)."
)
IMPORT_MAX_MEMORY_HELP = (
    "Largest real forward to run (bytes, e.g. 2G), estimated as verify --reference does; above it, the model is built "
    "and traced on the meta device."
)


def input_option(required: bool = False) -> Any:
    """``--input/-i SHAPE``: import's (required), and analyze/compare/check/report's for a torch target."""
    return typer.Option(... if required else None, "--input", "-i", help=INPUT_HELP if required else TARGET_INPUT_HELP)


def reference_arg_option() -> Any:
    """``--reference-arg KEY=VALUE`` (repeatable): the factory's keyword arguments (import, verify, a torch target)."""
    return typer.Option(
        None, "--reference-arg", metavar="KEY=VALUE", help="A keyword argument for the factory, read as YAML (repeatable)."
    )


def target_max_memory_option() -> Any:
    """``--max-memory``: import's, for a torch target given in place of a spec."""
    return max_memory_option("With a torch target: " + IMPORT_MAX_MEMORY_HELP[0].lower() + IMPORT_MAX_MEMORY_HELP[1:])


CONVENTION_HELP = (
    "Count as a well-known tool does, from the spec alone (no torch): fvcore, flop_counter (FlopCounterMode), ptflops, "
    "ptflops_aten, thop, torchinfo, torchscan, calflops, calflops_flops, torchvision (its weights' metadata); "
    "append ':grad' for the tool run with gradients on (default: under torch.no_grad()). See docs/conventions.md."
)


def convention_option() -> Any:
    """``--convention NAME``: analyze, compare, check and report print that tool's numbers (costmodel/convention.py)."""
    return typer.Option(None, "--convention", help=CONVENTION_HELP, metavar="NAME")
