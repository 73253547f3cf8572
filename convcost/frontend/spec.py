"""Validated spec: the structure of a spec file, checked against the op registry.

This stage checks what can be checked without evaluating values: the file's layout, model and
block definitions, that every layer names a known op, block or structure, and that every
argument name exists. Values may still hold ``$`` expressions; the graph builder evaluates them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from ..errors import Loc, SpecError, UsageError, did_you_mean
from ..ops import all_names, lookup
from ..ops.registry import MACROS, SPELLINGS, arg_fields
from ..util.gcpause import paused_gc
from .source import YMap, YNode, YScalar, YSeq, load_data, load_yaml, read_text, shorten, type_name
from .structures import STRUCTURES

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
# Layer names may also be numbers, as torch names the children of nn.Sequential ('features.0').
LAYER_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*")
VAR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_NAME_CHARS = 100  # a name of a model, block, layer, branch, variable or parameter (docs/limits.md)

ITEM_KEYS = ("name", "repeat", "when", "first", "frozen", "torch", "each", "scope")
# 'torch': how the layer (or, on a block call or structure, the layers inside) meets torch: module, function or
# subclass (ops/counting.py FORMS); a model's or the file's 'torch' is the default of its layers.
# 'each': the name of each iteration of a 'repeat' (an expression of i: 'block2-${i}'; default its index, 0, 1...).
# 'scope: false': the item opens no scope of its own (a block call, a seq, a repeat and its iterations): the layers
# inside are named in the enclosing scope, as a flat nn.Sequential names them (VGG's features.0 ... features.30).
# 'from': where a layer reads its input (an earlier output by name) instead of the previous layer; 'tied': which of its
# parameters are an earlier layer's (the same tensor, counted once: `tied: {weight: conv1}`).
FLOW_KEYS = ("from", "tied")
LAYER_KEYS = (*ITEM_KEYS, *FLOW_KEYS)
JOINS = tuple(k for k, s in STRUCTURES.items() if s.keys == ("branches",))  # may join a 'from' list instead


def reads_several(op: str) -> bool:
    """An op (not a structure) that reads a 'from' list of outputs: matmul, einsum, stack, sub..."""
    rule = lookup(op)
    return rule is not None and rule.name not in STRUCTURES and rule.inputs[1] > 1


def list_readers() -> list[str]:
    """What takes a 'from' list: the joins, then every op of several inputs (for messages)."""
    return [*JOINS, *sorted(name for name in all_names() if reads_several(name) and lookup(name).name == name)]  # type: ignore[union-attr]


def join_arg_names(structure: str) -> tuple[str, ...]:
    """The arguments of the op a join structure makes (concat's dim, add's scalar and param)."""
    join = STRUCTURES[structure].join
    return op_arg_names("op", join) if structure in JOINS and join is not None else ()
RESERVED_VARS = ("i", "in_channels", "in_height", "in_width", "block_in_channels", "block_in_height", "block_in_width")


# The records of a spec are NamedTuples, not frozen dataclasses (cheaper to create: start-up time, see
# frontend/source.py); SpecFile, which holds a mutable work table, stays a dataclass.
class Branch(NamedTuple):
    name: str | None
    items: tuple[Item, ...]
    loc: Loc


class Item(NamedTuple):
    """One entry of a ``layers`` list.

    ``kind`` is 'op' (a registered rule), 'macro' (pointwise/depthwise/dwsep), 'block' (a user
    block), 'struct' (seq, concat, split, add, multiply, residual, gate) or 'param' (an op named by a
    parameter, ``$act``: ``op`` is that text, resolved by the graph builder). ``op`` is the canonical name.
    """

    kind: str
    op: str
    args: YMap | None
    name: YNode | None
    repeat: YNode | None
    branches: tuple[Branch, ...]
    loc: Loc
    when: YNode | None = None
    word: str = ""  # the op as written (an alias like 'bn' names layers bn1, bn2...)
    first: YMap | None = None  # argument overrides for the first iteration of 'repeat'
    source: YNode | None = None  # 'from': an earlier output (a name) or, for a join, a list of them
    frozen: YNode | None = None  # 'frozen': the parameters of this layer (block, structure) get no gradient
    tied: YMap | None = None  # 'tied': parameter name -> the earlier layer (a name) whose parameter it is
    each: YNode | None = None  # 'each': the name of each iteration of 'repeat' (an expression of i)
    scope: YNode | None = None  # 'scope': false: the item opens no scope (its layers are named in the enclosing one)


class InputSpec(NamedTuple):
    shape: tuple[YNode, ...]
    batch: YNode | None
    loc: Loc
    tokens: bool = False  # {tokens: [N, D]}: a sequence of N tokens of width D, not a [C, L] map


class NamedInput(NamedTuple):
    name: str
    spec: InputSpec


class ModelSpec(NamedTuple):
    name: str
    inputs: tuple[NamedInput, ...]  # one called 'input' for 'input:'; 'inputs:' names each
    layers: tuple[Item, ...]
    vars: YMap | None
    description: str
    extra: YMap
    loc: Loc
    outputs: YSeq | None = None  # 'outputs:' names; None: the last layer's output
    frozen: YNode | None = None  # 'frozen:' the default of its layers (else the file's)

    @property
    def input(self) -> InputSpec:
        return self.inputs[0].spec


class BlockSpec(NamedTuple):
    name: str
    params: dict[str, YNode | None]  # None: required
    param_locs: dict[str, Loc]
    vars: YMap | None
    layers: tuple[Item, ...]
    loc: Loc


@dataclass(frozen=True)
class SpecFile:
    """One parsed spec file: its models, blocks and file-level vars."""

    path: str
    models: dict[str, ModelSpec]
    blocks: dict[str, BlockSpec]
    vars: YMap | None
    root: YMap
    frozen: YNode | None = None  # 'frozen:' at the top: the default of every model's layers
    # Work steps each model took to build (graph.MAX_STEPS bounds their sum, so a file cannot
    # multiply the work with many models, e.g. aliases of one huge model); a rebuild replaces its entry.
    work: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def model(self, name: str) -> ModelSpec:
        """The model called ``name``; a usage error naming this file and its models otherwise."""
        found = self.models.get(name)
        if found is None:
            raise UsageError(
                f"{self.path}: no model '{name}'{did_you_mean(name, list(self.models))}; "
                f"models here: {', '.join(self.models)}"
            )
        return found


def load_spec(path: str | Path, display_name: str | None = None) -> SpecFile:
    """Read, parse and validate a spec file."""
    name = display_name or ("<stdin>" if str(path) == "-" else str(path))
    return parse_spec(read_text(path), name)


def parse_spec(text: str, filename: str, model_name: str | None = None) -> SpecFile:
    """``model_name``: the name of a single-model file's model (default: the file's stem; a torch target's spec is named
    after its factory, commands/_targets.py)."""
    with paused_gc():
        root = load_yaml(text, filename)
        return _Parser(filename, model_name).file(root)


def parse_data(value: object, filename: str = "<dict>") -> SpecFile:
    """A spec given as Python data (a dict as the YAML would read); messages point into it by path."""
    with paused_gc():
        return _Parser(filename).file(load_data(value, filename))


# torch's argument names for convcost's (torch.nn.Conv2d(out_channels=..., kernel_size=...) → conv: {out, kernel})
TORCH_KEYS = {
    "out_channels": "out", "out_features": "out", "kernel_size": "kernel", "output_size": "out",
    "negative_slope": "slope", "scale_factor": "scale", "chunks": "parts", "start_dim": "start", "end_dim": "end",
    "unflattened_size": "sizes",
}
# ops users reach for that convcost does not have (yet): no did-you-mean to a different op
UNSUPPORTED = {"lstm": "recurrent layers", "gru": "recurrent layers", "rnn": "recurrent layers", "embedding": "embeddings"}


# An op given by a parameter or variable: '- $act', '- ${act}' (MobileNetV3's per-row activation)
OP_PARAM_RE = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*|\$\{[^}]*\}")
NO_OP = "none"  # a parameter naming no op: the layer is left out (so is null)


def is_op_param(word: str) -> bool:
    return OP_PARAM_RE.fullmatch(word) is not None


def known_ops(block_names: set[str] | list[str]) -> list[str]:
    return [*all_names(), *MACROS, *STRUCTURES, *block_names]


def resolve_op(word: str, loc: Loc, block_names: set[str] | list[str], via: str = "") -> tuple[str, str]:
    """The kind ('struct', 'macro', 'block', 'op') and canonical name of the op ``word``; ``via``: where the word
    came from, for messages (" (the value of '$act')")."""
    if word in STRUCTURES:
        return "struct", word
    if word in MACROS:
        return "macro", word
    if word in block_names:
        return "block", word
    rule = lookup(word)
    if rule is not None:  # an alias of a join op ('mul') is that structure too
        return ("struct" if rule.name in STRUCTURES else "op"), rule.name
    if word.lower() in SPELLINGS:  # another tool's name (op definitions list them)
        raise SpecError(f"unknown op '{shorten(word)}'{via}: convcost calls it '{SPELLINGS[word.lower()]}'", loc)
    if word.lower() in UNSUPPORTED:
        raise SpecError(
            f"unknown op '{shorten(word)}'{via}: convcost does not support {UNSUPPORTED[word.lower()]} yet "
            "(`convcost ops` lists the ops)",
            loc,
        )
    hint = did_you_mean(word, known_ops(block_names)) or (
        "; not an op, a structure or a block under 'blocks:' (`convcost ops` lists the ops)"
    )
    raise SpecError(f"unknown op '{shorten(word)}'{via}{hint}", loc)


def op_arg_names(kind: str, op: str) -> tuple[str, ...]:
    if kind == "op":
        rule = lookup(op)
        return tuple(rule.arg_fields()) if rule else ()
    if kind == "macro":
        return tuple(arg_fields(MACROS[op].args))
    return ()  # blocks: checked against params by the graph builder (the block may come later in the file)


def check_keys(node: YMap, allowed: tuple[str, ...], what: str) -> None:
    for key, kloc in node.keys.items():
        if key not in allowed:
            ours = TORCH_KEYS.get(key)
            hint = (
                f" (torch's '{key}' is '{ours}' here)" if ours in allowed else did_you_mean(key, allowed)
            )
            raise SpecError(
                f"unknown key '{shorten(key)}' in {what}{hint}; expected one of: {', '.join(k for k in allowed if k != 'tied')}",
                kloc,
            )


def expect_map(node: YNode, what: str) -> YMap:
    if not isinstance(node, YMap):
        raise SpecError(f"{what} must be a mapping, got {type_name(node)}", node.loc)
    return node


def expect_list(node: YNode, what: str) -> YSeq:
    if not isinstance(node, YSeq):
        raise SpecError(f"{what} must be a list, got {type_name(node)}", node.loc)
    return node


def expect_name(node: YNode, what: str) -> str:
    if not isinstance(node, YScalar) or not isinstance(node.value, str) or not NAME_RE.fullmatch(node.value):
        raise SpecError(f"{what} must be a name of letters, digits, '_' or '-', got {type_name(node)}", node.loc)
    check_name_length(node.value, what, node.loc)
    return node.value


def check_name_length(name: str, what: str, loc: Loc) -> None:
    """Names are copied into every layer's dotted name and every output row: they are kept short."""
    if len(name) > MAX_NAME_CHARS:
        raise SpecError(
            f"{what} is longer than {MAX_NAME_CHARS} characters (limit, see docs/limits.md): '{shorten(name)}'", loc
        )



