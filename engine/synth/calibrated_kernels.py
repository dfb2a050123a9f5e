"""Numba kernels of the calibrated sampling law: the completion of the model's joint tables from their margins
(`fit_to_margins`); records drawn column by column from conditional tables, never taking a value that would form
an unreleased combination, optionally from preset values (`sample_categories`); the weights that calibrate a draw
to the released single-column shares (`calibration_factors`); the balancing of a selection of drawn records
towards the released tables (`balance_selection`, `balance_in_parts`); and coverage: records drawn from missing
released combinations, kept greedily while they bring one no other holds (`pick_seeds`), missing combinations packed
into seeds (`pack_seeds`), the insertion of the records drawn from them (`insert_least_harm`), and a last balancing
around them that loses no combination (`rebalance_keeping`).

A record keeps one bitset of the attributes it may still take: an attribute v is allowed iff K ∪ {v} was released
for every sub-combination K of the record with |K| ≤ R − 1. When the record takes z, the bitset is intersected with
ext[K ∪ {z}] for every K ⊆ record with |K ∪ {z}| ≤ R − 1, where ext[K] lists the attributes v with K ∪ {v} released.
Empty is always allowed, so every record completes. The allowed set only shrinks as the record grows, which is what
lets the free order keep stale column scores as upper bounds (`_most_allowed`). Records are independent: each has
its own ChaCha20 stream (its index), so the output does not depend on the number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from sdsynth.kernels.chacha import init_state, uniform_below, uniform_double
from sdsynth.kernels.counting import _get
from sdsynth.kernels.keys import insert_sorted, pack_key
from sdsynth.kernels.rowsets import has_bit


@njit(cache=True)
def _restrict(
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
        c = -1
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


@njit(cache=True, parallel=True, nogil=True)
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
    (entries column_first[c]..column_first[c + 1], best first, see `calibrated._parent_sets`). Values that would
    form an unreleased combination are masked; their weight goes to the column's values that are still allowed (in
    proportion), or to empty when none is, so blocking a value does not by itself make records sparser. Columns
    are drawn in `order`, or, with `free_order`, each step draws the column with the largest allowed value mass
    (ties: the earlier in `order`): the columns least blocked by the record so far are filled first, so that what
    blocking remains falls on few, hard columns instead of on whichever come last in a fixed order.
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
        placed = np.zeros(n_columns, dtype=np.bool_)
        record = out[b]
        current = column_first[1:] - 1  # per column, its best parent set with every column drawn: none yet
        score = np.zeros(n_columns, dtype=np.float64)
        fresh = np.ones(n_columns, dtype=np.bool_)
        n = 0
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
                _restrict(
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
                    _update_scores(u, True, placed, current, score, record, entry_column, parent_first,
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
                _restrict(
                    allowed, rec, n, z, max_length, bits, slots, tkeys, tidx, mask, ext, scratch, pos, single, pair
                )
                n = insert_sorted(rec, n, z)
            if free_order and t + 1 < n_columns - n_preset:
                _update_scores(c, j > 0, placed, current, score, record, entry_column, parent_first, parent_entries,
                               parents, strides, cpt, cpt_offset, n_categories, value_ids, value_offset, allowed,
                               weights, fresh)  # fmt: skip
    return out


@njit(cache=True, nogil=True)
def _cell(
    row: np.ndarray, t: int, first: np.ndarray, second: np.ndarray, cell_offset: np.ndarray, n_categories: np.ndarray
) -> int:
    """The cell of table t that `row` falls in."""
    a = first[t]
    b = second[t]
    return cell_offset[t] + (row[a] if b < 0 else row[a] * n_categories[b] + row[b])


@njit(cache=True, nogil=True)
def _exchange_change(
    deviation: np.ndarray, out_row: np.ndarray, in_row: np.ndarray, first: np.ndarray, second: np.ndarray,
    cell_offset: np.ndarray, n_categories: np.ndarray,
) -> float:  # fmt: skip
    """The change of Σ |deviation| if `out_row` left the selection and `in_row` entered it (one pass: a table where
    both fall in the same cell does not change)."""
    change = 0.0
    for t in range(first.shape[0]):
        leaving = _cell(out_row, t, first, second, cell_offset, n_categories)
        entering = _cell(in_row, t, first, second, cell_offset, n_categories)
        if leaving != entering:
            d = deviation[leaving]
            e = deviation[entering]
            change += abs(d - 1.0) - abs(d) + abs(e + 1.0) - abs(e)
    return change


@njit(cache=True, nogil=True)
def _add(
    deviation: np.ndarray, row: np.ndarray, first: np.ndarray, second: np.ndarray, cell_offset: np.ndarray,
    n_categories: np.ndarray, step: float,
) -> None:  # fmt: skip
    for t in range(first.shape[0]):
        deviation[_cell(row, t, first, second, cell_offset, n_categories)] += step


@njit(cache=True, nogil=True)
def balance_selection(
    pool: np.ndarray, selected: np.ndarray, first: np.ndarray, second: np.ndarray, cell_offset: np.ndarray,
    n_categories: np.ndarray, target: np.ndarray, proposals: int, key_words: np.ndarray, stream: np.int64,
) -> np.ndarray:  # fmt: skip
    """Local search over which pool rows are selected: `proposals` times, a random selected row is proposed for
    exchange with a random unselected one, and the exchange is kept when it lowers Σ |deviation|, the L1 distance
    between the selection's counts and `target` over the cells of the tables (t: columns first[t] and second[t],
    −1 for a single column; its cells from cell_offset[t]). Returns the selected rows, sorted. The proposals draw
    from ChaCha20 stream `stream`, so the result is a function of the pool, the selection and the key."""
    deviation = -target
    for r in selected:
        _add(deviation, pool[r], first, second, cell_offset, n_categories, 1.0)
    is_selected = np.zeros(pool.shape[0], dtype=np.bool_)
    is_selected[selected] = True
    inside = selected.copy()
    outside = np.flatnonzero(~is_selected)
    if inside.shape[0] == 0 or outside.shape[0] == 0:
        return np.sort(inside)
    state = np.empty(34, dtype=np.uint32)
    init_state(state, key_words, stream)
    for _ in range(proposals):
        i = uniform_below(state, inside.shape[0])
        j = uniform_below(state, outside.shape[0])
        out_row, in_row = inside[i], outside[j]
        if _exchange_change(deviation, pool[out_row], pool[in_row], first, second, cell_offset, n_categories) < 0.0:
            _add(deviation, pool[out_row], first, second, cell_offset, n_categories, -1.0)
            _add(deviation, pool[in_row], first, second, cell_offset, n_categories, 1.0)
            inside[i], outside[j] = in_row, out_row
    return np.sort(inside)


@njit(cache=True, parallel=True, nogil=True)
def balance_in_parts(
    pool: np.ndarray, selected: np.ndarray, bounds: np.ndarray, first: np.ndarray, second: np.ndarray,
    cell_offset: np.ndarray, n_categories: np.ndarray, targets: np.ndarray, rounds: int, key_words: np.ndarray,
    stream: np.int64,
) -> np.ndarray:  # fmt: skip
    """`balance_selection` of each part of the pool (rows bounds[p]..bounds[p + 1] − 1; `selected` sorted) on its
    own, towards targets[p], with `rounds` proposals per selected row from stream `stream` + p·2^40. The parts run
    in parallel and are fixed by the caller, so the result does not depend on the number of threads."""
    n_parts = bounds.shape[0] - 1
    starts = np.searchsorted(selected, bounds)
    out = np.empty_like(selected)
    for p in prange(n_parts):
        lo = bounds[p]
        rows = selected[starts[p] : starts[p + 1]] - lo
        out[starts[p] : starts[p + 1]] = lo + balance_selection(
            pool[lo : bounds[p + 1]], rows, first, second, cell_offset, n_categories, targets[p],
            rounds * rows.shape[0], key_words, stream + np.int64(p) * np.int64(1 << 40),
        )  # fmt: skip
    return out


@njit(cache=True, nogil=True)
def calibration_factors(
    categories: np.ndarray, targets: np.ndarray, target_offset: np.ndarray, iterations: int, tolerance: float,
    cap: float,
) -> np.ndarray:  # fmt: skip
    """Iterative proportional fitting of one factor per (column, category), in [1/cap, cap], so that the rows of
    `categories` weighted by the product of their factors have each column's shares targets[target_offset[c]:]:
    sweeps over the columns until no share moves by more than `tolerance` (relative) or `iterations` sweeps."""
    n_rows, n_columns = categories.shape
    factors = np.ones(targets.shape[0])
    weights = np.ones(n_rows)
    current = np.empty(targets.shape[0])
    ratio = np.empty(targets.shape[0])
    for _ in range(iterations):
        largest_change = 0.0
        for c in range(n_columns):
            base = target_offset[c]
            k = target_offset[c + 1] - base
            current[base : base + k] = 0.0
            total = 0.0
            for r in range(n_rows):
                current[base + categories[r, c]] += weights[r]
                total += weights[r]
            for j in range(base, base + k):
                share = current[j] / total
                change = targets[j] / share if share > 0.0 and targets[j] > 0.0 else 1.0
                largest_change = max(largest_change, abs(change - 1.0))
                capped = min(max(factors[j] * change, 1.0 / cap), cap)
                ratio[j] = capped / factors[j]
                factors[j] = capped
            for r in range(n_rows):
                weights[r] *= ratio[base + categories[r, c]]
        if largest_change < tolerance:
            break
    return factors


@njit(cache=True, nogil=True)
def fit_to_margins(
    free: np.ndarray, capped: np.ndarray, dims: np.ndarray, targets: np.ndarray, bound: float, iterations: int,
    tolerance: float,
) -> np.ndarray:  # fmt: skip
    """Iterative proportional fitting, in place (and returned), of the flat table `free` (C order over `dims`) so
    that its sums over each axis a reach the flat table of the other axes at targets[Σ_{b<a} n / dims[b]:] (n
    cells), cells where `capped` held at most `bound`: sweeps over the axes until no cell moves by more than
    `tolerance` or `iterations` sweeps. A slice summing to 0 holds only zeros, so its ratio is moot. The joint
    tables of the model are small and many (one per column set), so a loop here beats NumPy's per-call cost."""
    n = free.shape[0]
    n_axes = dims.shape[0]
    strides = np.ones(n_axes, dtype=np.int64)
    for a in range(n_axes - 2, -1, -1):
        strides[a] = strides[a + 1] * dims[a + 1]
    sums = np.empty(n)
    before = np.empty(n)
    for _ in range(iterations):
        before[:] = free
        offset = 0
        for a in range(n_axes):
            inner = strides[a]
            outer = inner * dims[a]
            m = n // dims[a]
            sums[:m] = 0.0
            for i in range(n):
                sums[(i // outer) * inner + i % inner] += free[i]
            for i in range(n):
                j = (i // outer) * inner + i % inner
                free[i] *= targets[offset + j] / max(sums[j], 1e-300)
                if capped[i] and free[i] > bound:
                    free[i] = bound
            offset += m
        largest_move = 0.0
        for i in range(n):
            largest_move = max(largest_move, abs(free[i] - before[i]))
        if largest_move < tolerance:
            break
    return free


@njit(cache=True, parallel=True, nogil=True)
def calibration_factors_in_parts(
    categories: np.ndarray, bounds: np.ndarray, targets: np.ndarray, target_offset: np.ndarray, iterations: int,
    tolerance: float, cap: float,
) -> np.ndarray:  # fmt: skip
    """`calibration_factors` of each part of `categories` (rows bounds[p]..bounds[p + 1] − 1) on its own, one row of
    the result per part: the pilots of several orders are calibrated in parallel, each as if alone."""
    n_parts = bounds.shape[0] - 1
    out = np.empty((n_parts, targets.shape[0]))
    for p in prange(n_parts):
        out[p] = calibration_factors(
            categories[bounds[p] : bounds[p + 1]], targets, target_offset, iterations, tolerance, cap
        )
    return out


@njit(cache=True, nogil=True)
def _combinations_of(
    row: np.ndarray, value_ids: np.ndarray, value_offset: np.ndarray, max_length: int, bits: int, slots: int,
    tkeys: np.ndarray, tidx: np.ndarray, counts: np.ndarray, step: int, ids: np.ndarray, pos: np.ndarray,
    prefix: np.ndarray,
) -> bool:  # fmt: skip
    """Over the released combinations of length ≤ max_length in `row` (category codes; tkeys/tidx: released key →
    index + 1): with step 0, whether one of them has counts[index] == 1 (the row is its only holder); otherwise
    add `step` to their counts."""
    n = 0
    for c in range(row.shape[0]):
        if row[c] > 0:
            n = insert_sorted(ids, n, value_ids[value_offset[c] + row[c] - 1])
    mask = np.uint64(tkeys.shape[0] - 1)
    d = 0
    pos[0] = 0
    prefix[0] = np.uint64(0)
    while d >= 0:  # depth-first over the subsets of ids[:n], in ascending order (the packed key's order)
        i = pos[d]
        if i >= n:
            d -= 1
            continue
        pos[d] = i + 1
        key = prefix[d] | (np.uint64(ids[i] + 1) << np.uint64(bits * (slots - 1 - d)))
        j = _get(tkeys, tidx, mask, key) - 1
        if j >= 0:
            if step == 0:
                if counts[j] == 1:
                    return True
            else:
                counts[j] += step
        if d + 1 < max_length and i + 1 < n:
            d += 1
            pos[d] = i + 1
            prefix[d] = key
    return False


@njit(cache=True, nogil=True)
def rebalance_keeping(
    rows: np.ndarray, movable: np.ndarray, spare: np.ndarray, first: np.ndarray, second: np.ndarray,
    cell_offset: np.ndarray, n_categories: np.ndarray, target: np.ndarray, proposals: int, key_words: np.ndarray,
    stream: np.int64, value_ids: np.ndarray, value_offset: np.ndarray, max_length: int, bits: int, slots: int,
    tkeys: np.ndarray, tidx: np.ndarray, counts: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """`balance_selection` once coverage has placed its seeds: `proposals` times, a random row of `rows` among
    `movable` is proposed for exchange with a random row of `spare`, and the exchange is kept when it lowers
    Σ |deviation| and the row leaving is not the only holder of a released combination (`counts`: per released
    combination, the rows holding it; kept up to date). So the seeds stay and no combination is lost. Returns the
    new rows (a copy; `spare` is left as it was). ChaCha20 stream `stream`."""
    out = rows.copy()
    if movable.shape[0] == 0 or spare.shape[0] == 0:
        return out
    spare = spare.copy()
    deviation = -target
    for r in range(out.shape[0]):
        _add(deviation, out[r], first, second, cell_offset, n_categories, 1.0)
    ids = np.empty(rows.shape[1] + 1, dtype=np.int64)
    pos = np.empty(max_length + 1, dtype=np.int64)
    prefix = np.empty(max_length + 1, dtype=np.uint64)
    state = np.empty(34, dtype=np.uint32)
    init_state(state, key_words, stream)
    for _ in range(proposals):
        k = movable[uniform_below(state, movable.shape[0])]
        j = uniform_below(state, spare.shape[0])
        if _exchange_change(deviation, out[k], spare[j], first, second, cell_offset, n_categories) >= 0.0:
            continue
        if _combinations_of(out[k], value_ids, value_offset, max_length, bits, slots, tkeys, tidx, counts, 0, ids, pos,
                            prefix):  # fmt: skip
            continue
        _add(deviation, out[k], first, second, cell_offset, n_categories, -1.0)
        _add(deviation, spare[j], first, second, cell_offset, n_categories, 1.0)
        _combinations_of(out[k], value_ids, value_offset, max_length, bits, slots, tkeys, tidx, counts, -1, ids, pos,
                         prefix)  # fmt: skip
        _combinations_of(spare[j], value_ids, value_offset, max_length, bits, slots, tkeys, tidx, counts, 1, ids, pos,
                         prefix)  # fmt: skip
        leaving = out[k].copy()
        out[k] = spare[j]
        spare[j] = leaving
    return out


@njit(cache=True, nogil=True)
def pick_seeds(
    rows: np.ndarray, targets: np.ndarray, order: np.ndarray, budget: int, counts: np.ndarray,
    value_ids: np.ndarray, value_offset: np.ndarray, max_length: int, bits: int, slots: int, tkeys: np.ndarray,
    tidx: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Candidate seeds (`rows`, category codes; row i drawn to hold released combination targets[i]), taken in
    `order` while fewer than `budget` are: each one whose target no row holds yet (`counts`: per released
    combination, the rows holding it; the taken seeds' combinations are added). Returns the taken rows' indices,
    so a seed that happens to hold a later candidate's target spares that candidate's row."""
    taken = np.empty(min(budget, order.shape[0]), dtype=np.int64)
    ids = np.empty(rows.shape[1] + 1, dtype=np.int64)
    pos = np.empty(max_length + 1, dtype=np.int64)
    prefix = np.empty(max_length + 1, dtype=np.uint64)
    n = 0
    for i in order:
        if n == taken.shape[0]:
            break
        if counts[targets[i]] > 0:
            continue
        taken[n] = i
        n += 1
        _combinations_of(rows[i], value_ids, value_offset, max_length, bits, slots, tkeys, tidx, counts, 1, ids, pos,
                         prefix)  # fmt: skip
    return taken[:n]


@njit(cache=True, nogil=True)
def insert_least_harm(
    rows: np.ndarray, new_rows: np.ndarray, first: np.ndarray, second: np.ndarray, cell_offset: np.ndarray,
    n_categories: np.ndarray, target: np.ndarray, tries: int, key_words: np.ndarray, stream: np.int64,
    value_ids: np.ndarray, value_offset: np.ndarray, max_length: int, bits: int, slots: int, tkeys: np.ndarray,
    tidx: np.ndarray, counts: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """A copy of `rows` where each of `new_rows` (in turn, at most one per row) has replaced a row: of `tries` rows
    drawn at random among those not replaced yet, the one whose exchange raises Σ |deviation| the least (the L1
    distance of `balance_selection` between the rows' counts and `target`) and that is not the only holder of a
    released combination (`counts`: per released combination, how many rows hold it; kept up to date). ChaCha20
    stream `stream`."""
    out = rows.copy()
    deviation = -target
    for r in range(out.shape[0]):
        _add(deviation, out[r], first, second, cell_offset, n_categories, 1.0)
    replaced = np.zeros(out.shape[0], dtype=np.bool_)
    ids = np.empty(rows.shape[1] + 1, dtype=np.int64)
    pos = np.empty(max_length + 1, dtype=np.int64)
    prefix = np.empty(max_length + 1, dtype=np.uint64)
    state = np.empty(34, dtype=np.uint32)
    init_state(state, key_words, stream)
    for q in range(min(new_rows.shape[0], out.shape[0])):
        best = -1
        least = np.inf
        for _ in range(tries):
            i = uniform_below(state, out.shape[0])
            if replaced[i]:
                continue
            change = _exchange_change(deviation, out[i], new_rows[q], first, second, cell_offset, n_categories)
            if change < least and not _combinations_of(
                out[i], value_ids, value_offset, max_length, bits, slots, tkeys, tidx, counts, 0, ids, pos, prefix
            ):
                least = change
                best = i
        if best < 0:
            continue
        _add(deviation, out[best], first, second, cell_offset, n_categories, -1.0)
        _add(deviation, new_rows[q], first, second, cell_offset, n_categories, 1.0)
        _combinations_of(out[best], value_ids, value_offset, max_length, bits, slots, tkeys, tidx, counts, -1, ids,
                         pos, prefix)  # fmt: skip
        _combinations_of(new_rows[q], value_ids, value_offset, max_length, bits, slots, tkeys, tidx, counts, 1, ids,
                         pos, prefix)  # fmt: skip
        out[best] = new_rows[q]
        replaced[best] = True
    return out


@njit(cache=True, nogil=True)
def _holds(ids: np.ndarray, n: int, a: np.int64) -> bool:
    return (ids[:n] == a).any()


@njit(cache=True, nogil=True)
def _least_mixed_count(
    rec: np.ndarray, m: int, old: np.ndarray, n: int, combo: np.ndarray, max_length: int, bits: int, slots: int,
    tkeys: np.ndarray, tidx: np.ndarray, counts: np.ndarray, pos: np.ndarray, prefix: np.ndarray,
) -> float:  # fmt: skip
    """The smallest released count among the sub-combinations of rec[:m] of length ≤ max_length that lie neither
    inside old[:n] nor inside `combo`: the combinations a join creates beyond its two parts (−inf if one of them
    was not released)."""
    mask = np.uint64(tkeys.shape[0] - 1)
    least = np.inf
    is_old = np.empty(m, dtype=np.int64)
    is_combo = np.empty(m, dtype=np.int64)
    for i in range(m):
        is_old[i] = 1 if _holds(old, n, rec[i]) else 0
        is_combo[i] = 1 if _holds(combo, combo.shape[0], rec[i]) else 0
    in_old = np.zeros(max_length + 1, dtype=np.int64)  # per depth: members of the subset so far inside old / combo
    in_combo = np.zeros(max_length + 1, dtype=np.int64)
    d = 0
    pos[0] = 0
    prefix[0] = np.uint64(0)
    while d >= 0:  # depth-first over the subsets, in ascending order (the packed key's order)
        i = pos[d]
        if i >= m:
            d -= 1
            continue
        pos[d] = i + 1
        key = prefix[d] | (np.uint64(rec[i] + 1) << np.uint64(bits * (slots - 1 - d)))
        olds = (in_old[d - 1] if d > 0 else 0) + is_old[i]
        combos = (in_combo[d - 1] if d > 0 else 0) + is_combo[i]
        if olds <= d and combos <= d:  # some member outside old, some outside combo
            j = _get(tkeys, tidx, mask, key) - 1
            least = min(least, counts[j] if j >= 0 else -np.inf)
        in_old[d] = olds
        in_combo[d] = combos
        if d + 1 < max_length and i + 1 < m:
            d += 1
            pos[d] = i + 1
            prefix[d] = key
    return least


@njit(cache=True, nogil=True)
def _join(
    combo: np.ndarray, record: np.ndarray, allowed: np.ndarray, rec: np.ndarray, n: int, floor: float,
    attribute_column: np.ndarray, attribute_category: np.ndarray, max_length: int, bits: int, slots: int,
    tkeys: np.ndarray, tidx: np.ndarray, ext: np.ndarray, single: np.ndarray, pair: np.ndarray, counts: np.ndarray,
    saved: np.ndarray, saved_rec: np.ndarray, scratch: np.ndarray, pos: np.ndarray, prefix: np.ndarray,
) -> int:  # fmt: skip
    """Add the attributes of `combo` (−1 padded) to a partial record (`record`: category per column, 0 = not set;
    `rec[:n]`: its attributes, sorted; `allowed`: the attributes it may still take). Returns the new length when
    every sub-combination of the union of length ≤ max_length is released, no column gets two values and, if n > 0,
    every combination the join creates beyond its two parts has a released count ≥ `floor`; otherwise −1 and the
    record unchanged. A combination the record already holds returns n."""
    for i in range(combo.shape[0]):  # cheap refusals first: a column taken, a value the record may not take
        a = combo[i]
        if a < 0:
            continue
        c = attribute_column[a]
        if c < 0 or (record[c] != attribute_category[a] and (record[c] != 0 or not has_bit(allowed, a))):
            return -1
    saved[:] = allowed
    saved_rec[:n] = rec[:n]
    mask = np.uint64(tkeys.shape[0] - 1)
    m = n
    fits = True
    for i in range(combo.shape[0]):
        a = combo[i]
        if a < 0 or record[attribute_column[a]] == attribute_category[a]:
            continue
        if record[attribute_column[a]] != 0 or not has_bit(allowed, a):
            fits = False
            break
        _restrict(allowed, rec, m, a, max_length, bits, slots, tkeys, tidx, mask, ext, scratch, pos, single, pair)
        m = insert_sorted(rec, m, a)
        record[attribute_column[a]] = attribute_category[a]
    if fits and 0 < n < m:
        fits = _least_mixed_count(rec, m, saved_rec, n, combo, max_length, bits, slots, tkeys, tidx, counts, pos,
                                  prefix) >= floor  # fmt: skip
    if fits:
        return m
    allowed[:] = saved
    rec[:n] = saved_rec[:n]
    for i in range(combo.shape[0]):
        if combo[i] >= 0 and not _holds(saved_rec, n, combo[i]):
            record[attribute_column[combo[i]]] = 0
    return -1


@njit(cache=True, nogil=True)
def pack_seeds(
    combos: np.ndarray, budget: int, window: int, floor: float, n_columns: int, attribute_column: np.ndarray,
    attribute_category: np.ndarray, ext: np.ndarray, ext_empty: np.ndarray, max_length: int, bits: int, slots: int,
    tkeys: np.ndarray, tidx: np.ndarray, single: np.ndarray, pair: np.ndarray, counts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """At most `budget` seeds (presets for `sample_categories`: offsets, attribute ids) that together hold as many
    of `combos` (rows of attribute ids, −1 padded, by priority) as they can: each seed starts from the first
    combination no seed holds yet and joins, in order, those of the next `window` not held yet that fit with it
    (`_join`: only released sub-combinations, one value per column, nothing rarer than `floor` created; `counts`:
    released count per released combination). A combination that does not fit on its own is passed over."""
    m = combos.shape[0]
    held = np.zeros(m, dtype=np.bool_)
    offsets = np.zeros(budget + 1, dtype=np.int64)
    ids = np.empty(budget * n_columns, dtype=np.int64)
    record = np.zeros(n_columns, dtype=np.int64)
    allowed = ext_empty.copy()
    saved = ext_empty.copy()
    rec = np.empty(n_columns + 1, dtype=np.int64)
    saved_rec = np.empty(n_columns + 1, dtype=np.int64)
    scratch = np.empty(max(n_columns, max_length) + 2, dtype=np.int64)
    pos = np.empty(max(n_columns, max_length) + 2, dtype=np.int64)
    prefix = np.empty(max_length + 1, dtype=np.uint64)
    s = 0
    first = 0
    while s < budget and first < m:
        if held[first]:
            first += 1
            continue
        held[first] = True
        record[:] = 0
        allowed[:] = ext_empty
        n = _join(combos[first], record, allowed, rec, 0, floor, attribute_column, attribute_category, max_length,
                  bits, slots, tkeys, tidx, ext, single, pair, counts, saved, saved_rec, scratch, pos,
                  prefix)  # fmt: skip
        first += 1
        if n < 0:
            continue
        scanned = 0
        j = first
        while j < m and scanned < window:
            if not held[j]:
                scanned += 1
                grown = _join(combos[j], record, allowed, rec, n, floor, attribute_column, attribute_category,
                              max_length, bits, slots, tkeys, tidx, ext, single, pair, counts, saved, saved_rec,
                              scratch, pos, prefix)  # fmt: skip
                if grown >= 0:
                    held[j] = True
                    n = grown
            j += 1
        ids[offsets[s] : offsets[s] + n] = rec[:n]
        offsets[s + 1] = offsets[s] + n
        s += 1
    return offsets[: s + 1], ids[: offsets[s]]
