"""What `convcost analyze` does (commands/analyze.py declares its options for typer), and the command lines
that need no typer to be read: ``convcost analyze [SPEC] [-f FORMAT] [-m MODEL]... [-o FILE]``, the run a CI
job or a script repeats, starts without importing typer and click (a third of an analyze run's start-up).

:func:`run_plain` reads such a command line itself and runs it under the same handlers as the typer
command, ending as typer would (util/typerless.py). Any other word -- another option, ``--help``, ``--``, a value that
starts with '-', an option given twice, a format that does not exist -- and it declines: typer then reads the
line, with its own messages for what is wrong. tests/test_cli_analyze.py runs each plain line both ways.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import TYPE_CHECKING, Any, Optional

from ..util.typerless import end_as_typer_would
from ._convention import chosen_convention
from ._output import check_output, emit, to_file

if TYPE_CHECKING:
    from ._targets import TargetOptions


class Format(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"


class By(str, Enum):
    op = "op"
    block = "block"


def analyze_run(
    spec: Optional[str],
    model: Optional[list[str]] = None,
    fmt: Format = Format.table,
    depth: Optional[int] = None,
    batch: Optional[int] = None,
    set_: Optional[list[str]] = None,
    by: Optional[By] = None,
    top: Optional[int] = None,
    plot: Optional[str] = None,
    convention: Optional[str] = None,
    training: bool = False,
    optimizer: Optional[str] = None,
    dtype: Optional[str] = None,
    rf: bool = False,
    output: Optional[str] = None,
    targets: Optional[TargetOptions] = None,
) -> None:
    """One analyze run, its options read (see commands/analyze.py for what each means); ``targets``: --input and the
    other options of a torch target given as ``spec`` (commands/_targets.py)."""
    from ..costmodel.extras import extras_for, training_options
    from ..errors import UsageError
    from ..graph.settings import settings_of
    from ..pipeline import analyze_file
    from ._targets import TargetOptions, resolve_specs, target_inputs

    check_output(output, target_inputs([spec]) if spec else None)
    if (by is not None or top is not None) and fmt in (Format.json, Format.csv):
        raise UsageError(f"--by and --top shape the table and markdown; --format {fmt.value} lists every layer")
    train = training_options(training, optimizer, dtype)
    if (by is not None or top is not None) and (train is not None or rf):
        raise UsageError("--training and --rf add per-layer columns; leave out --by and --top")
    if plot is not None:
        from ..render.chart import check_plot_path, require_matplotlib

        check_plot_path(plot, [*target_inputs([spec]), *([output] if output else [])])
        require_matplotlib("--plot")
    chosen = chosen_convention(convention)
    source = resolve_specs([spec], targets or TargetOptions())[0]  # a torch target: its spec, cached (no torch on a hit)
    analyses = analyze_file(source, model, batch, settings_of(set_))
    from ..costmodel.convention import views as convention_views

    views = convention_views(analyses, chosen)
    extras = extras_for(analyses, train, rf)
    if plot is not None:
        from ..render.chart import analysis_figure, save

        save(analysis_figure(analyses, depth or 1), plot)
    if by is not None or top is not None:
        from ..render.breakdown import markdown_grouped, render_grouped
        from ..render.table import use_color

        group = by.value if by is not None else None
        if fmt is Format.markdown:
            emit(markdown_grouped(analyses, group, depth or 1, top, views), output)
        else:
            emit(render_grouped(analyses, group, depth or 1, top, use_color(sys.stdout) and not to_file(output), views),
                 output)
        return
    if fmt is Format.json:
        from ..render.json_out import render_json

        emit(render_json(analyses, views, extras), output)
    elif fmt is Format.csv:
        from ..render.csv_out import render_csv

        emit(render_csv(analyses, views, extras), output)
    elif fmt is Format.markdown:
        from ..render.markdown import render_markdown

        emit(render_markdown(analyses, depth, views, extras), output)
    else:
        from ..render.table import render_table, use_color

        color = use_color(sys.stdout) and not to_file(output)
        emit(render_table(analyses, depth, color, views, extras), output)
        if spec is None and not to_file(output):
            sys.stdout.write(
                "\nThis is the built-in example. Run `convcost analyze SPEC.yaml` on your own spec; "
                "see configs/ and docs/spec.md.\n"
            )


_VALUED = {"-f": "fmt", "--format": "fmt", "-m": "model", "--model": "model", "-o": "output", "--output": "output"}
_FORMATS = {f.value: f for f in Format}


def plain_options(argv: list[str]) -> dict[str, Any] | None:
    """The options of ``analyze ...`` (``argv``: the words after the program's name) when the line is a plain
    one (see the module docstring), else None."""
    if not argv or argv[0] != "analyze":
        return None
    spec: str | None = None
    found: dict[str, Any] = {}
    models: list[str] = []
    words = argv[1:]
    at = 0
    while at < len(words):
        word = words[at]
        try:
            word.encode("utf-8")
        except UnicodeEncodeError:  # bytes the file system encoding could not decode: typer's to read
            return None
        if word in _VALUED:
            if at + 1 == len(words):
                return None
            name, value, at = word, words[at + 1], at + 2
        elif word.startswith("--") and word.partition("=")[0] in _VALUED:
            name, _, value = word.partition("=")
            at += 1
        elif word[:2] in ("-f", "-m", "-o") and len(word) > 2:
            name, value, at = word[:2], word[2:], at + 1
        elif word == "-" or not word.startswith("-"):
            if spec is not None:
                return None
            spec, at = word, at + 1
            continue
        else:
            return None
        key = _VALUED[name]
        if value.startswith("-") and not (key == "output" and value == "-"):
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None
        if key == "model":
            models.append(value)
            continue
        if key in found:
            return None
        if key == "fmt":
            if value not in _FORMATS:
                return None
            found[key] = _FORMATS[value]
        else:
            found[key] = value
    return {"spec": spec, "model": models or None, **found}


def run_plain(argv: list[str]) -> bool:
    """Run ``argv`` (the words after the program's name) when it is a plain analyze line, ending as typer
    would; False (nothing run) for any other line."""
    options = plain_options(argv)
    if options is None:
        return False
    end_as_typer_would(analyze_run, **options)
    return True
