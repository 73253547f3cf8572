"""Load YAML safely into plain values that remember where they came from.

Only YAML's core scalar types are constructed (never Python objects). Aliases are expanded
under a node budget so "billion laughs" documents fail with a message instead of eating memory.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Union

from ..errors import Loc, SpecError
from ..util.gcpause import paused_gc
from ..util.paths import note_stdin, read_bytes

if TYPE_CHECKING:
    import yaml
else:  # PyYAML, its regular expressions compiled where first used (start-up time)
    from .pyyaml import yaml

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_JSON_BYTES = 128 * 1024 * 1024  # a baseline of a 200,000-layer model is ~60 MB
MAX_NODES = 200_000
MAX_DEPTH = 100

Scalar = Union[str, int, float, bool, None]


# The nodes are NamedTuples, not frozen dataclasses: every run of the analytic path creates these classes
# and hundreds of nodes, and a NamedTuple is several times cheaper to create, class and instance alike
# (start-up time; ops/counting.py).
class YScalar(NamedTuple):
    value: Scalar
    loc: Loc


class YSeq(NamedTuple):
    items: tuple[YNode, ...]
    loc: Loc


class YMap(NamedTuple):
    """A mapping with string keys; ``keys`` keeps each key's own location."""

    items: dict[str, YNode]
    keys: dict[str, Loc]
    loc: Loc

    def get(self, key: str) -> YNode | None:
        return self.items.get(key)


YNode = Union[YScalar, YSeq, YMap]


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters (with '…'), so a hostile value cannot flood a message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def type_name(node: YNode) -> str:
    if isinstance(node, YMap):
        return "a mapping"
    if isinstance(node, YSeq):
        return "a list"
    v = node.value
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, (int, float)):
        return f"number {v}"
    return f"string '{shorten(v)}'"


def read_text(path: str | Path, kind: str = "YAML spec file", max_bytes: int = MAX_FILE_BYTES) -> str:
    """Read a ``kind`` of file ('spec', 'budget file', 'baseline'...) as UTF-8 with clear errors for
    every way that can fail.

    At most ``max_bytes`` + 1 bytes are ever read, so a device or pipe that never ends
    (``/dev/zero``) is refused like a file that is too big.
    """
    if str(path) == "-":  # standard input, bounded like a file
        import sys

        if sys.stdin is None:  # `convcost analyze - <&-`: Python found descriptor 0 closed
            raise SpecError("cannot read: standard input is closed", Loc("<stdin>"))
        try:
            data = sys.stdin.buffer.read(max_bytes + 1)
        except (OSError, ValueError) as e:  # write-only, a directory, closed while reading
            raise SpecError(f"cannot read: {getattr(e, 'strerror', None) or e}", Loc("<stdin>")) from None
        note_stdin()  # `analyze - -o net.yaml <net.yaml` must not replace net.yaml
        return _decode(data, "<stdin>", kind, max_bytes)
    name = str(path)
    if not name:  # Path('') is '.', a directory
        from ..errors import UsageError

        raise UsageError(f"'' is not a file name: expected a {kind}")
    return _decode(read_bytes(path, kind, max_bytes), name, kind, max_bytes)


def load_json(path: str | Path, kind: str, what: str) -> tuple[Any, str]:
    """Read a JSON file (a baseline, a verify/profile result): the document and its text.

    ``kind`` names the file in read errors ('baseline JSON file'); ``what`` starts the JSON error
    messages ('baseline' -> 'baseline is not valid JSON: ...').
    """
    import json

    name = str(path)
    text = read_text(path, kind, MAX_JSON_BYTES)
    try:
        return json.loads(text, object_pairs_hook=_unique_keys), text
    except _DuplicateKey:  # json keeps the last of two equal keys: a planted '"macs": 1e12' after the real one won
        key, at, first = _find_duplicate(text)
        raise SpecError(
            f"{what} JSON has the key '{shorten(key)}' twice in one object (first at line {first.line}, column "
            f"{first.col}); JSON keys must be unique",
            Loc(name, at.line, at.col),
        ) from None
    except json.JSONDecodeError as e:
        raise SpecError(f"{what} is not valid JSON: {e.msg}", Loc(name, e.lineno, e.colno)) from None
    except ValueError:  # an integer with more digits than Python converts
        raise SpecError(f"{what} JSON holds an integer with more than 4,300 digits", Loc(name)) from None
    except RecursionError:
        raise SpecError(f"{what} JSON is nested too deeply", Loc(name)) from None


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _DuplicateKey
    return out


