"""Strict JSON (RFC 8259): Python's json writes inf and nan as Infinity/NaN, which other parsers refuse.

A float that is not finite (a roofline time past the largest float, a ratio over zero) is written as
null, as docs/json.md says; ``allow_nan=False`` makes any other way for one to slip through an error.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """``value`` with every non-finite float inside it (dicts, lists, tuples) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(doc: Any, indent: int | None = 2) -> str:
    return json.dumps(finite(doc), indent=indent, allow_nan=False)
