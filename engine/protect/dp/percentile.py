"""Choosing each length's contribution bound Δ_k with a DP percentile (docs/method.md, "Contribution bounds").

The reference scores candidates 0..max(sensitivities) with an ad hoc quality function and samples with
report-noisy-max (exponential noise of rate ε_Q/2). Two things make that not ε_Q-DP, and we fix both:

1. The candidate range 0..max depends on the data. We use a public range 0..min(C(W, k), 2²⁰), where W is the most
   attributes a record can have (the schema's declared parts, or an explicit bound).
2. The reference's quality function does not have sensitivity 1: adding one record can move a candidate's score by
   several units (for sensitivities [1,8,2,3,9,8,4,9,9,9,9,9] and Q = 50, adding a 9 moves the score of 1 from −5 to
   −12; `tests/test_dp_percentile.py` checks this counterexample). The exponential mechanism's guarantee assumes
   sensitivity 1. We use the rank-distance score

       t(i) = max(0, q·n − #{s ≤ i}, #{s < i} − q·n),    score(i) = −t(i),

   which is 0 exactly on the candidates that are a q-quantile of the data and grows by one per record that would
   have to move. Adding or removing one record changes each count by at most 1 and q·n by q, so every t(i) moves
   by at most max(q, 1 − q) ≤ 1. It agrees with the reference's scores where the reference is sound (most entries
   of the spec's test vectors); `reference_quality_scores` keeps the reference's exact function for comparison.

The public range is wide (a record *could* hold every attribute the schema allows) while real sensitivities sit
far below its top, so with a uniform base measure the many candidates above the data's maximum, all scored
−(1−q)·n, take a visible share of the probability when n·ε_Q is small. We therefore use the exponential mechanism
with a data-independent, scale-invariant base measure: candidates are grouped in dyadic bands [2^b − 1, 2^(b+1) − 1)
and μ gives every band the same mass, spread evenly inside it (so μ(i) ≈ 1/(i+1), uniform in log Δ):
P(i) ∝ μ(i)·exp(−ε·t(i)/2). A data-independent base measure does not change the privacy argument (it is the same as
adding a data-independent term to the utility, which has sensitivity 0).

Sampling is exact: propose a band uniformly and a candidate uniformly inside it, then accept with probability
exp(−ε'·(t(i) − t_min)/2) drawn with the exact Bernoulli(exp(−γ)) sampler, where ε' ≤ ε_Q is ε_Q rounded down to a
multiple of 2^-20. This is the exponential mechanism with utility −t of sensitivity 1, hence ε_Q-DP. (It takes at
most about (number of bands) × (band width) proposals, a fraction of a second for the largest range we allow.)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sdsynth.kernels.chacha import uniform_below
from sdsynth.protect.dp.random import bernoulli_exp

EPSILON_DENOMINATOR = 1 << 20
MAX_PERCENTILE_CANDIDATES = 1 << 20  # public cap on Δ_k's candidate range


def r8_quantile(sorted_values: np.ndarray | list[float], q: float) -> float:
    """Hyndman–Fan type 8 ("median-unbiased") quantile as statrs computes it (docs/method.md, "Contribution bounds")."""
    d = sorted_values
    n = len(d)
    if n == 0:
        return float("nan")
    h = (n + 1.0 / 3.0) * q + 1.0 / 3.0
    hf = math.trunc(h)
    if hf <= 0 or q == 0:
        return float(d[0])
    if hf >= n or q == 1:
        return float(d[-1])
    return float(d[hf - 1] + (h - hf) * (d[hf] - d[hf - 1]))


def reference_quality_scores(sensitivities: list[int], percentage: int) -> list[int]:
    """The reference's quality scores on 0..max(s), exactly (docs/method.md, "Contribution bounds"). Not used for
    selection (see above)."""
    if not sensitivities:
        return []
    d = sorted(sensitivities)
    n = len(d)
    top = d[-1]
    q = percentage / 100.0
    p_raw = math.floor(r8_quantile(d, q))
    pidx = sum(1 for x in d if x <= p_raw) - 1
    pval = d[pidx]
    last_index = {v: i for i, v in enumerate(d)}
    prev: int | None = None
    out = []
    for i in range(top + 1):
        if i < pval:
            if i in last_index:
                t = pidx - last_index[i]
            elif prev is not None:
                t = max(prev, 1)
            else:
                t = math.ceil(n * q)
        elif i == pval:
            t = 0
        elif i == top:
            t = math.ceil(n * (1 - q))
        elif i in last_index:
            t = last_index[i] - pidx
        else:
            t = max(prev if prev is not None else 1, 1)
        out.append(-t)
        prev = t
    return out


def rank_distance_scores(histogram: np.ndarray, percentage: int) -> np.ndarray:
    """100·t(i) for i = 0..len(histogram)−1, as exact integers (see the module docstring).

    `histogram[v]` is the number of records whose sensitivity is v; the last entry is the public bound.
    """
    counts = np.asarray(histogram, dtype=np.int64)
    n = int(counts.sum())
    at_most = np.cumsum(counts)
    below = at_most - counts
    qn100 = percentage * n
    return np.maximum(0, np.maximum(qn100 - 100 * at_most, 100 * below - qn100))


@njit(cache=True, nogil=True)
def _exponential_mechanism(state: np.ndarray, t100: np.ndarray, eps_num: np.int64, eps_den: np.int64) -> np.int64:
    """Index i with probability ∝ μ(i)·exp(−(eps_num/eps_den)·t100[i]/200), exactly (rejection sampling), where μ
    gives each dyadic band [2^b − 1, 2^(b+1) − 1) the same mass, uniform inside the band."""
    m = t100.shape[0]
    t_min = t100[0]  # a loop rather than .min(): the same value, without compiling NumPy's reduction
    for i in range(1, m):
        t_min = min(t_min, t100[i])
    bands = 0
    while (np.int64(1) << bands) - 1 < m:
        bands += 1
    while True:
        b = uniform_below(state, bands)
        i = (np.int64(1) << b) - 1 + uniform_below(state, np.int64(1) << b)
        if i >= m:
            continue
        if bernoulli_exp(state, eps_num * (t100[i] - t_min), 200 * eps_den):
            return i


STEADY_PERCENTILE = 99  # pac-synth's, when the DP choice of it is steady
UNSTEADY_PERCENTILE = 95  # otherwise


def steady_records(epsilon: float, max_attributes: int, length: int = 2) -> float:
    """The released record count from which the DP 99th percentile is steady: its 1 % tail, N̂/100 records, holds at
    least the exponential mechanism's rank error (2/ε_Q)·ln(range), the range of length `length` (public)."""
    candidates = max(min(math.comb(max_attributes, length), MAX_PERCENTILE_CANDIDATES), 2)
    return math.inf if epsilon <= 0 else 100 / (100 - STEADY_PERCENTILE) * 2.0 / epsilon * math.log(candidates)


