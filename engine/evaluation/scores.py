"""Scores comparable across synthetic-data tools, computed on the tables as users load them (see `profile.py`).

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
- propensity MSE, as SDNist: a depth-6 decision tree fitted on the stacked tables (binned category codes as
  features) to tell real from synthetic rows, scored on the same rows: mean((p − c)²), c = synthetic share
  (`propensity.py`: scikit-learn's tree, grown from histograms). Tables above SAMPLE_ROWS rows are represented by a
  uniform sample of that many rows each.
- unique exact matches, as SDNist: of the real records unique on all columns, the share that appear in the
  synthetic data (records compared by a 64-bit fingerprint of their categories).
- a subsample baseline: the k-marginal of p % samples of the real data (nested Bernoulli samples: one uniform
  number per row), and the largest p whose sample scores no better than the synthetic data ("scores like a p %
  sample"; 0 when even a 1 % sample scores better).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from sdsynth.evaluation.profile import TableProfile, category_codes
from sdsynth.evaluation.propensity import propensity_mse

SUBSAMPLE_FRACTIONS = (0.01, 0.05, 0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90)
NUMERIC_RANGE = 20
BINS = 20
PAIR_SAMPLE_FROM = 30
PAIR_SAMPLE = 200


def _number(label: str) -> float:
    try:
        value = float(label)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def numeric_bins(labels: Sequence[str], real_counts: np.ndarray) -> np.ndarray | None:
    """SDNist's bins of a column, as a map category → bin (0 = empty or not a number, 1..BINS), or None when it is not
    numeric (some non-empty real value is not a number, or the values span NUMERIC_RANGE or less)."""
    values = np.array([_number(x) for x in labels])
    present = np.array([x != "" for x in labels], dtype=np.bool_)
    seen = present & (real_counts > 0)
    if not seen.any() or np.isnan(values[seen]).any():
        return None
    if values[seen].max() - values[seen].min() <= NUMERIC_RANGE:
        return None
    cats = np.flatnonzero(seen)
    cats = cats[np.argsort(values[cats], kind="stable")]
    counts = real_counts[cats].astype(np.float64)
    before = np.concatenate([[0.0], np.cumsum(counts)[:-1]])
    pct = (before + (counts + 1) / 2) / counts.sum()  # average rank of tied values, as a share
    real_bin = np.where(pct < 1, np.floor(BINS * pct), BINS - 1).astype(np.int64)
    out = np.zeros(len(labels), dtype=np.int32)
    out[cats] = real_bin + 1
    labels_used = np.unique(real_bin)
    tops = np.array([values[cats][real_bin == b].max() for b in labels_used])
    unseen = present & ~seen & ~np.isnan(values)
    idx = np.minimum(np.searchsorted(tops, values[unseen], side="left"), len(labels_used) - 1)
    out[unseen] = labels_used[idx] + 1
    return out


def feature_pairs(names: Sequence[str], max_pairs: int | None = None) -> list[tuple[int, int]]:
    """The pairs of features scored, as column indices: features sorted by name; all pairs, or a sample."""
    order = sorted(range(len(names)), key=lambda i: names[i])
    pairs = list(itertools.combinations(order, 2))
    if max_pairs is None and len(names) >= PAIR_SAMPLE_FROM:
        max_pairs = PAIR_SAMPLE
    if max_pairs is not None and len(pairs) > max_pairs:
        chosen = np.random.default_rng(0).choice(len(pairs), size=max_pairs, replace=False)
        pairs = [pairs[i] for i in sorted(chosen)]
    return pairs


def _score(l1: np.ndarray) -> float:
    return (2.0 - float(l1.mean())) * 500.0 if len(l1) else 1000.0


def _pair_l1(real: TableProfile, other: TableProfile, pairs: list[tuple[int, int]], upto: int | None = None,
             other_upto: int | None = None) -> np.ndarray:  # fmt: skip
    assert real.kmarginal is not None and other.kmarginal is not None
    l1 = real.kmarginal.l1(other.kmarginal, other_upto=other_upto, upto=upto)
    index = {tuple(c): t for t, c in enumerate(real.kmarginal.combos.tolist())}
    return np.array([l1[index[(min(a, b), max(a, b))]] for a, b in pairs])


@dataclass
class CrossToolScores:
    scores: dict[str, Any]
    k_marginal_pairs: pl.DataFrame
    subsample: pl.DataFrame


def kmarginal_bins(labels: Sequence[Sequence[str]], real_counts: Sequence[np.ndarray]) -> list[np.ndarray | None]:
    """Per column, its SDNist bins (numeric columns) or None."""
    return [numeric_bins(lab, cnt) for lab, cnt in zip(labels, real_counts, strict=True)]


def unique_exact_matches(real_hashes: np.ndarray, synthetic_hashes: np.ndarray) -> dict[str, float]:
    """Of the real records unique on all columns, how many (and what share) appear in the synthetic data."""
    values, counts = np.unique(real_hashes, return_counts=True)
    unique = values[counts == 1]
    matched = int(np.isin(unique, synthetic_hashes).sum())
    n_real = len(real_hashes)
    return {
        "unique_real_records": len(unique),
        "unique_real_records_pct": 100.0 * len(unique) / n_real if n_real else 0.0,
        "matched": matched,
        "matched_pct": 100.0 * matched / len(unique) if len(unique) else 0.0,
    }


def k_marginal_from_profiles(
    real: TableProfile, synthetic: TableProfile, names: Sequence[str], max_pairs: int | None = None
) -> tuple[float, pl.DataFrame]:
    """SDNist's k-marginal score and its per-pair L1 distances, from profiles with the same dictionaries and bins."""
    pairs = feature_pairs(names, max_pairs)
    l1 = _pair_l1(real, synthetic, pairs)
    detail = pl.DataFrame(
        {"feature_a": [names[a] for a, _ in pairs], "feature_b": [names[b] for _, b in pairs], "l1": l1},
        schema={"feature_a": pl.String, "feature_b": pl.String, "l1": pl.Float64},
    )
    return _score(l1), detail


