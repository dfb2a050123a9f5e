"""Building the compressed sparse rows (CSR) of records: per record, its attribute ids in ascending order."""

from __future__ import annotations

import numpy as np
from numba import njit


def read_only(array: np.ndarray) -> np.ndarray:
    """`array` as a read-only view (no copy). Records read from Arrow arrive read-only, records built in memory
    writable, and Numba compiles a kernel once for each: kernels over records get read-only arrays always, so one
    compiled version serves every run."""
    if not array.flags.writeable:
        return array
    view = array.view()
    view.flags.writeable = False
    return view


@njit(cache=True, nogil=True)
def build_csr(
    single_codes: np.ndarray,  # (n_rows, n_single) int32 attribute ids, negative = absent
    multi_index: np.ndarray,  # (n_rows, n_multi) int32: each row's distinct cell of each multi-value column
    dict_offsets: np.ndarray,  # (n_multi, n_cells + 1) int64: parts of distinct cell i are dict_ids[m, o[i]:o[i+1]]
    dict_ids: np.ndarray,  # (n_multi, total) int32 attribute ids of the parts
) -> tuple[np.ndarray, np.ndarray]:
    """Gather each row's attribute ids from single-value codes and multi-value cells, sorted ascending."""
    n_rows = single_codes.shape[0]
    n_single = single_codes.shape[1]
    n_multi = multi_index.shape[1]
    offsets = np.empty(n_rows + 1, dtype=np.int64)
    offsets[0] = 0
    for r in range(n_rows):
        w = 0
        for c in range(n_single):
            if single_codes[r, c] >= 0:
                w += 1
        for m in range(n_multi):
            cell = multi_index[r, m]
            w += dict_offsets[m, cell + 1] - dict_offsets[m, cell]
        offsets[r + 1] = offsets[r] + w
    ids = np.empty(offsets[n_rows], dtype=np.int32)
    for r in range(n_rows):
        pos = offsets[r]
        for c in range(n_single):
            v = single_codes[r, c]
            if v >= 0:
                ids[pos] = v
                pos += 1
        for m in range(n_multi):
            cell = multi_index[r, m]
            for k in range(dict_offsets[m, cell], dict_offsets[m, cell + 1]):
                ids[pos] = dict_ids[m, k]
                pos += 1
        # insertion sort: records hold a few dozen attributes at most
        start = offsets[r]
        for i in range(start + 1, pos):
            x = ids[i]
            j = i - 1
            while j >= start and ids[j] > x:
                ids[j + 1] = ids[j]
                j -= 1
            ids[j + 1] = x
    return offsets, ids


def gather_rows(offsets: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CSR of a subset (or reordering) of records."""
    return _gather_rows(read_only(offsets), read_only(ids), rows)


@njit(cache=True, nogil=True)
def _gather_rows(offsets: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = rows.shape[0]
    out_offsets = np.empty(n + 1, dtype=np.int64)
    out_offsets[0] = 0
    for i in range(n):
        r = rows[i]
        out_offsets[i + 1] = out_offsets[i] + offsets[r + 1] - offsets[r]
    out_ids = np.empty(out_offsets[n], dtype=ids.dtype)
    for i in range(n):
        r = rows[i]
        start = offsets[r]
        for j in range(out_offsets[i], out_offsets[i + 1]):  # a loop: a slice copy compiles an error path (2 s)
            out_ids[j] = ids[start + j - out_offsets[i]]
    return out_offsets, out_ids


def category_codes(categories: np.ndarray, value_ids: np.ndarray, value_offset: np.ndarray) -> np.ndarray:
    """(n_rows, n_columns) drawn categories (0 = empty, k = the column's k-th value) as attribute ids, −1 for empty:
    the `single_codes` of `build_csr`."""
    categories = np.asarray(categories)
    drawn = categories > 0
    where = np.where(drawn, np.asarray(value_offset)[None, :] + categories.astype(np.int64) - 1, 0)
    return np.where(drawn, np.asarray(value_ids)[where] if len(value_ids) else 0, -1).astype(np.int32)
