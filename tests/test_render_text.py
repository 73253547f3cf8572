"""A spec's free text (description) cannot break a terminal or a markdown report."""

from __future__ import annotations

from markdown_it import MarkdownIt
from typer.testing import CliRunner

from convcost.cli import app
from convcost.render.text import md_paragraph, one_line

runner = CliRunner()


def test_one_line_escapes_controls_and_joins_lines() -> None:
    assert one_line("a\x1b[2Jb\x07\n  c\td") == "a\\x1b[2Jb\\x07 c d"


def test_md_paragraph_is_never_a_block_element() -> None:
    md = MarkdownIt("commonmark")
    for text in ["# heading", "## x", "> quote", "- item", "* item", "+ item", "1. first", "2) second", "```", "~~~",
                 "=== ", "| a |", "plain\n## injected heading"]:
        tokens = [t.type for t in md.parse(md_paragraph(text))]
        assert tokens == ["paragraph_open", "inline", "paragraph_close"], (text, tokens)


def test_description_with_escapes_reaches_neither_terminal_nor_markdown_raw(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(
        'description: "evil\\e[31m\\a\\n## injected"\ninput: [3, 8, 8]\nlayers: [relu]\n', encoding="utf-8"
    )
    for fmt in ("table", "markdown"):
        result = runner.invoke(app, ["analyze", "s.yaml", "-f", fmt], env={"NO_COLOR": "1"})
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout
        assert "\n## injected" not in result.stdout
    result = runner.invoke(app, ["report", "s.yaml"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\n## injected" not in result.stdout
