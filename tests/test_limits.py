"""Resource bounds: the worst specs stop at a documented limit with a clear message, having done a bounded
amount of work.

Work is counted, not timed (tests/workmeter.py): Python calls, and for the cases where memory was the hazard
the peak bytes allocated, each bounded at about twice what it measures now, so a change that makes a case do
orders of magnitude more (an uncharged loop, a quadratic walk, a huge number or name built) fails on any
machine, however busy. docs/limits.md lists every limit, its value and its message; a test keeps it in step
with the code. Wall time and peak RSS of the same cases, per process: `python benchmarks/bench_limits.py`.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
from conftest import ROOT, analysis_of
from hostile import WORST_CASES, run_pipeline
from typer.testing import CliRunner
from workmeter import measure

from convcost.cli import app
from convcost.errors import ConvcostError, Loc, SpecError
from convcost.frontend.spec import parse_spec

MB = 10**6
# name: (Python calls, peak bytes or None: not measured where the calls already bound it and tracemalloc would
# triple the time). Measured (CPython 3.11) and doubled: calls 0.4 K to 5.3 M, peak 0.2 MB to 10 MB. Before
# their limits these cases ran for minutes (big_list_*: one step charged per call whatever the list's size;
# nested repeats: 10^16 layers) or took gigabytes (long_layer_name_repeated: 10 GB of names).
WORK: dict[str, tuple[int, int | None]] = {
    "big_list_max": (6_000_000, None),  # 2,865,959 calls
    "big_list_compare": (6_000_000, None),  # 2,852,246
    "big_list_in_block_vars": (9_000_000, None),  # 4,371,099
    "long_layer_name_repeated": (1_000, 1 * MB),  # 367 calls, 0.2 MB
    "long_names_nested": (80_000, 20 * MB),  # 38,504 calls, 9.8 MB
    "billion_laughs": (2_100_000, None),  # 1,040,615
    "alias_bomb_with_repeat": (2_600_000, None),  # 1,260,133
    "nested_repeats": (4_800_000, None),  # 2,351,264
    "nested_repeats_skipped": (11_000_000, None),  # 5,334,457
    "long_expressions": (1_800_000, None),  # 885,915
    "many_models": (5_300_000, None),  # 2,639,245
    "big_environment": (330_000, 8 * MB),  # 163,268 calls, 3.8 MB
    "flat_layers": (5_200_000, None),  # 2,600,254
    "many_nodes": (3_200_000, None),  # 1,600,030
    "deep_yaml": (71_000, 3 * MB),  # 35,159 calls, 1.4 MB
    "deep_blocks": (360_000, 13 * MB),  # 178,005 calls, 6.1 MB
    "long_integer": (1_000, 13 * MB),  # 145 calls, 6.0 MB (the 3 MB text, decoded and parsed)
    "long_op_name": (2_000, 13 * MB),  # 775 calls, 6.0 MB
    "long_string_value": (1_000, 13 * MB),  # 420 calls, 6.0 MB
}


def test_every_worst_case_has_a_work_bound() -> None:
    assert sorted(WORK) == sorted(WORST_CASES)


@pytest.mark.parametrize("name", sorted(WORST_CASES))
def test_worst_case_stops_at_a_limit_with_bounded_work(name: str) -> None:
    text, message = WORST_CASES[name]
    calls, peak = WORK[name]
    with pytest.raises(ConvcostError) as e, measure(memory=peak is not None) as work:
        run_pipeline(text, render=False)
    assert message in str(e.value)
    assert "docs/limits.md" in str(e.value) or name.startswith("long_")
    assert len(str(e.value)) < 400  # the message does not echo the input
    assert work.calls <= calls, f"{name}: {work.calls:,} calls"
    assert peak is None or work.peak_bytes <= peak, f"{name}: {work.peak_bytes:,} bytes at the peak"


def test_huge_but_legal_sizes_are_exact_integers() -> None:
    """10^9 channels on a 10^9 × 10^9 input with batch 10^6: no overflow, no float rounding."""
    text = (
        "input: {shape: [1000000000, 1000000000, 1000000000], batch: 1000000}\n"
        "layers:\n  - conv: {out: 1000000000, kernel: 1, bias: false}\n"
    )
    with measure(memory=True) as work:
        run_pipeline(text)  # every renderer and the roofline too
    total = analysis_of(text).total
    # conv MACs = N·H·W·C_out·C_in·k·k = 10^6 · 10^9 · 10^9 · 10^9 · 10^9 · 1 · 1 = 10^42
    assert total.macs == 10**42
    assert total.params == 10**18  # C_out·C_in·1·1
    assert work.calls <= 30_000 and work.peak_bytes <= 4 * MB, work  # one layer: 12,141 calls, 1.6 MB


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

    with pytest.raises(SpecError) as e, measure(memory=True) as work:
        evaluate(expr, {"xs": [1]}, Loc("x.yaml", 1, 1))
    assert message in str(e.value)
    # round(10, -10**9) computes 10**(10**9) (415 MB) and xs * 10000 * 10000 a list of 10^8 (800 MB): in C, so
    # only the bytes show it; each expression here takes under 30 calls and 20 KB
    assert work.calls <= 1_000 and work.peak_bytes <= MB, work


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
    with measure(memory=True) as work:  # Fraction('1e99999999') computed 10**99999999 (41 MB): it never returned
        message = _check(tmp_path, ["--baseline", str(baseline), "--max-growth", "1e99999999%"])
    assert message == "convcost: error: --max-growth: expected a percentage like 2% or 0.5%, got '1e99999999%'"
    assert work.peak_bytes <= 5 * MB, work  # refused before the spec is read: 2.1 MB


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
    from convcost.ops import registry, resample, tensors

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
        "AA_MAX_OUT": resample.AA_MAX_OUT,
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
def test_adaptive_pool_with_a_huge_output_takes_no_work_per_window(layers: str) -> None:
    with measure() as work:
        layers_seen = run_pipeline("input: [3, 8, 8]\nlayers:\n" + layers)
    assert layers_seen >= 1
    # closed form: one layer takes 1,000 calls with every renderer, 10,000 of them 2.07 M (207 each); a loop over
    # the windows was 10^8 steps for the first case and never finished for the others
    assert work.calls <= 400 * layers_seen + 20_000, f"{work.calls:,} calls for {layers_seen:,} layers"


def test_many_live_branches_render_in_linear_work() -> None:
    """A concat of 20,000 one-layer branches keeps every branch's output alive until the concat: the
    roofline's peak-memory walk summed (and sorted) the whole live set at every layer, 26 s for a 160 KB
    spec (45,000 branches, within MAX_LAYERS, never finished)."""
    from convcost.costmodel.memory import activation_memory
    from convcost.graph.build import build_graph

    n = 20_000
    text = "input: [1, 2, 2]\nlayers:\n  - concat: [" + ", ".join(["[relu]"] * n) + "]\n"
    with measure() as work:
        assert run_pipeline(text) == n + 1  # every renderer and the roofline too
    # 292 calls per branch (5.84 M); summing the live set at every layer was n²/2 = 2·10^8 generator steps
    assert work.calls <= 600 * n, f"{work.calls:,} calls"
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