def _find_duplicate(text: str) -> tuple[str, Loc, Loc]:
    """The first repeated key of a JSON document that has one: the key, where it is again, where first.
    Only for the message: a pure-Python parse that sees each object's start."""
    import json
    import json.decoder
    import json.scanner

    decoder = json.JSONDecoder()
    ws = re.compile(r"[ \t\n\r]*")

    def where(pos: int) -> Loc:
        return Loc("", text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1)

    def parse_object(s_and_end: tuple[str, int], strict: bool, scan_once: Any, object_hook: Any,
                     object_pairs_hook: Any, memo: Any = None) -> tuple[Any, int]:
        pairs, end = json.decoder.JSONObject(s_and_end, strict, scan_once, None, list, memo)
        if len({k for k, _ in pairs}) != len(pairs):
            at, seen = ws.match(text, s_and_end[1]).end(), {}  # type: ignore[union-attr]
            while True:  # step over the object's keys and values to the first repeated key
                key, after = decoder.raw_decode(text, at)
                if key in seen:
                    raise _Found(key, where(at), where(seen[key]))
                seen[key] = at
                at = ws.match(text, ws.match(text, after).end() + 1).end()  # type: ignore[union-attr]  # past ':'
                _, at = decoder.raw_decode(text, at)
                at = ws.match(text, ws.match(text, at).end() + 1).end()  # type: ignore[union-attr]  # past ','
        return dict(pairs), end

    decoder.parse_object = parse_object  # type: ignore[assignment]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    try:
        decoder.decode(text)
    except _Found as found:
        return found.args  # type: ignore[return-value]
    return "?", Loc("", 1, 1), Loc("", 1, 1)


class _Found(Exception):
    pass


def json_loc(text: str, name: str, path: tuple[str | int, ...]) -> Loc:
    """Where the value at ``path`` (keys and list indices) starts in the JSON ``text``, as a location.

    For error messages about a document that parsed: the walk decodes the siblings it steps over, so
    it costs about one more parse; where the path leaves the document, the last value found is given.
    """
    import json

    decoder = json.JSONDecoder()
    ws = re.compile(r"[ \t\n\r]*")
    pos = ws.match(text, 0).end()  # type: ignore[union-attr]
    for step in path:
        opener = "[" if isinstance(step, int) else "{"
        if not text.startswith(opener, pos):
            break
        at, k, found = ws.match(text, pos + 1).end(), 0, None  # type: ignore[union-attr]
        while at < len(text) and text[at] not in "]}":
            key: object = k
            if opener == "{":
                key, at = decoder.raw_decode(text, at)
                at = ws.match(text, at).end() + 1  # type: ignore[union-attr]  # past ':'
                at = ws.match(text, at).end()  # type: ignore[union-attr]
            if key == step:
                found = at
                break
            _, at = decoder.raw_decode(text, at)
            at = ws.match(text, at).end()  # type: ignore[union-attr]
            if text.startswith(",", at):
                at = ws.match(text, at + 1).end()  # type: ignore[union-attr]
            k += 1
        if found is None:
            break
        pos = found
    line = text.count("\n", 0, pos) + 1
    return Loc(name, line, pos - (text.rfind("\n", 0, pos) + 1) + 1)


def _decode(data: bytes, name: str, kind: str, max_bytes: int) -> str:
    if len(data) > max_bytes:
        raise SpecError(
            f"file is larger than {max_bytes:,} bytes, the limit for a {kind} (see docs/limits.md)", Loc(name)
        )
    boms = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))
    for bom, encoding in boms:  # UTF-32's little-endian mark starts with UTF-16's: it is looked for first
        if data.startswith(bom):
            raise SpecError(f"file is {encoding}-encoded; save it as UTF-8", Loc(name, 1, 1))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise SpecError(
            f"not valid UTF-8 (byte 0x{data[e.start]:02x}); save the file as UTF-8", Loc(name, line, col)
        ) from None


