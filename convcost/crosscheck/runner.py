"""The model built from a spec, on its device, in the dtype and memory format asked for: what `profile` and
`calibrate` run. torch is imported inside the functions only (``torch_build`` imports it at its top).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..costmodel.memory import DTYPE_BYTES
from ..errors import UsageError, did_you_mean
from ..graph.build import Graph
from .timing import LayerProbe

if TYPE_CHECKING:
    import torch

    from .options import ProfileOptions

MEASURED_DTYPES = ("fp32", "fp16", "bf16")


def torch_dtype(name: str) -> torch.dtype:
    import torch

    if name not in MEASURED_DTYPES:
        if name in DTYPE_BYTES:  # known to the analytic roofline, not runnable as torch modules here
            raise UsageError(
                f"--dtype {name} cannot be measured (torch modules run in {', '.join(MEASURED_DTYPES)}); "
                f"`convcost roofline --dtype {name}` gives its analytic roofline"
            )
        raise UsageError(
            f"unknown --dtype '{name}'{did_you_mean(name, list(DTYPE_BYTES))}; profile measures "
            f"{', '.join(MEASURED_DTYPES)} (`convcost roofline` also takes "
            f"{', '.join(d for d in DTYPE_BYTES if d not in MEASURED_DTYPES)})"
        )
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what the platform module knows."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    """The GPU's name on CUDA, the CPU's model name on the CPU."""
    import torch

    if device == "cuda":
        return str(torch.cuda.get_device_name())
    return cpu_model()


class ModelRunner:
    """The built model on its device, in the dtype and memory format asked for."""

    def __init__(self, graph: Graph, options: ProfileOptions) -> None:
        import torch

        from .torch_build import build_model, example_inputs

        self.options = options
        self.dtype = torch_dtype(options.dtype)
        self.model = build_model(graph, device=options.device).to(self.dtype)
        xs = tuple(x.to(self.dtype) for x in example_inputs(graph, device=options.device))
        if options.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
            xs = tuple(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in xs)
        self.xs = xs
        self.graph = graph
        self.modules = {node.index: module for node, module in self.model.named_layers()}

    def run_all(self) -> dict[int, Any]:
        """Run every node once, keeping every output (to feed the blocks' timings)."""
        out: dict[int, Any] = {i.index: x for i, x in zip(self.graph.inputs, self.xs)}
        for node in self.graph.nodes:
            out[node.index] = self.modules[node.index](*(out[i] for i in node.inputs))
        return out

    def whole(self) -> Callable[[], Any]:
        model, xs = self.model, self.xs
        return lambda: model(*xs)

    def block(self, seg_nodes: tuple[Any, ...], tensors: dict[int, Any]) -> Callable[[], Any]:
        inside = {n.index for n in seg_nodes}
        ext = {i: tensors[i] for n in seg_nodes for i in n.inputs if i not in inside}
        plan = [(n.index, self.modules[n.index], n.inputs) for n in seg_nodes]

        def run() -> Any:
            env = dict(ext)
            out = None
            for idx, module, inputs in plan:
                out = module(*(env[i] for i in inputs))
                env[idx] = out
            return out

        return run

    def probe(self) -> LayerProbe:
        """The model's forward with the clock read between layers (each layer's time in the model)."""
        last_use: dict[int, int] = {}
        for node in self.graph.nodes:
            for i in node.inputs:
                last_use[i] = node.index
        keep = set(self.graph.outputs)
        steps = [
            (n.index, self.modules[n.index], n.inputs,
             tuple(i for i in dict.fromkeys(n.inputs) if last_use.get(i) == n.index and i not in keep))
            for n in self.graph.nodes
        ]
        inputs = {i.index: x for i, x in zip(self.graph.inputs, self.xs)}
        return LayerProbe(steps, inputs, self.options.device, self.options.clock)
