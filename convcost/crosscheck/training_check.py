"""`convcost profile --training`: one real training step, its memory measured where torch can measure it.

Imports torch at the top: only `convcost profile --training` imports this module, lazily.

The model is built as verify builds it (crosscheck/torch_build.py), in training mode, cast to ``--dtype``, with
the spec's frozen layers frozen (``requires_grad_(False)``), and trained for two steps with the optimizer of
``--optimizer`` (torch.optim: SGD, SGD with momentum 0.9, Adam, AdamW) on a random input, the loss the sum of
the outputs. The first step allocates the gradients and the optimizer's state; the second is measured:

- weights: the bytes of every parameter and buffer;
- gradients: the bytes of every ``.grad`` after the backward;
- optimizer state: the bytes of every tensor in ``optimizer.state`` after the step (Adam's per-tensor ``step``
  counters are reported apart: the estimate leaves them out);
- saved activations: what autograd keeps during the forward (``torch.autograd.graph.saved_tensors_hooks``), each
  storage once, parameters and buffers not counted;
- peak: on CUDA, ``torch.cuda.max_memory_allocated()`` over the measured step (the caching allocator's view: it
  rounds each block up, so it is a little above the tensors' bytes). On CPU torch's allocator keeps no statistics
  and the process's resident size counts the allocator's caches, the framework and the interpreter: the peak and
  the largest transient are not measured there (they are listed as such, never guessed).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..costmodel.analysis import analyze
from ..costmodel.training import Training, analyze_training
from ..graph.build import Graph
from .runner import torch_dtype
from .torch_build import build_model, example_inputs
from .torch_deps import check_device
from .verify import freeze

CPU_PEAK = ("not measurable on CPU: torch's CPU allocator keeps no statistics, and the process's resident size "
            "holds the allocator's caches, the framework and the interpreter")


@dataclass(frozen=True)
class StepMemory:
    """What one measured training step held (bytes); None where it cannot be measured."""

    weight_bytes: int
    grad_bytes: int
    optimizer_bytes: int
    step_counter_bytes: int  # Adam's per-parameter 'step' tensors (not in the estimate)
    saved_bytes: int
    peak_bytes: int | None
    peak_note: str


@dataclass(frozen=True)
class TrainingCheck:
    graph: Graph
    device: str
    estimate: Training
    measured: StepMemory


def _optimizer(name: str, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=1e-3)
    if name == "momentum":
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3)
    return torch.optim.AdamW(params, lr=1e-3)


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def measure_training_step(graph: Graph, device: str = "cpu", dtype: str = "fp32", optimizer: str = "adamw") -> TrainingCheck:
    check_device(device)
    estimate = analyze_training(analyze(graph), optimizer, dtype)
    model = freeze(build_model(graph, device).train()).to(torch_dtype(dtype))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = _optimizer(optimizer, params) if params else None
    xs = tuple(x.to(torch_dtype(dtype)) for x in example_inputs(graph, device))
    own = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        if s.data_ptr() not in own:  # weights are not activations
            saved[s.data_ptr()] = s.nbytes()  # one entry per storage: views and re-saves count once
        return t

    def step(record: bool) -> None:
        if opt is not None:
            opt.zero_grad(set_to_none=False)
        if record:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                out = model(*xs)
        else:
            out = model(*xs)
        outs = out if isinstance(out, tuple) else (out,)
        loss = sum(o.float().sum() for o in outs)
        if loss.requires_grad:  # type: ignore[union-attr]
            loss.backward()  # type: ignore[union-attr]
        if opt is not None:
            opt.step()

    step(record=False)  # gradients and the optimizer's state exist from here on, as in every later step
    cuda = device == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    step(record=True)
    peak = None
    if cuda:
        torch.cuda.synchronize()
        peak = int(torch.cuda.max_memory_allocated())
    state = [v for s in (opt.state.values() if opt is not None else ()) for v in s.values() if isinstance(v, torch.Tensor)]
    counters = [v for s in (opt.state.values() if opt is not None else ()) for k, v in s.items()
                if k == "step" and isinstance(v, torch.Tensor)]
    measured = StepMemory(
        weight_bytes=sum(_nbytes(t) for t in [*model.parameters(), *model.buffers()]),
        grad_bytes=sum(_nbytes(p.grad) for p in model.parameters() if p.grad is not None),
        optimizer_bytes=sum(_nbytes(t) for t in state) - sum(_nbytes(t) for t in counters),
        step_counter_bytes=sum(_nbytes(t) for t in counters),
        saved_bytes=sum(saved.values()),
        peak_bytes=peak,
        peak_note="torch.cuda.max_memory_allocated() over one step" if cuda else CPU_PEAK,
    )
    return TrainingCheck(graph, device, estimate, measured)
