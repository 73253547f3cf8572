"""Layer graph with shapes: the spec expanded (blocks, repeats, macros) into a DAG of op nodes.

The work is split by job: naming.py hands out layer and scope names, values.py evaluates values
under the work budget, expand.py turns layers into nodes; this module reads the model's input and
assembles the :class:`Graph`. The graph's data types live in nodes.py, its limits in limits.py.
"""

from __future__ import annotations

from typing import Any

from ..errors import Loc, SpecError, UsageError
from ..frontend.source import shorten
from ..frontend.spec import InputSpec, ModelSpec, SpecFile
from ..ops.shapes import Shape, Tokens
from ..util.gcpause import paused_gc
from .expand import Expander, first_iteration
from .limits import (
    ITERATION_STEPS,
    LIST_ITEMS_PER_STEP,
    MAX_BATCH,
    MAX_LAYERS,
    MAX_NESTING,
    MAX_REPEAT,
    MAX_STEPS,
    NAME_CHARS_PER_STEP,
)
from .naming import Frame, Names
from .nodes import INPUT, Graph, Input, Node, Scope, fmt_shape, input_index
from .settings import Settings, apply_input
from .values import Budget, Values, got

__all__ = [
    "INPUT", "ITERATION_STEPS", "LIST_ITEMS_PER_STEP", "MAX_BATCH", "MAX_LAYERS", "MAX_NESTING", "MAX_REPEAT",
    "MAX_STEPS", "NAME_CHARS_PER_STEP",
    "Graph", "Input", "Node", "Scope", "build_graph", "first_iteration", "fmt_shape", "got",
]


def build_graph(spec: SpecFile, model: str, batch: int | None = None, settings: Settings | None = None) -> Graph:
    """The graph of ``model``; ``settings`` (``--set``) replace vars, the input size and the batch (``batch``
    is ``--batch``: the two must agree)."""
    found = spec.model(model)
    settings = (settings or Settings()).with_batch(batch)
    with paused_gc():
        return _build(spec, found, settings)


def _build(spec: SpecFile, model: ModelSpec, settings: Settings) -> Graph:
    budget = Budget(model.name, sum(n for m, n in spec.work.items() if m != model.name))  # the file's other models
    values = Values(budget)
    given = settings.var_map
    env = values.env_with(values.env_with({}, spec.vars, given), model.vars, given)
    if settings.input is not None and len(model.inputs) > 1:
        names = ", ".join(n.name for n in model.inputs)
        raise UsageError(f"--set input: model '{model.name}' has {len(model.inputs)} inputs ({names}); it sets the size "
                         "of a model with one input")
    inputs = tuple(
        Input(named.name, _input_shape(named.spec, values, env, settings.input, model.name), input_index(k))
        for k, named in enumerate(model.inputs)
    )
    batch = settings.batch
    if batch is not None:
        if batch > MAX_BATCH:
            raise UsageError(f"--batch {batch:,} is too large (limit {MAX_BATCH:,}, see docs/limits.md)")
    else:
        batch = _batch(model, values, env)
    if not model.layers:
        raise SpecError(f"model '{model.name}' has an empty 'layers' list; add at least one layer", model.loc)
    names = Names(tuple(i.name for i in inputs if len(inputs) == 1))  # the one input of most models
    expander = Expander(spec, values, names, inputs)
    expander.globals = env
    expander.model_layers = model.layers
    default = model.extra.get("torch")
    default = spec.root.get("torch") if default is None else default  # the model's 'torch', else the file's
    if default is not None:
        expander.form = expander.form_value(default, env)
    default = model.frozen if model.frozen is not None else spec.frozen
    expander.frozen = values.flag(default, env, "frozen") if default is not None else False
    root = Frame(())
    for named in model.inputs:
        root.taken[named.name] = named.spec.loc  # a top-level layer cannot take an input's name
    last = expander.seq(model.layers, env, INPUT, root, 0)
    nodes = expander.nodes
    if not nodes:
        raise SpecError(
            f"model '{model.name}' has no layers: 'when' conditions skipped them all or its structures are "
            "empty",
            model.loc,
        )
    outputs = _outputs(model, expander, root, env, last)
    used = {n.scope[:k] for n in nodes for k in range(1, len(n.scope) + 1)}
    scopes = tuple(s for s in names.scopes if s.path in used)  # drop scopes left empty by 'when'
    spec.work[model.name] = budget.steps
    return Graph(model.name, spec.path, batch, inputs, tuple(nodes), scopes, outputs, model.description)


def _input_shape(spec: InputSpec, values: Values, env: dict[str, Any], size: tuple[int, ...] | None, model: str) -> Shape:
    if size is not None and len(size) == len(spec.shape):  # the whole shape given: the spec's is not evaluated
        dims = size
    else:
        dims = tuple(values.int_value(d, env, "input size") for d in spec.shape)
        if size is not None:
            dims = apply_input(dims, size, spec.tokens, model)
    return Tokens(*dims) if spec.tokens else dims


def _batch(model: ModelSpec, values: Values, env: dict[str, Any]) -> int:
    """The batch of the spec: 1 unless an input sets it (inputs that set it must agree)."""
    batch, first = 1, None
    for named in model.inputs:
        node = named.spec.batch
        if node is None:
            continue
        value = values.int_value(node, env, "batch")
        if value > MAX_BATCH:
            raise SpecError(f"batch {value:,} is too large (limit {MAX_BATCH:,}, see docs/limits.md)", node.loc)
        if first is not None and value != batch:
            raise SpecError(f"input '{named.name}' has batch {value}, input '{first}' has {batch}; inputs share one batch",
                            node.loc)
        batch, first = value, named.name
    return batch


def _outputs(model: ModelSpec, expander: Expander, root: Frame, env: dict[str, Any], last: int) -> tuple[int, ...]:
    """The node indices of the model's outputs: those 'outputs:' names, else the flow's last layer."""
    if model.outputs is None:
        if last < 0:
            raise SpecError(f"model '{model.name}' ends on its input: its last layers were all left out by 'when'",
                            model.loc)
        return (last,)
    found: dict[int, Loc] = {}
    for node in model.outputs.items:
        index = expander.resolve(node, env, root, "output")
        if index < 0:
            raise SpecError(f"output '{shorten(str(node.value))}' is an input of the model; outputs are layers",
                            node.loc)
        if index in found:
            raise SpecError(f"output '{shorten(str(node.value))}' is listed twice (first at line {found[index].line})",
                            node.loc)
        found[index] = node.loc
    return tuple(found)
