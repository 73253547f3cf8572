"""What `--training` and `--rf` add to an analysis, computed once per model and handed to the renderers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # the training and receptive-field analyses load only when asked for (start-up time)
    from .analysis import Analysis
    from .receptive import ReceptiveFields
    from .training import Training


class TrainingOptions(NamedTuple):
    optimizer: str  # training.DEFAULT_OPTIMIZER unless --optimizer
    dtype: str = "fp32"


@dataclass(frozen=True)
class Extras:
    """The optional analyses of one model: training cost (``--training``) and receptive fields (``--rf``)."""

    training: Training | None = None
    rf: ReceptiveFields | None = None


NONE = Extras()


def training_options(training: bool, optimizer: str | None, dtype: str | None) -> TrainingOptions | None:
    """``--training`` with its ``--optimizer`` and ``--dtype``; those two without ``--training`` are a usage error."""
    if not training:
        given = [name for name, value in (("--optimizer", optimizer), ("--dtype", dtype)) if value is not None]
        if given:
            from ..errors import UsageError

            raise UsageError(f"{' and '.join(given)} set{'s' if len(given) == 1 else ''} the training estimate: add --training")
        return None
    from .memory import dtype_bytes
    from .training import DEFAULT_OPTIMIZER, optimizer_state

    opts = TrainingOptions(optimizer or DEFAULT_OPTIMIZER, dtype or "fp32")
    optimizer_state(opts.optimizer)  # an unknown name: a usage error before anything is built
    dtype_bytes(opts.dtype)
    return opts


def extras_for(analyses: list[Analysis], training: TrainingOptions | None, rf: bool) -> list[Extras]:
    if training is None and not rf:
        return [NONE for _ in analyses]
    from .receptive import receptive_fields
    from .training import analyze_training

    return [
        Extras(
            analyze_training(a, training.optimizer, training.dtype) if training is not None else None,
            receptive_fields(a.graph) if rf else None,
        )
        for a in analyses
    ]
