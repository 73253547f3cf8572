"""What a timing run is asked for (`profile`, `calibrate`, `compare --profile`): one dataclass, no torch, imported by
the modules that time (profiling.py, calibrate.py, runner.py) so that none of them imports another for it."""

from __future__ import annotations

from dataclasses import dataclass

from ..costmodel.memory import DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class ProfileOptions:
    device: str = "cpu"
    dtype: str = "fp32"
    channels_last: bool = False
    threads: int | None = None  # CPU threads (torch.set_num_threads); None: torch's default
    min_time: float = 0.2  # seconds of timed calls per unit (model, block, layer), over all repeats
    warmup: int = 3
    blocks: bool = True  # also time each top-level block
    max_bytes: int = DEFAULT_MAX_BYTES  # refuse a model whose estimated memory is above this
    layers: bool = False  # also time each layer
    repeats: int = 5  # interleaved rounds
    cudnn_benchmark: bool = True  # CUDA: let cuDNN pick its fastest algorithm per shape (during warm-up)
    clock: str = "wall"  # CPU: 'wall' (perf_counter) or 'cpu' (the thread's CPU time; one thread only)
    # time the calibration's speed probe beside each model (where the calibration holds one) and bring its rates to
    # the speed measured (costmodel/roofline.Speed); False: predict at the calibration's speed
    probe: bool = True
