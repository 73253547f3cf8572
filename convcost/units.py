"""Human-readable numbers (12.44 M) and their inverse for budgets (25.6M, 4.1G)."""

from __future__ import annotations

import re

MAX_COUNT = 1e30  # far above any model; keeps inf and 1e999 out of integer arithmetic
_UNITS = (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3))
_PARSE = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKMGT]?)\s*")


def human(n: int | float) -> str:
    """12443648 -> '12.44 M'; values under 1000 stay exact."""
    if abs(n) < 1000:
        return f"{n:,.0f}" if isinstance(n, int) else f"{n:.3g}"
    for unit, size in _UNITS:
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)  # pragma: no cover


def parse_count(text: str | int | float) -> int:
    """'25.6M' -> 25_600_000, '4.1G' -> 4_100_000_000, '1,000' -> 1000; ValueError if malformed."""
    if isinstance(text, bool):
        raise ValueError(f"expected a count like 25.6M, got {text}")
    if isinstance(text, (int, float)):
        if text < 0:
            raise ValueError(f"a count cannot be negative: {text}")
        if not text <= MAX_COUNT:  # also NaN
            raise ValueError(f"a count must be at most 1e30, got {text}")
        return round(text)
    m = _PARSE.fullmatch(text.replace(",", "").replace("_", ""))
    if not m:
        raise ValueError(f"expected a count like 25.6M or 4.1G, got '{text}'")
    scale = dict(_UNITS).get(m.group(2).upper(), 1)
    value = float(m.group(1)) * scale
    if not value <= MAX_COUNT:
        raise ValueError(f"a count must be at most 1e30, got '{text}'")
    return round(value)
