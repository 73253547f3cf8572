"""The corpus of broken specs: every failure is one `file:line:col: message` line and exit code 2.

Each file in tests/bad_specs/ starts with the exact line convcost must print on stderr:

    # expect: groups_not_dividing_out.yaml:4:39: conv 'conv1': groups=4 must divide out=6

(line numbers count that comment line). File names group the cases: yaml_ (syntax, tags, aliases),
type_ (wrong types), unknown_ (keys, ops, variables; did-you-mean), missing_, size_, groups_,
stride_/dilation_, kernel_ (larger than the padded input), shape_ (concat/add/multiply
mismatches), block_ (undefined, self-referencing), repeat_ (absurd counts),
alias_ (alias bombs), huge_ (integers, expressions, nesting), expr_ (the expression language).
Inputs that cannot live in the corpus as text (bytes that are not UTF-8, an empty file, a
directory, a missing file, a file over the size limit) are made by the tests below.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from convcost.cli import app
from convcost.frontend.source import MAX_FILE_BYTES, MAX_NODES

CORPUS = Path(__file__).resolve().parent / "bad_specs"
CASES = sorted(CORPUS.glob("*.yaml"))
EXPECT = "# expect: "
# Cases that run into a work limit (a second each) live in tests/hostile.py's WORST_CASES, where
# tests/test_limits.py times them; the alias bomb here goes through `analyze` only.
HEAVY = {"alias_billion_laughs"}


def expected(path: Path) -> str:
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    assert first.startswith(EXPECT), f"{path.name}: the first line must be '{EXPECT}<the exact message>'"
    return first.removeprefix(EXPECT)


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(app, args)


def assert_bad_input(result: Result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == message
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_the_corpus_covers_every_category() -> None:
    prefixes = {p.stem.split("_")[0] for p in CASES}
    assert prefixes >= {"yaml", "type", "unknown", "missing", "size", "groups", "stride", "kernel", "shape", "block",
                        "repeat", "alias", "huge", "expr"}
    assert len(CASES) >= 130


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_corpus_case(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS)
    assert_bad_input(invoke(["analyze", path.name]), expected(path))


# Every other command that reads specs fails the same way (verify and profile before importing torch).
# Each light case goes through one of them in turn, so every command sees about twenty cases.
COMMANDS: list[list[str]] = [
    ["check"],
    ["compare"],
    ["report"],
    ["roofline"],
    ["verify"],
    ["profile", "--no-progress"],
    ["analyze", "--format", "json"],
]
LIGHT = [p for p in CASES if p.stem not in HEAVY]


@pytest.mark.parametrize("k", range(len(COMMANDS)), ids=[c[0] + ("-json" if "json" in c else "") for c in COMMANDS])
def test_corpus_through_the_other_commands(k: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS)
    for path in LIGHT[k :: len(COMMANDS)]:
        result = invoke([*COMMANDS[k], path.name])
        assert result.exit_code == 2, f"{COMMANDS[k]} {path.name}: {result.output}"
        assert result.stderr.strip() == expected(path), f"{COMMANDS[k]} {path.name}"
        assert "Traceback" not in result.output


def test_compare_names_the_broken_file_among_good_ones(monkeypatch: pytest.MonkeyPatch, configs_dir: Path) -> None:
    monkeypatch.chdir(CORPUS)
    good = str(configs_dir / "resnet18.yaml")
    result = invoke(["compare", good, "groups_zero.yaml", good])
    assert_bad_input(result, expected(CORPUS / "groups_zero.yaml"))


# ---- inputs that are not a text file ----------------------------------------------------------
def _write(data: bytes) -> Callable[[Path], str]:
    def make(tmp: Path) -> str:
        (tmp / "spec.yaml").write_bytes(data)
        return "spec.yaml"

    return make


def _directory(tmp: Path) -> str:
    (tmp / "specs.yaml").mkdir()
    return "specs.yaml"


def _missing(tmp: Path) -> str:
    return "nope.yaml"


EMPTY = "spec.yaml:1:1: empty spec: expected a mapping with 'models' (or 'input' and 'layers')"
NOT_FILES: dict[str, tuple[Callable[[Path], str], str]] = {
    # 'é' in Latin-1 is the byte 0xe9, the 11th character of line 2
    "latin1": (_write("input: [3, 8, 8]\nlayers: [rélu]\n".encode("latin-1")),
               "spec.yaml:2:11: not valid UTF-8 (byte 0xe9); save the file as UTF-8"),
    "binary": (_write(b"\x89PNG\r\n\x1a\n\x00\x00"), "spec.yaml:1:1: not valid UTF-8 (byte 0x89); save the file as UTF-8"),
    "utf16": (_write("input: [3, 8, 8]\n".encode("utf-16")), "spec.yaml:1:1: file is UTF-16-encoded; save it as UTF-8"),
    # UTF-32 little-endian starts with FF FE 00 00: its first two bytes are UTF-16's mark (issue #15)
    "utf32": (_write("input: [3, 8, 8]\n".encode("utf-32")), "spec.yaml:1:1: file is UTF-32-encoded; save it as UTF-8"),
    "utf32-be": (_write("input: [3, 8, 8]\n".encode("utf-32-be").join([b"\x00\x00\xfe\xff", b""])),
                 "spec.yaml:1:1: file is UTF-32-encoded; save it as UTF-8"),
    "empty-name": (lambda tmp: "", "convcost: error: '' is not a file name: expected a YAML spec file"),
    "nul": (_write(b"input: [3, 8, 8]\nlayers: [relu]\x00\n"),
            "spec.yaml:2:15: character U+0000 is not allowed in YAML; remove it"),
    "escape-char": (_write(b"input: [3, 8, 8]\nlayers: [\x1b]\n"),
                    "spec.yaml:2:10: character U+001B is not allowed in YAML; remove it"),
    "empty": (_write(b""), EMPTY),
    "whitespace": (_write(b"\n   \n\n"), EMPTY),
    "comments-only": (_write(b"# a spec, one day\n"), EMPTY),
    "bom-only": (_write(b"\xef\xbb\xbf"), EMPTY),
    "null-document": (_write(b"~\n"), "spec.yaml:1:1: a spec file must be a mapping, got null"),
    "directory": (_directory, "specs.yaml: is a directory, expected a YAML spec file"),
    "missing": (_missing, "nope.yaml: no such file"),
    "too-large": (_write(b"#" * (MAX_FILE_BYTES + 1)),
                  f"spec.yaml: file is larger than {MAX_FILE_BYTES:,} bytes, the limit for a YAML spec file"
                  " (see docs/limits.md)"),
    # the composer counts nodes as it reads: the root map, the key, the value, the list, then relu × N
    "too-many-nodes": (_write(b"input: [3, 8, 8]\nlayers: [" + b"relu, " * MAX_NODES + b"]\n"),
                       f"spec.yaml:2:{len('layers: [') + 6 * (MAX_NODES - 8) + 1}: spec has more than "
                       f"{MAX_NODES:,} YAML nodes (limit, see docs/limits.md)"),
}


@pytest.mark.parametrize("case", sorted(NOT_FILES))
def test_input_that_is_not_a_text_spec(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make, message = NOT_FILES[case]
    monkeypatch.chdir(tmp_path)
    name = make(tmp_path)
    commands = ("analyze",) if case == "too-many-nodes" else ("analyze", "check", "compare", "report", "roofline")
    for command in commands:  # (reading 200,000 nodes takes a second: once is enough)
        assert_bad_input(invoke([command, name]), message)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_device_is_refused_like_a_large_file() -> None:
    result = invoke(["analyze", "/dev/zero"])
    message = f"/dev/zero: file is larger than {MAX_FILE_BYTES:,} bytes, the limit for a YAML spec file (see docs/limits.md)"
    assert_bad_input(result, message)


# an unreadable file (also as root): tests/test_permissions.py


def test_a_batch_too_large_on_the_command_line_names_the_option(configs_dir: Path) -> None:
    from convcost.graph.build import MAX_BATCH

    result = invoke(["analyze", str(configs_dir / "resnet18.yaml"), "--batch", str(MAX_BATCH + 1)])
    assert_bad_input(result, f"convcost: error: --batch {MAX_BATCH + 1:,} is too large (limit {MAX_BATCH:,}, see docs/limits.md)")
