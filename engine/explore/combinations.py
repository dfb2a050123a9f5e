"""Synthetic counts of attribute combinations, for pages whose embedded records would be too large.

A combination is a set of attributes as in the aggregates: a value of a single-value column, or a part of a
multi-value column (several parts of one column combine with AND). The counts are exact sums over the synthetic
records, counted by the engine's combination counter on the distinct synthetic rows (ids per column and part, as the
page numbers them), once per bit of the rows' weights. They are kept up to the deepest length whose table fits the
page's size limit: the page answers every selection of up to that many attributes, and its bars every selection of one
attribute fewer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sdsynth.count.combinations import CombinationCounter, merge_sorted_counts
from sdsynth.explore.data import ReleaseFacts, SyntheticProfiles, cell_parts, encode_combinations
from sdsynth.kernels.keys import KeyLayout

# distinct synthetic rows × column subsets past which the page stops at the release's reporting length instead of R + 1
# (a 1 M-record release has 0.72 M distinct rows of 16 columns: 1.3 × 10^9 for R + 1 = 4)
MAX_ROW_PASSES = 3 * 10**8


def _records(cells: list[list[list[int]]], codes: np.ndarray, offsets: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct synthetic rows as CSR rows of attribute ids (offsets[c] + value index, ascending)."""
    n_rows = codes.shape[0]
    lengths = [np.array([len(parts) for parts in column], dtype=np.int64) for column in cells]
    row_length = sum((lengths[c][codes[:, c]] for c in range(len(cells))), np.zeros(n_rows, dtype=np.int64))
    starts = np.concatenate([[0], np.cumsum(row_length)]).astype(np.int64)
    ids = np.empty(int(starts[-1]), dtype=np.int32)
    cursor = starts[:-1].copy()
    for c, column in enumerate(cells):
        width = max((len(parts) for parts in column), default=0)
        table = np.full((len(column), max(width, 1)), -1, dtype=np.int64)
        for code, parts in enumerate(column):
            table[code, : len(parts)] = [offsets[c] + p for p in parts]
        held = lengths[c][codes[:, c]]
        for j in range(width):
            rows = np.flatnonzero(held > j)
            ids[cursor[rows] + j] = table[codes[rows, c], j]
        cursor += held
    return starts, ids


def _weighted_counts(
    starts: np.ndarray, ids: np.ndarray, weights: np.ndarray, n_attributes: int, layout: KeyLayout, depth: int
) -> tuple[np.ndarray, np.ndarray]:
    """(packed keys in `layout`, counts) of every combination of up to `depth` attributes, each distinct row counted
    `weights` times: one pass of the engine's counter per bit of the weights over the rows that have it, scaled by
    2^bit (the work is the rows times their weights' set bits, never the records)."""
    parts = []
    for bit in range(int(weights.max()).bit_length() if len(weights) else 0):
        rows = np.flatnonzero((weights >> bit) & 1)
        lengths = starts[rows + 1] - starts[rows]
        sub_starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        gather = np.repeat(starts[rows] - sub_starts[:-1], lengths) + np.arange(int(sub_starts[-1]))
        counter = CombinationCounter(n_attributes, layout, depth)
        counter.count_batches(iter([(sub_starts, ids[gather])]))
        keys, counts = counter.result()
        parts.append((keys, counts << bit))
    return merge_sorted_counts(parts)


def combination_counts(
    facts: ReleaseFacts, profiles: SyntheticProfiles, max_bytes: int, max_depth: int | None = None
) -> dict[str, Any]:
    """Synthetic counts of every combination of up to `depth` attributes, `depth` the largest (≤ `max_depth`,
    default R + 1) whose encoded table takes at most `max_bytes` (at least 1). Counted by the engine's combination
    counter over the synthetic records (ids per column and part of the page)."""
    codes, weights = profiles.codes, profiles.weights
    parts = [cell_parts(column, c) for column, c in zip(facts.columns, profiles.cells, strict=True)]
    offsets = facts.attribute_offsets()
    top = max(1, max_depth if max_depth is not None else facts.reporting_length + 1)
    n_columns = len(facts.columns)
    n_attributes = sum(len(c.values) for c in facts.columns)
    counted, complete = 0, True
    for size in range(1, min(top, n_columns) + 1):
        if size > facts.reporting_length and len(weights) * math.comb(n_columns, size) > MAX_ROW_PASSES:
            complete = False  # combinations longer than the release's would take long: stop at its length
            break
        counted = size
    if complete and n_columns < top:  # fewer columns than the depth: longer combinations are parts only
        counted = top
    counted = max(counted, 1)
    layout = KeyLayout.for_attributes(max(n_attributes, 1), counted)
    starts, ids = _records(parts, codes, offsets)
    keys, counts = _weighted_counts(starts, ids, weights.astype(np.int64), max(n_attributes, 1), layout, counted)
    lengths = layout.lengths(keys)
    depth = 0
    for size in range(1, counted + 1):
        kept = int((lengths <= size).sum())
        if depth and _encoded_bytes(kept, size, n_attributes) > max_bytes:
            break
        depth = size
    keep = lengths <= depth
    rows = layout.unpack(keys[keep], counted).tolist()
    pairs = zip(rows, counts[keep].tolist(), strict=True)
    found = sorted((tuple(a for a in row if a >= 0), float(n)) for row, n in pairs)
    return {"depth": depth, **encode_combinations([k for k, _ in found], [n for _, n in found], depth)}


def _encoded_bytes(n: int, width: int, n_attributes: int) -> int:
    """An estimate of `encode_combinations`' size: ids of 1, 2 or 4 bytes and counts of up to 4, in base64."""
    id_bytes = 1 if n_attributes < 255 else 2 if n_attributes < 65535 else 4
    return math.ceil(n * (width * id_bytes + 4) * 4 / 3)
