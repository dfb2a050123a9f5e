"""`column_pairs` tree (protect/dp/pair_tree.py): the pair tables against a brute-force count, the scores'
sensitivity, the exponential mechanism's law, the spanning tree, and what a tree release holds."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sdsynth.encode.tables import encode
from sdsynth.engine import IngestOptions, load_schema
from sdsynth.errors import ParameterError, PrivacyParameterError
from sdsynth.protect.dp.budget import budget_of
from sdsynth.protect.dp.marginals import dp_marginals
from sdsynth.protect.dp.pair_tree import (
    _exponential_mechanism,
    choose_tree,
    extra_rounds,
    pair_layout,
    pair_scores,
    sibling_pairs,
    tree_rounds,
)
from sdsynth.protect.dp.params import DpParameters
from sdsynth.protect.dp.random import DpRandom
from sdsynth.sample_data import generate_ctdc

COLUMNS = ["A", "B", "C", "D"]
cell = st.sampled_from(["", "x", "y", "z"])
rows = st.lists(st.tuples(cell, cell, cell, cell), min_size=1, max_size=30)


def _frame(records: list[tuple[str, ...]]) -> pl.DataFrame:
    return pl.DataFrame(records, schema=dict.fromkeys(COLUMNS, pl.String), orient="row")


def _tables_of(data, singles: np.ndarray, noisy: np.ndarray):  # type: ignore[no-untyped-def]
    attrs = data.attributes
    layout = pair_layout(attrs.column_of, len(attrs.columns), singles, noisy)
    job = layout.job()
    state = job.begin(1, 0)
    job.work(state, 0, data.offsets, data.ids, 0, data.n_records)
    return layout, job.end(state)


def _brute_force(data, layout, a: int, b: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The joint table of columns a and b (category 0: empty or a value outside `singles`), record by record."""
    table = np.zeros((layout.n_categories[a], layout.n_categories[b]), dtype=np.int64)
    for r in range(data.n_records):
        held = data.ids[data.offsets[r] : data.offsets[r + 1]]
        code = {int(layout.column_of[i]): int(layout.category[i]) for i in held}
        table[code.get(a, 0), code.get(b, 0)] += 1
    return table


@settings(max_examples=40, deadline=None)
@given(rows, st.data())
def test_pair_tables_match_a_brute_force_count(records: list[tuple[str, ...]], draw: st.DataObject) -> None:
    data = encode(_frame(records))
    n = data.attributes.n_attributes
    singles = np.array(sorted(draw.draw(st.sets(st.integers(0, max(n - 1, 0)), max_size=n))), dtype=np.int64)
    singles = singles[singles < n]
    layout, tables = _tables_of(data, singles, np.full(len(singles), 5.0))
    for p, (a, b) in enumerate(layout.pairs):
        got = tables[layout.table_offset[p] : layout.table_offset[p + 1]].reshape(
            layout.n_categories[a], layout.n_categories[b]
        )
        assert (got == _brute_force(data, layout, a, b)).all()


@settings(max_examples=60, deadline=None)
@given(rows, st.tuples(cell, cell, cell, cell), st.integers(1, 60))
def test_one_record_moves_every_score_by_at_most_one(
    records: list[tuple[str, ...]], extra: tuple[str, ...], n_protected: int
) -> None:
    """The sensitivity the exponential mechanism is calibrated to: neighbours (one record added) on the same
    columns and released singles (public inputs) give scores at most 1 apart."""
    both = encode(_frame([*records, extra, ("x", "x", "x", "x")]))  # every column present in both encodings
    attrs = both.attributes
    singles = np.arange(attrs.n_attributes, dtype=np.int64)[::2]
    noisy = np.linspace(1.0, 9.0, len(singles))
    scores = []
    for last in (len(records) + 1, len(records) + 2):  # without and with `extra`
        keep = [r for r in range(both.n_records) if r != len(records) or last == len(records) + 2]
        data = both.take(np.array(keep, dtype=np.int64))
        layout, tables = _tables_of(data, singles, noisy)
        scores.append(pair_scores(layout, tables, n_protected))
    assert np.abs(scores[0] - scores[1]).max() <= 1


