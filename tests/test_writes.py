"""convcost writes only where it is told to, and atomically: an interrupted write keeps the old file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from convcost.cli import app


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(app, args)


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under ``roots``: (size, mtime in ns)."""
    out = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in [*dirnames, *filenames]:
                p = Path(dirpath, name)
                st = p.stat()
                out[str(p)] = (st.st_size if p.is_file() else 0, st.st_mtime_ns)
    return out


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, configs_dir: Path) -> Path:
    """A cwd holding a copy of two specs in specs/, with HOME pointed inside it."""
    (tmp_path / "specs").mkdir()
    for name in ("resnet18.yaml", "inception_naive_vs_bottleneck.yaml"):
        shutil.copy(configs_dir / name, tmp_path / "specs" / name)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ["analyze", "specs/resnet18.yaml", "-f", "json"],
        ["compare", "specs/inception_naive_vs_bottleneck.yaml", "-f", "json"],
        ["roofline", "specs/resnet18.yaml", "-f", "json"],
        ["report", "specs/inception_naive_vs_bottleneck.yaml"],
    ],
    ids=lambda a: a[0],
)
def test_output_file_holds_what_stdout_would(work: Path, args: list[str]) -> None:
    to_stdout = invoke(args)
    assert to_stdout.exit_code == 0, to_stdout.output
    before = snapshot(work)
    result = invoke([*args, "-o", "result.txt"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == "wrote result.txt\n"
    assert Path("result.txt").read_text(encoding="utf-8") == to_stdout.stdout
    after = snapshot(work)
    assert set(after) - set(before) == {str(work / "result.txt")}  # nothing else appeared
    assert {k: v for k, v in after.items() if k in before} == before  # nothing else changed


def test_analytic_commands_write_nothing_without_output(work: Path) -> None:
    before = snapshot(work)
    for args in (
        ["analyze", "specs/resnet18.yaml"],
        ["analyze", "specs/resnet18.yaml", "-f", "csv"],
        ["analyze", "specs/resnet18.yaml", "-f", "markdown", "-d", "2"],
        ["compare", "specs/inception_naive_vs_bottleneck.yaml"],
        ["roofline", "specs/resnet18.yaml", "--blocks"],
        ["report", "specs/inception_naive_vs_bottleneck.yaml"],
        ["ops"],
    ):
        assert invoke(args).exit_code == 0, args
    assert snapshot(work) == before


def test_check_writes_only_its_summary(work: Path) -> None:
    assert invoke(["analyze", "specs/resnet18.yaml", "-f", "json", "-o", "baseline.json"]).exit_code == 0
    before = snapshot(work)
    result = invoke(["check", "specs/resnet18.yaml", "--baseline", "baseline.json", "--summary", "summary.md"])
    assert result.exit_code == 0, result.output
    after = snapshot(work)
    assert set(after) - set(before) == {str(work / "summary.md")}
    assert {k: v for k, v in after.items() if k in before} == before


def test_readme_baseline_recipe(work: Path) -> None:
    """README: `convcost analyze SPEC --format json -o baseline.json`, then check against it."""
    assert invoke(["analyze", "specs/resnet18.yaml", "--format", "json", "-o", "baseline.json"]).exit_code == 0
    result = invoke(["check", "specs/resnet18.yaml", "--baseline", "baseline.json", "--max-growth", "2%"])
    assert result.exit_code == 0, result.output


def test_failed_write_keeps_the_old_baseline_and_leaves_no_temp_file(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("baseline.json").write_text("old baseline\n", encoding="utf-8")
    before = snapshot(work)

    def disk_full(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    result = invoke(["analyze", "specs/resnet18.yaml", "-f", "json", "-o", "baseline.json"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "baseline.json: cannot write: No space left on device"
    assert Path("baseline.json").read_text(encoding="utf-8") == "old baseline\n"
    assert snapshot(work) == before


def test_interrupted_write_keeps_the_old_baseline(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (or a CI job cancelled) in the middle of writing: the old file stays whole."""
    Path("baseline.json").write_text("old baseline\n", encoding="utf-8")
    before = snapshot(work)

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    result = invoke(["analyze", "specs/resnet18.yaml", "-f", "json", "-o", "baseline.json"])
    assert result.exit_code == 130  # 128 + SIGINT, as a shell reports Ctrl-C
    assert Path("baseline.json").read_text(encoding="utf-8") == "old baseline\n"
    assert snapshot(work) == before


def test_output_into_a_missing_directory(work: Path) -> None:
    result = invoke(["analyze", "specs/resnet18.yaml", "-f", "json", "-o", "out/baseline.json"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "out/baseline.json: cannot write: No such file or directory"
    assert not Path("out").exists()


@pytest.mark.parametrize("command", ["analyze", "report", "compare"])
def test_output_cannot_replace_the_spec(work: Path, command: str) -> None:
    spec = Path("specs/inception_naive_vs_bottleneck.yaml")
    text = spec.read_text(encoding="utf-8")
    result = invoke([command, str(spec), "-o", "./specs/../specs/inception_naive_vs_bottleneck.yaml"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"convcost: error: --output ./specs/../specs/inception_naive_vs_bottleneck.yaml is the input file {spec}; "
        "write the output somewhere else"
    )
    assert spec.read_text(encoding="utf-8") == text


def test_output_dash_is_stdout(work: Path) -> None:
    result = invoke(["analyze", "specs/resnet18.yaml", "-f", "json", "-o", "-"])
    assert result.exit_code == 0
    assert result.stdout.startswith("{")
    assert not Path("-").exists()


@pytest.mark.parametrize(
    ("args", "schema"),
    [
        (["verify", "specs/dilated_conv.yaml", "-f", "json"], "convcost.verify/1"),
        (["profile", "specs/dilated_conv.yaml", "--quick", "--no-blocks", "--no-progress", "-f", "json"], "convcost.profile/1"),
    ],
    ids=["verify", "profile"],
)
def test_torch_commands_write_their_json_atomically(work: Path, configs_dir: Path, args: list[str], schema: str) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("fvcore")
    import json

    shutil.copy(configs_dir / "dilated_conv.yaml", work / "specs" / "dilated_conv.yaml")
    before = snapshot(work)
    result = invoke([*args, "-o", "result.json"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert json.loads(Path("result.json").read_text(encoding="utf-8"))["schema"] == schema
    assert set(snapshot(work)) - set(before) == {str(work / "result.json")}
