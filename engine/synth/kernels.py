"""Numba kernels of the k-anonymity synthesizers (docs/method.md, "Row-seeded").

Counts of "the partial record plus one attribute" come from an exact count table while the combination is short
(length ≤ `table_length`); beyond, the rows matching the partial record are a bitset (`kernels/rowsets.py`, rows in
clustered order) and the next attribute is drawn by rejection over those rows (`_draw_by_rows`) when they are many,
from popcounts when they are few. All three give the reference's law exactly. Weighted draws use exact uniform
integers from a ChaCha20 stream (reproducible with a seed; synthesis is post-processing).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sdsynth.kernels.chacha import init_state, uniform_below
from sdsynth.kernels.counting import _get
from sdsynth.kernels.keys import insert_sorted, pack_key
from sdsynth.kernels.rowsets import (
    cumulate,
    cur_and,
    cur_and_into,
    cur_count_and,
    cur_count_at_least,
    cur_load_complement,
    cur_load_words,
    cur_pick,
    cur_random_row,
    has_bit,
)


@njit(inline="always")
def _pack_with(chosen: np.ndarray, n: int, a: np.int64, bits: int, slots: int) -> np.uint64:
    """Key of sorted `chosen[:n]` plus `a` (not in it), in canonical order."""
    key = np.uint64(0)
    d = 0
    placed = False
    for i in range(n):
        if not placed and a < chosen[i]:
            key |= np.uint64(a + 1) << np.uint64(bits * (slots - 1 - d))
            d += 1
            placed = True
        key |= np.uint64(chosen[i] + 1) << np.uint64(bits * (slots - 1 - d))
        d += 1
    if not placed:
        key |= np.uint64(a + 1) << np.uint64(bits * (slots - 1 - d))
    return key


@njit(inline="always")
def _finish(
    path: np.ndarray, depth: int, out_ids: np.ndarray, base: np.int64, out_len: np.ndarray, r: np.int64
) -> None:
    """Write a finished walk's record, sorted (canonical order)."""
    for i in range(depth):
        x = path[i]
        j = i - 1
        while j >= 0 and out_ids[base + j] > x:
            out_ids[base + j + 1] = out_ids[base + j]
            j -= 1
        out_ids[base + j + 1] = x
    out_len[r] = depth


@njit(inline="always")
def _sort_small(values: np.ndarray, n: int) -> None:
    for i in range(1, n):
        x = values[i]
        j = i - 1
        while j >= 0 and values[j] > x:
            values[j + 1] = values[j]
            j -= 1
        values[j + 1] = x


@njit(inline="always")
def _pick(weights: np.ndarray, n: int, total: np.int64, state: np.ndarray) -> int:
    """Index i with probability weights[i] / total (exact)."""
    r = uniform_below(state, total)
    for i in range(n):
        r -= weights[i]
        if r < 0:
            return i
    return n - 1


@njit(inline="always")
def _count(
    chosen: np.ndarray, depth: int, a: np.int64, table_length: int, tkeys: np.ndarray, tvals: np.ndarray,
    tmask: np.uint64, kbits: int, kslots: int, bits: np.ndarray, cur: np.ndarray, nz: np.ndarray, nnz: int,
) -> np.int64:  # fmt: skip
    """Number of sensitive records holding chosen[:depth] and a."""
    if depth + 1 <= table_length:
        return _get(tkeys, tvals, tmask, _pack_with(chosen, depth, a, kbits, kslots))
    return cur_count_and(bits[a], cur, nz, nnz)


@njit(inline="always")
def _load_rows(
    chosen: np.ndarray, depth: int, bits: np.ndarray, word_offsets: np.ndarray, word_ids: np.ndarray,
    cur: np.ndarray, nz: np.ndarray,
) -> tuple[int, np.int64]:  # fmt: skip
    """cur = rows holding every attribute of chosen[:depth] (depth ≥ 1), starting from the sparsest one's words."""
    first = chosen[0]
    for i in range(1, depth):
        a = chosen[i]
        if word_offsets[a + 1] - word_offsets[a] < word_offsets[first + 1] - word_offsets[first]:
            first = a
    nnz, total = cur_load_words(bits[first], word_ids[word_offsets[first] : word_offsets[first + 1]], cur, nz)
    for i in range(depth):
        if chosen[i] != first:
            nnz, total = cur_and(bits[chosen[i]], cur, nz, nnz, False)
    return nnz, total


