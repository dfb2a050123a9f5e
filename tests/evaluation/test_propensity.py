"""The propensity tree against two oracles: an exact CART written out in Python (every split's Gini proxy as a
fraction, ties to the first feature and the lowest threshold: the same leaves), and scikit-learn's
`DecisionTreeClassifier`, which SDNist uses and which breaks ties by a random order of the features (our value is one
of the values its random states give)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdsynth.evaluation.propensity import leaf_class_counts, propensity_mse


def exact_leaves(x: np.ndarray, y: np.ndarray, max_depth: int, depth: int = 0) -> list[tuple[int, int]]:
    """The leaves' (real, synthetic) counts of a CART grown node by node with exact arithmetic."""
    n0, n1 = int((y == 0).sum()), int((y == 1).sum())
    if depth >= max_depth or n0 == 0 or n1 == 0:
        return [(n0, n1)]
    best = None
    for f in range(x.shape[0]):
        for v in np.unique(x[f])[:-1]:
            left = x[f] <= v
            l0 = int((y[left] == 0).sum())
            l1 = int(left.sum()) - l0
            r0, r1 = n0 - l0, n1 - l1
            score = Fraction(l0 * l0 + l1 * l1, l0 + l1) + Fraction(r0 * r0 + r1 * r1, r0 + r1)
            if best is None or score > best[0]:
                best = (score, f, v)
    if best is None:  # every feature constant
        return [(n0, n1)]
    left = x[best[1]] <= best[2]
    return exact_leaves(x[:, left], y[left], max_depth, depth + 1) + exact_leaves(
        x[:, ~left], y[~left], max_depth, depth + 1
    )


def sklearn_values(real: np.ndarray, synthetic: np.ndarray, max_depth: int, states: int = 20) -> np.ndarray:
    """SDNist's propensity MSE with scikit-learn's tree, over `states` random states (its tie-breaking)."""
    tree_module = pytest.importorskip("sklearn.tree")
    x = np.hstack([real, synthetic]).T
    y = np.concatenate([np.zeros(real.shape[1]), np.ones(synthetic.shape[1])])
    c = synthetic.shape[1] / len(x)
    values = []
    for state in range(states):
        tree = tree_module.DecisionTreeClassifier(max_depth=max_depth, random_state=state).fit(x, y)
        values.append(float(np.mean((tree.predict_proba(x)[:, 1] - c) ** 2)))
    return np.array(values)


def is_one_of(value: float, values: np.ndarray) -> bool:
    """`value` equals one of `values` up to the rounding of a different summation order."""
    return bool(np.min(np.abs(values - value)) < 1e-12)


def shifted_tables(seed: int, rows: int = 3000, max_codes: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """A real table of independent uniform codes, and a synthetic one with a fifth of its codes moved up by one."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, max_codes, rng.integers(2, 8))
    n, m = rng.integers(50, rows, 2)
    real = np.stack([rng.integers(0, k, n) for k in sizes])
    synthetic = np.stack([np.minimum(k - 1, rng.integers(0, k, m) + (rng.random(m) < 0.2)) for k in sizes])
    return real, synthetic


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4),
    st.lists(st.lists(st.integers(0, 3), min_size=3, max_size=3), min_size=1, max_size=40),
    st.lists(st.lists(st.integers(0, 3), min_size=3, max_size=3), min_size=0, max_size=40),
)
def test_leaves_equal_an_exact_cart(
    max_depth: int, real_rows: list[list[int]], synthetic_rows: list[list[int]]
) -> None:
    real = np.array(real_rows, dtype=np.int32).T
    synthetic = np.array(synthetic_rows, dtype=np.int32).reshape(-1, 3).T
    x = np.hstack([real, synthetic])
    y = np.concatenate([np.zeros(real.shape[1], int), np.ones(synthetic.shape[1], int)])
    ours = sorted(map(tuple, leaf_class_counts(real, synthetic, max_depth).tolist()))
    assert ours == sorted(exact_leaves(x, y, max_depth))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("max_depth", [1, 3, 6])
def test_value_is_scikit_learns(seed: int, max_depth: int) -> None:
    real, synthetic = shifted_tables(seed)
    assert is_one_of(propensity_mse(real, synthetic, max_depth), sklearn_values(real, synthetic, max_depth))


def test_wide_features_are_histogrammed_node_by_node() -> None:
    """A feature of 40,000 codes: one node's histogram at depth 0, a node at a time from depth 1 (2 × 40,000 cells
    is above the all-nodes limit); codes of a billion and more are ranked first. Both give scikit-learn's tree."""
    rng = np.random.default_rng(3)
    wide_real = rng.integers(0, 40_000, 30_000)
    wide_synthetic = (rng.integers(0, 40_000, 30_000) ** 1.1 % 40_000).astype(np.int64)
    real = np.stack([wide_real, rng.integers(0, 5, 30_000)])
    synthetic = np.stack([wide_synthetic, rng.integers(0, 5, 30_000) // 2])
    value = propensity_mse(real, synthetic, 3)
    assert is_one_of(value, sklearn_values(real, synthetic, 3, states=5))
    assert propensity_mse(real * 1_000_003, synthetic * 1_000_003, 3) == value


def test_edge_cases() -> None:
    empty = np.zeros((3, 0), dtype=np.int32)
    table = np.random.default_rng(0).integers(0, 4, (3, 500))
    assert propensity_mse(empty, empty) == 0.0
    assert propensity_mse(table, empty) == 0.0
    assert propensity_mse(empty, table) == 0.0
    assert propensity_mse(table, table) == 0.0  # every leaf holds as many of each: nothing to tell apart
    assert propensity_mse(np.zeros((0, 5), np.int32), np.zeros((0, 7), np.int32)) == 0.0  # no feature: one leaf
    with pytest.raises(ValueError, match="non-negative"):
        propensity_mse(table - 1, table)


def test_separable_tables_score_the_maximum() -> None:
    """Real rows all code 0, synthetic rows all code 1: the first split separates them, p = 0 or 1 and the score is
    c(1 − c)."""
    real = np.zeros((2, 300), np.int32)
    synthetic = np.ones((2, 100), np.int32)
    assert propensity_mse(real, synthetic) == pytest.approx(0.25 * 0.75, abs=1e-15)


def test_exact_ties_go_to_the_lowest_threshold() -> None:
    """Codes 0 | 1 2 and 0 1 | 2 score exactly alike (1 + 13/3 and 10/3 + 2) but round differently: the first
    threshold is kept, as the exact CART keeps it (hypothesis found this case)."""
    real = np.array([[0, 1]], dtype=np.int32)
    synthetic = np.array([[0, 1, 1, 1, 2, 2]], dtype=np.int32)
    assert sorted(map(tuple, leaf_class_counts(real, synthetic, 1).tolist())) == [(1, 1), (1, 5)]
