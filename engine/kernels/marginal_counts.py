"""Joint histograms of many column sets at once, accumulated batch by batch (Numba).

Evaluation compares hundreds of marginals (every pair and triple of columns) of two tables that may hold hundreds of
millions of rows. Columns arrive as integer category codes, one batch at a time, stored column-major so one pass over
a column set reads a few contiguous arrays; column sets are counted in parallel, each into its own slice of one flat
array (no races). Rows can carry a *layer* (e.g. the nested subsample a row belongs to), counted separately. A column
set whose joint domain is too large for a dense array is counted as (cell, count) pairs of its occupied cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
from numba import njit

from sdsynth.kernels.threads import run_ranges

DENSE_CELLS_PER_SET = 1 << 20
DENSE_CELLS_TOTAL = 1 << 24
DENSE_CELLS_PER_ROW = 8  # with a row hint, a set of more cells than 8 per row is counted sparsely ...
DENSE_CELLS_ALWAYS = 1 << 12  # ... unless it has at most this many


@njit(cache=True, nogil=True)
def _add_dense(
    out: np.ndarray, codes: np.ndarray, layer: np.ndarray, combos: np.ndarray, strides: np.ndarray,
    offsets: np.ndarray, t_lo: int, t_hi: int,
) -> None:  # fmt: skip
    """Count the rows into the slices of column sets t_lo..t_hi − 1 (each set its own slice of `out`). Each set's
    cells are built column by column over all rows (loops the compiler vectorises), then counted: 2.5 times faster
    than computing each row's cell in turn."""
    total = offsets[-1]
    layered = layer.shape[0] > 0
    n = codes.shape[1]
    cell = np.empty(n, dtype=np.int64)
    for t in range(t_lo, t_hi):
        column = codes[combos[t, 0]]
        stride = strides[t, 0]
        base = offsets[t]
        for r in range(n):
            cell[r] = base + column[r] * stride
        for j in range(1, combos.shape[1]):
            column = codes[combos[t, j]]
            stride = strides[t, j]
            for r in range(n):
                cell[r] += column[r] * stride
        if layered:
            for r in range(n):
                out[layer[r] * total + cell[r]] += 1
        else:
            for r in range(n):
                out[cell[r]] += 1


@njit(cache=True, nogil=True)
def _cells(codes: np.ndarray, combo: np.ndarray, strides: np.ndarray) -> np.ndarray:
    out = np.empty(codes.shape[1], dtype=np.int64)
    for r in range(codes.shape[1]):
        cell = 0
        for j in range(combo.shape[0]):
            cell += codes[combo[j], r] * strides[j]
        out[r] = cell
    return out


_NO_LAYER = np.zeros(0, dtype=np.int64)


