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

# distinct synthetic rows × column subsets past which the page stops at the release's reporting length instead of R + 1
# (a 1 M-record release, 0.72 M distinct rows of 16 columns: 1.3 × 10^9 for R + 1 = 4, 20 s; up to R = 3, 3.5 s)
MAX_ROW_PASSES = 3 * 10**8


def _choices(parts: list[int], limit: int) -> list[tuple[int, ...]]:
    """The non-empty sets of a cell's values of at most `limit` elements (one value for a single-value column)."""
    return [c for n in range(1, min(limit, len(parts)) + 1) for c in itertools.combinations(parts, n)]


def _groups(
    columns: list[np.ndarray], radices: list[int], weights: np.ndarray, subset: tuple[int, ...]
) -> Iterator[tuple[np.ndarray, float]]:
    """(cell codes of the subset's columns, records) for every group of rows where all of them hold a value: one
    mixed-radix key per row (code 0, no value, included), counted with `bincount` when the key space is small."""
    total = math.prod(radices[j] for j in subset)
    if total >= 1 << 62:  # too many cells to number: group the code tuples themselves
        stacked = np.stack([columns[j] for j in subset], axis=1)
        rows, inverse = np.unique(stacked, axis=0, return_inverse=True)
        sums = np.bincount(inverse.ravel(), weights=weights, minlength=rows.shape[0])
    else:
        key = columns[subset[0]].astype(np.int64)
        for j in subset[1:]:
            key = key * radices[j] + columns[j]
        if total <= 1 << 24:
            dense = np.bincount(key, weights=weights, minlength=total)
            keys = np.flatnonzero(dense)
            sums = dense[keys]
        else:
            keys, inverse = np.unique(key, return_inverse=True)
            sums = np.bincount(inverse.ravel(), weights=weights, minlength=keys.size)
        rows = np.empty((keys.size, len(subset)), dtype=np.int64)
        for position in range(len(subset) - 1, -1, -1):
            rows[:, position] = keys % radices[subset[position]]
            keys = keys // radices[subset[position]]
    held = (rows > 0).all(axis=1) & (sums > 0)
    yield from zip(rows[held], sums[held], strict=True)


def combination_counts(
    con: duckdb.DuckDBPyConnection, facts: ReleaseFacts, max_bytes: int, max_depth: int | None = None
) -> dict[str, Any]:
    """Synthetic counts of every combination of up to `depth` attributes, `depth` the largest (≤ `max_depth`,
    default R + 1) whose encoded table takes at most `max_bytes` (at least 1)."""
    cells, codes, weights = synthetic_profiles(con, facts)
    parts = [cell_parts(column, c) for column, c in zip(facts.columns, cells, strict=True)]
    columns = [np.ascontiguousarray(codes[:, j]) for j in range(codes.shape[1])]
    radices = [len(c) + 1 for c in cells]
    weights = weights.astype(np.float64)
    offsets = facts.attribute_offsets()
    top = max(1, max_depth if max_depth is not None else facts.reporting_length + 1)
    n_attributes = sum(len(c.values) for c in facts.columns)
    found: dict[tuple[int, ...], float] = {}
    depth, complete = 0, True
    for size in range(1, min(top, len(facts.columns)) + 1):
        if size > facts.reporting_length and len(weights) * math.comb(len(columns), size) > MAX_ROW_PASSES:
            complete = False  # combinations longer than the release's would take long: stop at its length
            break
        for subset in itertools.combinations(range(len(facts.columns)), size):
            for row, n in _groups(columns, radices, weights, subset):
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
