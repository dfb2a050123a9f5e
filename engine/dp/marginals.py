"""DP marginals: the reference's per-length loop (spec §3.4) with defensible noise (see docs/privacy.md).

For k = 1..R: candidates V_k (single attributes, then extensions of the retained (k−1)-tuples), each record's
valid k-tuples, a DP percentile of their numbers as the contribution bound Δ_k, a uniformly random subset of at most
Δ_k tuples per record, discrete Gaussian noise of variance σ_k²·Δ_k on every candidate (zero counts included), a
threshold, retention. Then post-processing (spec §3.6).

Two deliberate fixes of the reference (docs/deviations.md): the percentile uses a sensitivity-1 score over a public
range, and the single-attribute domain is built after contribution bounding, so one record brings at most Δ₁
attributes into it (the reference's ρ₁ bound assumes so, but its domain holds every attribute of the record).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from .._version import __version__
from ..aggregate import Aggregates, normalize_reporting_length
from ..encode import AttributeTable, Records
from ..errors import PrivacyParameterError
from ..kernels.counting import build_lookup_table
from ..kernels.keys import KeyLayout
from ..parallel import default_threads, run_batches
from ..progress import NullProgress, Progress
from .budget import (
    BudgetSplit,
    DiscreteGaussian,
    discrete_rho1,
    infer_delta,
    length_threshold,
    split_budget,
)
from .kernels import add_discrete_gaussian, bounded_counts, generate_candidates, sensitivity_histogram
from .params import DpParameters
from .percentile import select_percentile
from .postprocess import post_process
from .random import DpRandom, discrete_laplace

MAX_PERCENTILE_CANDIDATES = 1 << 20  # public cap on Δ_k's candidate range
ZERO_FAST_PATH_MIN = 4096  # from this many zero-count candidates on, sample their noise in bulk


@dataclass
class LevelReport:
    """What one combination length used (all of it safe to release)."""

    length: int
    sigma: float
    sensitivity: int
    noise_variance: float
    threshold: float
    percentile_range: int
    candidates: int | None
    retained: int
    released_combinations: int = 0

    def as_row(self) -> dict[str, Any]:
        return {
            "length": self.length,
            "sigma": self.sigma,
            "sensitivity": self.sensitivity,
            "noise_sd": math.sqrt(self.noise_variance) if self.noise_variance else 0.0,
            "threshold": self.threshold,
            "percentile_candidates": self.percentile_range,
            "candidates": self.candidates,
            "released_combinations": self.released_combinations,
        }


@dataclass
class DpResult:
    aggregates: Aggregates
    budget: BudgetSplit
    levels: list[LevelReport] = field(default_factory=list)


def public_max_attributes(attributes: AttributeTable, declared_parts: dict[str, int] | None = None) -> int:
    """W: the most attributes one record can hold. One per single-valued column; for a multi-value column the
    number of parts the schema declares (public), else the number of parts seen (documented as data-derived)."""
    total = 0
    seen: set[int] = set()
    for col in attributes.columns:
        if col.source_position in seen:
            continue
        seen.add(col.source_position)
        if col.is_part:
            declared = (declared_parts or {}).get(col.source)
            observed = sum(1 for c in attributes.columns if c.source_position == col.source_position)
            total += declared if declared is not None else observed
        else:
            total += 1
    return max(total, 1)


def candidate_keys(
    previous: np.ndarray, retained: np.ndarray, attributes: AttributeTable, layout: KeyLayout, k: int
) -> np.ndarray:
    """V_k from the retained (k−1)-tuples `previous` and all retained keys so far (spec §3.4 a), sorted."""
    prev_ids = layout.unpack(previous, k - 1).astype(np.int64)
    rk, rv = build_lookup_table(retained, np.ones(len(retained), dtype=np.int64))
    present = np.unique(prev_ids).astype(np.int64)
    column_of = attributes.column_of.astype(np.int64)
    return np.unique(generate_candidates(prev_ids, present, column_of, rk, rv, k, layout.bits, layout.slots))


def _histogram_job(
    k: int, layout: KeyLayout, ck: np.ndarray, ci: np.ndarray, hists: list[np.ndarray], buffer_size: int,
    t: int, offsets: np.ndarray, ids: np.ndarray, lo: int, hi: int,
) -> None:  # fmt: skip
    sensitivity_histogram(offsets, ids, lo, hi, k, layout.bits, layout.slots, ck, ci, hists[t], buffer_size)


def _counting_job(
    k: int, layout: KeyLayout, ck: np.ndarray, ci: np.ndarray, allowed: int, states: list[np.ndarray],
    per_thread: list[np.ndarray], buffer_size: int, t: int, offsets: np.ndarray, ids: np.ndarray, lo: int, hi: int,
) -> None:  # fmt: skip
    bounded_counts(
        offsets, ids, lo, hi, k, layout.bits, layout.slots, ck, ci, allowed, states[t], per_thread[t], buffer_size
    )


def _count_records_and_lengths(records: Records, cap: int) -> tuple[int, np.ndarray, int]:
    """N, the histogram of attributes per record (the k = 1 sensitivities, clipped to the public bound) and the
    longest record (only to size scratch buffers; never released), in one pass."""
    hist = np.zeros(cap + 1, dtype=np.int64)
    n = 0
    longest = 0
    for offsets, _ in records.batches():
        lengths = np.diff(offsets)
        if len(lengths):
            longest = max(longest, int(lengths.max()))
        hist += np.bincount(np.minimum(lengths, cap), minlength=cap + 1)[: cap + 1]
        n += len(offsets) - 1
    return n, hist, longest


def _zero_noise_bulk(
    n_zero: int, noise: DiscreteGaussian, minimum: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Which of `n_zero` zero-count candidates pass, and their noisy values, without drawing noise for each.

    Naively each zero candidate gets X_i ~ N_Z(0, σ²) and passes iff X_i ≥ m (m = the least integer above the
    threshold and above 0). The X_i are i.i.d., so (i) the number passing is Binomial(n_zero, p) with p = P(X ≥ m);
    (ii) given that number B, by exchangeability the passing set is a uniformly random B-subset; (iii) given that a
    candidate passes, its value is X conditioned on X ≥ m, independently of the others. Sampling (i)–(iii) therefore
    gives exactly the naive joint distribution of (passing set, values). Our p and the conditional tail are computed
    in floating point (relative error ~1e-14), so the distributions agree up to that precision.
    """
    p = noise.tail(minimum)
    passing = int(rng.binomial(n_zero, p)) if p > 0 else 0
    if passing == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    chosen = np.sort(rng.choice(n_zero, size=passing, replace=False))
    span = int(40 * math.sqrt(noise.variance)) + 10
    xs = np.arange(minimum, minimum + span + 1, dtype=np.float64)
    weights = np.exp(-(xs * xs - minimum * minimum) / (2.0 * noise.variance))
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    values = minimum + np.searchsorted(cdf, rng.random(passing), side="right")
    return chosen, np.minimum(values, minimum + span).astype(np.int64)


