"""Counts in budgets ('25.6M', '4.1G') and human-readable numbers."""

from __future__ import annotations

import pytest

from convcost.units import human, parse_count


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("25.6M", 25_600_000),  # 25.6 · 10^6
        ("4.1G", 4_100_000_000),  # exact decimal: no float 4.1e9 = 4099999999.9999995 rounding
        ("153600", 153_600),
        ("1,000,000", 1_000_000),  # thousands separators
        ("1_000", 1_000),
        ("900k", 900_000),
        ("1e9", 10**9),
        ("1.5", 1),  # an upper limit rounds down: 1.5 allows 1, never 2
        (2.9, 2),  # a YAML float too
        ("0.5T", 500_000_000_000),
        ("1e-999999999T", 0),
    ],
)
def test_parse_count(text: str | float, value: int) -> None:
    assert parse_count(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2,3", "commas in a count must separate thousands (1,000,000), got '1,2,3'"),
        ("1,0000", "commas in a count must separate thousands"),
        ("12X", "expected a count like 25.6M or 4.1G, got '12X'"),
        ("1e999999999", "a count must be at most 1e30"),  # no Decimal overflow
        (-5, "a count cannot be negative"),
        (float("nan"), "a count must be at most 1e30"),
        (True, "expected a count like 25.6M"),
    ],
)
def test_parse_count_refuses(text: str | float, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_count(text)


def test_human() -> None:
    assert human(12_443_648) == "12.44 M"
    assert human(999) == "999"
    assert human(4_089_184_256) == "4.09 G"