class _BoundedComposer(yaml.composer.Composer):
    """PyYAML's composer with a node budget and a depth limit, checked while the document is read.

    PyYAML builds its whole node tree before convcost sees it; counting here bounds that tree's
    memory and keeps the composer's recursion far from Python's recursion limit.
    """

    filename = "<spec>"
    nodes = 0
    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        if not self.check_event(yaml.AliasEvent):
            self.nodes += 1
            if self.nodes > MAX_NODES:
                raise SpecError(f"spec has more than {MAX_NODES:,} YAML nodes (limit, see docs/limits.md)", self._here())
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise SpecError(f"YAML nesting is deeper than {MAX_DEPTH} levels (limit, see docs/limits.md)", self._here())
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self.depth -= 1

    def _here(self) -> Loc:
        mark = self.peek_event().start_mark
        return Loc(self.filename, mark.line + 1, mark.column + 1)


class _PyLoader(
    yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, _BoundedComposer, yaml.resolver.Resolver
):
    def __init__(self, text: str, filename: str) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        _BoundedComposer.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self.filename = filename


_CParser: type | None = getattr(getattr(yaml, "cyaml", None), "CParser", None)

if _CParser is not None:

    class _CLoader(_BoundedComposer, _CParser, yaml.resolver.Resolver):  # type: ignore[misc,valid-type]
        """libyaml's parser (~10x faster) under the same bounded composer."""

        def __init__(self, text: str, filename: str) -> None:
            _CParser.__init__(self, text)  # type: ignore[misc]
            _BoundedComposer.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            self.filename = filename


# The pure-Python parser words syntax errors better; on small files it re-parses to explain a failure.
_REPARSE_LIMIT = 256 * 1024


def _compose(loader_type: type, text: str, filename: str) -> yaml.Node | None:
    loader = loader_type(text, filename)
    try:
        return loader.get_single_node()  # type: ignore[no-any-return]
    finally:
        loader.dispose()


EMPTY_SPEC = "empty spec: expected a mapping with 'models' (or 'input' and 'layers')"


def load_yaml(text: str, filename: str, empty: str = EMPTY_SPEC) -> YNode:
    """Parse one YAML document into located nodes; ``empty`` is the message for a document with nothing in it."""
    with paused_gc():
        return _load_yaml(text, filename, empty)


def _load_yaml(text: str, filename: str, empty: str) -> YNode:
    try:
        try:
            root = _compose(_CLoader if _CParser is not None else _PyLoader, text, filename)
        except yaml.YAMLError as fast_error:
            if _CParser is None or len(text) > _REPARSE_LIMIT:
                raise
            try:
                root = _compose(_PyLoader, text, filename)
            except yaml.YAMLError:
                raise
            raise fast_error from None  # only libyaml objects: report its error
    except yaml.YAMLError as e:
        raise _syntax_error(e, text, filename) from None
    except RecursionError:  # pragma: no cover - the composer's depth limit comes first
        raise SpecError(f"YAML nesting is deeper than {MAX_DEPTH} levels (limit, see docs/limits.md)", Loc(filename)) from None
    if root is None:
        raise SpecError(empty, Loc(filename, 1, 1))
    return _Converter(filename).convert(root, 0)