def dp_marginals(
    records: Records,
    params: DpParameters,
    max_attributes: int | None = None,
    n_threads: int | None = None,
    progress: Progress | None = None,
    rng: DpRandom | None = None,
) -> DpResult:
    """DP aggregates of all combinations of length ≤ R (spec §3). Randomness comes from OS entropy unless a
    test injects `rng` (`DpRandom._seeded_for_tests`)."""
    progress = progress or NullProgress()
    n_threads = n_threads or default_threads()
    rng = rng or DpRandom.from_os_entropy(n_threads + 1)
    if len(rng.states) < n_threads + 1:
        raise ValueError("the DP random source needs one stream per thread plus one")
    main_state = rng.states[n_threads]
    floats = rng.numpy_generator()
    attributes = records.attributes
    R = params.reporting_length
    loop_length = normalize_reporting_length(R, len(attributes.columns))  # longer lengths are empty anyway
    layout = KeyLayout.for_attributes(attributes.n_attributes, loop_length)
    W = max_attributes or public_max_attributes(attributes)

    with progress.stage("DP: record count", unit="records") as bar:
        n_true, length_hist, longest = _count_records_and_lengths(records, min(W, MAX_PERCENTILE_CANDIDATES))
        bar.advance(n_true)
    if n_true == 0:
        raise PrivacyParameterError("number_of_records must be greater than 0")

    # record count: pure ε_N-DP discrete Laplace, ε_N rounded down to a multiple of 2^-20 (never more budget)
    eps_records = params.number_of_records_epsilon_proportion * params.epsilon
    eps_num = math.floor(eps_records * (1 << 20))
    n_protected = n_true + int(discrete_laplace(main_state, eps_num, 1 << 20))
    del n_true  # everything below uses the protected count only
    if n_protected <= 0:
        raise PrivacyParameterError(
            "adding noise to the number of records gave a non-positive count: the dataset is too small for this epsilon"
        )
    delta = params.delta if params.delta is not None else infer_delta(n_protected)
    budget = split_budget(
        params.epsilon, R, params.percentile_epsilon_proportion, params.sigma_proportions, delta, eps_records
    )
    threshold_setting = params.threshold

    retained_keys: list[np.ndarray] = []
    retained_noisy: list[np.ndarray] = []
    levels: list[LevelReport] = []
    for k in range(1, loop_length + 1):
        sigma_k = budget.sigmas[k - 1]
        bound = min(math.comb(W, k), MAX_PERCENTILE_CANDIDATES)
        if k == 1:
            cand_keys = np.array([layout.pack([a]) for a in range(attributes.n_attributes)], dtype=np.uint64)
            histogram = length_hist
        else:
            cand_keys = candidate_keys(retained_keys[-1], np.concatenate(retained_keys), attributes, layout, k)
            if len(cand_keys) == 0:
                break
            histogram = None
        ck, ci = build_lookup_table(cand_keys, np.arange(1, len(cand_keys) + 1, dtype=np.int64))
        buffer_size = max(1, math.comb(longest, k))
        if histogram is None:
            hists = [np.zeros(bound + 1, dtype=np.int64) for _ in range(n_threads)]
            hist_work = partial(_histogram_job, k, layout, ck, ci, hists, buffer_size)
            with progress.stage(f"DP: length {k} sensitivities", unit="records") as bar:
                run_batches(records.batches(), n_threads, hist_work, bar.advance)
            histogram = np.sum(hists, axis=0)
        allowed = select_percentile(histogram, params.percentile_percentage, budget.epsilon_percentile, main_state)
        if allowed == 0:
            levels.append(LevelReport(k, sigma_k, 0, 0.0, float("nan"), bound, len(cand_keys) if k > 1 else None, 0))
            break
        per_thread = [np.zeros(len(cand_keys), dtype=np.int64) for _ in range(n_threads)]

        count_work = partial(_counting_job, k, layout, ck, ci, allowed, rng.states, per_thread, buffer_size)
        with progress.stage(f"DP: length {k} counts", unit="records") as bar:
            run_batches(records.batches(), n_threads, count_work, bar.advance)
        counts = np.sum(per_thread, axis=0)
        noise = DiscreteGaussian.with_variance(sigma_k * sigma_k * allowed)
        if k == 1:
            rho = float(discrete_rho1(noise, allowed, delta))
            in_domain = np.flatnonzero(counts > 0)  # the domain after contribution bounding
            zero_idx = np.zeros(0, dtype=np.int64)
        else:
            rho = length_threshold(threshold_setting, k, sigma_k, allowed)
            in_domain = np.flatnonzero(counts > 0)
            zero_idx = np.flatnonzero(counts == 0)
        noisy = add_discrete_gaussian(counts[in_domain], main_state, noise.num, noise.den, noise.tail_cap)
        keep = (noisy > rho) & (noisy > 0)
        kept_idx = [in_domain[keep]]
        kept_val = [noisy[keep]]
        if len(zero_idx):
            minimum = max(math.floor(rho) + 1, 1)
            if len(zero_idx) >= ZERO_FAST_PATH_MIN:
                chosen, values = _zero_noise_bulk(len(zero_idx), noise, minimum, floats)
                kept_idx.append(zero_idx[chosen])
                kept_val.append(values)
            else:
                z = add_discrete_gaussian(counts[zero_idx], main_state, noise.num, noise.den, noise.tail_cap)
                zkeep = z >= minimum
                kept_idx.append(zero_idx[zkeep])
                kept_val.append(z[zkeep])
        idx = np.concatenate(kept_idx)
        vals = np.concatenate(kept_val)
        order = np.argsort(idx)
        level_keys, level_vals = cand_keys[idx[order]], vals[order]
        levels.append(
            LevelReport(
                k, sigma_k, allowed, noise.variance, rho, bound, len(cand_keys) if k > 1 else None, len(level_keys)
            )
        )
        if len(level_keys) == 0:
            break
        retained_keys.append(level_keys)
        retained_noisy.append(level_vals)

    if retained_keys:
        keys = np.concatenate(retained_keys)
        noisy_all = np.concatenate(retained_noisy)
        order = np.argsort(keys, kind="stable")
        keys, released = post_process(keys[order], noisy_all[order], layout, loop_length)
    else:
        keys, released = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    lengths = layout.lengths(keys)
    for lvl in levels:
        lvl.released_combinations = int((lengths == lvl.length).sum())
    parameters = {
        "mode": "dp",
        **params.describe(),
        "delta": delta,
        "delta_inferred": params.delta is None,
        "epsilon_record_count": eps_num / (1 << 20),
        "epsilon_marginals": budget.epsilon_marginals,
        "rho_zcdp": budget.rho,
        "epsilon_percentile_each": budget.epsilon_percentile,
        "max_attributes_per_record": W,
        "noise": "discrete Gaussian (exact sampler, ChaCha20 keyed from OS entropy)",
        "record_count_noise": "discrete Laplace",
        "percentile_score": "rank distance (sensitivity 1) over a public range",
        "unit_of_privacy": "one record (one victim after subject-id joining)",
        "software": f"sdsynth {__version__}",
    }
    aggs = Aggregates(
        attributes=attributes,
        layout=layout,
        keys=keys,
        counts=released,
        reporting_length=loop_length,
        mode="dp",
        record_count=n_protected,
        parameters=parameters,
        levels=[lvl.as_row() for lvl in levels],
    )
    return DpResult(aggs, budget, levels)
