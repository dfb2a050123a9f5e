"""Row sets as bitsets: one bitset of N bits per attribute (and per column), and a running intersection.

The seeded synthesizers need, again and again, "how many sensitive records contain this partial record plus one more
attribute". The reference intersects sorted row-id lists (quadratic overall). Here the rows matching the current
partial record are a bitset `cur` plus the list of its non-zero 64-bit words: counting a candidate is a popcount of
`cur & bits[a]` over those words only, and adding an attribute ANDs them in place. The list shrinks as the record
grows, so deep steps cost little.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from sdsynth.kernels.chacha import uniform_below


@njit(cache=True, nogil=True, inline="always")
def has_bit(words: np.ndarray, i: np.int64) -> bool:
    """Whether bit i of a bitset stored as 64-bit words is set."""
    return (words[i >> 6] >> np.uint64(i & 63)) & np.uint64(1) != 0


@njit(cache=True, nogil=True)
def build_bitsets(
    offsets: np.ndarray, ids: np.ndarray, column_of: np.ndarray, n_attributes: int, n_columns: int, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """bits[a] = rows holding attribute a; colbits[c] = rows holding any attribute of column c; row i is record
    order[i]."""
    n = offsets.shape[0] - 1
    n_words = (n + 63) // 64
    bits = np.zeros((n_attributes, max(n_words, 1)), dtype=np.uint64)
    colbits = np.zeros((n_columns, max(n_words, 1)), dtype=np.uint64)
    for i in range(n):
        r = order[i]
        word = i >> 6
        bit = np.uint64(1) << np.uint64(i & 63)
        for k in range(offsets[r], offsets[r + 1]):
            a = ids[k]
            bits[a, word] |= bit
            colbits[column_of[a], word] |= bit
    return bits, colbits


@njit(cache=True, nogil=True)
def _presence_keys(offsets: np.ndarray, ids: np.ndarray, rank: np.ndarray, n_key_words: int) -> np.ndarray:
    """Per record, its attributes as big-endian bits: the attribute of rank 0 is the most significant bit."""
    n = offsets.shape[0] - 1
    keys = np.zeros((n_key_words, n), dtype=np.uint64)
    for r in range(n):
        for k in range(offsets[r], offsets[r + 1]):
            q = rank[ids[k]]
            keys[q >> 6, r] |= np.uint64(1) << np.uint64(63 - (q & 63))
    return keys


def clustered_order(offsets: np.ndarray, ids: np.ndarray, n_attributes: int) -> np.ndarray:
    """A row order that puts records sharing attributes next to each other: records sorted by their attributes,
    most frequent attribute first.

    The rows matching a partial record then form a few long runs instead of being spread over the whole table, so
    its bitset has far fewer non-zero words and every intersection, count and draw touches far less memory (10× less
    work on 1.7 M generated records). Rows are only counted and drawn uniformly, so their order never changes a law.
    """
    frequency = np.bincount(ids, minlength=n_attributes)
    rank = np.empty(n_attributes, dtype=np.int64)
    rank[np.argsort(-frequency, kind="stable")] = np.arange(n_attributes)
    keys = _presence_keys(offsets, ids, rank, max(1, (n_attributes + 63) // 64))
    if keys.shape[0] == 1:
        return np.argsort(keys[0], kind="stable")
    return np.lexsort(keys[::-1])  # lexsort's last key is the primary one


@njit(cache=True, nogil=True)
def nonzero_words(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per attribute, the indices of its non-zero words (CSR): in clustered order most attributes have few, so a row
    set starts from them instead of a pass over every word."""
    n_attr, n_words = bits.shape
    offsets = np.zeros(n_attr + 1, dtype=np.int64)
    for a in range(n_attr):
        offsets[a + 1] = offsets[a] + np.count_nonzero(bits[a])
    words = np.empty(offsets[n_attr], dtype=np.int64)
    for a in range(n_attr):
        j = offsets[a]
        for w in range(n_words):
            if bits[a, w] != 0:
                words[j] = w
                j += 1
    return offsets, words