def load_data(value: object, filename: str = "<dict>") -> YNode:
    """Python data (dicts, lists, tuples, scalars: what a YAML document holds) as located nodes, as
    load_yaml gives them, for the Python API. A node's location is its path in the data, written as
    Python indexes it (``<dict>["layers"][2]["conv"]``), so every message points into the data."""
    count = 0

    def convert(v: object, where: str, depth: int) -> YNode:
        nonlocal count
        count += 1
        loc = Loc(where)
        if count > MAX_NODES:
            raise SpecError(f"spec has more than {MAX_NODES:,} values (limit, see docs/limits.md)", loc)
        if depth > MAX_DEPTH:
            raise SpecError(f"spec is nested deeper than {MAX_DEPTH} levels (limit, see docs/limits.md)", loc)
        if isinstance(v, dict):
            items: dict[str, YNode] = {}
            keys: dict[str, Loc] = {}
            for k, item in v.items():
                if not isinstance(k, str):
                    raise SpecError(f"mapping keys must be strings, got {type(k).__name__} {shorten(repr(k))}", loc)
                here = f"{where}[{k!r}]"
                keys[k] = Loc(here)
                items[k] = convert(item, here, depth + 1)
            return YMap(items, keys, loc)
        if isinstance(v, (list, tuple)):
            return YSeq(tuple(convert(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(v)), loc)
        if v is None or isinstance(v, (str, bool)):
            return YScalar(v, loc)
        if isinstance(v, int):
            if abs(v) > MAX_INT:
                raise SpecError(f"integer {v} is too large (limit 10^18, see docs/limits.md)", loc)
            return YScalar(v, loc)
        if isinstance(v, float):
            return YScalar(v, loc)
        raise SpecError(f"a spec holds numbers, strings, booleans, lists and dicts, got {type(v).__name__}", loc)

    with paused_gc():
        return convert(value, filename, 0)


_HINTS = {
    "found character '\\t' that cannot start any token": "; indent with spaces, not tabs",
}
_NESTED = "a nested mapping goes on its own indented lines or in {...}"
_KEY_WITHOUT_SPACE = re.compile(r"\s*(?:-\s+)?[A-Za-z0-9_$.-]+:[^\s:/]")


def _line_above(lines: list[str], line: int) -> int | None:
    """The index of the last line before ``line`` (0-based) that holds more than a comment."""
    for k in range(min(line, len(lines)) - 1, -1, -1):
        if lines[k].strip() and not lines[k].lstrip().startswith("#"):
            return k
    return None


def _misplaced_colon(text: str, line: int, col: int) -> str:
    """PyYAML's 'mapping values are not allowed here' in plain words: what usually causes it."""
    lines = text.splitlines()
    cur = lines[line] if line < len(lines) else ""
    if ": " in cur[:col] or cur[:col].rstrip().endswith(":"):  # 'conv: out: 4': a second ':' on one line
        return f"':' is not allowed here: a value that holds ': ' must be quoted, and {_NESTED}"
    k = _line_above(lines, line)
    if k is not None:
        above = lines[k]
        if _KEY_WITHOUT_SPACE.match(above):
            return f"a missing space after ':' on line {k + 1} ('{shorten(above.strip(), 40)}'): write 'key: value'"
        indent = len(cur) - len(cur.lstrip(" "))
        if indent > len(above) - len(above.lstrip(" ")) and not above.rstrip().endswith(":"):
            word = shorten(above.strip().removeprefix("- ").split()[-1] if above.strip() else "", 40)
            return (
                f"bad indentation: this line is indented under line {k + 1}, which does not end with ':' "
                f"(a missing ':' after '{word}'?)"
            )
    return f"bad indentation or a missing space after ':' (write 'key: value'); {_NESTED}"


def _misaligned(e: yaml.MarkedYAMLError) -> str:
    """PyYAML's 'expected <block end>, but found ...' in plain words: a line not lined up with its siblings."""
    found = (e.problem or "").split("but found ", 1)[-1]
    what = {"'<block mapping start>'": "this key", "'<block sequence start>'": "this '-' item", "'-'": "this '-' item"}
    context = e.context or ""
    outer = "list" if "collection" in context or "sequence" in context else "mapping"
    where = ""
    if e.context_mark is not None:
        where = f" ({'the ' + outer} above starts at line {e.context_mark.line + 1}, column {e.context_mark.column + 1})"
    return (
        f"bad indentation: {what.get(found, 'this line')} is not lined up with the lines above it; the keys of one "
        f"mapping, and the '-' items of one list, need the same number of spaces{where}"
    )


def _syntax_error(e: yaml.YAMLError, text: str, filename: str) -> SpecError:
    if isinstance(e, yaml.reader.ReaderError):  # a character YAML does not allow (NUL, other controls)
        line = text.count("\n", 0, e.position) + 1
        col = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
        what = f"character U+{e.character:04X}" if isinstance(e.character, int) else f"byte {e.character!r}"
        return SpecError(f"{what} is not allowed in YAML; remove it", Loc(filename, line, col))
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        loc = Loc(filename, mark.line + 1, mark.column + 1) if mark else Loc(filename)
        if e.problem == "but found another document":
            return SpecError("a spec is one YAML document; remove the second '---' and what follows", loc)
        # (libyaml, which reads files over _REPARSE_LIMIT, words the two problems differently)
        if e.problem in ("mapping values are not allowed here", "mapping values are not allowed in this context") \
                and mark is not None:
            return SpecError(f"YAML syntax error: {_misplaced_colon(text, mark.line, mark.column)}", loc)
        if (e.problem or "").startswith(("expected <block end>, but found", "did not find expected key",
                                         "did not find expected '-' indicator")):
            return SpecError(f"YAML syntax error: {_misaligned(e)}", loc)
        problem = e.problem or e.context or "invalid YAML"
        problem += _HINTS.get(problem, "")
        if e.context == "while scanning a quoted scalar":
            problem += "; a quote is not closed"
        if problem.startswith("found undefined alias"):
            problem += "; define the anchor ('&name') before the alias ('*name')"
        where = ""
        if e.context and e.problem and e.context_mark is not None and e.context_mark is not mark:
            cm = e.context_mark
            where = f" ({e.context} that starts at line {cm.line + 1}, column {cm.column + 1})"
        return SpecError(f"YAML syntax error: {problem}{where}", loc)
    return SpecError(f"YAML error: {shorten(str(e).splitlines()[0] if str(e) else type(e).__name__, 200)}", Loc(filename))


# YAML's core scalar types, constructed directly (construct_object's bookkeeping is slow on big specs).
_PLAIN_SCALARS = {
    f"tag:yaml.org,2002:{t}": yaml.constructor.SafeConstructor.yaml_constructors[f"tag:yaml.org,2002:{t}"]
    for t in ("int", "float", "bool", "null")
}
_COLLECTION_TAGS = ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map")
MAX_INT = 10**18
_MAX_NUMBER_CHARS = 40  # longer integer literals are refused before Python converts them


_MISSING = object()
# Numbers YAML 1.1 (PyYAML) and YAML 1.2 read differently (docs/spec.md): 1e-3 is text in 1.1, a number
# in 1.2 (read as a number); 010 is 8 in 1.1 and 10 in 1.2, 1:30 is 90 in 1.1 and text in 1.2 (refused).
_EXPONENT_FLOAT = re.compile(r"[-+]?[0-9]+[eE][-+]?[0-9]+")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9_]+")


