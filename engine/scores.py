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
    """Both tables as integer codes per feature (features sorted by name; numeric ones binned as SDNist does)."""
    features = sorted(real.columns)
    a = np.empty((real.height, len(features)), dtype=np.int64)
    b = np.empty((synthetic.height, len(features)), dtype=np.int64)
    sizes = []
    for j, col in enumerate(features):
        r = real.get_column(col).cast(pl.String).fill_null("")
        s = synthetic.get_column(col).cast(pl.String).fill_null("")
        numbers = _numeric(r)
        if numbers is not None:
            rb, sb = _percentile_bins(numbers, s.cast(pl.Float64, strict=False).to_numpy())
            a[:, j], b[:, j] = rb + 1, sb + 1
            sizes.append(BINS + 1)
            continue
        categories = pl.concat([r, s]).unique().sort()
        mapping = dict(zip(categories.to_list(), range(len(categories)), strict=True))
        a[:, j] = r.replace_strict(mapping, return_dtype=pl.Int64).to_numpy()
        b[:, j] = s.replace_strict(mapping, return_dtype=pl.Int64).to_numpy()
        sizes.append(len(categories))
    return features, a, b, sizes


def _pair_l1(x: np.ndarray, y: np.ndarray, dims: tuple[int, int]) -> float:
    cells = dims[0] * dims[1]
    p = np.bincount(x[:, 0] * dims[1] + x[:, 1], minlength=cells) / max(len(x), 1)
    q = np.bincount(y[:, 0] * dims[1] + y[:, 1], minlength=cells) / max(len(y), 1)
    return float(np.abs(p - q).sum())


def k_marginal(
    features: list[str], real: np.ndarray, synthetic: np.ndarray, sizes: list[int], max_pairs: int | None = None
) -> tuple[float, pl.DataFrame]:
    """SDNist's 2-marginal score and its per-pair L1 distances (all pairs, or a sample: see the module notes)."""
    pairs = list(itertools.combinations(range(len(features)), 2)) or [(0, 0)]
    if max_pairs is None and len(features) >= PAIR_SAMPLE_FROM:
        max_pairs = PAIR_SAMPLE
    if max_pairs is not None and len(pairs) > max_pairs:
        chosen = np.random.default_rng(0).choice(len(pairs), size=max_pairs, replace=False)
        pairs = [pairs[i] for i in sorted(chosen)]
    rows = []
    for i, j in pairs:
        l1 = _pair_l1(real[:, [i, j]], synthetic[:, [i, j]], (sizes[i], sizes[j]))
        rows.append({"feature_a": features[i], "feature_b": features[j], "l1": l1})
    detail = pl.DataFrame(rows, schema={"feature_a": pl.String, "feature_b": pl.String, "l1": pl.Float64})
    return (2.0 - float(detail.get_column("l1").mean())) * 500.0, detail


def propensity_mse(real: np.ndarray, synthetic: np.ndarray) -> float:
    from sklearn.tree import DecisionTreeClassifier

    x = np.vstack([real, synthetic])
    y = np.concatenate([np.zeros(len(real)), np.ones(len(synthetic))])
    tree = DecisionTreeClassifier(max_depth=6, random_state=0).fit(x, y)
    p = tree.predict_proba(x)[:, 1] if len(tree.classes_) == 2 else np.full(len(x), float(tree.classes_[0]))
    c = len(synthetic) / len(x)
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
    score, pairs = k_marginal(features, a, b, sizes, max_pairs)
    rng = np.random.default_rng(0)
    rows = []
    for f in SUBSAMPLE_FRACTIONS:
        n = max(1, round(f * len(a)))
        sample = a[rng.choice(len(a), size=n, replace=False)]
        rows.append({"fraction": f, "k_marginal": k_marginal(features, a, sample, sizes, max_pairs)[0]})
    subsample = pl.DataFrame(rows)
    distances = np.abs(subsample.get_column("k_marginal").to_numpy() - score)
    equivalent = float(SUBSAMPLE_FRACTIONS[int(np.argmin(distances))])
    return CrossToolScores(
        scores={
            "k_marginal": score,
            "k_marginal_sdnist": int(score),  # SDNist reports the truncated integer
            "k_marginal_pairs": pairs.height,
            "subsample_equivalent_pct": 100.0 * equivalent,
            "propensity_mse": propensity_mse(a, b),
            **{f"unique_exact_{k}": v for k, v in unique_exact_matches(real, synthetic).items()},
        },
        k_marginal_pairs=pairs,
        subsample=subsample,
    )