@njit(inline="always")
def _advance(
    chosen: np.ndarray, depth: int, a: np.int64, table_length: int, bits: np.ndarray, word_offsets: np.ndarray,
    word_ids: np.ndarray, cur: np.ndarray, nz: np.ndarray, nnz: int,
) -> int:  # fmt: skip
    """Add a to the partial record; switch to the bitset intersection once past the table's length."""
    insert_sorted(chosen, depth, a)
    depth += 1
    if depth == table_length:
        nnz, _ = _load_rows(chosen, depth, bits, word_offsets, word_ids, cur, nz)
    elif depth > table_length:
        nnz, _ = cur_and(bits[a], cur, nz, nnz, False)
    return nnz


@njit(inline="always")
def _draw_by_rows(
    cand: np.ndarray, m: int, bits: np.ndarray, cur: np.ndarray, nz: np.ndarray, nnz: int, cum: np.ndarray,
    rows_here: np.int64, resolution: int, eligible: np.ndarray, touched: np.ndarray, n_touched: int,
    state: np.ndarray, max_misses: int,
) -> tuple[np.int64, int]:  # fmt: skip
    """A candidate drawn with P(a) ∝ |rows(S ∪ a)| among those matched by at least k rows (S = the rows in `cur`,
    `cum` from `cumulate`), by rejection: a uniform candidate and a uniform row of S, accepted if the row holds it.

    That is the reference's law at the cost of a few probes instead of one count per candidate. A candidate found
    with fewer than k rows is dropped (`eligible[a]` = −1, listed in `touched` so the caller can reset it) and the
    draw goes on, which leaves the law over the others unchanged. Returns (attribute, n_touched); attribute −1 if
    no candidate is eligible, −2 after `max_misses` probes in a row whose row held no candidate (the caller then
    draws from exact counts: giving up depends only on misses, so the result still follows the law).
    `cand[:m]` is reordered.
    """
    misses = 0
    while m > 0 and rows_here >= resolution:
        i = uniform_below(state, m)
        a = cand[i]
        row = cur_pick(cur, nz, cum, nnz, uniform_below(state, rows_here))
        if not has_bit(bits[a], row):
            misses += 1
            if misses >= max_misses:
                return np.int64(-2), n_touched
            continue
        misses = 0
        if eligible[a] == 0:
            ok = cur_count_at_least(bits[a], cur, nz, nnz, resolution)
            eligible[a] = 1 if ok else -1
            touched[n_touched] = a
            n_touched += 1
        if eligible[a] < 0:
            m -= 1
            cand[i] = cand[m]
            continue
        return a, n_touched
    return np.int64(-1), n_touched


REJECTION_MISSES = 64  # probes in a row that miss every candidate before counting exactly instead
REJECTION_MIN_WORDS = 64  # smaller row sets are cheaper to count exactly
WALK_STREAM_STRIDE = 256  # walk j draws step d from ChaCha stream j·256 + d: results do not depend on scheduling


@njit(cache=True, nogil=True)
def row_seeded_prefix(
    offsets: np.ndarray, ids: np.ndarray, row_start: int, row_stop: int, resolution: int, table_length: int,
    tkeys: np.ndarray, tvals: np.ndarray, kbits: int, kslots: int, key_words: np.ndarray,
    out_ids: np.ndarray, out_len: np.ndarray, prefix_key: np.ndarray,
) -> None:  # fmt: skip
    """docs/method.md, "Row-seeded" phase 1, the first `table_length` steps of every walk, from exact counts in the
    table.

    Walk r writes its chosen attributes (sorted) at out_ids[offsets[r]:], their number in out_len[r], and, if it is
    still running after `table_length` steps, the packed key of its partial record in prefix_key[r] (else 0)."""
    tmask = np.uint64(tkeys.shape[0] - 1)
    state = np.empty(34, dtype=np.uint32)
    max_w = 0
    for r in range(row_start, row_stop):
        max_w = max(max_w, offsets[r + 1] - offsets[r])
    chosen = np.empty(max_w + 1, dtype=np.int64)
    used = np.zeros(max_w + 1, dtype=np.bool_)
    weights = np.zeros(max_w + 1, dtype=np.int64)
    for r in range(row_start, row_stop):
        base = offsets[r]
        w = offsets[r + 1] - base
        for p in range(w):
            used[p] = False
        depth = 0
        running = True
        while depth < table_length:
            total = np.int64(0)
            for p in range(w):
                weights[p] = 0
                if used[p]:
                    continue
                c = _get(tkeys, tvals, tmask, _pack_with(chosen, depth, ids[base + p], kbits, kslots))
                if c >= resolution:
                    weights[p] = c
                    total += c
            if total == 0:
                running = False
                break
            init_state(state, key_words, np.int64(r) * WALK_STREAM_STRIDE + depth)
            p = _pick(weights, w, total, state)
            used[p] = True
            insert_sorted(chosen, depth, ids[base + p])
            depth += 1
        for i in range(depth):
            out_ids[base + i] = chosen[i]
        out_len[r] = depth
        prefix_key[r] = np.uint64(0)
        if running and depth < w:
            prefix_key[r] = pack_key(chosen, depth, kbits, kslots)


