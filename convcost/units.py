"""Human-readable numbers (12.44 M) and their inverse for budgets (25.6M, 4.1G)."""

from __future__ import annotations

import re

MAX_COUNT = 1e30  # far above any model; keeps inf and 1e999 out of integer arithmetic
_UNITS = (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3))
# patterns, not compiled ones: re compiles (and caches) them where a count is parsed, not at every start-up
_THOUSANDS = r"\s*[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?\s*[kKMGT]?\s*"
_PARSE = r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKMGT]?)\s*"


def human(n: int | float) -> str:
    """12443648 -> '12.44 M'; values under 1000 stay exact."""
    if abs(n) < 1000:
        return f"{n:,.0f}" if isinstance(n, int) else f"{n:.3g}"
    for unit, size in _UNITS:
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)  # pragma: no cover


def parse_count(text: str | int | float) -> int:
    """'25.6M' -> 25_600_000, '4.1G' -> 4_100_000_000, '1,000' -> 1000; ValueError if malformed.

    Exact decimal arithmetic, rounded down: a count is an upper limit, so '1.5' allows 1, not 2.
    Commas are thousands separators only ('1,2,3' is refused, not read as 123).
    """
    if isinstance(text, bool):
        raise ValueError(f"expected a count like 25.6M, got {text}")
    if isinstance(text, (int, float)):
        if text < 0:
            raise ValueError(f"a count cannot be negative: {text}")
        if not text <= MAX_COUNT:  # also NaN
            raise ValueError(f"a count must be at most 1e30, got {text}")
        return int(text)  # floor of a non-negative number
    from decimal import Decimal  # here: only a budget or a size limit is parsed (start-up time)

    if "," in text and not re.fullmatch(_THOUSANDS, text):
        raise ValueError(f"commas in a count must separate thousands (1,000,000), got '{text}'")
    m = re.fullmatch(_PARSE, text.replace(",", "").replace("_", ""))
    if not m:
        raise ValueError(f"expected a count like 25.6M or 4.1G, got '{text}'")
    number = Decimal(m.group(1))
    if number.adjusted() > 31:  # before any arithmetic: '1e999999999' would overflow Decimal's context
        raise ValueError(f"a count must be at most 1e30, got '{text}'")
    if number.adjusted() < -31:  # far below 1 whatever the unit
        return 0
    value = number * dict(_UNITS).get(m.group(2).upper(), 1)
    if not value <= Decimal(MAX_COUNT):
        raise ValueError(f"a count must be at most 1e30, got '{text}'")
    return int(value)  # Decimal's int() truncates: the floor of a non-negative value