def test_the_exponential_mechanism_draws_with_the_stated_law() -> None:
    """P(i) ∝ exp(−ε·t_i/2), exactly: 20,000 draws against the exact probabilities (chi-square, fixed stream)."""
    t = np.array([0, 1, 3, 0, 6], dtype=np.int64)
    eps_num, eps_den = 3 << 19, 1 << 20  # ε = 1.5
    state = DpRandom._seeded_for_tests(3).state
    draws = np.array([_exponential_mechanism(state, t, np.int64(eps_num), np.int64(eps_den)) for _ in range(20_000)])
    weights = np.exp(-1.5 * t / 2)
    expected = 20_000 * weights / weights.sum()
    observed = np.bincount(draws, minlength=len(t))
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    assert observed[4] > 0  # the worst candidate keeps its (small) probability


def test_joined_pairs_are_kept_and_the_tree_joins_their_components() -> None:
    joined = [(0, 1), (1, 2), (0, 2), (4, 5)]
    scores = np.zeros(math.comb(6, 2), dtype=np.int64)
    assert tree_rounds(6, joined) == 2  # components {0, 1, 2}, {3}, {4, 5}
    tree = choose_tree(scores, 6, 0.01, DpRandom._seeded_for_tests(4).state, joined)
    assert set(joined) <= set(tree) and len(tree) == len(joined) + 2
    assert tree_rounds(6, tree) == 0


def test_extra_pairs_come_after_the_tree_and_are_capped() -> None:
    """With a large budget the extra pairs are the best-scoring pairs the tree left; never more than are left."""
    n_columns = 5
    pairs = list(itertools.combinations(range(n_columns), 2))
    scores = np.array([1000 * (p * 37 % 10) + p for p in range(len(pairs))], dtype=np.int64)
    tree = choose_tree(scores, n_columns, 50.0, DpRandom._seeded_for_tests(9).state)
    more = choose_tree(scores, n_columns, 50.0, DpRandom._seeded_for_tests(9).state, extra=2)
    left = sorted((p for p in range(len(pairs)) if pairs[p] not in tree), key=lambda p: -scores[p])
    assert set(more) == set(tree) | {pairs[p] for p in left[:2]}
    everything = choose_tree(scores, n_columns, 0.5, DpRandom._seeded_for_tests(2).state, extra=100)
    assert everything == pairs


@pytest.mark.parametrize("n_columns", [2, 3, 7])
def test_the_chosen_pairs_form_a_spanning_tree(n_columns: int) -> None:
    scores = np.arange(math.comb(n_columns, 2), dtype=np.int64) * 7 % 11
    tree = choose_tree(scores, n_columns, 0.01, DpRandom._seeded_for_tests(5).state)
    assert len(tree) == n_columns - 1 and all(a < b for a, b in tree)
    component = list(range(n_columns))
    for a, b in tree:  # no edge joins two columns already joined: a tree
        assert component[a] != component[b]
        old = component[b]
        component = [component[a] if c == old else c for c in component]
    assert len(set(component)) == 1


def test_with_a_large_budget_the_tree_is_the_maximum_spanning_tree() -> None:
    """Kruskal's tree of the largest scores, when ε per round makes every other choice negligible."""
    n_columns = 5
    pairs = list(itertools.combinations(range(n_columns), 2))
    scores = np.array([1000 * (p * 37 % 10) + p for p in range(len(pairs))], dtype=np.int64)  # distinct
    tree = choose_tree(scores, n_columns, 50.0, DpRandom._seeded_for_tests(9).state)
    component, expected = list(range(n_columns)), []
    for p in np.argsort(-scores):
        a, b = pairs[p]
        if component[a] != component[b]:
            expected.append((a, b))
            old = component[b]
            component = [component[a] if c == old else c for c in component]
    assert tree == sorted(expected)


