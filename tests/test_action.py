"""The GitHub Action (action.yml), run step by step as a runner runs a composite action: each `run:` with
`bash --noprofile --norc -eo pipefail`, in a workspace, with GitHub's variables and files (GITHUB_OUTPUT,
GITHUB_PATH, GITHUB_STEP_SUMMARY, the event JSON), `${{ }}` expressions in `env:` evaluated. The install
step's python3 -m venv / pip and the comment step's `gh` are recorders on PATH (no network); the
`convcost` the action installs is this checkout's. docs/budgets.md's example workflow is run too."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
EXPR = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


@dataclass
class Run:
    codes: list[int] = field(default_factory=list)  # each step's exit status, in order (a failed step stops the rest)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    log: str = ""
    summary: str = ""
    pip: list[list[str]] = field(default_factory=list)
    venv: list[list[str]] = field(default_factory=list)  # python3 -m venv's arguments
    gh: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return len(self.codes) == len(ACTION["runs"]["steps"]) and all(c == 0 for c in self.codes)


def _script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def stubs(bin_dir: Path, record: Path) -> None:
    """python3 (its -m venv makes a venv whose pip records and whose convcost is this checkout's) and gh."""
    python = sys.executable
    _script(bin_dir / "python3", f"""#!/bin/bash
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  venv="${{@: -1}}"
  "{python}" -c 'import json, sys; print(json.dumps({{"venv": sys.argv[1:]}}))' "${{@:3}}" >> "{record}"
  mkdir -p "$venv/bin"
  cat > "$venv/bin/python" <<'EOF'
#!/bin/bash
"{python}" -c 'import json, sys; print(json.dumps({{"pip": sys.argv[1:]}}))' "$@" >> "{record}"
EOF
  chmod +x "$venv/bin/python"
  printf '#!/bin/bash\\nPYTHONPATH="{ROOT}" exec "{python}" -m convcost "$@"\\n' > "$venv/bin/convcost"
  chmod +x "$venv/bin/convcost"
  exit 0
fi
exec "{python}" "$@"
""")
    _script(bin_dir / "gh", f"""#!/bin/bash
body=""
for a in "$@"; do case "$a" in body=@*) body=$(cat "${{a#body=@}}");; esac; done
"{python}" -c 'import json, sys; print(json.dumps({{"gh": sys.argv[2:], "body": sys.argv[1]}}))' "$body" "$@" >> "{record}"
if [ "$2" = "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" ] && [ -n "$EXISTING_COMMENT" ]; then
  echo "$EXISTING_COMMENT"
fi
""")


def evaluate(expr: str, inputs: dict[str, str], outputs: dict[str, dict[str, str]], github: dict[str, str]) -> str:
    scope, _, rest = expr.partition(".")
    if scope == "inputs":
        return inputs[rest]
    if scope == "github":
        return github[rest]
    if scope == "steps":
        step, _, name = rest.partition(".outputs.")
        return outputs.get(step, {}).get(name, "")
    raise AssertionError(f"expression the test runner does not know: {expr}")


def run_action(workspace: Path, tmp: Path, with_: dict[str, Any], event: dict[str, Any] | None = None,
               existing_comment: str = "") -> Run:
    tmp.mkdir(parents=True, exist_ok=True)
    bin_dir, runner_temp, record = tmp / "bin", tmp / "runner-temp", tmp / "record.jsonl"
    bin_dir.mkdir()
    runner_temp.mkdir()
    record.touch()
    stubs(bin_dir, record)
    summary, path_file, event_file = tmp / "step_summary.md", tmp / "path.txt", tmp / "event.json"
    summary.touch()
    path_file.touch()
    event = event if event is not None else {"pull_request": {"number": 7}}
    event_file.write_text(json.dumps(event))
    declared = ACTION["inputs"]
    unknown = set(with_) - set(declared)
    assert not unknown, f"inputs the action does not declare: {unknown}"
    github = {"token": "ghs_test_token", "action_path": str(ROOT)}
    inputs = {}
    for name, spec in declared.items():
        value = with_.get(name, spec.get("default", ""))
        value = str(value).lower() if isinstance(value, bool) else str(value)
        inputs[name] = EXPR.sub(lambda m: evaluate(m.group(1), {}, {}, github), value)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "INPUT_"))}
    base_env.update({
        "GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(runner_temp),
        "GITHUB_ACTION_PATH": str(ROOT), "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_PATH": str(path_file),
        "GITHUB_EVENT_PATH": str(event_file), "GITHUB_EVENT_NAME": "pull_request" if "pull_request" in event else "push",
        "GITHUB_REPOSITORY": "octo/net", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "42",
        "GITHUB_SHA": "0123abc", "PR_NUMBER": str((event.get("pull_request") or {}).get("number", "")),
        "EXISTING_COMMENT": existing_comment,
    })
    result = Run()
    added_paths: list[str] = []
    for k, step in enumerate(ACTION["runs"]["steps"]):
        assert step.get("shell") == "bash" and "run" in step and "if" not in step
        out_file = tmp / f"output{k}.txt"
        out_file.touch()
        env = dict(base_env)
        for name, value in (step.get("env") or {}).items():
            env[name] = EXPR.sub(lambda m: evaluate(m.group(1), inputs, result.outputs, github), str(value))
        env["GITHUB_OUTPUT"] = str(out_file)
        env["PATH"] = os.pathsep.join([str(bin_dir), *reversed(added_paths), base_env["PATH"]])
        script = tmp / f"step{k}.sh"
        script.write_text(step["run"])
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workspace, env=env,
                              capture_output=True, text=True, timeout=600)
        result.log += proc.stdout + proc.stderr
        result.codes.append(proc.returncode)
        if "id" in step:
            result.outputs[step["id"]] = dict(line.split("=", 1) for line in out_file.read_text().splitlines() if "=" in line)
        added_paths = [p for p in path_file.read_text().splitlines() if p]
        if proc.returncode != 0:
            break
    result.summary = summary.read_text()
    for line in record.read_text().splitlines():
        entry = json.loads(line)
        if "pip" in entry:
            result.pip.append(entry["pip"])
        elif "venv" in entry:
            result.venv.append(entry["venv"])
        else:
            result.gh.append(entry)
    return result


