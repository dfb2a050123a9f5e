"""Numba kernels of balancing (step 6 of the law): a selection of drawn records improved by exchanges with the rest
of its pool, each kept when it brings the selection's counts closer (L1) to the released tables
(`balance_selection`), in fixed parts of the pool balanced in parallel (`balance_in_parts`). Coverage reuses the
deviation bookkeeping (`add_row`, `exchange_change`) to insert its seeds and balance around them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sdsynth.kernels.chacha import init_state, uniform_below
from sdsynth.kernels.threads import run_ranges


@njit(cache=True, nogil=True)
def _cell(
    row: np.ndarray, t: int, first: np.ndarray, second: np.ndarray, cell_offset: np.ndarray, n_categories: np.ndarray
) -> int:
    """The cell of table t that `row` falls in."""
    a = first[t]
    b = second[t]
    return cell_offset[t] + (row[a] if b < 0 else row[a] * n_categories[b] + row[b])


@njit(cache=True, nogil=True)
def exchange_change(
    deviation: np.ndarray, out_row: np.ndarray, in_row: np.ndarray, first: np.ndarray, second: np.ndarray,
    cell_offset: np.ndarray, n_categories: np.ndarray,
) -> float:  # fmt: skip
    """The change of Σ |deviation| if `out_row` left the selection and `in_row` entered it (one pass: a table whose
    columns hold the same categories in both rows does not change, and is skipped before its cells are computed)."""
    change = 0.0
    for t in range(first.shape[0]):
        a = first[t]
        b = second[t]
        if out_row[a] == in_row[a] and (b < 0 or out_row[b] == in_row[b]):
            continue
        leaving = _cell(out_row, t, first, second, cell_offset, n_categories)
        entering = _cell(in_row, t, first, second, cell_offset, n_categories)
        d = deviation[leaving]
        e = deviation[entering]
        change += abs(d - 1.0) - abs(d) + abs(e + 1.0) - abs(e)
    return change


@njit(cache=True, nogil=True)
def add_row(
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
        add_row(deviation, pool[r], first, second, cell_offset, n_categories, 1.0)
    is_selected = np.zeros(pool.shape[0], dtype=np.bool_)
    is_selected[selected] = True
    inside = selected.copy()
    outside = np.empty(pool.shape[0], dtype=np.int64)  # np.flatnonzero(~is_selected), without compiling it
    n_out = 0
    for r in range(pool.shape[0]):
        if not is_selected[r]:
            outside[n_out] = r
            n_out += 1
    outside = outside[:n_out]
    if inside.shape[0] == 0 or outside.shape[0] == 0:
        return _sorted_rows(inside, pool.shape[0])
    state = np.empty(34, dtype=np.uint32)
    init_state(state, key_words, stream)
    for _ in range(proposals):
        i = uniform_below(state, inside.shape[0])
        j = uniform_below(state, outside.shape[0])
        out_row, in_row = inside[i], outside[j]
        if exchange_change(deviation, pool[out_row], pool[in_row], first, second, cell_offset, n_categories) < 0.0:
            add_row(deviation, pool[out_row], first, second, cell_offset, n_categories, -1.0)
            add_row(deviation, pool[in_row], first, second, cell_offset, n_categories, 1.0)
            inside[i], outside[j] = in_row, out_row
    return _sorted_rows(inside, pool.shape[0])


@njit(cache=True, nogil=True)
def _sorted_rows(rows: np.ndarray, n: int) -> np.ndarray:
    """`np.sort(rows)` for row numbers in 0..n−1, by counting (NumPy's sort costs a second of compilation)."""
    times = np.zeros(n, dtype=np.int64)
    for r in rows:
        times[r] += 1
    out = np.empty_like(rows)
    k = 0
    for r in range(n):
        for _ in range(times[r]):
            out[k] = r
            k += 1
    return out


def balance_in_parts(
    pool: np.ndarray, selected: np.ndarray, bounds: np.ndarray, first: np.ndarray, second: np.ndarray,
    cell_offset: np.ndarray, n_categories: np.ndarray, targets: np.ndarray, rounds: int, key_words: np.ndarray,
    stream: np.int64,
) -> np.ndarray:  # fmt: skip
    """`balance_selection` of each part of the pool (rows bounds[p]..bounds[p + 1] − 1; `selected` sorted) on its
    own, towards targets[p], with `rounds` proposals per selected row from stream `stream` + p·2^40. The parts run
    on several threads (`threads.run_ranges`) and are fixed by the caller, so the result does not depend on the
    number of threads."""
    n_parts = bounds.shape[0] - 1
    starts = np.searchsorted(selected, bounds)
    out = np.empty_like(selected)

    def work(part_lo: int, part_hi: int) -> None:
        for p in range(part_lo, part_hi):
            lo, hi = bounds[p], bounds[p + 1]
            rows = selected[starts[p] : starts[p + 1]] - lo
            out[starts[p] : starts[p + 1]] = lo + balance_selection(
                pool[lo:hi], rows, first, second, cell_offset, n_categories, targets[p], int(rounds) * rows.shape[0],
                key_words, np.int64(stream) + np.int64(p) * np.int64(1 << 40),
            )  # fmt: skip

    run_ranges(n_parts, work, pieces=n_parts)
    return out
