"""Numba kernels of iterative proportional fitting, used twice by the law: the completion of the model's joint
tables from their margins (`fit_to_margins`, step 1) and the weights that calibrate a draw to the released
single-column shares (`calibration_factors`, step 5; the pilots of several orders in parallel with
`calibration_factors_in_parts`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sdsynth.kernels.threads import run_ranges


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
        for i in range(n):  # a loop, not a slice copy: that one compiles an error path of 2 s
            before[i] = free[i]
        offset = 0
        for a in range(n_axes):
            # cell i = o·outer + d·inner + r sums into j = o·inner + r: nested loops visit the cells in flat order
            # (the sums add up in the same order) without a division per cell
            inner = strides[a]
            outer = inner * dims[a]
            m = n // dims[a]
            sums[:m] = 0.0
            for o in range(n // outer):
                for d in range(dims[a]):
                    base = o * outer + d * inner
                    for r in range(inner):
                        sums[o * inner + r] += free[base + r]
            for o in range(n // outer):
                for d in range(dims[a]):
                    base = o * outer + d * inner
                    for r in range(inner):
                        i = base + r
                        free[i] *= targets[offset + o * inner + r] / max(sums[o * inner + r], 1e-300)
                        if capped[i] and free[i] > bound:
                            free[i] = bound
            offset += m
        largest_move = 0.0
        for i in range(n):
            largest_move = max(largest_move, abs(free[i] - before[i]))
        if largest_move < tolerance:
            break
    return free


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


def calibration_factors_in_parts(
    categories: np.ndarray, bounds: np.ndarray, targets: np.ndarray, target_offset: np.ndarray, iterations: int,
    tolerance: float, cap: float,
) -> np.ndarray:  # fmt: skip
    """`calibration_factors` of each part of `categories` (rows bounds[p]..bounds[p + 1] − 1) on its own, one row of
    the result per part: the pilots of several orders are calibrated on several threads (`threads.run_ranges`),
    each as if alone."""
    n_parts = bounds.shape[0] - 1
    out = np.empty((n_parts, targets.shape[0]))

    def work(part_lo: int, part_hi: int) -> None:
        for p in range(part_lo, part_hi):
            out[p] = calibration_factors(categories[bounds[p] : bounds[p + 1]], targets, target_offset,
                                         int(iterations), float(tolerance), float(cap))  # fmt: skip

    run_ranges(n_parts, work, pieces=n_parts)
    return out


@njit(cache=True, nogil=True)
def least_squares_table(
    x: np.ndarray, cells: np.ndarray, rows: np.ndarray, columns: np.ndarray, total: float, w_cell: float,
    w_single: float, w_total: float, iterations: int, tolerance: float,
) -> np.ndarray:  # fmt: skip
    """The non-negative table x (rows and columns: category 0 = empty, then values) closest, in the weighted sum of
    squares, to the noisy measurements of a DP release: every value cell (`cells[1:, 1:]`, weight w_cell), every
    row and column sum over values (`rows[1:]`, `columns[1:]`, w_single) and the total (w_total); the empty cells
    are only measured through the sums. Accelerated projected gradient (FISTA) from `x`, at most `iterations`
    steps, stopping when no cell moves by more than `tolerance`; returns the new table."""
    na, nb = x.shape
    step = 1.0 / (2.0 * (w_cell + w_single * (na + nb) + w_total * na * nb))  # 1 / Lipschitz constant
    z = x.copy()
    previous = x.copy()
    t = 1.0
    stepped = np.empty_like(x)  # the next iterate, before the momentum step
    row_gap = np.empty(na)
    column_gap = np.empty(nb)
    for _ in range(iterations):
        whole = 0.0
        for i in range(na):
            row_gap[i] = 0.0
        for j in range(nb):
            column_gap[j] = 0.0
        for i in range(na):
            for j in range(nb):
                row_gap[i] += z[i, j]
                column_gap[j] += z[i, j]
                whole += z[i, j]
        for i in range(1, na):
            row_gap[i] = 2.0 * w_single * (row_gap[i] - rows[i])
        for j in range(1, nb):
            column_gap[j] = 2.0 * w_single * (column_gap[j] - columns[j])
        row_gap[0] = 0.0
        column_gap[0] = 0.0
        total_gap = 2.0 * w_total * (whole - total)
        moved = 0.0
        t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        momentum = (t - 1.0) / t_next
        for i in range(na):
            for j in range(nb):
                g = row_gap[i] + column_gap[j] + total_gap
                if i > 0 and j > 0:
                    g += 2.0 * w_cell * (z[i, j] - cells[i, j])
                new = max(z[i, j] - step * g, 0.0)
                moved = max(moved, abs(new - previous[i, j]))
                stepped[i, j] = new
        for i in range(na):
            for j in range(nb):
                z[i, j] = stepped[i, j] + momentum * (stepped[i, j] - previous[i, j])
                previous[i, j] = stepped[i, j]
        t = t_next
        if moved <= tolerance:
            break
    return previous