def test_a_tree_release_holds_the_pairs_of_its_tree_only() -> None:
    data = encode(generate_ctdc(3000, seed=2), IngestOptions(schema=load_schema("ctdc-victim-perpetrator")))
    params = DpParameters(epsilon=4.0, reporting_length=2, column_pairs="tree")
    result = dp_marginals(data, params, rng=DpRandom._seeded_for_tests(1, 3))
    aggs = result.aggregates
    pairs = aggs.column_pairs()
    n_columns = len(data.attributes.columns)
    siblings = sibling_pairs(data.attributes)
    rounds = tree_rounds(n_columns, siblings)
    assert siblings and rounds < n_columns - 1  # the sample's multi-value columns: their parts' pairs are kept
    extra = extra_rounds(n_columns, siblings, None)
    assert extra == rounds  # by default as many pairs again as the tree's edges
    assert pairs is not None and set(siblings) <= pairs and len(pairs) == len(siblings) + rounds + extra
    assert aggs.parameters["column_pairs"] == "tree" and aggs.parameters["column_pair_rounds"] == rounds + extra
    assert aggs.parameters["extra_column_pairs"] == extra
    assert len(aggs.parameters["released_column_pairs"]) == len(pairs)
    ab = aggs.layout.unpack(aggs.keys[aggs.lengths == 2], 2).astype(np.int64)
    column_of = data.attributes.column_of.astype(np.int64)
    held = {(min(a, b), max(a, b)) for a, b in zip(column_of[ab[:, 0]], column_of[ab[:, 1]], strict=True)}
    assert held and held <= pairs
    level_2 = next(level for level in aggs.levels if level["length"] == 2)
    assert level_2["sensitivity"] <= len(pairs)  # one value pair per released column pair
    b = budget_of(params)
    assert b.rho_selection == pytest.approx(0.1 * b.rho)
    assert aggs.parameters["rho_column_pairs"] == b.rho_selection


def test_tree_parameters_are_checked() -> None:
    with pytest.raises(PrivacyParameterError, match="reporting_length"):
        DpParameters(epsilon=1.0, reporting_length=3, column_pairs="tree")
    with pytest.raises(PrivacyParameterError, match="column_pairs"):
        DpParameters(epsilon=1.0, reporting_length=2, column_pairs="forest")
    with pytest.raises(PrivacyParameterError, match="pair_selection_proportion"):
        DpParameters(epsilon=1.0, reporting_length=2, column_pairs="tree", pair_selection_proportion=0.995)
    with pytest.raises(PrivacyParameterError, match="goes with"):
        DpParameters.from_options(epsilon=1.0, reporting_length="auto", pair_selection_proportion=0.2)
    auto = DpParameters.from_options(epsilon=1.0, reporting_length="auto", column_pairs="tree")
    assert auto is not None and auto.reporting_length == 2 and not auto.adaptive_length
    assert issubclass(PrivacyParameterError, ParameterError)


def test_too_many_cells_to_score_is_refused_with_the_way_out() -> None:
    """The scoring pass holds every pair's table once per thread: past a public cap the run stops before reading."""
    column_of = np.repeat(np.arange(3), 3000)
    singles = np.arange(len(column_of))
    with pytest.raises(PrivacyParameterError, match="bin the widest columns"):
        pair_layout(column_of, 3, singles, np.ones(len(singles)))


def test_the_release_records_the_percentile_the_rule_chose() -> None:
    """3,000 records at ε 1: the 1 % tail (30 records) is thinner than the mechanism's rank error, so the 95th."""
    data = encode(generate_ctdc(3000, seed=2), IngestOptions(schema=load_schema("ctdc-victim-perpetrator")))
    params = DpParameters.from_options(epsilon=1.0, reporting_length=2)
    aggs = dp_marginals(data, params, rng=DpRandom._seeded_for_tests(1, 3)).aggregates
    assert aggs.parameters["percentile_percentage"] == 95 and aggs.parameters["percentile_auto"] is True
    assert "percentile_rule" in aggs.parameters
