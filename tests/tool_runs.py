"""Every counter as its users run it, on any torch model: the real numbers convcost's conventions predict.

``measure(model, inputs, grad)`` runs each installed tool once (under ``torch.no_grad()`` when ``grad`` is
False, as users who wrap their call in it do; tools that force it themselves give the same number either way)
and returns ``{convention key: number}``; a tool that is not installed is left out. The keys are
convcost's convention names (convcost/crosscheck/counters.py): the numbers are the tools' own totals,
never computed here.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

Inputs = tuple[torch.Tensor, ...]


class _Named(nn.Module):
    """A model of several inputs as ptflops and calflops call one: with keyword arguments."""

    def __init__(self, model: nn.Module, n: int) -> None:
        super().__init__()
        self.model, self.n = model, n

    def forward(self, **xs: torch.Tensor) -> object:
        return self.model(*(xs[f"x{i}"] for i in range(self.n)))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("fvcore").setLevel(logging.ERROR)
        yield


def _grad(grad: bool) -> contextlib.AbstractContextManager[Any]:
    return contextlib.nullcontext() if grad else torch.no_grad()


def _fvcore(model: nn.Module, xs: Inputs, grad: bool) -> dict[str, int]:
    from fvcore.nn import FlopCountAnalysis, parameter_count

    with _grad(grad):
        fca = FlopCountAnalysis(model, xs).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        fca.tracer_warnings("none")
        total = int(fca.total())
    return {"fvcore": total, "fvcore.params": int(parameter_count(model)[""])}


def _flop_counter(model: nn.Module, xs: Inputs, grad: bool) -> dict[str, int]:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with _grad(grad), counter:
        model(*xs)
    return {"flop_counter": int(counter.get_total_flops())}


def _ptflops(model: nn.Module, xs: Inputs, grad: bool, backend: str) -> dict[str, int]:
    import ptflops

    extra: dict[str, Any] = {}
    run: nn.Module = model
    if len(xs) > 1 or xs[0].shape[0] != 1:  # ptflops builds one batch-1 input from a resolution; else a constructor
        run = _Named(model, len(xs))
        extra["input_constructor"] = lambda _: {f"x{i}": x for i, x in enumerate(xs)}
    with _grad(grad):
        macs, params = ptflops.get_model_complexity_info(
            run, tuple(xs[0].shape[1:]), as_strings=False, print_per_layer_stat=False, verbose=False, backend=backend,
            **extra,
        )
    assert macs is not None, f"ptflops ({backend}) failed on this model"
    key = "ptflops" if backend == "pytorch" else "ptflops_aten"
    return {key: int(macs), f"{key}.params": int(params)}


def _thop(model: nn.Module, xs: Inputs, grad: bool) -> dict[str, int]:
    import thop

    with _grad(grad):  # thop runs its forward under no_grad itself
        macs, params = thop.profile(model, inputs=xs, verbose=False)
    return {"thop": int(macs), "thop.params": int(params)}


def _torchinfo(model: nn.Module, xs: Inputs, grad: bool) -> dict[str, int]:
    import torchinfo

    with _grad(grad):  # torchinfo runs its forward under no_grad itself
        stats = torchinfo.summary(model, input_data=list(xs), verbose=0)
    return {"torchinfo": int(stats.total_mult_adds), "torchinfo.params": int(stats.total_params),
            "torchinfo.trainable": int(stats.trainable_params)}


def _torchscan(model: nn.Module, xs: Inputs, grad: bool) -> dict[str, int]:
    from torchscan.crawler import crawl_module

    with _grad(grad):  # torchscan runs its forward under no_grad itself
        report = crawl_module(model, args=xs)
    totals = report["totals"]

    def value(name: str) -> int:
        r = totals[name]
        return int(r["value"] if r["value"] is not None else r["known_value"])

    return {"torchscan": value("macs"), "torchscan.params": value("parameters"),
            "torchscan.trainable": value("trainable_parameters")}


def _calflops(model: nn.Module, xs: Inputs, grad: bool) -> dict[str, int]:
    from calflops import calculate_flops

    with _grad(grad):
        flops, macs, params = calculate_flops(
            model, args=list(xs), print_results=False, print_detailed=False, output_as_string=False
        )
    return {"calflops": int(macs), "calflops_flops": int(flops), "calflops.params": int(params),
            "calflops_flops.params": int(params)}


def _available(module: str) -> bool:
    try:
        __import__(module)
    except Exception:  # a missing or broken optional tool is left out
        return False
    return True


TOOLS: dict[str, tuple[str, Callable[[nn.Module, Inputs, bool], dict[str, int]]]] = {
    "fvcore": ("fvcore", _fvcore),
    "flop_counter": ("torch", _flop_counter),
    "ptflops": ("ptflops", lambda m, xs, g: _ptflops(m, xs, g, "pytorch")),
    "ptflops_aten": ("ptflops", lambda m, xs, g: _ptflops(m, xs, g, "aten")),
    "thop": ("thop", _thop),
    "torchinfo": ("torchinfo", _torchinfo),
    "torchscan": ("torchscan", _torchscan),
    "calflops": ("calflops", _calflops),
}


def installed() -> list[str]:
    return [key for key, (module, _) in TOOLS.items() if _available(module)]


def measure(model: nn.Module, xs: Inputs, grad: bool, tools: list[str] | None = None) -> dict[str, int]:
    """Each tool's numbers (and ``tool.params``, ``tool.trainable`` where it prints them)."""
    model.eval()
    out: dict[str, int] = {}
    for key in tools or installed():
        with _quiet():
            out.update(TOOLS[key][1](model, xs, grad))
    out["params"] = sum(p.numel() for p in model.parameters())
    out["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return out
