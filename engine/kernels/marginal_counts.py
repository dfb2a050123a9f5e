"""Joint histograms of many column sets at once, and the L1 distance between two tables' histograms (Numba).

Evaluation compares hundreds of marginals (every pair and triple of columns) of two tables with millions of rows.
Columns are integer category codes stored column-major, so one pass over a column set reads a few contiguous
arrays; column sets are counted in parallel, each into its own slice of one flat array (no races). A column set
whose joint domain is too large for a dense array is counted by sorting its occupied cells instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit, prange

DENSE_CELLS_PER_SET = 1 << 20
DENSE_CELLS_TOTAL = 1 << 24


@njit(parallel=True, cache=True)
def _dense_histograms(
    codes: np.ndarray, rows: np.ndarray, combos: np.ndarray, strides: np.ndarray, offsets: np.ndarray
) -> np.ndarray:
    out = np.zeros(offsets[-1], dtype=np.int64)
    n = rows.shape[0] if rows.shape[0] > 0 else codes.shape[1]
    use_rows = rows.shape[0] > 0
    for t in prange(combos.shape[0]):
        base = offsets[t]
        for i in range(n):
            r = rows[i] if use_rows else i
            cell = 0
            for j in range(combos.shape[1]):
                cell += codes[combos[t, j], r] * strides[t, j]
            out[base + cell] += 1
    return out


@njit(cache=True)
def _cells(codes: np.ndarray, rows: np.ndarray, combo: np.ndarray, strides: np.ndarray) -> np.ndarray:
    n = rows.shape[0] if rows.shape[0] > 0 else codes.shape[1]
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        r = rows[i] if rows.shape[0] > 0 else i
        cell = 0
        for j in range(combo.shape[0]):
            cell += codes[combo[j], r] * strides[j]
        out[i] = cell
    return out


_ALL_ROWS = np.zeros(0, dtype=np.int64)


class Marginals:
    """One table's histograms over a fixed list of column sets (all of one size), ready to be compared with
    other tables coded with the same dictionaries.

    `codes` is (columns, rows) int32, `sizes[c]` the number of categories of column c."""

    def __init__(self, codes: np.ndarray, sizes: Sequence[int], combos: Sequence[Sequence[int]]) -> None:
        self.combos = np.asarray(combos, dtype=np.int64).reshape(len(combos), -1)
        sizes_arr = np.asarray(sizes, dtype=np.int64)
        dims = sizes_arr[self.combos]
        # row-major strides within each set: the last column varies fastest
        self.strides = np.ones_like(dims)
        for j in range(dims.shape[1] - 2, -1, -1):
            self.strides[:, j] = self.strides[:, j + 1] * dims[:, j + 1]
        cells = dims.prod(axis=1) if len(dims) else np.zeros(0, dtype=np.int64)
        dense = cells <= DENSE_CELLS_PER_SET
        dense &= np.cumsum(np.where(dense, cells, 0)) <= DENSE_CELLS_TOTAL
        self.dense_idx = np.flatnonzero(dense)
        self.sparse_idx = np.flatnonzero(~dense)
        self.offsets = np.concatenate([[0], np.cumsum(cells[self.dense_idx])]).astype(np.int64)
        self.n_rows = codes.shape[1]
        self._dense = self._dense_counts(codes, _ALL_ROWS)
        self._sparse = [self._sparse_counts(codes, _ALL_ROWS, t) for t in self.sparse_idx]

    def _dense_counts(self, codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if not len(self.dense_idx):
            return np.zeros(0, dtype=np.int64)
        combos = np.ascontiguousarray(self.combos[self.dense_idx])
        strides = np.ascontiguousarray(self.strides[self.dense_idx])
        return _dense_histograms(np.ascontiguousarray(codes, dtype=np.int32), rows, combos, strides, self.offsets)

    def _sparse_counts(self, codes: np.ndarray, rows: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        cells = _cells(np.ascontiguousarray(codes, dtype=np.int32), rows, self.combos[t], self.strides[t])
        return np.unique(cells, return_counts=True)

    def l1(self, codes: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Per column set, Σ|p − q| between this table's densities and those of `codes` (its `rows` only, if
        given). Total variation distance is half of it."""
        rows = _ALL_ROWS if rows is None else np.asarray(rows, dtype=np.int64)
        n_other = max(len(rows) if len(rows) else codes.shape[1], 1)
        n_self = max(self.n_rows, 1)
        out = np.empty(len(self.combos), dtype=np.float64)
        if len(self.dense_idx):
            diff = np.abs(self._dense / n_self - self._dense_counts(codes, rows) / n_other)
            out[self.dense_idx] = np.add.reduceat(diff, self.offsets[:-1]) if len(diff) else 0.0
        for t, (keys, counts) in zip(self.sparse_idx, self._sparse, strict=True):
            other_keys, other_counts = self._sparse_counts(codes, rows, t)
            union = np.union1d(keys, other_keys)
            p = np.zeros(len(union))
            q = np.zeros(len(union))
            p[np.searchsorted(union, keys)] = counts / n_self
            q[np.searchsorted(union, other_keys)] = other_counts / n_other
            out[t] = np.abs(p - q).sum()
        return out
