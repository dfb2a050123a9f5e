"""Numba kernel of the calibrated sampling law: records drawn column by column from conditional tables, never
taking a value that would form an unreleased combination.

A record keeps one bitset of the attributes it may still take: an attribute v is allowed iff K ∪ {v} was released
for every sub-combination K of the record with |K| ≤ R − 1. When the record takes z, the bitset is intersected with
ext[K ∪ {z}] for every K ⊆ record with |K ∪ {z}| ≤ R − 1, where ext[K] lists the attributes v with K ∪ {v} released.
Empty is always allowed, so every record completes. Records are independent: each has its own ChaCha20 stream (its
index), so the output does not depend on the number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..kernels.chacha import init_state, uniform_double
from ..kernels.counting import _get
from ..kernels.keys import insert_sorted, pack_key


@njit(cache=True)
def _restrict(
    allowed: np.ndarray, rec: np.ndarray, n: int, z: np.int64, max_length: int, bits: int, slots: int,
    tkeys: np.ndarray, tidx: np.ndarray, mask: np.uint64, ext: np.ndarray, scratch: np.ndarray, pos: np.ndarray,
) -> None:  # fmt: skip
    """allowed &= ext[K ∪ {z}] for every K ⊆ rec[:n] (z not in it) with |K| + 1 ≤ max_length − 1."""
    limit = max_length - 2  # largest |K|
    if limit < 0:
        return
    d = -1
    while True:
        k = 0
        scratch[0] = z
        k = 1
        for t in range(d + 1):
            k = insert_sorted(scratch, k, rec[pos[t]])
        i = _get(tkeys, tidx, mask, pack_key(scratch, k, bits, slots)) - 1
        if i >= 0:
            row = ext[i]
            for w in range(allowed.shape[0]):
                allowed[w] &= row[w]
        else:  # cannot happen for a valid record (its sub-combinations are released): allow nothing more
            for w in range(allowed.shape[0]):
                allowed[w] = np.uint64(0)
            return
        if d + 1 < limit and (pos[d] + 1 if d >= 0 else 0) < n:
            pos[d + 1] = pos[d] + 1 if d >= 0 else 0
            d += 1
            continue
        while d >= 0:
            pos[d] += 1
            if pos[d] < n:
                break
            d -= 1
        if d < 0:
            return


@njit(cache=True, parallel=True, nogil=True)
def sample_categories(
    first: np.int64, count: int, order: np.ndarray, parents: np.ndarray, strides: np.ndarray, cpt: np.ndarray,
    cpt_offset: np.ndarray, n_categories: np.ndarray, value_ids: np.ndarray, value_offset: np.ndarray,
    ext: np.ndarray, ext_empty: np.ndarray, max_length: int, bits: int, slots: int, tkeys: np.ndarray,
    tidx: np.ndarray, key_words: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Records first..first+count−1 as category codes (records × columns; 0 = empty, j = the column's j-th value).

    Column c (in `order`) is drawn from cpt[cpt_offset[c] + Σ_p strides[c, p]·category(parents[c, p]) + j]. Values
    that would form an unreleased combination are masked; their weight goes to the column's values that are still
    allowed (in proportion), or to empty when none is, so blocking a value does not by itself make records sparser.
    """
    n_columns = order.shape[0]
    out = np.zeros((count, n_columns), dtype=np.int16)
    mask = np.uint64(tkeys.shape[0] - 1)
    for b in prange(count):
        state = np.empty(34, dtype=np.uint32)
        init_state(state, key_words, first + b)
        allowed = ext_empty.copy()
        rec = np.empty(n_columns + 1, dtype=np.int64)
        scratch = np.empty(n_columns + 2, dtype=np.int64)
        pos = np.empty(n_columns + 2, dtype=np.int64)
        weights = np.empty(value_ids.shape[0] + 1, dtype=np.float64)
        n = 0
        for t in range(n_columns):
            c = order[t]
            base = cpt_offset[c]
            for p in range(parents.shape[1]):
                if parents[c, p] >= 0:
                    base += strides[c, p] * out[b, parents[c, p]]
            k_c = n_categories[c]
            weights[0] = cpt[base]
            values = 0.0
            blocked = 0.0
            for j in range(1, k_c):
                w = cpt[base + j]
                a = value_ids[value_offset[c] + j - 1]
                if (allowed[a >> 6] >> np.uint64(a & 63)) & np.uint64(1) == 0:
                    blocked += w
                    w = 0.0
                weights[j] = w
                values += w
            if values > 0.0 and blocked > 0.0:
                scale = (values + blocked) / values
                for j in range(1, k_c):
                    weights[j] *= scale
                values += blocked
            else:
                weights[0] += blocked
            total = weights[0] + values
            if total <= 0.0:
                continue  # empty
            r = uniform_double(state) * total
            j = 0
            while j < k_c - 1 and r >= weights[j]:
                r -= weights[j]
                j += 1
            while weights[j] <= 0.0:  # rounding at the end of the range: step back to a drawable category
                j -= 1
            if j == 0:
                continue
            out[b, c] = j
            z = value_ids[value_offset[c] + j - 1]
            _restrict(allowed, rec, n, z, max_length, bits, slots, tkeys, tidx, mask, ext, scratch, pos)
            n = insert_sorted(rec, n, z)
    return out
