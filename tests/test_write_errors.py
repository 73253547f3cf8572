"""A full disk under stdout (/dev/full) is a one-line message and exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import CONFIGS, ROOT

SPEC = str(CONFIGS / "inception_naive_vs_bottleneck.yaml")
pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")


@pytest.mark.parametrize(
    "args",
    [["roofline", SPEC], ["roofline", SPEC, "-f", "json"], ["compare", SPEC], ["compare", SPEC, "-f", "markdown"],
     ["analyze", SPEC], ["analyze", SPEC, "-f", "csv"], ["report", SPEC], ["ops"],
     ["check", str(CONFIGS / "resnet50.yaml"), str(CONFIGS / "resnet18.yaml"), "-B", str(ROOT / "docs" / "budgets.yaml"),
      "-v"]],
    ids=["roofline-table", "roofline-json", "compare-table", "compare-markdown", "analyze-table", "analyze-csv",
         "report", "ops", "check"],
)
def test_full_disk_is_a_message(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        p = subprocess.run(
            [sys.executable, "-m", "convcost", *args], stdout=full, stderr=subprocess.PIPE, text=True, cwd=ROOT
        )
    assert p.returncode == 2, p.stderr
    assert p.stderr == "convcost: error: cannot write the output: No space left on device\n"


@pytest.mark.parametrize("args", [["roofline", SPEC, "-f", "json"], ["compare", SPEC]], ids=["roofline-json", "compare"])
def test_closed_pipe_ends_quietly(args: list[str]) -> None:
    """`convcost ... | head -1` once head has gone: no traceback, exit 1 (click's and rich's handling)."""
    read, write = os.pipe()
    os.close(read)
    try:
        p = subprocess.run([sys.executable, "-m", "convcost", *args], stdout=write, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    finally:
        os.close(write)
    assert p.returncode == 1 and p.stderr == ""