def _tag(tag: str) -> str:
    return shorten("!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag)


class _Converter:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.count = 0
        self.active: set[int] = set()  # collections being converted: an alias to one of them is a cycle
        self.scalars = yaml.constructor.SafeConstructor()
        # (tag, text) -> value: specs repeat the same few scalars ('3', 'false', 'relu') thousands of times
        self.values: dict[tuple[str, str], Scalar] = {}

    def loc(self, node: yaml.Node) -> Loc:
        return Loc(self.filename, node.start_mark.line + 1, node.start_mark.column + 1)

    def cached_scalar(self, node: yaml.ScalarNode) -> Scalar:
        key = (node.tag, node.value, node.style)  # the style: a quoted '1e-3' stays a string
        value = self.values.get(key, _MISSING)
        if value is _MISSING:
            value = self.values[key] = self.scalar(node)
        return value  # type: ignore[return-value]

    def convert(self, node: yaml.Node, depth: int) -> YNode:
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError(
                f"spec expands to more than {MAX_NODES:,} YAML nodes (limit, see docs/limits.md); aliases multiply "
                "the nodes they point to: use 'repeat' or a block instead",
                self.loc(node),
            )
        if depth > MAX_DEPTH:
            raise SpecError(f"YAML nesting is deeper than {MAX_DEPTH} levels (limit, see docs/limits.md)", self.loc(node))
        if type(node) is yaml.ScalarNode:
            mark = node.start_mark
            return YScalar(self.cached_scalar(node), Loc(self.filename, mark.line + 1, mark.column + 1))
        if node.tag not in _COLLECTION_TAGS:
            raise SpecError(f"unsupported YAML tag '{_tag(node.tag)}'; specs use plain YAML only", self.loc(node))
        if id(node) in self.active:
            raise SpecError("recursive YAML alias: this anchored collection contains an alias to itself", self.loc(node))
        self.active.add(id(node))
        try:
            return self.collection(node, depth)
        finally:
            self.active.discard(id(node))

    def refuse_yaml11_number(self, node: yaml.ScalarNode) -> None:
        text = shorten(node.value)
        if ":" in node.value:
            raise SpecError(
                f"'{text}' is a base-60 number in YAML 1.1 (1:30 reads as 90) and text in YAML 1.2; write the number "
                "itself, or quote it for text",
                self.loc(node),
            )
        if node.tag.endswith(":int") and _LEADING_ZERO.fullmatch(node.value):
            raise SpecError(
                f"'{text}' is octal in YAML 1.1 (010 reads as 8) and decimal in YAML 1.2; write it without the leading "
                "0, or quote it for text",
                self.loc(node),
            )

    def collection(self, node: yaml.Node, depth: int) -> YNode:
        if isinstance(node, yaml.SequenceNode):
            return YSeq(tuple(self.convert(n, depth + 1) for n in node.value), self.loc(node))
        if not isinstance(node, yaml.MappingNode):  # pragma: no cover - the composer makes only these three
            raise SpecError(f"unsupported YAML node {type(node).__name__}", self.loc(node))
        items: dict[str, YNode] = {}
        keys: dict[str, Loc] = {}
        for knode, vnode in node.value:
            kloc = self.loc(knode)
            if isinstance(knode, yaml.ScalarNode) and knode.value == "<<" and knode.tag.endswith(":merge"):
                raise SpecError("YAML merge keys ('<<') are not supported; use a block with parameters", kloc)
            if not isinstance(knode, yaml.ScalarNode):
                raise SpecError("mapping keys must be plain strings, got a list or mapping", kloc)
            if not isinstance(self.cached_scalar(knode), str):
                raise SpecError(f"mapping keys must be plain strings, got '{shorten(knode.value)}'; quote it", kloc)
            key = str(knode.value)
            if key in items:
                raise SpecError(f"duplicate key '{shorten(key)}' (first at line {keys[key].line})", kloc)
            keys[key] = kloc
            items[key] = self.convert(vnode, depth + 1)
        return YMap(items, keys, self.loc(node))

    def scalar(self, node: yaml.ScalarNode) -> Scalar:
        if node.tag == "tag:yaml.org,2002:str":
            if not node.style and _EXPONENT_FLOAT.fullmatch(node.value):  # plain (None, libyaml: ''): YAML 1.2 reads a number
                number = float(node.value)
                if math.isfinite(number):  # '1e999' stays text: messages quote it as written
                    return number
            return str(node.value)
        if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
            self.refuse_yaml11_number(node)
        if node.tag == "tag:yaml.org,2002:timestamp":
            raise SpecError(f"'{shorten(node.value)}' reads as a date; quote it if you mean a string", self.loc(node))
        plain = _PLAIN_SCALARS.get(node.tag)
        if plain is None:
            raise SpecError(f"unsupported YAML tag '{_tag(node.tag)}'; specs use plain YAML only", self.loc(node))
        if node.tag == "tag:yaml.org,2002:int" and len(node.value) > _MAX_NUMBER_CHARS:
            raise SpecError(
                f"integer '{shorten(node.value, 30)}' is too large (limit 10^18, see docs/limits.md)", self.loc(node)
            )
        try:
            value = plain(self.scalars, node)
        except (ValueError, OverflowError, IndexError, KeyError, yaml.constructor.ConstructorError):
            # e.g. an explicit tag on a value that does not fit it: '!!int ""', '!!bool maybe'
            raise SpecError(f"cannot read '{shorten(node.value)}' as {_tag(node.tag)}", self.loc(node)) from None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise SpecError(f"integer {value} is too large (limit 10^18, see docs/limits.md)", self.loc(node))
        return value  # type: ignore[no-any-return]
