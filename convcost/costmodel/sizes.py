"""Sizes the commands need before anything is analysed: bytes per element of each dtype, the default
--max-memory and how it is read, bytes for people. Light on purpose (no graph, no ops): the commands
import it when they are defined, so `convcost --help` does not pay for the cost model."""

from __future__ import annotations

from ..errors import UsageError, did_you_mean

DTYPE_BYTES: dict[str, int] = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}

# The largest real forward verify and profile run unless --max-memory says otherwise. "2G" is
# parsed like every count (units.parse_count: decimal units), so the limit is 2,000,000,000 bytes
# and messages show it in decimal units too (human_bytes: '2.00 GB').
DEFAULT_MAX_MEMORY = "2G"
DEFAULT_MAX_BYTES = 2 * 10**9


def dtype_bytes(dtype: str) -> int:
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise UsageError(
            f"unknown dtype '{dtype}'{did_you_mean(dtype, list(DTYPE_BYTES))}; choose one of {', '.join(DTYPE_BYTES)}"
        ) from None


def human_bytes(n: int | float) -> str:
    """Decimal units, like --max-memory and the bandwidths they are divided by: 9633792 -> '9.63 MB'."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n:,.0f} B"


def parse_max_memory(text: str) -> int:
    """--max-memory: bytes, with the count units of budgets ('2G' = 2,000,000,000)."""
    from ..units import parse_count

    try:
        limit = parse_count(text)
    except ValueError as e:
        raise UsageError(f"--max-memory: {e}") from None
    if limit <= 0:
        raise UsageError(f"--max-memory must be more than 0 bytes, got '{text}'")
    return limit
