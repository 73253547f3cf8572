"""Property tests must prove they ran: count the examples hypothesis tried and those it kept.

A generated example that is not a case of the property (an invalid random spec) is rejected with
``assume(False)``, never returned from silently; the test then asserts that almost every example
was accepted and that enough of them ran, so a generator gone wrong (every spec refused) fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import assume


@dataclass
class Acceptance:
    tried: int = 0
    accepted: int = 0
    rejected: list[str] = field(default_factory=list)  # why, for the failure message

    def accept(self, ok: bool, why: str = "") -> None:
        """Count one example; reject it (hypothesis ``assume``) unless ``ok``."""
        self.tried += 1
        if ok:
            self.accepted += 1
        else:
            self.rejected.append(why)
        assume(ok)

    def check(self, min_accepted: int, min_ratio: float = 0.9) -> None:
        assert self.accepted >= min_accepted, (self.accepted, self.tried, self.rejected[:5])
        assert self.accepted >= min_ratio * self.tried, (self.accepted, self.tried, self.rejected[:5])
