"""`Aggregates`: combination counts that may be released, with the parameters that made them safe.

Both protections produce it (k-anonymity in `kanon`, differential privacy in `dp/`); the bundle writer, the
synthesizers and the public evaluation read it. It never holds a true count: `record_count` is rounded down to k or
noisy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sdsynth.count.combinations import (
    _CombinationTable,
)


@dataclass(frozen=True)
class Aggregates(_CombinationTable):
    """Releasable aggregate counts and the parameters that made them safe.

    `record_count` is the record count as released (rounded down to k, or DP-noised); the true count is not kept.
    `parameters` and `levels` are written into the release so a reviewer can re-check every privacy figure.
    """

    mode: str = "k-anonymity"
    record_count: int = 0
    parameters: dict[str, Any] = field(default_factory=dict)
    levels: list[dict[str, Any]] = field(default_factory=list)
