"""Step 6 of the calibrated law: a weighted selection (step 5) improved by exchanges with the rest of its pool.

A weighted draw matches the released shares only in expectation: its sampling noise alone puts the 1-way TVD of
27,000 records near 0.008. So balance_rounds times per selected record, a selected candidate and an unselected one
are proposed for exchange, kept when it brings the selection's counts closer (L1) to the released tables of one
column and of every pair of columns (R ≥ 2). Every candidate keeps the guarantee, so any selection does. Pools of
2 × balance_part_rows candidates or more are balanced in fixed parts, in parallel; the parts depend on the pool's
size only, never on the number of threads (the parts' leftover deviations add up, so smaller parts cost TVD).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from sdsynth.synth.calibrated.balancing_kernels import balance_in_parts
from sdsynth.synth.calibrated.calibration import bounds, weighted_draw
from sdsynth.synth.calibrated.model import ReleaseModel, shares
from sdsynth.synth.calibrated.parameters import CalibratedParameters
from sdsynth.synth.calibrated.streams import BALANCE_STREAM


@dataclass(frozen=True)
class BalanceTables:
    """The released tables a selection is balanced to: table t covers column first[t] alone (second[t] = −1) or
    the pair (first[t], second[t]); its cells, in the pool's category codes, are shares[cell_offset[t]:]."""

    first: np.ndarray
    second: np.ndarray
    cell_offset: np.ndarray
    n_categories: np.ndarray
    shares: np.ndarray


def balance_tables(model: ReleaseModel) -> BalanceTables:
    """Every single column and, when pairs were released (R ≥ 2), every released pair of columns (all, or those of
    a released tree) whose table has at most `max_balance_cells` cells, as shares of the records."""
    released = model.released
    tables = [(c, -1) for c in range(released.n_columns)]
    if model.max_parents >= 1:
        limit = model.parameters.max_balance_cells
        tables += [
            pair for pair in itertools.combinations(range(released.n_columns), 2)
            if model.cells(pair) <= limit and released.pair_released(*pair)
        ]  # fmt: skip
    cells = [shares(model.table([a] if b < 0 else [a, b]).ravel()) for a, b in tables]
    sizes = np.array([len(x) for x in cells], dtype=np.int64)
    return BalanceTables(
        first=np.array([a for a, _ in tables], dtype=np.int64),
        second=np.array([b for _, b in tables], dtype=np.int64),
        cell_offset=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
        n_categories=np.asarray(model.released.n_categories, dtype=np.int64),
        shares=np.concatenate(cells),
    )


def select_each(
    pools: list[np.ndarray], factors: list[list[np.ndarray]], index: int, size: int, key: bytes, words: np.ndarray,
    tables: BalanceTables | None, parameters: CalibratedParameters, balance: bool = True,
) -> list[np.ndarray]:  # fmt: skip
    """Rows of each pool (sorted): `size` drawn with its factors (`weighted_draw`, generator keyed by (key, index),
    the same for every pool), then, with `balance` and `tables`, exchanged with the pool's other rows towards the
    released tables. The balancing of the pools larger than `size` runs in one parallel call, in parts cut pool by
    pool (part p of all: ChaCha20 stream BALANCE_STREAM + index + p·2^40); a pool taken whole has nothing to
    exchange and is left as drawn."""
    chosen = [weighted_draw(pool, weights, key, index, size) for pool, weights in zip(pools, factors, strict=True)]
    todo = [i for i, pool in enumerate(pools) if size < len(pool)]
    if not balance or tables is None or not todo:
        return chosen
    starts = bounds([pools[i] for i in todo])
    parts = np.unique(np.concatenate([
        np.linspace(0, len(pools[i]), _part_count(len(pools[i]), parameters) + 1).astype(np.int64) + start
        for i, start in zip(todo, starts, strict=False)
    ]))  # fmt: skip
    selected = np.concatenate([chosen[i] + start for i, start in zip(todo, starts, strict=False)])
    part_sizes = np.diff(np.searchsorted(selected, parts))
    joined = pools[todo[0]] if len(todo) == 1 else np.concatenate([pools[i] for i in todo])  # one: no copy
    balanced = balance_in_parts(
        joined, selected, parts, tables.first, tables.second, tables.cell_offset, tables.n_categories,
        np.outer(part_sizes, tables.shares), parameters.balance_rounds, words, np.int64(BALANCE_STREAM + index),
    )  # fmt: skip
    for k, i in enumerate(todo):
        chosen[i] = balanced[k * size : (k + 1) * size] - starts[k]
    return chosen


def _part_count(rows: int, parameters: CalibratedParameters) -> int:
    """Parts a pool of `rows` candidates is balanced in: one per balance_part_rows, within 1..balance_parts."""
    return max(1, min(parameters.balance_parts, rows // parameters.balance_part_rows))