def cross_tool_scores_from_profiles(
    real: TableProfile, synthetic: TableProfile, names: Sequence[str], max_pairs: int | None = None
) -> CrossToolScores:
    """k-marginal (with its subsample baseline), propensity MSE and unique exact matches of two profiles built
    with the same category dictionaries and bins (the real one with subsample layers)."""
    score, detail = k_marginal_from_profiles(real, synthetic, names, max_pairs)
    pairs = feature_pairs(names, max_pairs)
    rows = []
    for i, f in enumerate(real.fractions.tolist()):
        rows.append({"fraction": f, "k_marginal": _score(_pair_l1(real, real, pairs, other_upto=i))})
    subsample = pl.DataFrame(rows, schema={"fraction": pl.Float64, "k_marginal": pl.Float64})
    equivalent = None
    if subsample.height:  # the largest sample that scores no better than the synthetic data (0: below them all)
        reached = real.fractions[subsample.get_column("k_marginal").to_numpy() <= score]
        equivalent = 100.0 * float(reached.max()) if len(reached) else 0.0
    return CrossToolScores(
        scores={
            "k_marginal": score,
            "k_marginal_sdnist": int(score),  # SDNist reports the truncated integer
            "k_marginal_pairs": detail.height,
            "subsample_equivalent_pct": equivalent,
            "propensity_mse": propensity_mse(real.sample, synthetic.sample),
            **{f"unique_exact_{k}": v for k, v in unique_exact_matches(real.hashes, synthetic.hashes).items()},
        },
        k_marginal_pairs=detail,
        subsample=subsample,
    )


def frame_profiles(
    real: pl.DataFrame, synthetic: pl.DataFrame, orders: Sequence[int] = (), subsample: bool = True
) -> tuple[TableProfile, TableProfile, list[str]]:
    """Profiles of two data frames (cells as strings, null = empty), sharing one dictionary per column."""
    columns = list(real.columns)
    real_s = real.select(pl.col(c).cast(pl.String).fill_null("") for c in columns)
    syn_s = synthetic.select(pl.col(c).cast(pl.String).fill_null("") for c in columns)
    a, b, sizes, labels = category_codes(real_s, syn_s, columns)
    counts = [np.bincount(a[c], minlength=sizes[c]) for c in range(len(columns))]
    bins = kmarginal_bins(labels, counts)
    fractions = SUBSAMPLE_FRACTIONS if subsample else ()
    hint = max(real.height, synthetic.height)  # both profiles count each column set alike
    real_p = TableProfile(sizes, orders, bins, fractions, real.height, rows_hint=hint).add(a)
    syn_p = TableProfile(sizes, orders, bins, (), synthetic.height, rows_hint=hint).add(b)
    return real_p, syn_p, columns


def cross_tool_scores(real: pl.DataFrame, synthetic: pl.DataFrame, max_pairs: int | None = None) -> CrossToolScores:
    """The cross-tool scores of two data frames (e.g. another tool's output against the real table)."""
    real_p, syn_p, columns = frame_profiles(real, synthetic)
    return cross_tool_scores_from_profiles(real_p, syn_p, columns, max_pairs)


def k_marginal(real: pl.DataFrame, synthetic: pl.DataFrame, max_pairs: int | None = None) -> tuple[float, pl.DataFrame]:
    """SDNist's k-marginal score of two data frames and its per-pair L1 distances."""
    real_p, syn_p, columns = frame_profiles(real, synthetic, subsample=False)
    return k_marginal_from_profiles(real_p, syn_p, columns, max_pairs)
