"""Scores comparable across synthetic-data tools, computed on the tables as users load them.

- k-marginal, as NIST SDNist computes it (pinned to SDNist 2.4, `sdnist/metrics/kmarginal.py` and
  `sdnist/report/dataset/binning.py`, PyPI release of February 2024): features sorted by name; numeric features put
  into 20 percentile-rank bins of the *real* data (`bin = min(⌊20·rank_pct⌋, 19)`, ties share their average rank;
  synthetic values go to the first real bin whose largest real value is ≥ them); for every pair of features the
  densities of both tables over the pair's cells (a cell missing on one side counts 0) are compared by L1 distance;
  score = (2 − mean L1) × 500, 1000 = identical. SDNist bins a fixed list of ACS columns; we bin every column whose
  non-empty values are all numbers spanning more than 20 (the rule SDNist's documentation states). SDNist 2.4 scores
  *all* pairs (older releases sampled 50-100 random pairs); so do we below PAIR_SAMPLE_FROM (30) features; from 30
  features on, PAIR_SAMPLE (200) distinct pairs drawn with `numpy.random.default_rng(0)` keep the cost bounded.
  SDNist's per-PUMA grouping does not apply to our data.
- propensity MSE, as SDNist: a depth-6 decision tree fitted on the stacked tables (category codes as features)
  to tell real from synthetic rows, scored on the same rows: mean((p − c)²), c = synthetic share.
- unique exact matches, as SDNist: of the real records unique on all columns, the share that appear in the
  synthetic data.
- a subsample baseline: the k-marginal of p % samples of the real data, and the p whose score is closest to the
  synthetic data's ("scores like a p % sample").
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from .kernels.marginal_counts import Marginals
from .marginals import shared_codes

SUBSAMPLE_FRACTIONS = (0.01, 0.05, 0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90)
NUMERIC_RANGE = 20
BINS = 20
PAIR_SAMPLE_FROM = 30
PAIR_SAMPLE = 200


def _numeric(values: pl.Series) -> np.ndarray | None:
    """The column as floats when every non-empty value is a number spanning more than NUMERIC_RANGE, else None."""
    present = values.filter(values != "")
    if present.len() == 0:
        return None
    numbers = present.cast(pl.Float64, strict=False)
    if numbers.null_count() or not np.isfinite(numbers.to_numpy()).all():
        return None
    span = float(numbers.max()) - float(numbers.min())  # type: ignore[arg-type]
    return values.cast(pl.Float64, strict=False).to_numpy() if span > NUMERIC_RANGE else None


def _percentile_bins(real: np.ndarray, synthetic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SDNist's percentile-rank bins of the real values, and the same bins applied to synthetic values (−1 = empty)."""
    real_bins = np.full(real.shape[0], -1, dtype=np.int64)
    present = ~np.isnan(real)
    pct = pl.Series(real[present]).rank(method="average").to_numpy() / present.sum()
    real_bins[present] = np.where(pct < 1, np.floor(BINS * pct), BINS - 1).astype(np.int64)
    labels = np.unique(real_bins[present])
    tops = np.array([real[present][real_bins[present] == b].max() for b in labels])
    syn_bins = np.full(synthetic.shape[0], -1, dtype=np.int64)
    s_present = ~np.isnan(synthetic)
    idx = np.minimum(np.searchsorted(tops, synthetic[s_present], side="left"), len(labels) - 1)
    syn_bins[s_present] = labels[idx]
    return real_bins, syn_bins


def feature_codes(real: pl.DataFrame, synthetic: pl.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray, list[int]]:
    """Both tables as (features, rows) int32 codes (features sorted by name; numeric ones binned as SDNist does)."""
    features = sorted(real.columns)
    a = np.empty((len(features), real.height), dtype=np.int32)
    b = np.empty((len(features), synthetic.height), dtype=np.int32)
    sizes = []
    for j, col in enumerate(features):
        r = real.get_column(col).cast(pl.String).fill_null("")
        s = synthetic.get_column(col).cast(pl.String).fill_null("")
        numbers = _numeric(r)
        if numbers is not None:
            rb, sb = _percentile_bins(numbers, s.cast(pl.Float64, strict=False).to_numpy())
            a[j], b[j] = rb + 1, sb + 1
            sizes.append(BINS + 1)
        else:
            a[j], b[j], size = shared_codes(r, s)
            sizes.append(size)
    return features, a, b, sizes