@njit(cache=True, nogil=True)
def row_seeded_groups(
    offsets: np.ndarray, ids: np.ndarray, walks: np.ndarray, group_starts: np.ndarray, group_first: int,
    group_stop: int, resolution: int, prefix_depth: int, table_length: int, tkeys: np.ndarray, tvals: np.ndarray,
    kbits: int, kslots: int, bits: np.ndarray, word_offsets: np.ndarray, word_ids: np.ndarray, key_words: np.ndarray,
    out_ids: np.ndarray, out_len: np.ndarray,
) -> None:  # fmt: skip
    """docs/method.md, "Row-seeded" phase 1 after the first `prefix_depth` steps: walks sharing a partial record advance
    together.

    `walks` lists walk (= record) indices grouped by their partial record after the prefix steps; group g is
    walks[group_starts[g]:group_starts[g+1]]. Each group is explored depth first: at a node (a partial record and
    the walks that reached it), the rows matching it are one bitset, candidate counts are popcounts computed once
    for the whole node (read from the exact count table while the combination is short enough), every walk draws
    its next attribute from its own stream, and the walks are split by that attribute into child nodes. Work is
    done once per distinct partial record, not once per walk.
    """
    tmask = np.uint64(tkeys.shape[0] - 1)
    n_attr = bits.shape[0]
    n_words = bits.shape[1]
    max_depth = 0
    for g in range(group_first, group_stop):
        for q in range(group_starts[g], group_starts[g + 1]):
            r = walks[q]
            max_depth = max(max_depth, offsets[r + 1] - offsets[r])
    levels = max_depth + 2
    cur = np.empty((levels, n_words), dtype=np.uint64)
    nz = np.empty((levels, n_words), dtype=np.int64)
    nnz = np.zeros(levels, dtype=np.int64)
    path = np.empty(levels, dtype=np.int64)
    in_path = np.zeros(n_attr, dtype=np.bool_)
    counts = np.zeros(n_attr, dtype=np.int64)
    needed = np.zeros(n_attr, dtype=np.bool_)
    next_attr = np.empty(walks.shape[0], dtype=np.int64)
    scratch = np.empty(walks.shape[0], dtype=np.int64)
    bucket = np.zeros(n_attr + 1, dtype=np.int64)
    weights = np.zeros(max_depth + 1, dtype=np.int64)
    state = np.empty(34, dtype=np.uint32)
    sorted_path = np.empty(levels, dtype=np.int64)
    cum = np.empty(n_words, dtype=np.int64)
    cand = np.empty(max_depth + 1, dtype=np.int64)
    eligible = np.zeros(n_attr, dtype=np.int8)  # per node: 0 unknown, 1 at least k rows, −1 fewer
    touched = np.empty(n_attr, dtype=np.int64)
    n_touched = 0
    # explicit DFS stack of nodes: (lo, hi, depth, attribute that led here)
    st_lo = np.empty(levels * (n_attr + 1), dtype=np.int64)
    st_hi = np.empty_like(st_lo)
    st_depth = np.empty_like(st_lo)
    st_attr = np.empty_like(st_lo)
    for g in range(group_first, group_stop):
        lo0 = group_starts[g]
        hi0 = group_starts[g + 1]
        if hi0 <= lo0:
            continue
        r0 = walks[lo0]
        for i in range(prefix_depth):
            path[i] = out_ids[offsets[r0] + i]
        path_len = prefix_depth
        for a in range(n_attr):
            in_path[a] = False
        for i in range(prefix_depth):
            in_path[path[i]] = True
        nnz[prefix_depth], _ = _load_rows(path, prefix_depth, bits, word_offsets, word_ids, cur[prefix_depth],
                                          nz[prefix_depth])  # fmt: skip
        sp = 0
        st_lo[0] = lo0
        st_hi[0] = hi0
        st_depth[0] = prefix_depth
        st_attr[0] = -1
        sp = 1
        while sp > 0:
            sp -= 1
            lo = st_lo[sp]
            hi = st_hi[sp]
            depth = st_depth[sp]
            attr = st_attr[sp]
            if attr >= 0:
                for i in range(depth - 1, path_len):
                    in_path[path[i]] = False
                path[depth - 1] = attr
                in_path[attr] = True
                path_len = depth
                nnz[depth], _ = cur_and_into(bits[attr], cur[depth - 1], nz[depth - 1], nnz[depth - 1], cur[depth],
                                             nz[depth])  # fmt: skip
            if depth + 1 <= table_length:
                # short combinations: exact counts from the table, once for the node
                for i in range(depth):
                    sorted_path[i] = path[i]
                _sort_small(sorted_path, depth)
                for q in range(lo, hi):
                    r = walks[q]
                    for p in range(offsets[r], offsets[r + 1]):
                        a = ids[p]
                        if not in_path[a] and not needed[a]:
                            needed[a] = True
                            counts[a] = _get(tkeys, tvals, tmask, _pack_with(sorted_path, depth, a, kbits, kslots))
                for q in range(lo, hi):
                    r = walks[q]
                    base = offsets[r]
                    w = offsets[r + 1] - base
                    total = np.int64(0)
                    for p in range(w):
                        a = ids[base + p]
                        needed[a] = False
                        c = counts[a] if not in_path[a] else 0
                        weights[p] = c if c >= resolution else 0
                        total += weights[p]
                    if total == 0:
                        next_attr[q] = -1
                        _finish(path, depth, out_ids, base, out_len, r)
                        continue
                    init_state(state, key_words, np.int64(r) * WALK_STREAM_STRIDE + depth)
                    next_attr[q] = ids[base + _pick(weights, w, total, state)]
            else:
                # P(a) ∝ |rows(S ∪ a)| by rejection (`_draw_by_rows`), S's cumulative counts computed once per node
                cumulate(cur[depth], nz[depth], nnz[depth], cum)
                rows_here = cum[nnz[depth] - 1] if nnz[depth] > 0 else np.int64(0)
                for q in range(lo, hi):
                    r = walks[q]
                    base = offsets[r]
                    w = offsets[r + 1] - base
                    m = 0
                    for p in range(w):
                        a = ids[base + p]
                        if not in_path[a] and eligible[a] >= 0:
                            cand[m] = a
                            m += 1
                    init_state(state, key_words, np.int64(r) * WALK_STREAM_STRIDE + depth)
                    # every candidate is held by the seed record, a row of S: never "no candidate held"
                    chosen_attr, n_touched = _draw_by_rows(
                        cand, m, bits, cur[depth], nz[depth], nnz[depth], cum, rows_here, resolution, eligible,
                        touched, n_touched, state, 1 << 62,
                    )  # fmt: skip
                    if chosen_attr < 0:
                        next_attr[q] = -1
                        _finish(path, depth, out_ids, base, out_len, r)
                    else:
                        next_attr[q] = chosen_attr
                for i in range(n_touched):
                    eligible[touched[i]] = 0
                n_touched = 0
            # split the running walks by their next attribute (counting sort) and push one child per attribute
            for a in range(n_attr + 1):
                bucket[a] = 0
            for q in range(lo, hi):
                if next_attr[q] >= 0:
                    bucket[next_attr[q] + 1] += 1
            for a in range(n_attr):
                bucket[a + 1] += bucket[a]
            end = lo + bucket[n_attr]
            for a in range(n_attr + 1):
                bucket[a] += lo
            for q in range(lo, hi):
                if next_attr[q] >= 0:
                    scratch[bucket[next_attr[q]]] = walks[q]
                    bucket[next_attr[q]] += 1
            for q in range(lo, end):
                walks[q] = scratch[q]
            start = lo
            for a in range(n_attr):
                stop = bucket[a]
                if stop > start:
                    st_lo[sp] = start
                    st_hi[sp] = stop
                    st_depth[sp] = depth + 1
                    st_attr[sp] = a
                    sp += 1
                start = max(start, stop)
        for i in range(path_len):
            in_path[path[i]] = False