def is_ref(node: YNode) -> bool:
    """A name of an earlier output as written: a string, or a number (a torch-style numeric name)."""
    if not isinstance(node, YScalar):
        return False
    v = node.value
    return (isinstance(v, str) and v != "") or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)


MODEL_KEYS = ("input", "inputs", "outputs", "layers", "vars", "description", "budget", "frozen", "torch")
FILE_KEYS = ("models", "blocks", "vars", "input", "inputs", "outputs", "layers", "description", "budget", "frozen", "torch")


class _Parser:
    def __init__(self, filename: str, model_name: str | None = None) -> None:
        self.filename = filename
        self.model_name = model_name
        self.block_names: set[str] = set()

    def file(self, root: YNode) -> SpecFile:
        root = expect_map(root, "a spec file")
        check_keys(root, FILE_KEYS, "the spec file")
        blocks_node = root.get("blocks")
        blocks_map = expect_map(blocks_node, "'blocks'") if blocks_node is not None else None
        if blocks_map:
            for bname, kloc in blocks_map.keys.items():
                expect_name(YScalar(bname, kloc), "a block name")
                if lookup(bname) or bname in MACROS or bname in STRUCTURES:
                    raise SpecError(f"block name '{bname}' is already a built-in op; choose another name", kloc)
            self.block_names = set(blocks_map.items)
        blocks = {n: self.block(n, v, blocks_map.keys[n]) for n, v in blocks_map.items.items()} if blocks_map else {}

        models: dict[str, ModelSpec] = {}
        if root.get("models") is not None:
            for key in ("input", "inputs", "outputs", "layers"):
                if key in root.keys:
                    raise SpecError(f"'{key}' belongs inside a model when the file has 'models'", root.keys[key])
            mmap = expect_map(root.items["models"], "'models'")
            if not mmap.items:
                raise SpecError("'models' is empty; define at least one model", mmap.loc)
            for mname, mnode in mmap.items.items():
                expect_name(YScalar(mname, mmap.keys[mname]), "a model name")
                models[mname] = self.model(mname, expect_map(mnode, f"model '{mname}'"), mmap.keys[mname])
        elif any(root.get(k) is not None for k in ("layers", "input", "inputs")):
            stem = self.model_name or Path(self.filename).stem
            mname = stem if NAME_RE.fullmatch(stem) and len(stem) <= MAX_NAME_CHARS else "model"
            single = YMap(
                {k: v for k, v in root.items.items() if k in MODEL_KEYS},
                {k: v for k, v in root.keys.items() if k in MODEL_KEYS},
                root.loc,
            )
            models[mname] = self.model(mname, single, root.loc)
        else:
            raise SpecError("spec defines no model: add 'models:' (or 'input:' and 'layers:' at the top)", root.loc)
        vars_node = root.get("vars")
        frozen = root.get("frozen") if root.get("models") is not None else None  # single-model files: the model's
        return SpecFile(self.filename, models, blocks, self.vars(vars_node) if vars_node else None, root, frozen)

    def vars(self, node: YNode) -> YMap:
        vmap = expect_map(node, "'vars'")
        for key, kloc in vmap.keys.items():
            if not VAR_RE.fullmatch(key):
                raise SpecError(f"variable name '{shorten(key)}' must be letters, digits and '_'", kloc)
            check_name_length(key, "a variable name", kloc)
            if key in RESERVED_VARS:
                raise SpecError(f"'{key}' is a reserved variable name (set by convcost); choose another name", kloc)
        return vmap

    def model(self, name: str, node: YMap, loc: Loc) -> ModelSpec:
        check_keys(node, MODEL_KEYS, f"model '{name}'")
        if node.get("input") is not None and node.get("inputs") is not None:
            raise SpecError(
                f"model '{name}' has both 'input' and 'inputs'; use 'input' for one input, 'inputs' to name several",
                node.keys["inputs"],
            )
        if node.get("input") is None and node.get("inputs") is None:
            raise SpecError(f"model '{name}' has no 'input' shape; add e.g. 'input: [3, 224, 224]' (C, H, W)", loc)
        if node.get("layers") is None:
            raise SpecError(f"model '{name}' has no 'layers'; add e.g. 'layers: [conv: {{out: 64, kernel: 3}}]'", loc)
        desc = node.get("description")
        if desc is not None and not (isinstance(desc, YScalar) and isinstance(desc.value, str)):
            raise SpecError(f"'description' must be a string, got {type_name(desc)}; quote it", desc.loc)
        vars_node = node.get("vars")
        return ModelSpec(
            name=name,
            inputs=self.inputs(node),
            layers=self.layers(node.items["layers"], f"model '{name}' layers"),
            vars=self.vars(vars_node) if vars_node else None,
            description=str(desc.value) if isinstance(desc, YScalar) else "",
            extra=node,
            loc=loc,
            outputs=self.outputs(node.get("outputs")),
            frozen=node.get("frozen"),
        )

    def inputs(self, node: YMap) -> tuple[NamedInput, ...]:
        one = node.get("input")
        if one is not None:
            return (NamedInput("input", self.input(one)),)
        imap = expect_map(node.items["inputs"], "'inputs' (a mapping of name: [C, H, W])")
        if not imap.items:
            raise SpecError("'inputs' is empty; name at least one input, e.g. 'inputs: {image: [3, 224, 224]}'", imap.loc)
        return tuple(
            NamedInput(expect_name(YScalar(iname, imap.keys[iname]), "an input name"), self.input(inode))
            for iname, inode in imap.items.items()
        )

    def outputs(self, node: YNode | None) -> YSeq | None:
        if node is None:
            return None
        if isinstance(node, YScalar):
            node = YSeq((node,), node.loc)
        seq = expect_list(node, "'outputs' (a list of layer names)")
        if not seq.items:
            raise SpecError("'outputs' is empty; name at least one layer, or leave 'outputs' out for the last layer", seq.loc)
        for out in seq.items:
            if not is_ref(out):
                raise SpecError(f"an output must be a layer name (a dotted path as `analyze` shows it), got {type_name(out)}",
                                out.loc)
        return seq

    def input(self, node: YNode) -> InputSpec:
        batch: YNode | None = None
        if isinstance(node, YMap):
            check_keys(node, ("shape", "tokens", "batch"), "'input'")
            if node.get("shape") is not None and node.get("tokens") is not None:
                raise SpecError("'input' has both 'shape' (a map) and 'tokens' (a sequence); give one", node.keys["tokens"])
            batch = node.get("batch")
            if node.get("tokens") is not None:
                seq = expect_list(node.items["tokens"], "'tokens' ([N, D]: N tokens of width D)")
                if len(seq.items) != 2:
                    raise SpecError(f"'tokens' must be [N, D] (N tokens of width D), got {len(seq.items)} numbers", seq.loc)
                return InputSpec(seq.items, batch, node.loc, tokens=True)
            if node.get("shape") is None:
                raise SpecError("'input' needs a 'shape', e.g. shape: [3, 224, 224]", node.loc)
            shape_node = node.items["shape"]
        else:
            shape_node = node
        seq = expect_list(shape_node, "'input' (C, H, W)")
        if not 1 <= len(seq.items) <= 4:
            raise SpecError(
                f"input shape must be [C, L], [C, H, W] or [C, D, H, W] (or [features]), got {len(seq.items)} numbers; "
                "the batch is set apart with 'batch:'",
                seq.loc,
            )
        return InputSpec(seq.items, batch, node.loc)

    def block(self, name: str, node: YNode, loc: Loc) -> BlockSpec:
        bmap = expect_map(node, f"block '{name}'")
        check_keys(bmap, ("params", "vars", "layers", "description"), f"block '{name}'")
        params: dict[str, YNode | None] = {}
        param_locs: dict[str, Loc] = {}
        pnode = bmap.get("params")
        if isinstance(pnode, YSeq):  # params: [mid, out] -- all required
            for p in pnode.items:
                pname = expect_name(p, "a parameter name")
                params[pname], param_locs[pname] = None, p.loc
        elif pnode is not None:
            pmap = expect_map(pnode, f"block '{name}' params")
            for pname, default in pmap.items.items():
                param_locs[pname] = pmap.keys[pname]
                params[pname] = None if isinstance(default, YScalar) and default.value is None else default
        for pname, ploc in param_locs.items():
            check_name_length(pname, "a parameter name", ploc)
            if pname in FLOW_KEYS:
                raise SpecError(f"'{pname}' cannot be a parameter name: every layer takes '{pname}' (its input)", ploc)
            if not VAR_RE.fullmatch(pname) or pname in RESERVED_VARS or pname in ITEM_KEYS:
                raise SpecError(
                    f"'{shorten(pname)}' cannot be a parameter name (it must be letters, digits and '_', and not one of "
                    f"{', '.join((*RESERVED_VARS, *ITEM_KEYS))})",
                    ploc,
                )
        if bmap.get("layers") is None:
            raise SpecError(f"block '{name}' has no 'layers'; add e.g. 'layers: [conv: {{out: 64, kernel: 3}}]'", loc)
        vars_node = bmap.get("vars")
        return BlockSpec(
            name=name,
            params=params,
            param_locs=param_locs,
            vars=self.vars(vars_node) if vars_node else None,
            layers=self.layers(bmap.items["layers"], f"block '{name}' layers"),
            loc=loc,
        )

    def layers(self, node: YNode, what: str) -> tuple[Item, ...]:
        seq = expect_list(node, what)
        return tuple(self.item(n) for n in seq.items)

    def resolve(self, word: str, loc: Loc) -> tuple[str, str]:
        return resolve_op(word, loc, self.block_names)

    def item(self, node: YNode) -> Item:
        if isinstance(node, YScalar):
            if not isinstance(node.value, str):
                raise SpecError(f"a layer must be an op name or a mapping like 'conv: {{...}}', got {type_name(node)}", node.loc)
            if is_op_param(node.value):  # '- $act': the op a parameter names, chosen when the block is called
                return self.leaf("param", node.value, None, node.loc, node.value)
            kind, op = self.resolve(node.value, node.loc)
            if kind == "struct":
                raise SpecError(f"'{op}' needs its layers, e.g. '{op}: [...]'", node.loc)
            return self.leaf(kind, op, None, node.loc, node.value)
        if not isinstance(node, YMap):
            raise SpecError(f"a layer must be an op name or a mapping like 'conv: {{...}}', got {type_name(node)}", node.loc)
        if len(node.items) != 1:
            keys = ", ".join(node.items)
            hint = (
                "; put arguments inside the op's mapping, e.g. '- conv: {out: 64, kernel: 3}'"
                if len(node.items) > 1
                else ""
            )
            raise SpecError(f"a layer mapping must have exactly one key, the op name; got {keys or 'none'}{hint}", node.loc)
        (word, body), = node.items.items()
        loc = node.keys[word]
        if is_op_param(word):  # '- $act: {when: ...}'
            if isinstance(body, YScalar) and body.value is None:
                return self.leaf("param", word, None, loc, word)
            return self.leaf("param", word, expect_map(body, f"the arguments of '{word}'"), loc, word)
        kind, op = self.resolve(word, loc)
        if kind == "struct":
            return self.struct(op, body, loc)
        if isinstance(body, YScalar) and body.value is None:
            return self.leaf(kind, op, None, loc, word)
        return self.leaf(kind, op, expect_map(body, f"the arguments of '{word}'"), loc, word)

    def leaf(self, kind: str, op: str, args: YMap | None, loc: Loc, word: str) -> Item:
        allowed = self.arg_names(kind, op)
        if args is None:
            return Item(kind, op, None, None, None, (), loc, None, word)
        if kind not in ("block", "param"):  # block parameters are checked when the block is called, a param's op's
            check_keys(args, (*allowed, *LAYER_KEYS), f"'{op}'")  # arguments when the op is known
        first = self.first(args, kind, op, allowed)
        source = self.source(args, op, join=kind == "op" and reads_several(op))
        each, scope = self.scoping(args, kind, op)
        return Item(kind, op, args, args.get("name"), args.get("repeat"), (), loc, args.get("when"), word, first, source,
                    args.get("frozen"), tied=self.tied(args, kind, op), each=each, scope=scope)

    def scoping(self, args: YMap, kind: str, op: str) -> tuple[YNode | None, YNode | None]:
        """``each`` (the name of each iteration of a repeat) and ``scope`` (false: no scope of its own), where they
        apply: ``each`` needs ``repeat``; ``scope`` is said of what opens a scope (a block call, a ``seq``, a repeat)."""
        each, scope = args.get("each"), args.get("scope")
        repeated = args.get("repeat") is not None
        if each is not None and not repeated:
            raise SpecError("'each' names the iterations of a repeat; add 'repeat: N'", args.keys["each"])
        if scope is not None and not repeated and kind not in ("block", "param") and op != "seq":
            raise SpecError(scope_misplaced(op), args.keys["scope"])
        return each, scope

    def tied(self, args: YMap, kind: str, op: str) -> YMap | None:
        """``tied: {weight: conv1}``: which parameters of this layer are an earlier layer's (the same tensor)."""
        node = args.get("tied")
        if node is None:
            return None
        tmap = expect_map(node, "'tied' (a mapping of parameter: earlier layer, e.g. {weight: conv1})")
        if kind != "op" or lookup(op) is None or lookup(op).tensors is None:  # type: ignore[union-attr]
            holding = ", ".join(n for n in all_names() if (r := lookup(n)) is not None and r.tensors is not None)
            raise SpecError(f"'{op}' holds no parameters 'tied' can name (ops that do: {holding})", args.keys["tied"])
        for tensor, ref in tmap.items.items():
            if not is_ref(ref):
                raise SpecError(f"'tied' maps '{shorten(tensor)}' to an earlier layer's name, got {type_name(ref)}", ref.loc)
        return tmap

    def source(self, args: YMap, op: str, join: bool) -> YNode | None:
        """The 'from' of a layer: one name, or for a join without branches a list of names."""
        node = args.get("from")
        if node is None:
            return None
        if isinstance(node, YSeq):
            if op in JOINS and not join:
                raise SpecError(f"'{op}' joins either its 'branches' or a 'from' list of earlier outputs, not both",
                                node.loc)
            if not join:
                readers = ", ".join(list_readers())
                raise SpecError(f"'{op}' reads one input: give 'from' one name (a list is read by {readers})", node.loc)
            stars = any(isinstance(n, YScalar) and str(n.value).endswith(".*") for n in node.items)
            if len(node.items) < 2 and not stars:  # 'm.*' may stand for several
                raise SpecError(f"'{op}' needs at least two outputs to join, got {len(node.items)}", node.loc)
            names = node.items
        else:
            names = (node,)
        for n in names:
            if not is_ref(n):
                raise SpecError(
                    f"'from' must name an earlier output (a dotted path as `analyze` shows it), got {type_name(n)}", n.loc
                )
        return node

    def first(self, args: YMap, kind: str, op: str, allowed: tuple[str, ...]) -> YMap | None:
        """``first: {stride: 2}``: arguments that differ on the first iteration of a ``repeat``."""
        node = args.get("first")
        if node is None:
            return None
        if args.get("repeat") is None:
            raise SpecError("'first' sets the arguments of the first repeat; add 'repeat: N'", args.keys["first"])
        fmap = expect_map(node, "'first' (arguments for the first repeat)")
        for key, kloc in fmap.keys.items():
            if key in ITEM_KEYS:
                raise SpecError(f"'{key}' cannot be set in 'first'; only arguments of '{op}' can", kloc)
        if kind not in ("block", "param"):
            check_keys(fmap, allowed, f"'first' of '{op}'")
        return fmap

    def arg_names(self, kind: str, op: str) -> tuple[str, ...]:
        return op_arg_names(kind, op)

    def struct(self, op: str, body: YNode, loc: Loc) -> Item:
        keys = STRUCTURES[op].keys
        if isinstance(body, YSeq):  # shorthand: the list is the primary key
            body = YMap({keys[0]: body}, {keys[0]: body.loc}, body.loc)
        bmap = expect_map(body, f"'{op}'")
        op_args = join_arg_names(op)
        check_keys(bmap, (*keys, *op_args, *ITEM_KEYS, "from"), f"'{op}'")  # a structure holds no parameters: no tied
        if "first" in bmap.keys:
            raise SpecError(f"'first' sets arguments of the first repeat, and '{op}' takes no arguments", bmap.keys["first"])
        source = self.source(bmap, op, join=op in JOINS and bmap.get(keys[0]) is None)
        each, scope = self.scoping(bmap, "struct", op)
        one_input = any(k in bmap.keys for k in op_args) and not isinstance(source, YSeq)  # 'add: {scalar: 1}'
        if bmap.get(keys[0]) is None and not isinstance(source, YSeq) and not one_input:
            hint = " (or a 'from' list of earlier outputs to join, e.g. 'from: [p4, up]')" if op in JOINS else ""
            raise SpecError(f"'{op}' needs '{keys[0]}'{hint}", loc)
        branches: list[Branch]
        if isinstance(source, YSeq) or (one_input and bmap.get(keys[0]) is None):
            branches = []  # the join of earlier outputs, or the op on one input ('add: {scalar: 1}')
        elif keys[0] == "branches":
            branches = self.branches(bmap.items["branches"], op)
        else:
            branches = [Branch(None, self.layers(bmap.items[keys[0]], f"'{op}' {keys[0]}"), bmap.items[keys[0]].loc)]
            if op == "residual":
                sc = bmap.get("shortcut")
                items = self.layers(sc, "'residual' shortcut") if sc is not None else ()
                branches.append(Branch("shortcut", items, sc.loc if sc is not None else loc))
        return Item(
            "struct", op, bmap, bmap.get("name"), bmap.get("repeat"), tuple(branches), loc, bmap.get("when"), op, None, source,
            bmap.get("frozen"), each=each, scope=scope,
        )

    def branches(self, node: YNode, op: str) -> list[Branch]:
        if isinstance(node, YMap):
            out = []
            for bname, bnode in node.items.items():
                expect_name(YScalar(bname, node.keys[bname]), "a branch name")
                out.append(Branch(bname, self.layers(bnode, f"branch '{bname}'"), node.keys[bname]))
        else:
            seq = expect_list(node, f"'{op}' branches")
            out = [Branch(None, self.layers(b, f"'{op}' branch {i + 1}"), b.loc) for i, b in enumerate(seq.items)]
        if len(out) < 2:
            raise SpecError(f"'{op}' needs at least two branches, got {len(out)}", node.loc)
        return out


def scope_misplaced(op: str) -> str:
    """The message for ``scope`` on what opens no scope of its own: an op (or a structure) without ``repeat``."""
    return f"'scope' applies to a block call, a 'seq' or a repeat; '{shorten(op)}' without 'repeat' is none of them"
