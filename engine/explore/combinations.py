"""Synthetic counts of attribute combinations, for pages whose embedded records would be too large.

A combination is a set of attributes as in the aggregates: a value of a single-value column, or a part of a
multi-value column (several parts of one column combine with AND). The counts are exact sums over the synthetic
records, computed per subset of columns on the distinct synthetic rows (a mixed-radix key of their cell codes, one
`bincount`), then spread over the parts each cell holds. They are kept up to the deepest length whose table fits the
page's size limit: the page answers every selection of up to that many attributes, and its bars every selection of one
attribute fewer.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from sdsynth.explore.data import ReleaseFacts, cell_parts, encode_combinations, synthetic_profiles

if TYPE_CHECKING:
    import duckdb


def _choices(parts: list[int], limit: int) -> list[tuple[int, ...]]:
    """The non-empty sets of a cell's values of at most `limit` elements (one value for a single-value column)."""
    return [c for n in range(1, min(limit, len(parts)) + 1) for c in itertools.combinations(parts, n)]


def _groups(codes: np.ndarray, weights: np.ndarray, subset: tuple[int, ...]) -> Iterator[tuple[np.ndarray, float]]:
    """(cell codes of the subset's columns, records) for every group of rows where all of them hold a value."""
    sub = codes[:, subset]
    held = (sub > 0).all(axis=1)
    if not held.any():
        return
    sub, w = sub[held], weights[held]
    radices = sub.max(axis=0) + 1
    if math.prod(int(r) for r in radices) < 1 << 62:
        key = np.zeros(sub.shape[0], dtype=np.int64)
        for j in range(sub.shape[1]):
            key = key * int(radices[j]) + sub[:, j]
        unique, inverse = np.unique(key, return_inverse=True)
        rows = np.empty((unique.size, sub.shape[1]), dtype=np.int64)
        rest = unique.copy()
        for j in range(sub.shape[1] - 1, -1, -1):
            rows[:, j] = rest % int(radices[j])
            rest //= int(radices[j])
    else:
        rows, inverse = np.unique(sub, axis=0, return_inverse=True)
    sums = np.bincount(inverse.ravel(), weights=w, minlength=rows.shape[0])
    yield from zip(rows, sums, strict=True)


def combination_counts(
    con: duckdb.DuckDBPyConnection, facts: ReleaseFacts, max_bytes: int, max_depth: int | None = None
) -> dict[str, Any]:
    """Synthetic counts of every combination of up to `depth` attributes, `depth` the largest (≤ `max_depth`,
    default R + 1) whose encoded table takes at most `max_bytes` (at least 1)."""
    cells, codes, weights = synthetic_profiles(con, facts)
    parts = [cell_parts(column, c) for column, c in zip(facts.columns, cells, strict=True)]
    offsets = facts.attribute_offsets()
    top = max(1, max_depth if max_depth is not None else facts.reporting_length + 1)
    n_attributes = sum(len(c.values) for c in facts.columns)
    found: dict[tuple[int, ...], float] = {}
    depth, complete = 0, True
    for size in range(1, min(top, len(facts.columns)) + 1):
        for subset in itertools.combinations(range(len(facts.columns)), size):
            for row, n in _groups(codes, weights, subset):
                choices = [_choices(parts[c][int(code)], top) for c, code in zip(subset, row, strict=True)]
                for combo in itertools.product(*choices):
                    if sum(len(x) for x in combo) > top:
                        continue
                    ids = tuple(sorted(offsets[c] + v for c, x in zip(subset, combo, strict=True) for v in x))
                    found[ids] = found.get(ids, 0.0) + float(n)
        # every combination of `size` attributes comes from at most `size` columns: those lengths are complete now
        kept = sum(1 for k in found if len(k) <= size)
        if depth and _encoded_bytes(kept, size, n_attributes) > max_bytes:
            complete = False
            break
        depth = size
    if complete and len(facts.columns) < top:  # fewer columns than the depth: longer combinations are parts only
        depth = top
    keys = sorted(k for k in found if len(k) <= depth)
    return {"depth": depth, **encode_combinations(keys, [found[k] for k in keys], depth)}


def _encoded_bytes(n: int, width: int, n_attributes: int) -> int:
    """An estimate of `encode_combinations`' size: ids of 1, 2 or 4 bytes and counts of up to 4, in base64."""
    id_bytes = 1 if n_attributes < 255 else 2 if n_attributes < 65535 else 4
    return math.ceil(n * (width * id_bytes + 4) * 4 / 3)
