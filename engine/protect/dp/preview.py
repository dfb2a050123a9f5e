"""What a DP release at a chosen ε would look like, from public quantities only: for `release --dry-run`.

The noise of length k has standard deviation σ_k·√Δ_k and its threshold follows from σ_k, Δ_k and δ, where σ_k
comes from the budget split (ε, δ, R and the options) and Δ_k, the contribution bound, is chosen at run time by a
DP percentile. Before spending ε a user can borrow each Δ_k from a previous public release of the same dataset
(its `release_levels`) and see how many of that release's combinations would clear the new thresholds: a
combination's chance to clear is that of its released count, taken for the true one, plus the new noise exceeding
the new threshold (an estimate: the released counts carry the previous release's noise). Nothing here reads the
sensitive data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from sdsynth.protect.dp.budget import BudgetSplit, DiscreteGaussian, declared_threshold, discrete_rho1, length_threshold
from sdsynth.protect.dp.params import DpParameters


@dataclass(frozen=True)
class PreviousLevels:
    """A previous public DP release of the same dataset: its contribution bound and released counts per length."""

    sensitivity: Mapping[int, int]  # Δ_k of each length it released
    counts: Mapping[int, np.ndarray]  # the released counts of each length
    record_count: int | None = None  # its released (noisy) record count


@dataclass(frozen=True)
class LengthPreview:
    """One length at the chosen ε: σ_k, and with a previous release its Δ_k, the noise SD and threshold they give,
    and how many of that release's combinations of the length would clear it."""

    length: int
    sigma: float
    sensitivity: int | None = None
    noise_sd: float | None = None
    threshold: float | None = None
    previous: int | None = None
    clearing: int | None = None

    def describe(self) -> str:
        if self.sensitivity is None:
            return f"length {self.length}: σ = {self.sigma:.4g} (× √Δ, Δ chosen at run time)"
        cleared = ("" if self.previous is None
                   else f"; about {self.clearing:,} of its {self.previous:,} combinations would clear it")  # fmt: skip
        return (f"length {self.length}: σ = {self.sigma:.4g}, with the previous Δ = {self.sensitivity}: noise SD "
                f"{self.noise_sd:.4g}, threshold {self.threshold:.4g}{cleared}")  # fmt: skip


def preview_lengths(
    params: DpParameters, budget: BudgetSplit, previous: PreviousLevels | None, all_declared: bool = False
) -> list[LengthPreview]:
    """Each length's σ_k; with `previous`, the noise SD, threshold and combinations clearing it at the new ε, for
    the lengths the previous release bounded (Δ_k > 0). At length 1 the threshold is the δ-threshold ρ₁, or, when
    the schema declares every column's values (`all_declared`), the declared values' threshold (one noise SD)."""
    out = []
    for k, sigma_k in enumerate(budget.sigmas, start=1):
        bound = previous.sensitivity.get(k, 0) if previous is not None else 0
        if previous is None or bound <= 0:
            out.append(LengthPreview(k, sigma_k))
            continue
        noise = DiscreteGaussian.with_variance(sigma_k * sigma_k * bound)
        if k > 1:
            rho = length_threshold(params.threshold, k, sigma_k, bound)
        elif all_declared:
            rho = declared_threshold(sigma_k, bound)
        else:
            rho = float(discrete_rho1(noise, bound, params.resolved_delta))
        counts = np.asarray(previous.counts.get(k, np.zeros(0)), dtype=np.float64)
        sd = math.sqrt(noise.variance)
        clearing = expected_clearing(counts, sd, rho)
        out.append(LengthPreview(k, sigma_k, bound, sd, rho, len(counts), clearing))
    return out


def expected_clearing(counts: np.ndarray, noise_sd: float, threshold: float) -> int:
    """How many of `counts` are expected to stay above `threshold` once noise of SD `noise_sd` is added to each
    (Σ P(count + noise > threshold), the noise taken as normal; rounded)."""
    if len(counts) == 0:
        return 0
    z = (np.asarray(counts, dtype=np.float64) - threshold) / max(noise_sd, 1e-12)
    upper = np.vectorize(_NORMAL.cdf, otypes=[np.float64])(z)
    return round(float(upper.sum()))


_NORMAL = NormalDist()
