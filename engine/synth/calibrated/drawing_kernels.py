"""Numba kernels of drawing (step 3 of the law, and the free order of step 4): records drawn column by column from
conditional tables, never taking a value that would form an unreleased combination, optionally starting from preset
values (`sample_categories`; coverage draws its seeds this way).

A record keeps one bitset of the attributes it may still take: an attribute v is allowed iff K ∪ {v} was released
for every sub-combination K of the record with |K| ≤ R − 1. When the record takes z, the bitset is intersected with
ext[K ∪ {z}] for every K ⊆ record with |K ∪ {z}| ≤ R − 1, where ext[K] lists the attributes v with K ∪ {v} released
(`restrict_allowed`). Empty is always allowed, so every record completes. The allowed set only shrinks as the record
grows, which is what lets the free order keep stale column scores as upper bounds (`_most_allowed`). Records are
independent: each has its own ChaCha20 stream (its index), so the output does not depend on the number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sdsynth.kernels.chacha import init_state, uniform_double
from sdsynth.kernels.counting import _get
from sdsynth.kernels.keys import insert_sorted, pack_key
from sdsynth.kernels.rowsets import has_bit
from sdsynth.kernels.threads import run_ranges


@njit(cache=True, nogil=True)
def restrict_allowed(
    allowed: np.ndarray, rec: np.ndarray, n: int, z: np.int64, max_length: int, bits: int, slots: int,
    tkeys: np.ndarray, tidx: np.ndarray, mask: np.uint64, ext: np.ndarray, scratch: np.ndarray, pos: np.ndarray,
    single: np.ndarray, pair: np.ndarray,
) -> None:  # fmt: skip
    """allowed &= ext[K ∪ {z}] for every K ⊆ rec[:n] (z not in it) with |K| + 1 ≤ max_length − 1. With R ≤ 3 and a
    direct index (`single`, `pair`: row of ext per attribute and per pair of attributes, −1 if not released), the
    keys are looked up by index instead of hashing."""
    limit = max_length - 2  # largest |K|
    if limit < 0:
        return
    if limit <= 1 and pair.shape[0] > 0:
        for t in range(-1, n if limit == 1 else 0):
            i = single[z] if t < 0 else pair[rec[t], z]
            if i < 0:  # cannot happen for a valid record, as below
                for w in range(allowed.shape[0]):
                    allowed[w] = np.uint64(0)
                return
            for w in range(allowed.shape[0]):
                allowed[w] &= ext[i, w]
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


@njit(cache=True, nogil=True)
def _masked_row(
    e: int, c: int, record: np.ndarray, parents: np.ndarray, strides: np.ndarray, cpt: np.ndarray,
    cpt_offset: np.ndarray, n_categories: np.ndarray, value_ids: np.ndarray, value_offset: np.ndarray,
    allowed: np.ndarray, weights: np.ndarray,
) -> tuple[float, float]:  # fmt: skip
    """weights[:k_c] = column c's conditional row under entry e given `record`, blocked values zeroed; returns the
    allowed and the blocked value mass."""
    base = cpt_offset[e]
    for p in range(parents.shape[1]):
        if parents[e, p] >= 0:
            base += strides[e, p] * record[parents[e, p]]
    weights[0] = cpt[base]
    values = 0.0
    blocked = 0.0
    for j in range(1, n_categories[c]):
        w = cpt[base + j]
        a = value_ids[value_offset[c] + j - 1]
        if not has_bit(allowed, a):
            blocked += w
            w = 0.0
        weights[j] = w
        values += w
    return values, blocked


@njit(cache=True, nogil=True)
def _draw_category(state: np.ndarray, weights: np.ndarray, k_c: int, values: float, blocked: float) -> int:
    """A category from the masked row: blocked mass goes to the allowed values in proportion, or to empty."""
    if values > 0.0 and blocked > 0.0:
        scale = (values + blocked) / values
        for j in range(1, k_c):
            weights[j] *= scale
        values += blocked
    else:
        weights[0] += blocked
    total = weights[0] + values
    if total <= 0.0:
        return 0
    r = uniform_double(state) * total
    j = 0
    while j < k_c - 1 and r >= weights[j]:
        r -= weights[j]
        j += 1
    while weights[j] <= 0.0:  # rounding at the end of the range: step back to a drawable category
        j -= 1
    return j


@njit(cache=True, nogil=True)
def _most_allowed(
    order: np.ndarray, placed: np.ndarray, current: np.ndarray, score: np.ndarray, fresh: np.ndarray,
    record: np.ndarray, parents: np.ndarray, strides: np.ndarray, cpt: np.ndarray, cpt_offset: np.ndarray,
    n_categories: np.ndarray, value_ids: np.ndarray, value_offset: np.ndarray, allowed: np.ndarray,
    weights: np.ndarray,
) -> int:  # fmt: skip
    """The undrawn column with the largest allowed value mass (ties: the earlier in `order`). Stale masses are
    upper bounds, so only those that could beat the best are recomputed (lazily, the same choice as recomputing
    all)."""
    while True:
        c = np.int64(-1)  # not a literal: one signature of _masked_row
        best = -1.0
        for u in range(order.shape[0]):
            if not placed[order[u]] and score[order[u]] > best:
                best = score[order[u]]
                c = order[u]
        if fresh[c]:
            return c
        score[c], _ = _masked_row(current[c], c, record, parents, strides, cpt, cpt_offset, n_categories, value_ids,
                                  value_offset, allowed, weights)  # fmt: skip
        fresh[c] = True


@njit(cache=True, nogil=True)
def _update_scores(
    c: int, took_value: bool, placed: np.ndarray, current: np.ndarray, score: np.ndarray, record: np.ndarray,
    entry_column: np.ndarray, parent_first: np.ndarray, parent_entries: np.ndarray, parents: np.ndarray,
    strides: np.ndarray, cpt: np.ndarray, cpt_offset: np.ndarray, n_categories: np.ndarray, value_ids: np.ndarray,
    value_offset: np.ndarray, allowed: np.ndarray, weights: np.ndarray, fresh: np.ndarray,
) -> None:  # fmt: skip
    """After column c is drawn: the parent sets that c completes (better ranked than a column's current one)
    become current and their allowed value mass is recomputed; if c took a value, the other masses are marked
    stale (the allowed set only shrinks, so a stale mass is an upper bound, see `_most_allowed`)."""
    for i in range(parent_first[c], parent_first[c + 1]):
        e = parent_entries[i]
        u = entry_column[e]
        if placed[u] or e >= current[u]:
            continue
        ready = True
        for p in range(parents.shape[1]):
            if parents[e, p] >= 0 and not placed[parents[e, p]]:
                ready = False
                break
        if ready:
            current[u] = e
            score[u], _ = _masked_row(e, u, record, parents, strides, cpt, cpt_offset, n_categories, value_ids,
                                      value_offset, allowed, weights)  # fmt: skip
            fresh[u] = True
    if took_value:  # the allowed set shrank: the other scores are now upper bounds
        for u in range(placed.shape[0]):
            if not placed[u] and u != c:
                fresh[u] = False


def sample_categories(
    first: np.int64, count: int, order: np.ndarray, free_order: bool, column_first: np.ndarray,
    entry_column: np.ndarray, parent_first: np.ndarray, parent_entries: np.ndarray, parents: np.ndarray,
    strides: np.ndarray, cpt: np.ndarray, cpt_offset: np.ndarray, n_categories: np.ndarray,
    value_ids: np.ndarray, value_offset: np.ndarray, ext: np.ndarray, ext_empty: np.ndarray, max_length: int,
    bits: int, slots: int, tkeys: np.ndarray, tidx: np.ndarray, key_words: np.ndarray, single: np.ndarray,
    pair: np.ndarray, preset_offsets: np.ndarray, preset_ids: np.ndarray, attribute_column: np.ndarray,
    attribute_category: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Records first..first+count−1 as category codes (records × columns; 0 = empty, j = the column's j-th value).

    With presets (preset_offsets non-empty), record b starts from the attributes preset_ids[preset_offsets[b]:
    preset_offsets[b + 1]] (each in column attribute_column[a] as category attribute_category[a]) and draws the
    other columns given them; a record whose presets do not form a combination whose every sub-combination was
    released comes back as −1 in every column.

    Column c is drawn from the conditional table of its best-ranked parent set whose columns are already drawn
    (entries column_first[c]..column_first[c + 1], best first, see `network._parent_sets`). Values that would
    form an unreleased combination are masked; their weight goes to the column's values that are still allowed (in
    proportion), or to empty when none is, so blocking a value does not by itself make records sparser. Columns
    are drawn in `order`, or, with `free_order`, each step draws the column with the largest allowed value mass
    (ties: the earlier in `order`): the columns least blocked by the record so far are filled first, so that what
    blocking remains falls on few, hard columns instead of on whichever come last in a fixed order.

    Records are independent (each its own stream and row of the output), so ranges of them are drawn on several
    threads (`threads.run_ranges`).
    """
    out = np.zeros((count, order.shape[0]), dtype=np.int16)

    def work(lo: int, hi: int) -> None:
        _sample_range(
            lo, hi, np.int64(first), order, bool(free_order), column_first, entry_column, parent_first,
            parent_entries, parents, strides, cpt, cpt_offset, n_categories, value_ids, value_offset, ext, ext_empty,
            int(max_length), int(bits), int(slots), tkeys, tidx, key_words, single, pair, preset_offsets, preset_ids,
            attribute_column, attribute_category, out,
        )  # fmt: skip

    run_ranges(count, work)
    return out


@njit(cache=True, nogil=True)
def _sample_range(
    lo: int, hi: int, first: np.int64, order: np.ndarray, free_order: bool, column_first: np.ndarray,
    entry_column: np.ndarray, parent_first: np.ndarray, parent_entries: np.ndarray, parents: np.ndarray,
    strides: np.ndarray, cpt: np.ndarray, cpt_offset: np.ndarray, n_categories: np.ndarray,
    value_ids: np.ndarray, value_offset: np.ndarray, ext: np.ndarray, ext_empty: np.ndarray, max_length: int,
    bits: int, slots: int, tkeys: np.ndarray, tidx: np.ndarray, key_words: np.ndarray, single: np.ndarray,
    pair: np.ndarray, preset_offsets: np.ndarray, preset_ids: np.ndarray, attribute_column: np.ndarray,
    attribute_category: np.ndarray, out: np.ndarray,
) -> None:  # fmt: skip
    """Rows lo..hi−1 of `sample_categories`' output (records first + lo..first + hi − 1), into `out`."""
    n_columns = order.shape[0]
    mask = np.uint64(tkeys.shape[0] - 1)
    took_value = np.bool_(True)  # not a literal: one signature of _update_scores
    for b in range(lo, hi):
        state = np.empty(34, dtype=np.uint32)
        init_state(state, key_words, first + b)
        allowed = ext_empty.copy()
        rec = np.empty(n_columns + 1, dtype=np.int64)
        scratch = np.empty(n_columns + 2, dtype=np.int64)
        pos = np.empty(n_columns + 2, dtype=np.int64)
        weights = np.empty(value_ids.shape[0] + 1, dtype=np.float64)
        placed = np.zeros(n_columns, dtype=np.bool_)
        record = out[b]
        current = column_first[1:] - 1  # per column, its best parent set with every column drawn: none yet
        score = np.zeros(n_columns, dtype=np.float64)
        fresh = np.ones(n_columns, dtype=np.bool_)
        n = np.int64(0)  # int64 from the start: a literal 0 would compile restrict_allowed once more
        n_preset = 0
        if preset_offsets.shape[0] > 0:
            for q in range(preset_offsets[b], preset_offsets[b + 1]):
                z = preset_ids[q]
                c = attribute_column[z]
                if placed[c] or not has_bit(allowed, z):
                    n_preset = -1  # two values of one column, or a combination not released
                    break
                placed[c] = True
                record[c] = attribute_category[z]
                restrict_allowed(
                    allowed, rec, n, z, max_length, bits, slots, tkeys, tidx, mask, ext, scratch, pos, single, pair
                )
                n = insert_sorted(rec, n, z)
                n_preset += 1
            if n_preset < 0:
                record[:] = -1
                continue
        if free_order:
            for u in range(n_columns):
                score[u], _ = _masked_row(current[u], u, record, parents, strides, cpt, cpt_offset, n_categories,
                                          value_ids, value_offset, allowed, weights)  # fmt: skip
            for u in range(n_columns):
                if placed[u]:
                    _update_scores(u, took_value, placed, current, score, record, entry_column, parent_first,
                                   parent_entries, parents, strides, cpt, cpt_offset, n_categories, value_ids,
                                   value_offset, allowed, weights, fresh)  # fmt: skip
        for t in range(n_columns - n_preset if free_order else n_columns):
            c = order[t]
            if free_order:
                c = _most_allowed(order, placed, current, score, fresh, record, parents, strides, cpt, cpt_offset,
                                  n_categories, value_ids, value_offset, allowed, weights)  # fmt: skip
            elif placed[c]:
                continue
            placed[c] = True
            values, blocked = _masked_row(current[c], c, record, parents, strides, cpt, cpt_offset, n_categories,
                                          value_ids, value_offset, allowed, weights)  # fmt: skip
            k_c = n_categories[c]
            j = _draw_category(state, weights, k_c, values, blocked)
            if j > 0:
                record[c] = j
                z = value_ids[value_offset[c] + j - 1]
                restrict_allowed(
                    allowed, rec, n, z, max_length, bits, slots, tkeys, tidx, mask, ext, scratch, pos, single, pair
                )
                n = insert_sorted(rec, n, z)
            if free_order and t + 1 < n_columns - n_preset:
                _update_scores(c, j > 0, placed, current, score, record, entry_column, parent_first, parent_entries,
                               parents, strides, cpt, cpt_offset, n_categories, value_ids, value_offset, allowed,
                               weights, fresh)  # fmt: skip
