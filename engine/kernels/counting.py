"""Counting attribute combinations of records with an open-addressing hash table (Numba).

Every record's k-subsets (k = 1..R) are enumerated depth-first over its ascending ids, so each subset's key is its
prefix's key plus one slot (see `keys.py`), and added to a table of (key, count). Memory is bounded by the number of
distinct combinations, never by records × combinations. Tables are plain arrays so they can persist across batches,
live one per thread, and be merged.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sdsynth.kernels.csr import read_only
from sdsynth.kernels.keys import pack_key

_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
INITIAL_CAPACITY = 1 << 16


@njit(inline="always")
def _slot(key: np.uint64, mask: np.uint64) -> np.uint64:
    # MurmurHash3's 64-bit finaliser: keys fill their high bits first, so every input bit must reach the low bits
    h = key ^ (key >> np.uint64(33))
    h *= _MIX1
    h ^= h >> np.uint64(33)
    h *= _MIX2
    h ^= h >> np.uint64(33)
    return h & mask


def new_table(capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """An empty table of at least `capacity` slots (a power of two)."""
    cap = 1
    while cap < capacity:
        cap *= 2
    return np.zeros(cap, dtype=np.uint64), np.zeros(cap, dtype=np.int64)


@njit(cache=True, nogil=True)
def _grow(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cap = keys.shape[0] * 2
    new_keys = np.zeros(cap, dtype=np.uint64)
    new_counts = np.zeros(cap, dtype=np.int64)
    mask = np.uint64(cap - 1)
    for i in range(keys.shape[0]):
        k = keys[i]
        if k != 0:
            j = _slot(k, mask)
            while new_keys[j] != 0:
                j = (j + np.uint64(1)) & mask
            new_keys[j] = k
            new_counts[j] = counts[i]
    return new_keys, new_counts


@njit(cache=True, nogil=True)
def table_add(
    keys: np.ndarray, counts: np.ndarray, used: int, new_keys: np.ndarray, new_counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Add (key, count) pairs into a table (used to merge per-thread tables and partial results)."""
    for i in range(new_keys.shape[0]):
        k = new_keys[i]
        if k == 0:
            continue
        if (used + 1) * 2 > keys.shape[0]:
            keys, counts = _grow(keys, counts)
        mask = np.uint64(keys.shape[0] - 1)
        j = _slot(k, mask)
        while True:
            kk = keys[j]
            if kk == k:
                counts[j] += new_counts[i]
                break
            if kk == 0:
                keys[j] = k
                counts[j] = new_counts[i]
                used += 1
                break
            j = (j + np.uint64(1)) & mask
    return keys, counts, used


