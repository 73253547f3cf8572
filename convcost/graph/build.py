"""Layer graph with shapes: the spec expanded (blocks, repeats, macros) into a DAG of op nodes.

The work is split by job: naming.py hands out layer and scope names, values.py evaluates values
under the work budget, expand.py turns layers into nodes; this module reads the model's input and
assembles the :class:`Graph`. The graph's data types live in nodes.py, its limits in limits.py.
"""

from __future__ import annotations

from ..errors import SpecError, UsageError
from ..frontend.spec import ModelSpec, SpecFile
from ..util.gcpause import paused_gc
from .expand import Expander, first_iteration
from .limits import ITERATION_STEPS, MAX_BATCH, MAX_LAYERS, MAX_NESTING, MAX_REPEAT, MAX_STEPS
from .naming import Frame, Names
from .nodes import INPUT, Graph, Node, Scope, fmt_shape
from .values import Budget, Values, got

__all__ = [
    "INPUT", "ITERATION_STEPS", "MAX_BATCH", "MAX_LAYERS", "MAX_NESTING", "MAX_REPEAT", "MAX_STEPS",
    "Graph", "Node", "Scope", "build_graph", "first_iteration", "fmt_shape", "got",
]


def build_graph(spec: SpecFile, model: str, batch: int | None = None) -> Graph:
    found = spec.model(model)
    with paused_gc():
        return _build(spec, found, batch)


def _build(spec: SpecFile, model: ModelSpec, batch: int | None) -> Graph:
    budget = Budget(model.name, sum(n for m, n in spec.work.items() if m != model.name))  # the file's other models
    values = Values(budget)
    env = values.env_with(values.env_with({}, spec.vars), model.vars)
    inp = model.input
    input_shape = tuple(values.int_value(d, env, "input size") for d in inp.shape)
    if batch is not None:
        if batch > MAX_BATCH:
            raise UsageError(f"--batch {batch:,} is too large (limit {MAX_BATCH:,}, see docs/limits.md)")
    else:
        batch = values.int_value(inp.batch, env, "batch") if inp.batch else 1
        if batch > MAX_BATCH:
            raise SpecError(
                f"batch {batch:,} is too large (limit {MAX_BATCH:,}, see docs/limits.md)",
                inp.batch.loc if inp.batch else inp.loc,
            )
    if not model.layers:
        raise SpecError(f"model '{model.name}' has an empty 'layers' list; add at least one layer", model.loc)
    names = Names()
    expander = Expander(spec, values, names, input_shape)
    expander.globals = env
    expander.seq(model.layers, env, INPUT, Frame(()), 0)
    nodes = expander.nodes
    if not nodes:
        raise SpecError(
            f"model '{model.name}' has no layers: 'when' conditions skipped them all or its structures are "
            "empty",
            model.loc,
        )
    used = {n.scope[:k] for n in nodes for k in range(1, len(n.scope) + 1)}
    scopes = tuple(s for s in names.scopes if s.path in used)  # drop scopes left empty by 'when'
    spec.work[model.name] = budget.steps
    return Graph(model.name, spec.path, batch, input_shape, tuple(nodes), scopes, model.description)