def workspace(tmp: Path) -> Path:
    """A checkout of a project that keeps its specs and budgets like this repository."""
    ws = tmp / "workspace"
    shutil.copytree(ROOT / "configs", ws / "configs")
    (ws / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "budgets.yaml", ws / "docs" / "budgets.yaml")
    return ws


def docs_workflow() -> dict[str, Any]:
    text = (ROOT / "docs" / "budgets.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "runs-on:" in b]
    assert len(blocks) == 1
    return yaml.safe_load(blocks[0])  # type: ignore[no-any-return]


def convcost_step(workflow: dict[str, Any]) -> dict[str, Any]:
    (steps,) = [job["steps"] for job in workflow["jobs"].values()]
    (step,) = [s for s in steps if "convcost@" in s.get("uses", "")]
    return step["with"]  # type: ignore[no-any-return]


def test_the_docs_example_workflow_runs_green(tmp_path: Path) -> None:
    with_ = convcost_step(docs_workflow())
    ws = workspace(tmp_path)
    # the baseline of the docs' workflow: resnet50 (and resnet18, a new model: a note) recorded as they are
    subprocess.run([sys.executable, "-m", "convcost", "analyze", "configs/resnet50.yaml", "-f", "json", "-o", with_["baseline"]],
                   cwd=ws, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    run = run_action(ws, tmp_path / "run1", with_)
    assert run.ok, run.log
    assert run.outputs["check"]["exit-code"] == "0"
    # installed from the action's own checkout, the core only (no [torch] extra)
    assert run.pip == [["-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(ROOT)]]
    # the job summary: the checks' table, then the report
    assert "### ✅ convcost check: passed:" in run.summary and "| ✅ | resnet50 | layer3 | MACs |" in run.summary
    assert "# convcost report" in run.summary and "## resnet18" in run.summary and "```mermaid" in run.summary
    # one comment, posted (none existed), with the marker and the table
    (listing, post) = run.gh
    assert listing["gh"][:2] == ["api", "repos/octo/net/issues/7/comments"] and "--paginate" in listing["gh"]
    assert post["gh"][:4] == ["api", "--method", "POST", "repos/octo/net/issues/7/comments"]
    assert post["body"].startswith("<!-- convcost-action -->\n### ✅ convcost check: passed")
    assert "actions/runs/42" in post["body"]


def test_a_second_push_updates_the_comment(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    run = run_action(ws, tmp_path / "run", {"specs": "configs/resnet50.yaml", "budget": "docs/budgets.yaml",
                                            "comment": True}, existing_comment="1234")
    assert run.ok, run.log
    (_listing, patch) = run.gh
    assert patch["gh"][:4] == ["api", "--method", "PATCH", "repos/octo/net/issues/comments/1234"]
    assert [g for g in run.gh if "POST" in g["gh"]] == []  # updated, not a second comment
    assert "updated comment 1234 on #7" in run.log


def test_over_budget_fails_with_annotations_and_a_red_comment(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    (ws / "tight.yaml").write_text("models:\n  resnet50:\n    macs: 4G\n")  # 4,089,184,256 MACs: over
    run = run_action(ws, tmp_path / "run", {"specs": "configs/resnet*.yaml", "budget": "tight.yaml", "comment": "true",
                                            "report": "false"})
    assert run.codes == [0, 0, 0, 1]  # the verdict step fails the job, after the comment was written
    assert "::error file=tight.yaml,line=3,col=11,title=convcost budget::model 'resnet50': MACs 4,089,184,256" in run.log
    assert "### ❌ convcost check: FAILED: 1 of 1 check" in run.summary and "# convcost report" not in run.summary
    assert run.gh[-1]["body"].startswith("<!-- convcost-action -->\n### ❌")


def test_globs_span_folders_and_a_glob_matching_nothing_is_an_error(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    (ws / "models" / "deep").mkdir(parents=True)
    shutil.copy(ws / "configs" / "resnet18.yaml", ws / "models" / "deep" / "r18.yaml")
    run = run_action(ws, tmp_path / "run1", {"specs": "models/**/*.yaml\nconfigs/resnet50.yaml",
                                             "budget": "docs/budgets.yaml"})
    assert run.ok, run.log
    assert "on 2 models" in run.log  # resnet50 from configs/, resnet18 from models/deep/
    run = run_action(ws, tmp_path / "run2", {"specs": "configs/nothing*.yaml", "budget": "docs/budgets.yaml"})
    assert run.codes == [0, 0, 0, 2]
    assert "::error title=convcost::no file matches 'configs/nothing*.yaml' (input specs)" in run.log


def test_no_comment_unless_asked_or_outside_a_pull_request(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    run = run_action(ws, tmp_path / "run1", {"specs": "configs/resnet50.yaml", "budget": "docs/budgets.yaml"})
    assert run.ok and run.gh == []
    run = run_action(ws, tmp_path / "run2", {"specs": "configs/resnet50.yaml", "budget": "docs/budgets.yaml",
                                             "comment": "true"}, event={"ref": "refs/heads/main"})
    assert run.ok and run.gh == [] and "not a pull request" in run.log


@pytest.mark.parametrize("step", [s["name"] for s in ACTION["runs"]["steps"]])
def test_inputs_reach_scripts_through_env_only(step: str) -> None:
    """No `${{ }}` inside a script (a spec name like `$(rm -rf ~)` must stay data): only in env values."""
    (found,) = [s for s in ACTION["runs"]["steps"] if s["name"] == step]
    assert "${{" not in found["run"]


# ---- a torch target in `specs:` with `input:`: the budget gates the PyTorch model itself --------------------------------
MODEL = """\
import torch.nn as nn


def net() -> nn.Module:
    w = 16
    return nn.Sequential(nn.Conv2d(3, w, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w, 10))
"""


def model_workspace(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytest.importorskip("torch")
    ws = workspace(tmp)
    (ws / "model.py").write_text(MODEL)
    (ws / "budget.yaml").write_text("models:\n  net: {params: 700}\n")  # a target's model is named after its factory
    monkeypatch.setenv("CONVCOST_CACHE_DIR", str(tmp / "cache"))
    return ws


def test_a_torch_target_in_specs_is_checked_and_a_model_only_change_fails(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ws = model_workspace(tmp_path, monkeypatch)
    with_ = {"specs": "model.py:net\nconfigs/resnet50.yaml", "input": "3,8,8", "budget": "budget.yaml"}
    run = run_action(ws, tmp_path / "run1", with_)
    assert run.ok, run.log
    assert run.venv == [["--system-site-packages", str(tmp_path / "run1" / "runner-temp" / "convcost-venv")]]
    assert "passed: 1 check on 2 models" in run.log and "### ✅ convcost check: passed" in run.summary  # net: 618 <= 700
    assert "## net" in run.summary and "## resnet50" in run.summary  # the report: the target with --input too
    # the model alone grows (no spec touched): width 16 -> 21, 21*27 + 21 + 21*10 + 10 = 808 params
    (ws / "model.py").write_text(MODEL.replace("w = 16", "w = 21"))
    run = run_action(ws, tmp_path / "run2", {**with_, "report": "false"})
    assert run.codes == [0, 0, 0, 1], run.log
    assert "::error file=budget.yaml,line=2,col=17,title=convcost budget::model 'net': params 808 (808) over budget 700" \
        in run.log
    assert "### ❌ convcost check: FAILED" in run.summary


def test_a_torch_target_of_two_inputs_and_without_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = model_workspace(tmp_path, monkeypatch)
    shutil.copy(ROOT / "tests" / "import_inputs_factories.py", ws / "two_inputs.py")
    (ws / "budget.yaml").write_text("models:\n  siamese: {params: 292, macs: 21664}\n")
    # a conv 3->8 k3 shared by two images, a linear 16->4: 8*27 + 8 + 16*4 + 4 params; 6*6*216 + 8*8*216 + 64 MACs
    run = run_action(ws, tmp_path / "run1", {"specs": "two_inputs.py:siamese", "input": "3,8,8 3,10,10",
                                             "budget": "budget.yaml", "report": "false"})
    assert run.ok, run.log
    run = run_action(ws, tmp_path / "run2", {"specs": "two_inputs.py:siamese", "input": "3,8,8",
                                             "budget": "budget.yaml", "report": "false"})
    assert run.codes == [0, 0, 0, 2], run.log
    assert "Siamese.forward(left, right) takes 2 inputs (left, right), and 1 --input shape was given" in run.log
    run = run_action(ws, tmp_path / "run3", {"specs": "model.py:net", "budget": "budget.yaml", "report": "false"})
    assert run.codes == [0, 0, 0, 2] and "model.py:net: a torch target needs --input" in run.log, run.log
    assert run.venv == [[str(tmp_path / "run3" / "runner-temp" / "convcost-venv")]]  # no input: a venv of its own
    assert "Traceback" not in run.log


def test_readme_job_log_of_a_model_only_change_is_real_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """README's CI section shows the job log of a target that grew; its first line says the inputs, the rest is the log."""
    block = re.search(r"```text\n(# specs: model\.py:net[^\n]*)\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "README shows no job log of a torch target"
    ws = model_workspace(tmp_path, monkeypatch)
    (ws / "model.py").write_text(MODEL.replace("w = 16", "w = 21"))  # 21*27 + 21 + 21*10 + 10 = 808 params
    run = run_action(ws, tmp_path / "run", {"specs": "model.py:net", "input": "3,8,8", "budget": "budget.yaml",
                                            "report": "false"})
    assert run.codes == [0, 0, 0, 1], run.log
    shown = block.group(2).rstrip().splitlines()
    assert shown == [line for line in run.log.splitlines() if line in shown], run.log  # each line, in the log's order
    assert len(shown) >= 3
