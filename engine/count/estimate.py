"""Estimating how many combinations counting will meet, before counting (memory guard, `--dry-run`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

BYTES_PER_COMBINATION = 16 * 2 * 2  # key + count, load factor 1/2, one table per thread (two threads)


def elementary_symmetric(values: Sequence[float], order: int) -> list[float]:
    """e_1..e_order of the values: e_l = Σ over l-subsets of the product (the number of possible l-combinations
    when values are per-column cardinalities)."""
    e = [1.0] + [0.0] * order
    for v in values:
        for k in range(order, 0, -1):
            e[k] += e[k - 1] * v
    return e[1:]


def estimate_combinations(
    cardinalities: Sequence[int], reporting_length: int, n_records: int, mean_attributes: float
) -> int:
    """Upper estimate of the distinct combinations of length ≤ R: per length, the smaller of what the columns
    allow and what the records can hold (N · C(mean attributes, l))."""
    total = 0.0
    possible = elementary_symmetric([float(c) for c in cardinalities], reporting_length)
    for length in range(1, reporting_length + 1):
        held = n_records * math.comb(max(round(mean_attributes), 0), length)
        total += min(possible[length - 1], held)
    return int(total)


def memory_estimate_bytes(combinations: int, batch_records: int, mean_attributes: float) -> int:
    batch = int(batch_records * (mean_attributes * 4 + 8) * 3)  # CSR ids/offsets plus the normalised batch
    return int(combinations * BYTES_PER_COMBINATION) + batch


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"