@njit(cache=True, nogil=True)
def table_lookup(keys: np.ndarray, counts: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Counts of the query keys (0 where absent)."""
    out = np.zeros(query.shape[0], dtype=np.int64)
    mask = np.uint64(keys.shape[0] - 1)
    for i in range(query.shape[0]):
        k = query[i]
        j = _slot(k, mask)
        while True:
            kk = keys[j]
            if kk == k:
                out[i] = counts[j]
                break
            if kk == 0:
                break
            j = (j + np.uint64(1)) & mask
    return out


@njit(inline="always")
def _get(keys: np.ndarray, counts: np.ndarray, mask: np.uint64, k: np.uint64) -> np.int64:
    j = _slot(k, mask)
    while True:
        kk = keys[j]
        if kk == k:
            return counts[j]
        if kk == 0:
            return 0
        j = (j + np.uint64(1)) & mask


def binomial_table(n: int, max_k: int) -> np.ndarray:
    """C(a, j) for a in 0..n, j in 0..max_k, as uint64 (wrapping where it overflows; only small ones are used)."""
    table = np.zeros((n + 1, max_k + 1), dtype=np.uint64)
    for a in range(n + 1):
        table[a, 0] = 1
        for j in range(1, min(a, max_k) + 1):
            table[a, j] = table[a - 1, j - 1] + (table[a - 1, j] if j <= a - 1 else 0)
    return table


def count_csr(
    offsets: np.ndarray, ids: np.ndarray, *args: object
) -> tuple[np.ndarray, np.ndarray, int]:  # fmt: skip
    """`_count_csr` on read-only records (one compiled version, `csr.read_only`)."""
    return _count_csr(read_only(offsets), read_only(ids), *args)


@njit(cache=True, nogil=True)
def _count_csr(
    offsets: np.ndarray,
    ids: np.ndarray,
    row_start: int,
    row_stop: int,
    max_length: int,
    bits: int,
    slots: int,
    binom: np.ndarray,
    dense_base: np.ndarray,
    dense: np.ndarray,
    keys: np.ndarray,
    counts: np.ndarray,
    used: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Add every combination of length 1..max_length of records [row_start, row_stop).

    Lengths whose whole domain C(n_attributes, k) is small are counted in a dense array indexed by the
    combination's colexicographic rank (sum of C(id_i, i+1)), which stays in cache; the others go to the hash
    table. `dense_base[k]` is the offset of length k in `dense`, or -1 for hashed lengths.
    """
    shifts = np.empty(slots, dtype=np.uint64)
    for d in range(slots):
        shifts[d] = np.uint64(bits * (slots - 1 - d))
    pos = np.zeros(max_length + 1, dtype=np.int64)
    prefix = np.zeros(max_length + 1, dtype=np.uint64)
    rank = np.zeros(max_length + 1, dtype=np.uint64)
    mask = np.uint64(keys.shape[0] - 1)
    for r in range(row_start, row_stop):
        base = offsets[r]
        w = offsets[r + 1] - base
        if w == 0:
            continue
        # room for every subset of this record, so the probe loop never needs to grow the table
        worst = 0
        for k in range(1, max_length + 1):
            if dense_base[k] < 0 and k <= w:
                worst += binom[w, k]
        while (used + worst) * 2 > keys.shape[0]:
            keys, counts = _grow(keys, counts)
            mask = np.uint64(keys.shape[0] - 1)
        d = 0
        pos[0] = 0
        prefix[0] = 0
        rank[0] = 0
        while d >= 0:
            i = pos[d]
            if i >= w:
                d -= 1
                continue
            pos[d] = i + 1
            a = ids[base + i]
            key = prefix[d] | (np.uint64(a + 1) << shifts[d])
            rk = rank[d] + binom[a, d + 1]
            db = dense_base[d + 1]
            if db >= 0:
                dense[db + np.int64(rk)] += 1
            else:
                j = _slot(key, mask)
                while True:
                    kk = keys[j]
                    if kk == key:
                        counts[j] += 1
                        break
                    if kk == 0:
                        keys[j] = key
                        counts[j] = 1
                        used += 1
                        break
                    j = (j + np.uint64(1)) & mask
            if d + 1 < max_length and i + 1 < w:
                d += 1
                pos[d] = i + 1
                prefix[d] = key
                rank[d] = rk
    return keys, counts, used


@njit(cache=True, nogil=True)
def dense_items(
    dense: np.ndarray, base: int, size: int, length: int, n_attributes: int, binom: np.ndarray, bits: int, slots: int
) -> tuple[np.ndarray, np.ndarray]:
    """The non-zero cells of one dense length as (packed key, count): colexicographic unranking."""
    n = 0
    for i in range(size):
        if dense[base + i] != 0:
            n += 1
    out_keys = np.empty(n, dtype=np.uint64)
    out_counts = np.empty(n, dtype=np.int64)
    ids = np.empty(length, dtype=np.int64)
    m = 0
    for i in range(size):
        c = dense[base + i]
        if c == 0:
            continue
        r = np.uint64(i)
        hi = n_attributes
        for j in range(length, 0, -1):
            # largest a < hi with C(a, j) <= r
            lo_a = j - 1
            hi_a = hi - 1
            while lo_a < hi_a:
                mid = (lo_a + hi_a + 1) // 2
                if binom[mid, j] <= r:
                    lo_a = mid
                else:
                    hi_a = mid - 1
            ids[j - 1] = lo_a
            r -= binom[lo_a, j]
            hi = lo_a
        out_keys[m] = pack_key(ids, length, bits, slots)
        out_counts[m] = c
        m += 1
    return out_keys, out_counts


def analyse_csr(offsets: np.ndarray, ids: np.ndarray, *args: object) -> None:
    """`_analyse_csr` on read-only records (one compiled version, `csr.read_only`)."""
    _analyse_csr(read_only(offsets), read_only(ids), *args)


@njit(cache=True, nogil=True)
def _analyse_csr(
    offsets: np.ndarray,
    ids: np.ndarray,
    row_start: int,
    row_stop: int,
    max_length: int,
    bits: int,
    slots: int,
    keys: np.ndarray,
    counts: np.ndarray,
    resolution: int,
    source_of: np.ndarray,
    n_sources: int,
    unique_by_len: np.ndarray,  # out: records by shortest length with a unique combination
    rare_only_by_len: np.ndarray,  # out: records with rare but no unique combination, by shortest rare length
    rare_records_per_attr: np.ndarray,  # out: records with a rare combination containing the attribute
    unique_records_per_source: np.ndarray,  # out: records with a unique combination touching the column
    totals: np.ndarray,  # out: [records with a rare combination, records with a unique combination]
) -> None:
    """Second pass over records, probing final counts: the records analysis of docs/method.md, "Records analysis"
    without record sets."""
    shifts = np.empty(slots, dtype=np.uint64)
    for d in range(slots):
        shifts[d] = np.uint64(bits * (slots - 1 - d))
    pos = np.zeros(max_length + 1, dtype=np.int64)
    prefix = np.zeros(max_length + 1, dtype=np.uint64)
    mask = np.uint64(keys.shape[0] - 1)
    max_w = 0
    for r in range(row_start, row_stop):
        max_w = max(max_w, offsets[r + 1] - offsets[r])
    in_rare = np.zeros(max_w + 1, dtype=np.bool_)
    src_mark = np.zeros(n_sources, dtype=np.bool_)
    for r in range(row_start, row_stop):
        base = offsets[r]
        w = offsets[r + 1] - base
        if w == 0:
            continue
        min_unique = 0
        min_rare = 0
        any_src = False
        d = 0
        pos[0] = 0
        prefix[0] = 0
        while d >= 0:
            i = pos[d]
            if i >= w:
                d -= 1
                continue
            pos[d] = i + 1
            key = prefix[d] | (np.uint64(ids[base + i] + 1) << shifts[d])
            c = _get(keys, counts, mask, key)
            length = d + 1
            if c < resolution:
                if min_rare == 0 or length < min_rare:
                    min_rare = length
                for q in range(d + 1):
                    in_rare[pos[q] - 1] = True
            if c == 1:
                if min_unique == 0 or length < min_unique:
                    min_unique = length
                for q in range(d + 1):
                    src_mark[source_of[ids[base + pos[q] - 1]]] = True
                any_src = True
            if d + 1 < max_length and i + 1 < w:
                d += 1
                pos[d] = i + 1
                prefix[d] = key
        if min_unique > 0:
            unique_by_len[min_unique] += 1
            totals[1] += 1
        elif min_rare > 0:
            rare_only_by_len[min_rare] += 1
        if min_rare > 0:
            totals[0] += 1
        for i in range(w):
            if in_rare[i]:
                rare_records_per_attr[ids[base + i]] += 1
                in_rare[i] = False
        if any_src:
            for s in range(n_sources):
                if src_mark[s]:
                    unique_records_per_source[s] += 1
                    src_mark[s] = False


def table_items(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The occupied (key, count) pairs of a table, sorted by key."""
    occupied = keys != 0
    k = keys[occupied]
    c = counts[occupied]
    order = np.argsort(k, kind="stable")
    return k[order], c[order]


def build_lookup_table(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A hash table holding the given pairs, for fast probing (load factor at most 1/2)."""
    table_keys, table_counts = new_table(max(INITIAL_CAPACITY, 2 * len(keys) + 2))
    table_keys, table_counts, _ = table_add(table_keys, table_counts, 0, keys, counts)
    return table_keys, table_counts