@njit(cache=True, nogil=True)
def unseeded_records(
    first: int, count: int, offsets: np.ndarray, ids: np.ndarray, record_of_row: np.ndarray, column_of: np.ndarray,
    n_columns: int, bits: np.ndarray, word_offsets: np.ndarray, word_ids: np.ndarray, colbits: np.ndarray,
    single_counts: np.ndarray, n_rows: int, resolution: int,
    state: np.ndarray, out_ids: np.ndarray, out_len: np.ndarray,
) -> None:  # fmt: skip
    """docs/method.md, "Unseeded", one synthetic record per index in [first, first + count).

    For each column (random order) the reference weighs every value by its number of matching rows, folds values
    matched by fewer than k rows into "empty", and draws. Drawing a uniformly random matching row and taking its
    value (or "empty" if that value is rare) has exactly those probabilities, and needs one count instead of one
    per value.
    """
    n_words = bits.shape[1]
    cur = np.empty(n_words, dtype=np.uint64)
    nz = np.empty(n_words, dtype=np.int64)
    order = np.empty(n_columns, dtype=np.int64)
    for j in range(first, first + count):
        for c in range(n_columns):
            order[c] = c
        for c in range(n_columns - 1, 0, -1):  # Fisher–Yates
            k = uniform_below(state, c + 1)
            tmp = order[c]
            order[c] = order[k]
            order[k] = tmp
        everything = True  # cur = all rows, not materialised
        nnz = 0
        total = np.int64(n_rows)
        n_out = 0
        for step in range(n_columns):
            if total == 0:
                break
            c = order[step]
            row = uniform_below(state, total) if everything else cur_random_row(cur, nz, nnz, total, state)
            r = record_of_row[row]
            v = np.int64(-1)
            for q in range(offsets[r], offsets[r + 1]):
                if column_of[ids[q]] == c:
                    v = ids[q]
                    break
            if v >= 0:
                size = single_counts[v] if everything else cur_count_and(bits[v], cur, nz, nnz)
                if size < resolution:
                    v = np.int64(-1)  # a rare value is folded into "empty"
            if v >= 0:
                if everything:
                    nnz, total = cur_load_words(bits[v], word_ids[word_offsets[v] : word_offsets[v + 1]], cur, nz)
                else:
                    nnz, total = cur_and(bits[v], cur, nz, nnz, False)
                out_ids[j, n_out] = v
                n_out += 1
            elif everything:
                nnz, total = cur_load_complement(colbits[c], n_rows, cur, nz)
            else:
                nnz, total = cur_and(colbits[c], cur, nz, nnz, True)
            everything = False
        out_len[j] = n_out
        # keep each record's attributes sorted (canonical order)
        for i in range(1, n_out):
            x = out_ids[j, i]
            k = i - 1
            while k >= 0 and out_ids[j, k] > x:
                out_ids[j, k + 1] = out_ids[j, k]
                k -= 1
            out_ids[j, k + 1] = x