@intrinsic
def _ctpop(typingctx, x):  # type: ignore[no-untyped-def]
    """LLVM's ctpop: one POPCNT instruction on CPUs that have it."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.ctpop(args[0])

    return sig, codegen


@njit(inline="always")
def popcount64(x: np.uint64) -> np.int64:
    return np.int64(_ctpop(x))


@njit(inline="always")
def cur_load_words(row: np.ndarray, words: np.ndarray, cur: np.ndarray, nz: np.ndarray) -> tuple[int, np.int64]:
    """cur = row, given the indices of its non-zero words (words outside `nz` are never read)."""
    total = np.int64(0)
    for i in range(words.shape[0]):
        w = words[i]
        cur[w] = row[w]
        nz[i] = w
        total += popcount64(row[w])
    return words.shape[0], total


@njit(inline="always")
def cur_load_complement(row: np.ndarray, n_rows: int, cur: np.ndarray, nz: np.ndarray) -> tuple[int, np.int64]:
    """cur = all rows not in `row` (dense pass)."""
    nnz = 0
    total = np.int64(0)
    n_words = row.shape[0]
    for w in range(n_words):
        x = ~row[w]
        if w == n_words - 1 and (n_rows & 63) != 0:
            x &= (np.uint64(1) << np.uint64(n_rows & 63)) - np.uint64(1)
        cur[w] = x
        if x != 0:
            nz[nnz] = w
            nnz += 1
            total += popcount64(x)
    return nnz, total


@njit(inline="always")
def cur_count_and(row: np.ndarray, cur: np.ndarray, nz: np.ndarray, nnz: int) -> np.int64:
    total = np.int64(0)
    for i in range(nnz):
        w = nz[i]
        total += popcount64(cur[w] & row[w])
    return total


@njit(inline="always")
def cur_and(row: np.ndarray, cur: np.ndarray, nz: np.ndarray, nnz: int, negate: bool) -> tuple[int, np.int64]:
    """cur &= row (or &= ~row), in place over the non-zero words; returns the new (nnz, rows)."""
    out = 0
    total = np.int64(0)
    for i in range(nnz):
        w = nz[i]
        x = cur[w] & (~row[w] if negate else row[w])
        cur[w] = x
        if x != 0:
            nz[out] = w
            out += 1
            total += popcount64(x)
    return out, total


@njit(inline="always")
def cur_and_into(
    row: np.ndarray, cur: np.ndarray, nz: np.ndarray, nnz: int, out: np.ndarray, out_nz: np.ndarray
) -> tuple[int, np.int64]:
    """out = cur & row over cur's non-zero words (cur is left unchanged)."""
    m = 0
    total = np.int64(0)
    for i in range(nnz):
        w = nz[i]
        x = cur[w] & row[w]
        if x != 0:
            out[w] = x
            out_nz[m] = w
            m += 1
            total += popcount64(x)
    return m, total


@njit(inline="always")
def cur_random_row(cur: np.ndarray, nz: np.ndarray, nnz: int, total: np.int64, state: np.ndarray) -> np.int64:
    """A uniformly random row of cur (total ≥ 1)."""
    k = uniform_below(state, total)
    for i in range(nnz):
        w = nz[i]
        c = popcount64(cur[w])
        if k < c:
            x = cur[w]
            while True:
                low = x & (~x + np.uint64(1))
                if k == 0:
                    b = 0
                    while (low >> np.uint64(b)) != np.uint64(1):
                        b += 1
                    return np.int64(w) * 64 + b
                x ^= low
                k -= 1
        k -= c
    return np.int64(-1)


@njit(inline="always")
def cumulate(cur: np.ndarray, nz: np.ndarray, nnz: int, cum: np.ndarray) -> None:
    """cum[i] = rows in the first i+1 non-zero words (for picking the k-th row by binary search)."""
    total = np.int64(0)
    for i in range(nnz):
        total += popcount64(cur[nz[i]])
        cum[i] = total


@njit(inline="always")
def cur_pick(cur: np.ndarray, nz: np.ndarray, cum: np.ndarray, nnz: int, k: np.int64) -> np.int64:
    """The k-th row (0-based) of cur, using the cumulative counts of `cumulate`."""
    lo = 0
    hi = nnz - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] > k:
            hi = mid
        else:
            lo = mid + 1
    before = cum[lo - 1] if lo > 0 else np.int64(0)
    x = cur[nz[lo]]
    k -= before
    while k > 0:
        x &= x - np.uint64(1)
        k -= 1
    b = 0
    while ((x >> np.uint64(b)) & np.uint64(1)) == 0:
        b += 1
    return np.int64(nz[lo]) * 64 + b


@njit(inline="always")
def cur_count_at_least(row: np.ndarray, cur: np.ndarray, nz: np.ndarray, nnz: int, limit: np.int64) -> bool:
    """Whether cur & row has at least `limit` rows (stops as soon as it knows)."""
    total = np.int64(0)
    for i in range(nnz):
        w = nz[i]
        total += popcount64(cur[w] & row[w])
        if total >= limit:
            return True
    return total >= limit