def percentile_by_rule(n_protected: int, epsilon: float, max_attributes: int, length: int = 2) -> int:
    """The percentile of the contribution bounds, from public quantities (the released record count N̂, ε_Q and the
    bound on attributes per record): the 99th from `steady_records` on, else the 95th. Where the tail is thinner, the
    DP choice of the 99th percentile wanders from one release to the next (Δ₂ from 137 to 277 on CTDC-like 17 k at
    ε 0.5–1) and the 95th is steadier; where it is thick, the 99th is steady and truncates fewer records
    (docs/synthesis.md, "Strong privacy at low ε", item 8)."""
    steady = n_protected >= steady_records(epsilon, max_attributes, length)
    return STEADY_PERCENTILE if steady else UNSTEADY_PERCENTILE


def select_percentile(histogram: np.ndarray, percentage: int, epsilon: float, state: np.ndarray) -> int:
    """ε-DP choice of the `percentage`-th percentile of the sensitivities summarised by `histogram`."""
    if len(histogram) == 0 or int(np.sum(histogram)) == 0:
        return 0
    eps_num = math.floor(epsilon * EPSILON_DENOMINATOR)
    if eps_num <= 0:
        raise ValueError("percentile epsilon too small to represent")
    t100 = rank_distance_scores(histogram, percentage)
    return int(_exponential_mechanism(state, t100, np.int64(eps_num), np.int64(EPSILON_DENOMINATOR)))
