"""The calibrated law's tuning, in one frozen object passed to every step: pool and pilot sizes, fitting sweeps,
balancing rounds and the coverage budget. The defaults are the values measured in docs/synthesis.md; a step reads
what it needs from the object it is given, never from module state, so a test or a benchmark changes one value by
passing `replace(DEFAULT_PARAMETERS, field=value)` and nothing else moves.

A release records only the coverage share (`--coverage`); the other values are the law's own, and changing one
changes the records drawn from a seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from sdsynth.errors import ParameterError


@dataclass(frozen=True)
class CalibratedParameters:
    """Every tuning value of the calibrated law, by the step that reads it (steps as in docs/synthesis.md)."""

    # Step 1, joint tables: the completion of a table of two or more columns from its margins.
    #: sweeps of iterative proportional fitting at most
    completion_iterations: int = 20
    #: records: a sweep that moves no cell by more stops the fitting
    completion_tolerance: float = 0.05
    #: DP, lengths 1 and 2 released: steps of the least-squares estimate of each released pair's table (0: the
    #: completion alone); on NIST national at ε 1 the pair tables' mean TVD to the real ones fell from 0.079 to
    #: 0.068 (0.13 s for 231 pairs)
    least_squares_iterations: int = 500
    #: records: a step that moves no cell by more stops the least-squares estimate
    least_squares_tolerance: float = 0.01

    # Step 2, structure; step 4, the free order's parent sets.
    #: a column's second (and later) parent is searched among its this many best single parents (by mutual
    #: information), conditioned on the parents already chosen
    second_parent_candidates: int = 8
    #: free order: every pair of a column's this many best single parents is one of its parent sets
    free_parent_candidates: int = 8
    #: a parent set is tried only if the joint table of it and the child has at most this many cells (2 MiB):
    #: wide columns (an income with thousands of values) would otherwise ask for tables of gigabytes, and each
    #: table is completed from the released counts (NIST national without a schema: 65 s for the network at 2 M
    #: cells, 16 s at 262 k, the same fit), while a cell of so large a table holds almost no record anyway
    max_table_cells: int = 1 << 18
    #: joint tables kept for reuse, by size (least recently used dropped first)
    table_cache_bytes: int = 512 << 20

    # Step 3, drawing.
    #: with R ≤ 3 and at most this many attributes, the kernels find released attributes and pairs in a dense
    #: index (a pair table of at most 16 MiB) instead of the hash table
    direct_index_attributes: int = 2048

    # Step 4, the pilot that chooses the order: pilot_factor × the output's records, within the two bounds.
    pilot_factor: int = 2
    min_pilot_records: int = 10_000
    max_pilot_records: int = 100_000
    #: the free order (several times slower to draw) is kept only if its fit to the release (sum of the 1- and
    #: 2-way mean TVDs) is below this share of the fixed order's ...
    free_order_gain: float = 0.95
    #: ... and below it by this much at least: near-ties are the release's noise
    free_order_min_gain: float = 0.005

    # Step 5, calibration: weights fitted to the released single-column shares, and the pool they select from.
    #: sweeps of iterative proportional fitting at most
    ipf_iterations: int = 50
    #: a sweep that moves no share by more than this (relative) stops the fitting
    ipf_tolerance: float = 1e-4
    #: each weight lies in [1 / factor_cap, factor_cap]
    factor_cap: float = 4.0
    #: candidates drawn per output record: where blocking leaves many cells empty (NIST), the capped weights reach
    #: the released shares only from a pool that large (2 → 8 took the 1-way TVD of NIST from 0.161 to 0.138, of
    #: adult from 0.057 to 0.042)
    pool_factor: int = 8
    #: ... but at most pool_candidates in all, down to min_pool_factor per record: for outputs of a million records
    #: or more drawing is most of the cost, and there the released counts are large and blocking rare
    min_pool_factor: int = 2
    pool_candidates: int = 2_000_000

    # Step 6, balancing.
    #: exchanges proposed per selected record
    balance_rounds: int = 20
    #: a pair of columns is balanced only if its table has at most this many cells (a pair of wide columns spreads
    #: its records so thinly that each cell's share is noise, and its table would be copied per part)
    max_balance_cells: int = 1 << 16
    #: a pool of at least 2 × this many rows is cut into parts of at least this many, balanced each on its own, in
    #: parallel (the parts' leftover deviations add up, so smaller parts cost TVD) ...
    balance_part_rows: int = 65_536
    #: ... and at most this many parts
    balance_parts: int = 16

    # Step 7, coverage: seeded records that bring released combinations a batch lacks.
    #: share of each batch's records that seeded records may replace, when the release does not say (`--coverage`)
    cover_share: float = 0.15
    #: of that budget, the share first offered to dense seeds; packed seeds get the rest
    dense_part: float = 2 / 3
    #: draws of each missing combination as a dense seed, the one leaving fewest never-empty columns empty kept
    dense_draws: int = 4
    #: missing combinations drawn as dense seeds: at most this many per batch record
    dense_candidate_factor: int = 1
    #: draws per combination: dense_draws, or this × the batch's size ÷ the number missing if fewer (at least one)
    dense_draw_factor: int = 4
    #: a column whose released empty share is below this is "never empty"
    dense_empty_share: float = 0.01
    #: packed seeds: missing combinations tried for each seed after its first
    cover_window: int = 1024
    #: packed seeds: × the released count of the budget-th missing combination, the rarest combination a join may
    #: create
    cover_floor: float = 0.25
    #: rows of the batch considered for each replacement by a seed
    cover_tries: int = 64
    #: exchanges proposed per seeded record once coverage is done
    rebalance_rounds: int = 50

    # Output.
    #: records per output batch (its pool: up to pool_factor × as many candidates)
    batch_records: int = 250_000

    def __post_init__(self) -> None:
        positive = (
            "completion_iterations", "second_parent_candidates", "pilot_factor", "min_pilot_records",
            "max_pilot_records", "pool_factor", "min_pool_factor", "pool_candidates", "balance_part_rows",
            "balance_parts", "dense_draws", "cover_tries", "batch_records", "max_table_cells", "max_balance_cells",
        )  # fmt: skip
        for field in fields(self):
            value = getattr(self, field.name)
            if field.type == "int":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ParameterError(f"{field.name} must be an integer, got {value!r}")
                least = 1 if field.name in positive else 0
                if value < least:
                    raise ParameterError(f"{field.name} must be at least {least}, got {value}")
            elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ParameterError(f"{field.name} must be a finite number, got {value!r}")
            elif value < 0:
                raise ParameterError(f"{field.name} must be at least 0, got {value}")
        for name in ("cover_share", "dense_part", "dense_empty_share"):
            if getattr(self, name) > 1:
                raise ParameterError(f"{name} must be a share between 0 and 1, got {getattr(self, name)}")
        if self.factor_cap < 1:
            raise ParameterError(f"factor_cap must be at least 1, got {self.factor_cap}")
        if self.free_order_gain <= 0:
            raise ParameterError(f"free_order_gain must be above 0, got {self.free_order_gain}")
        if self.min_pool_factor > self.pool_factor:
            raise ParameterError(f"min_pool_factor ({self.min_pool_factor}) exceeds pool_factor ({self.pool_factor})")
        if self.min_pilot_records > self.max_pilot_records:
            raise ParameterError(
                f"min_pilot_records ({self.min_pilot_records}) exceeds max_pilot_records ({self.max_pilot_records})"
            )


DEFAULT_PARAMETERS = CalibratedParameters()


def resolved(parameters: CalibratedParameters | None) -> CalibratedParameters:
    """`parameters`, or DEFAULT_PARAMETERS when not given: the law's entry points take None for the defaults."""
    return DEFAULT_PARAMETERS if parameters is None else parameters


def coverage_share(coverage: float | None, parameters: CalibratedParameters | None = None) -> float:
    """The share of each batch's records that coverage may replace: `coverage`, or the parameters' cover_share when
    not given."""
    return resolved(parameters).cover_share if coverage is None else coverage
