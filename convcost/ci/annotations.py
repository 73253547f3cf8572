"""What a CI log reader understands: GitHub Actions annotations and the job's step summary."""

from __future__ import annotations

import os

from ..errors import ConvcostError, Loc, printable
from ..util.paths import refuse_input
from ..util.streams import write_command


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _data(text: str) -> str:
    """GitHub's escapes for line breaks, then every other control character escaped (a file name is user input)."""
    return printable(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, loc: Loc | None, title: str = "convcost") -> str:
    """'::error file=budget.yaml,line=3,col=9,title=convcost::message' (workflow command syntax).

    Locations that are not files in the repository (the built-in example, a command-line option)
    are left out, so GitHub does not try to attach them to a file.
    """
    props = []
    if loc is not None and loc.file and not loc.file.startswith(("<", "--")):
        props.append(f"file={_prop(loc.file)}")
        if loc.line > 0:
            props.append(f"line={loc.line}")
            if loc.col > 0:
                props.append(f"col={loc.col}")
    props.append(f"title={_prop(title)}")
    return f"::{level} {','.join(props)}::{_data(message)}"


def print_annotation(level: str, message: str, loc: Loc | None, title: str = "convcost") -> None:
    """An annotation on stdout: convcost's own workflow command, the one kind of line the guard on the standard
    streams lets start with '::' (util/streams.py)."""
    write_command(annotation(level, message, loc, title))


def append_step_summary(markdown: str) -> bool:
    """Append to $GITHUB_STEP_SUMMARY when it is set; True if written."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    refuse_input(path, "$GITHUB_STEP_SUMMARY", "summary")  # never appended to a spec, budget or baseline read
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown.rstrip("\n") + "\n\n")  # a blank line ends tables before the next step's text
    except OSError as e:
        raise ConvcostError(f"cannot append the step summary: {e.strerror or e}", Loc(path)) from None
    return True