class MarginalHistograms:
    """Counts over a fixed list of column sets (all of one size), for one table, accumulated with `add`.

    `sizes[c]` is the number of categories of column c; codes are (columns, rows) arrays of category codes.
    `rows_hint`, the rows of the larger of the tables to be compared, counts sparsely the sets of far more cells than
    rows (a dense array of 16 M cells for a few thousand rows costs more to clear and compare than to sort the rows);
    give the histograms of both tables the same hint, so that each set is counted alike on both sides."""

    def __init__(
        self, sizes: Sequence[int], combos: Sequence[Sequence[int]], layers: int = 1, rows_hint: int | None = None
    ) -> None:
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.combos = np.asarray(combos, dtype=np.int64).reshape(len(combos), -1)
        self.layers = layers
        dims = self.sizes[self.combos] if len(self.combos) else np.zeros((0, 0), dtype=np.int64)
        # row-major strides within each set: the last column varies fastest
        self.strides = np.ones_like(dims)
        for j in range(dims.shape[1] - 2, -1, -1):
            self.strides[:, j] = self.strides[:, j + 1] * dims[:, j + 1]
        cells = dims.prod(axis=1) if len(dims) else np.zeros(0, dtype=np.int64)
        dense = cells <= DENSE_CELLS_PER_SET
        if rows_hint is not None:
            dense &= cells <= max(DENSE_CELLS_ALWAYS, DENSE_CELLS_PER_ROW * rows_hint)
        dense &= np.cumsum(np.where(dense, cells, 0)) * layers <= DENSE_CELLS_TOTAL
        self.dense_idx = np.flatnonzero(dense)
        self.sparse_idx = np.flatnonzero(~dense)
        self.offsets = np.concatenate([[0], np.cumsum(cells[self.dense_idx])]).astype(np.int64)
        self.counts = np.zeros(layers * int(self.offsets[-1]), dtype=np.int64)
        self._dense_combos = np.ascontiguousarray(self.combos[self.dense_idx])
        self._dense_strides = np.ascontiguousarray(self.strides[self.dense_idx])
        self.sparse: list[tuple[np.ndarray, np.ndarray]] = [
            (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)) for _ in self.sparse_idx
        ]
        self.rows = np.zeros(layers, dtype=np.int64)

    def add(self, codes: np.ndarray, layer: np.ndarray | None = None) -> MarginalHistograms:
        """Count a batch of rows (codes: columns × rows); `layer[r]` in 0..layers−1 when there are layers."""
        codes = np.ascontiguousarray(codes, dtype=np.int32)
        if self.layers > 1 and layer is None:
            raise ValueError("these histograms have layers: give each row's layer")
        lay = _NO_LAYER if self.layers == 1 else np.asarray(layer, dtype=np.int64)
        if self.layers == 1:
            self.rows[0] += codes.shape[1]
        else:
            self.rows += np.bincount(lay, minlength=self.layers)
        if len(self.dense_idx) and codes.shape[1]:
            run_ranges(len(self.dense_idx), partial(_add_dense, self.counts, codes, lay, self._dense_combos,
                                                     self._dense_strides, self.offsets))  # fmt: skip
        for i, t in enumerate(self.sparse_idx):
            cells = _cells(codes, self.combos[t], self.strides[t])
            if len(lay):
                cells = cells * self.layers + lay
            keys, counts = self.sparse[i]
            batch_keys, batch_counts = np.unique(cells, return_counts=True)  # a sort, no inverse: 3× faster
            if len(keys):
                merged, inverse = np.unique(np.concatenate([keys, batch_keys]), return_inverse=True)
                summed = np.bincount(inverse, weights=np.concatenate([counts, batch_counts]))
                self.sparse[i] = (merged, summed.astype(np.int64))
            else:
                self.sparse[i] = (batch_keys, batch_counts.astype(np.int64))
        return self

    def dense_layers(self, upto: int | None = None) -> np.ndarray:
        """Dense counts summed over layers 0..upto (all layers by default)."""
        per_layer = self.counts.reshape(self.layers, -1)
        return per_layer[: (self.layers if upto is None else upto + 1)].sum(axis=0)

    def _sparse_layers(self, i: int, upto: int | None) -> tuple[np.ndarray, np.ndarray]:
        keys, counts = self.sparse[i]
        if self.layers == 1:
            return keys, counts
        keep = keys % self.layers <= (self.layers - 1 if upto is None else upto)
        cells, inverse = np.unique(keys[keep] // self.layers, return_inverse=True)
        return cells, np.bincount(inverse, weights=counts[keep]).astype(np.int64)

    def rows_upto(self, upto: int | None = None) -> int:
        return int(self.rows[: (self.layers if upto is None else upto + 1)].sum())

    def l1(self, other: MarginalHistograms, upto: int | None = None, other_upto: int | None = None) -> np.ndarray:
        """Per column set, Σ|p − q| between the densities of this table (layers ≤ upto) and `other` (layers ≤
        other_upto). Both must have been built with the same sizes and column sets; they may count a set densely
        on one side and sparsely on the other (the dense budget depends on the number of layers). TVD is half."""
        n_self = max(self.rows_upto(upto), 1)
        n_other = max(other.rows_upto(other_upto), 1)
        out = np.empty(len(self.combos), dtype=np.float64)
        same_split = np.array_equal(self.dense_idx, other.dense_idx)
        dense_self, dense_other = self.dense_layers(upto), other.dense_layers(other_upto)
        if same_split and len(self.dense_idx):
            diff = dense_self / n_self
            diff -= dense_other / n_other
            out[self.dense_idx] = np.add.reduceat(np.abs(diff, out=diff), self.offsets[:-1])
        for t in self.sparse_idx if same_split else range(len(self.combos)):
            keys, counts = self._occupied(int(t), dense_self, upto)
            other_keys, other_counts = other._occupied(int(t), dense_other, other_upto)
            union = np.union1d(keys, other_keys)
            p = np.zeros(len(union))
            q = np.zeros(len(union))
            p[np.searchsorted(union, keys)] = counts / n_self
            q[np.searchsorted(union, other_keys)] = other_counts / n_other
            out[t] = np.abs(p - q).sum()
        return out

    def _occupied(self, t: int, dense: np.ndarray, upto: int | None) -> tuple[np.ndarray, np.ndarray]:
        """The occupied cells of column set t and their counts, however it was counted (`dense`: the dense counts
        summed over the layers asked for)."""
        i = int(np.searchsorted(self.dense_idx, t))
        if i < len(self.dense_idx) and self.dense_idx[i] == t:
            flat = dense[self.offsets[i] : self.offsets[i + 1]]
            cells = np.flatnonzero(flat)
            return cells, flat[cells]
        return self._sparse_layers(int(np.searchsorted(self.sparse_idx, t)), upto)

    def table(self, t: int, upto: int | None = None) -> np.ndarray:
        """The counts of column set t as a dense array (dense sets only)."""
        i = int(np.searchsorted(self.dense_idx, t))
        if i >= len(self.dense_idx) or self.dense_idx[i] != t:
            raise ValueError("column set counted sparsely")
        flat = self.dense_layers(upto)[self.offsets[i] : self.offsets[i + 1]]
        return flat.reshape(tuple(int(s) for s in self.sizes[self.combos[t]]))


def histograms(codes: np.ndarray, sizes: Sequence[int], combos: Sequence[Sequence[int]]) -> MarginalHistograms:
    """One table's histograms over `combos`, counted in one go."""
    return MarginalHistograms(sizes, combos).add(codes)
