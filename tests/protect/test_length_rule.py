"""`--reporting-length auto` (protect/dp/length_rule.py): the signal formula by hand, the choice at and around the
record count it needs, custom options cut to the chosen length, and a DP run that releases the chosen length."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdsynth.encode.tables import encode
from sdsynth.errors import PrivacyParameterError
from sdsynth.protect.dp.budget import split_budget
from sdsynth.protect.dp.length_rule import (
    MIN_SIGNAL,
    UNKNOWN_DOMAIN,
    at_length,
    choose_length,
    length_signal,
    records_needed,
    typical_cells,
)
from sdsynth.protect.dp.marginals import dp_marginals
from sdsynth.protect.dp.params import AccuracyMode, DpParameters, FabricationMode, reporting_length_option
from sdsynth.protect.dp.random import DpRandom
from sdsynth.read.options import IngestOptions
from sdsynth.schema.model import ColumnSpec, Schema

AUTO = DpParameters(epsilon=1.0, adaptive_length=True)


def test_typical_cells_is_the_median_product_over_column_subsets() -> None:
    # subsets of 3 among (2, 3, 4, 5): 24, 30, 40, 60 → median 35
    assert typical_cells([2, 3, 4, 5], 3) == 35.0
    assert typical_cells([1, 1, 7], 3) == 7.0


def test_signal_by_hand() -> None:
    sizes = [2, 3, 4, 5, 6]
    b = split_budget(1.0, 3, 0.01, (1.0, 0.5, 1 / 3), 1e-6, 0.005)
    triples = [(2, 3, 4), (2, 3, 5), (2, 3, 6), (2, 4, 5), (2, 4, 6), (2, 5, 6), (3, 4, 5), (3, 4, 6), (3, 5, 6),
               (4, 5, 6)]  # fmt: skip
    cells = float(np.median([a * b_ * c for a, b_, c in triples]))
    expected = 50_000 / cells / (b.sigmas[2] * math.sqrt(math.comb(5, 3)))
    assert length_signal(AUTO, sizes, 50_000, 3) == pytest.approx(expected, rel=1e-12)


def test_the_length_changes_exactly_at_the_record_count_dry_run_prints() -> None:
    sizes = [5, 2, 2, 1, 1, 4, 4, 1, 1, 1, 1, 3, 2, 4, 5, 2]  # the CTDC schema's domains
    needed = records_needed(AUTO, sizes, 3)
    assert needed is not None and needed > 1
    assert choose_length(AUTO, sizes, needed).length == 3
    assert choose_length(AUTO, sizes, needed - 1).length == 2
    below, at = choose_length(AUTO, sizes, needed - 1), choose_length(AUTO, sizes, needed)
    assert below.signals[3] < MIN_SIGNAL <= at.signals[3]


def test_unknown_domains_count_as_the_documented_guess() -> None:
    choice = choose_length(AUTO, [None, 4, 4, 2], 10_000)
    assert choice.assumed_columns == 1
    assert choice.signals[3] == pytest.approx(length_signal(AUTO, [UNKNOWN_DOMAIN, 4, 4, 2], 10_000, 3))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 30), min_size=3, max_size=12),
    st.integers(1, 10**8),
    st.sampled_from([0.25, 0.5, 1.0, 4.0, 16.0]),
)
def test_more_records_or_budget_never_shorten_the_length(sizes: list[int], n: int, eps: float) -> None:
    params = DpParameters(epsilon=eps, adaptive_length=True)
    chosen = choose_length(params, sizes, n).length
    assert 2 <= chosen <= 3
    assert choose_length(params, sizes, 2 * n).length >= chosen
    assert choose_length(DpParameters(epsilon=2 * eps, adaptive_length=True), sizes, n).length >= chosen


def test_lengths_one_and_two_are_kept_whatever_the_signal() -> None:
    assert choose_length(AUTO, [50, 50, 50], 10).length == 2
    assert choose_length(DpParameters(epsilon=1.0, reporting_length=1, adaptive_length=True), [5, 5], 10**9).length == 1
    assert choose_length(AUTO, [2, 2], 10**9).length == 2  # two columns hold no combination of 3


def test_custom_options_are_cut_to_the_chosen_length() -> None:
    params = DpParameters(
        epsilon=1.0, accuracy_mode=AccuracyMode.custom([1.0, 0.5, 0.25]),
        fabrication_mode=FabricationMode.custom_adaptive({2: 0.5, 3: 0.1}), adaptive_length=True,
    )  # fmt: skip
    short = at_length(params, 2)
    assert short.reporting_length == 2 and short.sigma_proportions == (1.0, 0.5)
    assert dict(short.threshold.values_by_length) == {2: 0.5}


@pytest.mark.parametrize(
    ("value", "dp", "expected"),
    [(None, True, "auto"), (None, False, 3), ("auto", True, "auto"), (" AUTO ", True, "auto"), ("4", False, 4),
     (2, True, 2)],
)  # fmt: skip
def test_reporting_length_option(value: object, dp: bool, expected: object) -> None:
    assert reporting_length_option(value, dp) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "dp"), [("auto", False), ("x", True), ("2.5", True), (True, True)])
def test_reporting_length_option_refuses(value: object, dp: bool) -> None:
    with pytest.raises(PrivacyParameterError, match="reporting_length"):
        reporting_length_option(value, dp)  # type: ignore[arg-type]


def _table(rows: int) -> pl.DataFrame:
    generator = np.random.default_rng(3)
    return pl.DataFrame({c: generator.choice(["a", "b", "c"], rows) for c in "ABCDE"})


def test_a_dp_run_releases_the_chosen_length_and_says_why() -> None:
    small = dp_marginals(encode(_table(2_000)), AUTO, rng=DpRandom._seeded_for_tests(1, 3)).aggregates
    assert small.reporting_length == 2 and set(small.lengths.tolist()) <= {1, 2}
    assert small.parameters["reporting_length"] == 2 and small.parameters["reporting_length_auto"] is True
    assert small.parameters["reporting_length_signals"]["3"] < MIN_SIGNAL
    assert [level["length"] for level in small.levels] == [1, 2]
    declared = Schema(tuple(ColumnSpec(c, values=("a", "b", "c")) for c in "ABCDE"))  # 3 values, not 10 assumed
    data = encode(_table(20_000), IngestOptions(schema=declared))
    large = dp_marginals(data, DpParameters(epsilon=4.0, adaptive_length=True), rng=DpRandom._seeded_for_tests(1, 3))
    large = large.aggregates
    assert large.reporting_length == 3 and 3 in set(large.lengths.tolist())
    assert large.parameters["reporting_length_signals"]["3"] >= MIN_SIGNAL
