"""Resource bounds: the worst specs stop at a documented limit within seconds, with a clear message.

docs/limits.md lists every limit, its value and its message; the last test keeps it in step with
the code. Peak memory of the same cases, per process: `python benchmarks/bench_limits.py`.
"""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path

import pytest
from conftest import ROOT, analysis_of
from hostile import WORST_CASES, run_pipeline
from typer.testing import CliRunner

from convcost.cli import app
from convcost.errors import ConvcostError, Loc, SpecError
from convcost.frontend.spec import parse_spec

TIME_LIMIT_S = 10.0  # measured: 0.1-3 s each on a loaded 2-core machine


@pytest.mark.parametrize("name", sorted(WORST_CASES))
def test_worst_case_stops_at_a_limit_quickly(name: str) -> None:
    text, message = WORST_CASES[name]
    start = time.perf_counter()
    with pytest.raises(ConvcostError) as e:
        run_pipeline(text, render=False)
    elapsed = time.perf_counter() - start
    assert message in str(e.value)
    assert "docs/limits.md" in str(e.value) or name.startswith("long_")
    assert len(str(e.value)) < 400  # the message does not echo the input
    assert elapsed < TIME_LIMIT_S, f"{name}: {elapsed:.1f} s"


def test_huge_but_legal_sizes_are_exact_integers() -> None:
    """10^9 channels on a 10^9 × 10^9 input with batch 10^6: no overflow, no float rounding."""
    text = (
        "input: {shape: [1000000000, 1000000000, 1000000000], batch: 1000000}\n"
        "layers:\n  - conv: {out: 1000000000, kernel: 1, bias: false}\n"
    )
    start = time.perf_counter()
    run_pipeline(text)  # every renderer and the roofline too
    total = analysis_of(text).total
    # conv MACs = N·H·W·C_out·C_in·k·k = 10^6 · 10^9 · 10^9 · 10^9 · 10^9 · 1 · 1 = 10^42
    assert total.macs == 10**42
    assert total.params == 10**18  # C_out·C_in·1·1
    assert time.perf_counter() - start < TIME_LIMIT_S


def test_dimensions_over_the_limit() -> None:
    with pytest.raises(SpecError, match=r"'out' must be at most 1,000,000,000 \(limit, see docs/limits.md\), got 10,000,000,000"):
        run_pipeline("input: [3, 8, 8]\nlayers:\n  - conv: {out: 10000000000, kernel: 1}\n")


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("round(10, -10**9)", "round()'s digits must be an integer from -30 to 30"),  # used to hang
        ("(-8) ** 0.5", "expression gives a complex number"),
        ("xs * 10000 * 10000", "'*' needs numbers, got a list and a number"),  # used to allocate 800 MB
        ("int('9' * 2)", "strings in expressions can only be joined"),
        ("1" + "0" * 30, "expression value 1e+30 is out of range"),
    ],
)
def test_expressions_stay_bounded(expr: str, message: str) -> None:
    from convcost.frontend.expr import evaluate

    start = time.perf_counter()
    with pytest.raises(SpecError) as e:
        evaluate(expr, {"xs": [1]}, Loc("x.yaml", 1, 1))
    assert message in str(e.value)
    assert time.perf_counter() - start < 1.0


def test_no_python_warning_reaches_the_user() -> None:
    from convcost.frontend.expr import evaluate

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a SyntaxWarning would raise here
        assert evaluate("1if True else 2", {}, Loc("x.yaml", 1, 1)) == 1


