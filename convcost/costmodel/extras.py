"""What `--training` and `--rf` add to an analysis, computed once per model and handed to the renderers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .analysis import Analysis
from .receptive import ReceptiveFields, receptive_fields
from .training import DEFAULT_OPTIMIZER, Training, analyze_training, optimizer_state


class TrainingOptions(NamedTuple):
    optimizer: str = DEFAULT_OPTIMIZER
    dtype: str = "fp32"


@dataclass(frozen=True)
class Extras:
    """The optional analyses of one model: training cost (``--training``) and receptive fields (``--rf``)."""

    training: Training | None = None
    rf: ReceptiveFields | None = None


NONE = Extras()


def training_options(training: bool, optimizer: str | None, dtype: str | None) -> TrainingOptions | None:
    """``--training`` with its ``--optimizer`` and ``--dtype``; those two without ``--training`` are a usage error."""
    from ..costmodel.memory import dtype_bytes
    from ..errors import UsageError

    if not training:
        given = [name for name, value in (("--optimizer", optimizer), ("--dtype", dtype)) if value is not None]
        if given:
            raise UsageError(f"{' and '.join(given)} set{'s' if len(given) == 1 else ''} the training estimate: add --training")
        return None
    opts = TrainingOptions(optimizer or DEFAULT_OPTIMIZER, dtype or "fp32")
    optimizer_state(opts.optimizer)  # an unknown name: a usage error before anything is built
    dtype_bytes(opts.dtype)
    return opts


def extras_for(analyses: list[Analysis], training: TrainingOptions | None, rf: bool) -> list[Extras]:
    if training is None and not rf:
        return [NONE for _ in analyses]
    return [
        Extras(
            analyze_training(a, training.optimizer, training.dtype) if training is not None else None,
            receptive_fields(a.graph) if rf else None,
        )
        for a in analyses
    ]