def feature_pairs(n_features: int, max_pairs: int | None = None) -> list[tuple[int, int]]:
    """All pairs of features, or a sample of them (see the module notes)."""
    pairs = list(itertools.combinations(range(n_features), 2)) or [(0, 0)]
    if max_pairs is None and n_features >= PAIR_SAMPLE_FROM:
        max_pairs = PAIR_SAMPLE
    if max_pairs is not None and len(pairs) > max_pairs:
        chosen = np.random.default_rng(0).choice(len(pairs), size=max_pairs, replace=False)
        pairs = [pairs[i] for i in sorted(chosen)]
    return pairs


def _score(l1: np.ndarray) -> float:
    return (2.0 - float(l1.mean())) * 500.0


def k_marginal(
    features: list[str], real: np.ndarray, synthetic: np.ndarray, sizes: list[int], max_pairs: int | None = None
) -> tuple[float, pl.DataFrame]:
    """SDNist's 2-marginal score and its per-pair L1 distances (codes as from `feature_codes`)."""
    pairs = feature_pairs(len(features), max_pairs)
    l1 = Marginals(real, sizes, pairs).l1(synthetic)
    return _score(l1), _pair_detail(features, pairs, l1)


def _pair_detail(features: list[str], pairs: list[tuple[int, int]], l1: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame(
        {"feature_a": [features[i] for i, _ in pairs], "feature_b": [features[j] for _, j in pairs], "l1": l1},
        schema={"feature_a": pl.String, "feature_b": pl.String, "l1": pl.Float64},
    )


def propensity_mse(real: np.ndarray, synthetic: np.ndarray) -> float:
    """SDNist's propensity MSE on (features, rows) codes."""
    from sklearn.tree import DecisionTreeClassifier

    x = np.hstack([real, synthetic]).T
    y = np.concatenate([np.zeros(real.shape[1]), np.ones(synthetic.shape[1])])
    tree = DecisionTreeClassifier(max_depth=6, random_state=0).fit(x, y)
    p = tree.predict_proba(x)[:, 1] if len(tree.classes_) == 2 else np.full(len(x), float(tree.classes_[0]))
    c = synthetic.shape[1] / len(x)
    return float(np.mean((p - c) ** 2))


def unique_exact_matches(real: pl.DataFrame, synthetic: pl.DataFrame) -> dict[str, float]:
    columns = real.columns
    counts = real.group_by(columns).len()
    unique = counts.filter(pl.col("len") == 1).drop("len")
    matched = unique.join(synthetic.select(columns).unique(), on=columns, how="inner").height
    return {
        "unique_real_records": unique.height,
        "unique_real_records_pct": 100.0 * unique.height / real.height if real.height else 0.0,
        "matched": matched,
        "matched_pct": 100.0 * matched / unique.height if unique.height else 0.0,
    }


@dataclass
class CrossToolScores:
    scores: dict[str, Any]
    k_marginal_pairs: pl.DataFrame
    subsample: pl.DataFrame


def cross_tool_scores(real: pl.DataFrame, synthetic: pl.DataFrame, max_pairs: int | None = None) -> CrossToolScores:
    """k-marginal (with its subsample baseline), propensity MSE and unique exact matches."""
    features, a, b, sizes = feature_codes(real, synthetic)
    pairs = feature_pairs(len(features), max_pairs)
    real_pairs = Marginals(a, sizes, pairs)  # the real data's pair densities, counted once
    l1 = real_pairs.l1(b)
    score, detail = _score(l1), _pair_detail(features, pairs, l1)
    rng = np.random.default_rng(0)
    rows = []
    for f in SUBSAMPLE_FRACTIONS:
        n = max(1, round(f * a.shape[1]))
        sample = np.sort(rng.choice(a.shape[1], size=n, replace=False))
        rows.append({"fraction": f, "k_marginal": _score(real_pairs.l1(a, rows=sample))})
    subsample = pl.DataFrame(rows)
    distances = np.abs(subsample.get_column("k_marginal").to_numpy() - score)
    equivalent = float(SUBSAMPLE_FRACTIONS[int(np.argmin(distances))])
    return CrossToolScores(
        scores={
            "k_marginal": score,
            "k_marginal_sdnist": int(score),  # SDNist reports the truncated integer
            "k_marginal_pairs": detail.height,
            "subsample_equivalent_pct": 100.0 * equivalent,
            "propensity_mse": propensity_mse(a, b),
            **{f"unique_exact_{k}": v for k, v in unique_exact_matches(real, synthetic).items()},
        },
        k_marginal_pairs=detail,
        subsample=subsample,
    )