def test_control_characters_are_escaped_in_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("spec.yaml").write_text('input: [3, 8, 8]\nlayers:\n  - "\\e]0;pwned\\a\\u202erelu"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["analyze", "spec.yaml"])
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr and "\u202e" not in result.stderr
    assert result.stderr.startswith("spec.yaml:3:5: unknown op '\\x1b]0;pwned\\x07\\u202erelu'")


# ---- the other inputs of `check` and `report`: budgets, baselines, results JSON -------------------
def _check(tmp: Path, args: list[str]) -> str:
    result = CliRunner().invoke(app, ["check", str(ROOT / "configs" / "resnet18.yaml"), *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.stderr.strip()


def test_growth_with_a_huge_exponent_is_refused_at_once(tmp_path: Path) -> None:
    baseline = tmp_path / "b.json"
    made = CliRunner().invoke(app, ["analyze", str(ROOT / "configs" / "resnet18.yaml"), "-f", "json", "-o", str(baseline)])
    assert made.exit_code == 0
    start = time.perf_counter()  # Fraction('1e99999999') computed 10**99999999: it never returned
    message = _check(tmp_path, ["--baseline", str(baseline), "--max-growth", "1e99999999%"])
    assert message == "convcost: error: --max-growth: expected a percentage like 2% or 0.5%, got '1e99999999%'"
    assert time.perf_counter() - start < 2.0


def test_an_infinite_budget_is_a_clear_error(tmp_path: Path) -> None:
    budget = tmp_path / "budget.yaml"
    budget.write_text("all: {macs: 1e999}\n", encoding="utf-8")
    expected = f"{budget}:1:13: budget 'macs': a count must be at most 1e30, got '1e999'"
    assert _check(tmp_path, ["--budget", str(budget)]) == expected


def test_json_with_an_integer_too_long_for_python(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_text('{"schema": "convcost.analyze/1", "models": [{"name": "a", "totals": {"macs": ' + "9" * 5000 + "}}]}\n")
    assert _check(tmp_path, ["--baseline", str(big)]) == f"{big}: baseline JSON holds an integer with more than 4,300 digits"
    big.write_text('{"schema": "convcost.verify/1", "x": ' + "9" * 5000 + "}\n")
    result = CliRunner().invoke(app, ["report", str(ROOT / "configs" / "dilated_conv.yaml"), "--verify", str(big)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{big}: result JSON holds an integer with more than 4,300 digits"


# ---- docs/limits.md -----------------------------------------------------------------------------
def _limits() -> dict[str, int]:
    from convcost.frontend import expr, source, spec
    from convcost.graph import build as graph
    from convcost.graph import limits
    from convcost.ops import registry, tensors

    return {
        "MAX_FILE_BYTES": source.MAX_FILE_BYTES,
        "MAX_NODES": source.MAX_NODES,
        "MAX_DEPTH": source.MAX_DEPTH,
        "MAX_INT": source.MAX_INT,
        "MAX_EXPR_CHARS": expr.MAX_EXPR_CHARS,
        "MAX_MAGNITUDE": expr.MAX_MAGNITUDE,
        "MAX_STRING": expr.MAX_STRING,
        "MAX_EXPONENT": expr.MAX_EXPONENT,
        "MAX_POW_BASE": expr.MAX_POW_BASE,
        "MAX_ROUND_DIGITS": expr.MAX_ROUND_DIGITS,
        "MAX_DIM": registry.MAX_DIM,
        "MAX_RANK": tensors.MAX_RANK,
        "MAX_LAYERS": graph.MAX_LAYERS,
        "MAX_REPEAT": graph.MAX_REPEAT,
        "MAX_BATCH": graph.MAX_BATCH,
        "MAX_NESTING": graph.MAX_NESTING,
        "MAX_RECURSION": limits.MAX_RECURSION,
        "MAX_STEPS": graph.MAX_STEPS,
        "ITERATION_STEPS": graph.ITERATION_STEPS,
        "NAME_CHARS_PER_STEP": graph.NAME_CHARS_PER_STEP,
        "LIST_ITEMS_PER_STEP": graph.LIST_ITEMS_PER_STEP,
        "SIZE_PER_STEP": expr.SIZE_PER_STEP,
        "MAX_NAME_CHARS": spec.MAX_NAME_CHARS,
    }


def _shown(value: int) -> set[str]:
    forms = {f"{value:,}", str(value)}
    if value >= 10**6 and re.fullmatch(r"10*", str(value)):
        forms.add(f"10^{len(str(value)) - 1}")
    return forms


@pytest.mark.parametrize(("name", "value"), sorted(_limits().items()))
def test_docs_list_every_limit_with_its_value(name: str, value: int) -> None:
    doc = (ROOT / "docs" / "limits.md").read_text(encoding="utf-8")
    rows = [line for line in doc.splitlines() if line.startswith("|") and f"`{name}`" in line]
    assert rows, f"docs/limits.md has no table row for `{name}`"
    assert any(form in rows[0] for form in _shown(value)), f"docs/limits.md shows `{name}` without its value {value:,}"


def test_messages_that_point_to_the_docs_name_a_limit_there() -> None:
    doc = (ROOT / "docs" / "limits.md").read_text(encoding="utf-8")
    sources = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "convcost").rglob("*.py"))
    assert "see docs/limits.md" in sources
    for phrase in ("YAML nodes", "steps to expand", "layers (limit", "nested more than", "is too large",
                   "calls itself more than"):
        assert phrase.split(" (")[0] in doc, phrase


# ---- issue #15: op shape/cost work is closed-form: huge sizes cost no time ------------------------
def _windows(size: int, out: int) -> int:
    """torch's adaptive pooling windows, written out: window i covers [floor(i·size/out), ceil((i+1)·size/out))."""
    import math

    return sum(math.ceil((i + 1) * size / out) - math.floor(i * size / out) for i in range(out))


def test_adaptive_pool_window_total_is_exact() -> None:
    from convcost.ops.pool import adaptive_window_total

    for size in range(1, 40):
        for out in range(1, 60):
            assert adaptive_window_total(size, out) == _windows(size, out), (size, out)
    assert adaptive_window_total(7, 3) == 9  # [0,3) [2,5) [4,7)
    # out ≥ size: every window has 1 element, or 2 where it straddles one of the size-1 inner boundaries
    assert adaptive_window_total(8, 10**8) == 10**8  # 8 divides 10^8: every boundary falls between windows
    assert adaptive_window_total(7, 10**8) == 10**8 + 6  # gcd(7, 10^8) = 1: each of the 6 boundaries is straddled
    assert adaptive_window_total(10**9, 10**9) == 10**9


@pytest.mark.parametrize(
    "layers",
    [
        "  - adaptive_avgpool: {out: [100000000, 1]}\n",  # took 19 s: a Python loop over 10^8 windows
        "  - adaptive_avgpool: {out: [1000000000, 1000000000]}\n",  # never finished
        "  - adaptive_avgpool: {out: [1000000000, 1000000000], repeat: 10000}\n",
    ],
    ids=["1e8", "1e9x1e9", "repeat"],
)
def test_adaptive_pool_with_a_huge_output_is_instant(layers: str) -> None:
    start = time.perf_counter()
    layers_seen = run_pipeline("input: [3, 8, 8]\nlayers:\n" + layers)
    assert layers_seen >= 1
    assert time.perf_counter() - start < TIME_LIMIT_S / 2


def test_many_live_branches_render_quickly() -> None:
    """A concat of 20,000 one-layer branches keeps every branch's output alive until the concat: the
    roofline's peak-memory walk summed (and sorted) the whole live set at every layer, 26 s for a 160 KB
    spec (45,000 branches, within MAX_LAYERS, never finished)."""
    from convcost.costmodel.memory import activation_memory
    from convcost.graph.build import build_graph

    n = 20_000
    text = "input: [1, 2, 2]\nlayers:\n  - concat: [" + ", ".join(["[relu]"] * n) + "]\n"
    start = time.perf_counter()
    assert run_pipeline(text) == n + 1  # every renderer and the roofline too
    assert time.perf_counter() - start < TIME_LIMIT_S  # 2-3 s; 26 s before
    spec = parse_spec(text, "many.yaml")
    act = activation_memory(build_graph(spec, "many"), 4)
    # the peak is just before the concat's output is freed: the input, n branch outputs and the concat's output,
    # 1·2·2 elements each except the concat's n·2·2, at 4 bytes: (1 + n)·16 + n·16
    assert act.peak_bytes == (1 + n) * 16 + n * 16
    assert len(act.live_at_peak) == n + 2 and act.live_at_peak[0] == "input"


def test_calls_and_comparisons_are_charged_by_the_size_of_their_arguments() -> None:
    from convcost.frontend.expr import SIZE_PER_STEP, evaluate, substitute

    charged: list[int] = []
    env = {"xs": [1] * 1600, "nested": [[1] * 800, [2] * 800], "s": "a" * 6400}
    loc = Loc("x.yaml", 1, 1)
    assert evaluate("max(xs)", env, loc, charged.append) == 1
    assert charged == [1600 // SIZE_PER_STEP]  # 100: one step per 16 items
    charged.clear()
    assert evaluate("nested < nested", env, loc, charged.append) is False
    assert charged == [2 * (2 + 1600) // SIZE_PER_STEP]  # both sides: 2 lists of 800 items inside a list of 2
    charged.clear()
    assert evaluate("s == s", env, loc, charged.append) is True
    assert charged == [2 * 6400 // 64 // SIZE_PER_STEP]  # strings: 1 per 64 characters
    charged.clear()
    with pytest.raises(SpecError, match="substituted string is longer than 1,000"):
        substitute("x$xs", env, loc, charged.append)
    assert charged == [1600 // SIZE_PER_STEP]  # formatting the list was charged before it was built
    charged.clear()
    assert evaluate("max(1, 2) + min(3, 4)", env, loc, charged.append) == 5
    assert charged == []  # numbers cost nothing beyond the expression's length