@njit(inline="always")
def _subset_keys_with(
    chosen: np.ndarray, depth: int, a: np.int64, max_length: int, kbits: int, kslots: int, out: np.ndarray
) -> int:
    """Keys of every sub-combination of chosen[:depth] ∪ {a} that contains a, of length ≤ max_length."""
    out[0] = _pack_with(chosen, 0, a, kbits, kslots)
    n_out = 1
    if max_length <= 1 or depth == 0:
        return n_out
    stack = np.empty(max_length, dtype=np.int64)
    pos = np.zeros(max_length, dtype=np.int64)
    d = 0
    pos[0] = 0
    while d >= 0:
        i = pos[d]
        if i >= depth:
            d -= 1
            continue
        pos[d] = i + 1
        stack[d] = chosen[i]
        out[n_out] = _pack_with(stack, d + 1, a, kbits, kslots)
        n_out += 1
        if d + 2 < max_length and i + 1 < depth:
            d += 1
            pos[d] = i + 1
    return n_out


@njit(cache=True, nogil=True)
def _table_inc(keys: np.ndarray, counts: np.ndarray, used: np.ndarray, key: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    """counts[key] += 1 in a growable table (`used[0]` is the number of keys)."""
    if (used[0] + 1) * 2 > keys.shape[0]:
        old_k, old_c = keys, counts
        keys = np.zeros(old_k.shape[0] * 2, dtype=np.uint64)
        counts = np.zeros(old_k.shape[0] * 2, dtype=np.int64)
        mask = np.uint64(keys.shape[0] - 1)
        for i in range(old_k.shape[0]):
            if old_k[i] != 0:
                h = old_k[i] * np.uint64(0x9E3779B97F4A7C15)
                j = (h ^ (h >> np.uint64(31))) & mask
                while keys[j] != 0:
                    j = (j + np.uint64(1)) & mask
                keys[j] = old_k[i]
                counts[j] = old_c[i]
    mask = np.uint64(keys.shape[0] - 1)
    h = key * np.uint64(0x9E3779B97F4A7C15)
    j = (h ^ (h >> np.uint64(31))) & mask
    while True:
        if keys[j] == key:
            counts[j] += 1
            return keys, counts
        if keys[j] == 0:
            keys[j] = key
            counts[j] = 1
            used[0] += 1
            return keys, counts
        j = (j + np.uint64(1)) & mask


@njit(inline="always")
def _table_val(keys: np.ndarray, counts: np.ndarray, key: np.uint64) -> np.int64:
    mask = np.uint64(keys.shape[0] - 1)
    h = key * np.uint64(0x9E3779B97F4A7C15)
    j = (h ^ (h >> np.uint64(31))) & mask
    while True:
        if keys[j] == key:
            return counts[j]
        if keys[j] == 0:
            return 0
        j = (j + np.uint64(1)) & mask


@njit(cache=True, nogil=True)
def consolidate(
    available: np.ndarray,  # in/out: remaining budget per attribute (≤ 0 = none)
    seed_mask: np.ndarray,  # attributes with an initial budget
    column_of: np.ndarray, n_columns: int, resolution: int, table_length: int,
    tkeys: np.ndarray, tvals: np.ndarray, kbits: int, kslots: int, bits: np.ndarray, state: np.ndarray,
    oversampling_ratio: float,  # < 0: no oversampling control
    tries_per_record: int,
    agg_keys: np.ndarray, agg_vals: np.ndarray, agg_length: int, subset_bound: int, word_offsets: np.ndarray,
    word_ids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """docs/method.md, "Row-seeded" with its attribute-rows sampler: records until the budget is spent. Returns CSR.

    `subset_bound` ≥ Σ_{l < agg_length} C(n_columns, l) sizes the scratch for oversampling checks.
    """
    n_attr = available.shape[0]
    n_words = bits.shape[1]
    cur = np.empty(n_words, dtype=np.uint64)
    nz = np.empty(n_words, dtype=np.int64)
    tmask = np.uint64(tkeys.shape[0] - 1)
    amask = np.uint64(agg_keys.shape[0] - 1)
    chosen = np.empty(n_columns + 1, dtype=np.int64)
    col_used = np.zeros(n_columns, dtype=np.bool_)
    not_allowed = np.zeros(n_attr, dtype=np.bool_)
    weights = np.zeros(n_attr, dtype=np.int64)
    cands = np.empty(n_attr, dtype=np.int64)
    sub_keys = np.empty(subset_bound, dtype=np.uint64)
    syn_keys = np.zeros(1 << 12, dtype=np.uint64)
    syn_counts = np.zeros(1 << 12, dtype=np.int64)
    syn_used = np.zeros(1, dtype=np.int64)
    control = oversampling_ratio >= 0
    cum = np.empty(n_words, dtype=np.int64)
    rows_here = np.int64(0)
    eligible = np.zeros(n_attr, dtype=np.int8)  # for the current partial record: 0 unknown, 1 ≥ k rows, −1 fewer
    touched = np.empty(n_attr, dtype=np.int64)
    n_touched = 0
    out_offsets = [0]
    out_ids = np.empty(1024, dtype=np.int32)
    n_ids = 0
    remaining = 0
    for a in range(n_attr):
        if available[a] > 0:
            remaining += 1
    while remaining > 0:
        for a in range(n_attr):
            not_allowed[a] = available[a] <= 0
        for c in range(n_columns):
            col_used[c] = False
        depth = 0
        nnz = 0
        tries = tries_per_record
        fresh = True  # the partial record changed since the last draw
        while True:
            a = np.int64(-2)
            if depth >= table_length and nnz >= REJECTION_MIN_WORDS:
                # a large row set: by rejection over its rows (the law of the exact draw below)
                if fresh:
                    for i in range(n_touched):
                        eligible[touched[i]] = 0
                    n_touched = 0
                    cumulate(cur, nz, nnz, cum)
                    rows_here = cum[nnz - 1] if nnz > 0 else np.int64(0)
                m = 0
                for b in range(n_attr):
                    if seed_mask[b] and not not_allowed[b] and not col_used[column_of[b]] and eligible[b] >= 0:
                        cands[m] = b
                        m += 1
                a, n_touched = _draw_by_rows(cands, m, bits, cur, nz, nnz, cum, rows_here, resolution, eligible,
                                             touched, n_touched, state, REJECTION_MISSES + 4 * m)  # fmt: skip
                if a == -1:
                    break
            fresh = False
            if a == -2:
                n_c = 0
                total = np.int64(0)
                for b in range(n_attr):
                    if not seed_mask[b] or not_allowed[b] or col_used[column_of[b]]:
                        continue
                    c = _count(chosen, depth, b, table_length, tkeys, tvals, tmask, kbits, kslots, bits, cur, nz, nnz)
                    if c >= resolution:
                        cands[n_c] = b
                        weights[n_c] = c
                        n_c += 1
                        total += c
                if total == 0:
                    break
                a = cands[_pick(weights, n_c, total, state)]
            accepted = True
            if control:
                n_sub = _subset_keys_with(chosen, depth, a, agg_length, kbits, kslots, sub_keys)
                for i in range(n_sub):
                    agg = _get(agg_keys, agg_vals, amask, sub_keys[i])
                    if agg > 0 and _table_val(syn_keys, syn_counts, sub_keys[i]) + 1 > agg * (1.0 + oversampling_ratio):
                        accepted = False
                        break
                if accepted:
                    for i in range(n_sub):
                        syn_keys, syn_counts = _table_inc(syn_keys, syn_counts, syn_used, sub_keys[i])
            if accepted:
                nnz = _advance(chosen, depth, a, table_length, bits, word_offsets, word_ids, cur, nz, nnz)
                fresh = True
                depth += 1
                col_used[column_of[a]] = True
                if available[a] <= 1:
                    available[a] = 0
                    not_allowed[a] = True
                    remaining -= 1
                else:
                    available[a] -= 1
                tries = tries_per_record
            else:
                tries -= 1
                if tries == 0:
                    break
        if depth == 0:
            break  # nothing can be placed any more (only possible after oversampling refusals)
        if n_ids + depth > out_ids.shape[0]:
            bigger = np.empty(max(out_ids.shape[0] * 2, n_ids + depth), dtype=np.int32)
            bigger[:n_ids] = out_ids[:n_ids]
            out_ids = bigger
        for i in range(depth):
            out_ids[n_ids + i] = chosen[i]
        n_ids += depth
        out_offsets.append(n_ids)
    return np.array(out_offsets, dtype=np.int64), out_ids[:n_ids]


@njit(cache=True, nogil=True)
def suppress(
    offsets: np.ndarray, ids: np.ndarray, excess: np.ndarray, state: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """docs/method.md, "Row-seeded": in a uniformly random record order, drop attributes while they exceed their target;
    drop records that become empty. `excess` is consumed."""
    n = offsets.shape[0] - 1
    order = np.arange(n)
    for i in range(n - 1, 0, -1):
        k = uniform_below(state, i + 1)
        tmp = order[i]
        order[i] = order[k]
        order[k] = tmp
    keep = np.ones(ids.shape[0], dtype=np.bool_)
    for i in range(n):
        r = order[i]
        for q in range(offsets[r], offsets[r + 1]):
            a = ids[q]
            if excess[a] > 0:
                keep[q] = False
                excess[a] -= 1
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    out_ids = np.empty(ids.shape[0], dtype=ids.dtype)
    m = 0
    rows = 0
    for r in range(n):
        start = m
        for q in range(offsets[r], offsets[r + 1]):
            if keep[q]:
                out_ids[m] = ids[q]
                m += 1
        if m > start:
            rows += 1
            out_offsets[rows] = m
    return out_offsets[: rows + 1], out_ids[:m]
