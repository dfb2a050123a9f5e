"""Numba kernels of coverage (step 7 of the law): records drawn from missing released combinations, kept greedily
while they bring one no other holds (`pick_seeds`); missing combinations packed into seeds (`pack_seeds`); the
insertion of the records drawn from them (`insert_least_harm`); and a last balancing around them that loses no
combination (`rebalance_keeping`). Each keeps, per released combination, the number of rows holding it
(`_combinations_of`), so that no row that alone holds a combination is ever given up.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sdsynth.kernels.chacha import init_state, uniform_below
from sdsynth.kernels.counting import _get
from sdsynth.kernels.keys import insert_sorted
from sdsynth.kernels.rowsets import has_bit
from sdsynth.synth.calibrated.balancing_kernels import add_row, exchange_change
from sdsynth.synth.calibrated.drawing_kernels import restrict_allowed

# `step` of `_combinations_of` as int64 values, not literals: one compiled version instead of three
_CHECK = np.int64(0)
_ADD = np.int64(1)
_REMOVE = np.int64(-1)


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
        add_row(deviation, out[r], first, second, cell_offset, n_categories, 1.0)
    ids = np.empty(rows.shape[1] + 1, dtype=np.int64)
    pos = np.empty(max_length + 1, dtype=np.int64)
    prefix = np.empty(max_length + 1, dtype=np.uint64)
    state = np.empty(34, dtype=np.uint32)
    init_state(state, key_words, stream)
    for _ in range(proposals):
        k = movable[uniform_below(state, movable.shape[0])]
        j = uniform_below(state, spare.shape[0])
        if exchange_change(deviation, out[k], spare[j], first, second, cell_offset, n_categories) >= 0.0:
            continue
        if _combinations_of(out[k], value_ids, value_offset, max_length, bits, slots, tkeys, tidx, counts, _CHECK, ids,
                            pos, prefix):  # fmt: skip
            continue
        add_row(deviation, out[k], first, second, cell_offset, n_categories, -1.0)
        add_row(deviation, spare[j], first, second, cell_offset, n_categories, 1.0)
        _combinations_of(out[k], value_ids, value_offset, max_length, bits, slots, tkeys, tidx, counts, _REMOVE, ids,
                         pos, prefix)  # fmt: skip
        _combinations_of(spare[j], value_ids, value_offset, max_length, bits, slots, tkeys, tidx, counts, _ADD, ids,
                         pos, prefix)  # fmt: skip
        for c in range(out.shape[1]):  # swap the rows (loops, not row copies: see `_copy`)
            out[k, c], spare[j, c] = spare[j, c], out[k, c]
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
        _combinations_of(rows[i], value_ids, value_offset, max_length, bits, slots, tkeys, tidx, counts, _ADD, ids, pos,
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
        add_row(deviation, out[r], first, second, cell_offset, n_categories, 1.0)
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
            change = exchange_change(deviation, out[i], new_rows[q], first, second, cell_offset, n_categories)
            if change < least and not _combinations_of(
                out[i], value_ids, value_offset, max_length, bits, slots, tkeys, tidx, counts, _CHECK, ids, pos, prefix
            ):
                least = change
                best = i
        if best < 0:
            continue
        add_row(deviation, out[best], first, second, cell_offset, n_categories, -1.0)
        add_row(deviation, new_rows[q], first, second, cell_offset, n_categories, 1.0)
        _combinations_of(out[best], value_ids, value_offset, max_length, bits, slots, tkeys, tidx, counts, _REMOVE, ids,
                         pos, prefix)  # fmt: skip
        _combinations_of(new_rows[q], value_ids, value_offset, max_length, bits, slots, tkeys, tidx, counts, _ADD, ids,
                         pos, prefix)  # fmt: skip
        _copy(out[best], new_rows[q], out.shape[1])
        replaced[best] = True
    return out


@njit(cache=True, nogil=True)
def _holds(ids: np.ndarray, n: int, a: np.int64) -> bool:
    for i in range(n):  # noqa: SIM110 (a loop compiles to less than any() over a generator in Numba)
        if ids[i] == a:
            return True
    return False


@njit(cache=True, nogil=True)
def _copy(dst: np.ndarray, src: np.ndarray, n: int) -> None:
    """dst[:n] = src[:n] as a loop: an array assigned to a slice compiles NumPy's shape-mismatch error path (about
    2 s on a first run)."""
    for i in range(n):
        dst[i] = src[i]


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
    _copy(saved, allowed, allowed.shape[0])
    _copy(saved_rec, rec, n)
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
        restrict_allowed(
            allowed, rec, m, a, max_length, bits, slots, tkeys, tidx, mask, ext, scratch, pos, single, pair
        )
        m = insert_sorted(rec, m, a)
        record[attribute_column[a]] = attribute_category[a]
    if fits and 0 < n < m:
        fits = _least_mixed_count(rec, m, saved_rec, n, combo, max_length, bits, slots, tkeys, tidx, counts, pos,
                                  prefix) >= floor  # fmt: skip
    if fits:
        return m
    _copy(allowed, saved, allowed.shape[0])
    _copy(rec, saved_rec, n)
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
        _copy(allowed, ext_empty, allowed.shape[0])
        n = _join(combos[first], record, allowed, rec, np.int64(0), floor, attribute_column, attribute_category,
                  max_length, bits, slots, tkeys, tidx, ext, single, pair, counts, saved, saved_rec, scratch, pos,
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
        _copy(ids[offsets[s] :], rec, n)
        offsets[s + 1] = offsets[s] + n
        s += 1
    return offsets[: s + 1], ids[: offsets[s]]
