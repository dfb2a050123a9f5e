"""The estimate of distinct combinations (independent columns, share histograms) and of memory per stage."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdsynth.count.estimate import STAGES, combinations_bound, expected_combinations, stage_memory, uniform_counts
from sdsynth.encode.tables import encode
from sdsynth.engine import count_combinations


def _independent_table(n: int, sizes: list[int], seed: int) -> pl.DataFrame:
    """Independent columns with skewed (Zipf-like) value shares."""
    rng = np.random.default_rng(seed)
    columns = {}
    for c, k in enumerate(sizes):
        weights = 1.0 / np.arange(1, k + 1) ** 1.1
        columns[f"c{c}"] = [f"v{v}" for v in rng.choice(k, size=n, p=weights / weights.sum())]
    return pl.DataFrame(columns)


@pytest.mark.parametrize(("n", "sizes"), [(20_000, [3, 8, 40, 200, 5]), (3_000, [2, 2, 300, 900]), (500, [6, 7, 9])])
def test_independent_columns_are_estimated_closely(n: int, sizes: list[int]) -> None:
    """On independent columns the model is right: within 10 % of the true count at each length."""
    data = encode(_independent_table(n, sizes, seed=len(sizes)))
    true = np.bincount(count_combinations(data, 3).lengths)[1:]
    counts = np.bincount(data.ids, minlength=data.attributes.n_attributes)
    per_column = [counts[data.attributes.column_of == c] for c in range(len(data.attributes.columns))]
    estimate = expected_combinations(per_column, data.n_records, 3)
    assert estimate[0] == true[0]  # length 1 is exact
    for length in (2, 3):
        assert estimate[length - 1] == pytest.approx(true[length - 1], rel=0.10), (length, estimate, true)


@given(st.lists(st.integers(1, 400), min_size=1, max_size=7), st.integers(1, 100_000), st.integers(1, 4))
def test_never_more_cells_than_exist_or_records_hold(sizes: list[int], n: int, length: int) -> None:
    """Evenly spread records: per length at most the cells of the column sets and at most N per set, and at least
    what one record per set of columns holds."""
    estimate = expected_combinations(uniform_counts(sizes, n), n, length)
    assert estimate[0] == sum(sizes)
    cells = sum(math.prod(s) for ell in range(1, length + 1) for s in itertools.combinations(sizes, ell))
    assert combinations_bound(sizes, length) == cells >= sum(estimate) - 1
    for ell in range(2, length + 1):
        sets = list(itertools.combinations(sizes, ell))
        bound = sum(min(math.prod(s), n) for s in sets)
        assert min(len(sets), bound) * 0.99 - 1 <= estimate[ell - 1] <= bound * 1.01 + 1


def test_many_column_sets_are_sampled_and_scaled() -> None:
    """60 columns at R 3 (34,220 sets): a fixed sample of them, scaled; every value being in every record, each set
    holds exactly one cell, so the estimate is the number of sets."""
    estimate = expected_combinations([np.array([1000.0])] * 60, 1000, 3)
    assert estimate == [60, math.comb(60, 2), math.comb(60, 3)]
    assert expected_combinations([np.array([5.0])] * 60, 1000, 3) == pytest.approx(
        [60, math.comb(60, 2) * (1 - math.exp(-1000 * 0.005**2)), math.comb(60, 3) * (1 - math.exp(-1000 * 0.005**3))],
        abs=0.5,  # rounded to whole combinations
    )


def test_stage_memory_grows_with_combinations_and_records() -> None:
    small = {m.stage: m.bytes for m in stage_memory(10_000, 17_000, 27)}
    wide = {m.stage: m.bytes for m in stage_memory(10_000_000, 17_000, 27)}
    tall = {m.stage: m.bytes for m in stage_memory(10_000, 2_000_000, 27, synthesis_extra=256 << 20)}
    assert list(small) == list(STAGES)
    assert all(small[s] < wide[s] for s in STAGES[1:]) and small["reading"] == wide["reading"]
    assert all(small[s] < tall[s] for s in STAGES)
    assert tall["synthesis"] - small["synthesis"] > 256 << 20
    assert 350 << 20 < small["reading"] < small["counting"] < small["evaluation"] < 600 << 20


def test_reading_holds_an_input_encoded_into_memory() -> None:
    """Up to IN_MEMORY_CELLS cells the input is encoded into memory from its first read (12 bytes a cell at the
    peak: measured 2.38 GiB for 10 M rows of 16 columns); a larger one is read a batch at a time."""
    from sdsynth.encode.tables import IN_MEMORY_CELLS

    in_memory = {m.stage: m.bytes for m in stage_memory(10_000, 10_000_000, 16)}
    streamed = {m.stage: m.bytes for m in stage_memory(10_000, 100_000_000, 16)}
    assert 10_000_000 * 16 <= IN_MEMORY_CELLS < 100_000_000 * 16
    assert 2.2 * 2**30 < in_memory["reading"] < 2.8 * 2**30
    assert streamed["reading"] < 1 * 2**30
