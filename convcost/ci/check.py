"""What `convcost check` decides, without printing: which budgets apply, every check, the notes, and the
rules that keep CI honest. A run that checks nothing is an error, not a pass: no budget at all, budgets
for none of the models, or only `max_growth` without a baseline; and so is a model of the checked
files that is in the baseline but not in the file any more (renamed, it would escape its baseline).
The command (commands/check.py) prints the result; the Python API (convcost.api.check) returns it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..costmodel.analysis import Analysis
from ..errors import UsageError
from ..frontend.spec import SpecFile
from .budget import (
    Budgets,
    Counts,
    Finding,
    check_growth,
    check_limits,
    check_renamed,
    cli_growth,
    load_baseline,
    load_budget_file,
    spec_budgets,
    unchecked_budgets,
)

if TYPE_CHECKING:
    from ..costmodel.training import Training

EXIT_OK, EXIT_FINDINGS = 0, 1


@dataclass(frozen=True)
class CheckResult:
    """Every check of one run: ``findings`` (a limit or a growth allowance against one model, passed or
    not), ``notes`` (budgets for models not checked, models new to the baseline) and the analyses."""

    findings: tuple[Finding, ...]
    notes: tuple[str, ...]
    analyses: tuple[Analysis, ...]

    @property
    def uncounted(self) -> tuple[str, ...]:
        """A warning per checked model whose totals leave out `unsupported` parts (an imported model's): its checks
        see only the parts convcost counts, so a pass says less than it seems."""
        return tuple(uncounted_warning(a) for a in self.analyses if a.uncounted)

    @property
    def ok(self) -> bool:
        """Every check passed."""
        return all(f.ok for f in self.findings)

    @property
    def failed(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.ok)

    @property
    def exit_code(self) -> int:
        """The command's exit code for this result: 0 every check passed, 1 a model is over budget or grew."""
        return EXIT_OK if self.ok else EXIT_FINDINGS


def uncounted_warning(a: Analysis) -> str:
    """'net.yaml: warning: model 'net': not counted: 1 unsupported part (pool): ...; its checks see only the rest'."""
    from ..render.text import uncounted_note

    return (f"{a.graph.file}: warning: model '{a.graph.model}': {uncounted_note(a.uncounted)}; its checks see only the "
            "parts that are counted")


def collect_budgets(files: Sequence[SpecFile], budget_files: Sequence[str | Path] = ()) -> Budgets:
    """The specs' own ``budget:`` keys and every budget file's rules."""
    budgets = Budgets()
    for f in files:
        budgets += spec_budgets(f)
    for path in budget_files:
        budgets += load_budget_file(path)
    return budgets


def check_options(max_growth: str | None, baselines: Sequence[str | Path]) -> None:
    """What is wrong with the request before any spec is read: a malformed --max-growth, or one without a baseline."""
    if cli_growth(max_growth) is not None and not baselines:
        raise UsageError("--max-growth needs --baseline FILE.json to compare against")


def check_training_convention(training: bool, convention: str | None) -> None:
    """--training with --convention NAME (a tool's, not convcost's): refused. The training numbers (backward,
    optimizer state, memory) are convcost's own, and --convention applies to every budget that pins none; a
    budget file's or a budget's own 'convention' pins a tool for the forward limits beside training limits."""
    if training and convention is not None:
        raise UsageError(
            f"--training cannot be combined with --convention {convention}: the training numbers are convcost's own, "
            f"and --convention reads every budget that pins none in {convention}'s numbers; pin "
            f"'convention: {convention}' in the budgets that limit {convention}'s count instead (docs/budgets.md)"
        )


def evaluate(
    analyses: Sequence[Analysis],
    budgets: Budgets,
    baselines: Sequence[str | Path] = (),
    max_growth: str | None = None,
    every_model: bool = True,
    convention: str | None = None,
    trainings: Sequence[Training] | None = None,
) -> CheckResult:
    """Check ``analyses`` against ``budgets`` and the baselines (their growth at most ``max_growth`` where no
    budget says otherwise; the strictest rule wins). ``every_model``: the analyses are every model of their
    files (no --model), so a baseline model missing from its file is an error (a renamed model). ``convention``
    (`--convention NAME`): the tool whose numbers the budgets that pin none limit, and growth compares (docs/budgets.md).
    ``trainings`` (``--training``): one training estimate per analysis, for the limits on training numbers
    (``trainable_params``, ``backward_flops``, ``step_flops``, ``training_memory``); without them such a limit is
    a usage error. Both at once are a usage error (check_training_convention).

    Raises UsageError when nothing is checked, SpecError for a malformed budget, baseline or a renamed model.
    """
    check_options(max_growth, baselines)
    check_training_convention(trainings is not None, convention)
    growth = cli_growth(max_growth)
    if budgets.empty and not baselines:
        raise UsageError(
            "nothing to check: give --budget FILE.yaml, --baseline FILE.json, or add 'budget:' to the spec "
            "(see docs/budgets.md)"
        )
    analyses = list(analyses)
    notes = unchecked_budgets(analyses, budgets)
    counts = Counts(convention)
    findings = check_limits(analyses, budgets, counts, None if trainings is None else list(trainings))
    base = None
    if baselines:
        base = load_baseline(baselines[0])
        for more in baselines[1:]:
            base = base.merged(load_baseline(more))
        grown, growth_notes = check_growth(analyses, base, budgets, growth, counts)
        findings += grown
        notes += growth_notes
    if not findings:  # a renamed model or the wrong baseline must not pass CI by checking nothing
        if notes:
            why = "; ".join(n.split(": note: ", 1)[-1] for n in notes)
        elif not baselines and budgets.growth:
            why = "the budgets set only max_growth, which needs --baseline FILE.json"
        else:
            why = "no budget applies to them"
        raise UsageError(f"nothing was checked on {len(analyses)} model(s): {why}")
    if base is not None and every_model:  # a renamed model must not escape its baseline either
        check_renamed(analyses, base)
    return CheckResult(tuple(findings), tuple(notes), tuple(analyses))
