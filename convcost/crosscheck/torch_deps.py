"""The optional torch extra: one check, used by every command that runs real modules.

``verify``, ``profile`` and ``compare --profile`` need torch (and ``verify`` also fvcore); the
analytic commands never do. Call :func:`require` before importing a module that imports torch at
its top (torch_build, verify): a missing package becomes a UsageError (exit 2, the install command
in the message) instead of a ModuleNotFoundError traceback.
"""

from __future__ import annotations

import importlib

from ..errors import UsageError

# What torch raises on a model it cannot build or run: a size overflow is a RuntimeError ("Storage size
# calculation overflowed") or a TypeError (a stride past int64 on the meta device); an allocation failure
# a RuntimeError or MemoryError (torch.OutOfMemoryError is a RuntimeError). verify and profile turn each
# into a message and exit code 2.
TORCH_ERRORS: tuple[type[BaseException], ...] = (
    RuntimeError, NotImplementedError, MemoryError, ValueError, OverflowError, TypeError, IndexError,
)

# the torch extra's packages by name: works wherever convcost came from (a checkout, git, a wheel); torch pinned
# first so that pip takes the CPU wheel on machines without CUDA (README, Install)
INSTALL_HINT = "pip install torch==2.13.0 'fvcore>=0.1.5'"


def require(command: str, fvcore: bool = False) -> None:
    """Import torch (and fvcore.nn with ``fvcore``), or raise UsageError saying how to install them."""
    modules = ("torch", "fvcore.nn") if fvcore else ("torch",)
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as e:
            missing = (getattr(e, "name", None) or module).split(".")[0]
            needs = "torch and fvcore" if fvcore else "torch"
            raise UsageError(
                f"{command} needs {needs} ('{missing}' is not installed); install the torch extra with:\n"
                f"  {INSTALL_HINT}"
            ) from None


def check_device(device: str) -> None:
    """A UsageError for a device other than cpu/cuda, or for cuda where torch sees none."""
    import torch

    if device not in ("cpu", "cuda"):
        raise UsageError(f"--device must be cpu or cuda, got '{device}'")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            f"--device cuda: CUDA is not available here: torch {torch.__version__} sees no CUDA GPU on this machine "
            "(torch.cuda.is_available() is False); use --device cpu"
        )
