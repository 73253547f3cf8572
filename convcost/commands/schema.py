"""`convcost schema`: the spec format (or a budget file's) as a JSON Schema, for editors and validators."""

from __future__ import annotations

from enum import Enum
from typing import Optional

import typer

from ..app import app, user_errors
from ..util.write_errors import write_errors
from ._output import output_option


class Kind(str, Enum):
    spec = "spec"
    budget = "budget"


@app.command()
@user_errors
@write_errors
def schema(
    kind: Kind = typer.Option(Kind.spec, "--kind", "-k", help="spec: a spec file; budget: a --budget file."),
    output: Optional[str] = output_option(),
) -> None:
    """Write the JSON Schema (draft 2020-12) of the spec format, generated from the op definitions: every op with
    its arguments, types, defaults and docs. Point yaml-language-server at it for completion and checks as you type
    (docs/spec.md, "Editor support")."""
    from ..render.spec_schema import render_schema
    from ._output import emit

    emit(render_schema(kind.value), output)
