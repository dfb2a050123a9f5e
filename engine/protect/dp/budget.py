"""The privacy budget split and the thresholds (docs/method.md, "Budget split" and "Thresholds and fabrication modes"),
with exact formulas.

Everything is released with zero-concentrated DP: the record count carries discrete Gaussian noise of variance
1/(2ρ_N) at sensitivity 1 (ρ_N-zCDP), the R percentile selections are each ε_Q-DP (so ε_Q²/2-zCDP) and length k's
counts carry discrete Gaussian noise of variance σ_k²·Δ_k at L2 sensitivity √Δ_k, i.e. 1/(2σ_k²)-zCDP, and with
`column_pairs` tree the choice of the tree takes ρ_sel; ρ is the largest that converts to (ε, δ/2)-DP
(conversion.py). The other δ/2 pays for the data-dependent domain of single attributes (threshold ρ_1). See
docs/privacy.md for the whole argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from statistics import NormalDist

import numpy as np

from sdsynth.errors import PrivacyParameterError
from sdsynth.protect.dp.conversion import zcdp_rho
from sdsynth.protect.dp.params import DpParameters, Threshold


@dataclass(frozen=True)
class BudgetSplit:
    epsilon: float
    delta: float
    rho: float  # the whole zCDP budget, record count and marginals: (ε, δ/2)-DP
    rho_records: float  # ρ_N, the record count's share (discrete Gaussian, sensitivity 1)
    epsilon_percentile: float  # ε_Q of each of the R percentile selections
    sigmas: tuple[float, ...]  # σ_k, k = 1..R
    rho_selection: float = 0.0  # the choice of a tree of column pairs (dp/pair_tree.py), when asked for

    @property
    def reporting_length(self) -> int:
        return len(self.sigmas)

    @property
    def records_variance(self) -> float:
        """The variance of the record count's noise before rounding up (DiscreteGaussian.with_variance)."""
        return 1.0 / (2.0 * self.rho_records)


def consistency_tolerance(delta: float) -> float:
    """min(10^-n, 1e-8) where n is how many times δ must be multiplied by 10 to reach 1 (docs/method.md, "Budget
    split")."""
    n = 0
    d = delta
    while d < 1:
        d *= 10
        n += 1
    return min(10.0 ** (-n), 1e-8)


def split_budget(
    epsilon: float,
    reporting_length: int,
    percentile_epsilon_proportion: float,
    sigma_proportions: tuple[float, ...],
    delta: float,
    records_proportion: float,
    selection_proportion: float = 0.0,
    conversion: str = "tight",
) -> BudgetSplit:
    """docs/method.md, "Budget split", given δ (already inferred if needed): ρ from (ε, δ/2) (`conversion`: "tight",
    Canonne–Kamath–Steinke, or "reference", Bun–Steinke as the reference computes it), of which
    records_proportion·ρ goes to the record count, percentile_epsilon_proportion·ρ to the R percentile selections
    selection_proportion·ρ to the choice of a tree of column pairs (0: every pair is released) and the rest to the R
    lengths."""
    R = reporting_length
    if len(sigma_proportions) != R:
        raise PrivacyParameterError("sigma proportions array size should match the reporting length")
    if not (0 < delta < 1):
        raise PrivacyParameterError(f"delta value must be between 0 and 1, got {delta}")
    if not (0 <= records_proportion < 1):  # 0: no record count (the reference's test vectors of ε_M alone)
        raise PrivacyParameterError(f"the record count's share must be in [0, 1), got {records_proportion}")
    rho = zcdp_rho(epsilon, delta / 2.0) if conversion == "tight" else reference_rho(epsilon, delta)
    rho_records = records_proportion * rho
    qp = percentile_epsilon_proportion
    rho_selection = selection_proportion * rho
    if qp + records_proportion + selection_proportion >= 1:
        raise PrivacyParameterError(
            "the shares of the percentiles, the record count and the pairs' choice leave no budget for the counts"
        )
    eps_q = math.sqrt(2.0 * rho * qp / R)
    K = sum(1.0 / (p * p) for p in sigma_proportions)
    sigma = math.sqrt(K / (2.0 * rho * (1.0 - qp - records_proportion - selection_proportion)))
    sigmas = tuple(p * sigma for p in sigma_proportions)
    spent = rho_records + rho_selection + R * eps_q**2 / 2.0 + sum(1.0 / (2.0 * s * s) for s in sigmas)
    if not abs(spent - rho) <= consistency_tolerance(delta):
        raise PrivacyParameterError("something went wrong calculating DP sigmas (budget does not add up)")
    return BudgetSplit(epsilon, delta, rho, rho_records, eps_q, sigmas, rho_selection)


def reference_rho(epsilon: float, delta: float) -> float:
    """The reference's ρ for (ε, δ/2): √ρ = √(ε + L) − √L with L = ln(2/δ) (Bun and Steinke's bound, looser than
    `conversion.zcdp_rho`; kept for the reference's test vectors)."""
    L = math.log(2.0 / delta)
    return (math.sqrt(epsilon + L) - math.sqrt(L)) ** 2


def budget_of(params: DpParameters) -> BudgetSplit:
    """The split of `params` (its ε, R, options and resolved δ)."""
    return split_budget(
        params.epsilon, params.reporting_length, params.percentile_epsilon_proportion, params.sigma_proportions,
        params.resolved_delta, params.number_of_records_epsilon_proportion,
        params.pair_selection_proportion if params.column_pairs == "tree" else 0.0,
    )  # fmt: skip


_NORMAL = NormalDist()  # the standard normal (the standard library's: scipy.stats costs 0.6 s of import)


def _normal_quantile(p: float) -> float:
    """Φ⁻¹(p), with Φ⁻¹(1/2) = 0 and Φ⁻¹(1) = ∞ as scipy gives them."""
    return math.inf if p >= 1.0 else _NORMAL.inv_cdf(p)


def continuous_rho1(sigma1: float, delta1_sensitivity: int, delta: float) -> float:
    """The reference's single-attribute threshold for continuous noise: 1 + σ₁√Δ₁·Φ⁻¹((1 − δ/2)^(1/Δ₁))."""
    quantile = _NORMAL.inv_cdf((1.0 - delta / 2.0) ** (1.0 / delta1_sensitivity))
    return 1.0 + sigma1 * math.sqrt(delta1_sensitivity) * quantile


def adaptive_threshold(sigma_k: float, sensitivity: int, eta: float) -> float:
    """ρ_k = σ_k·√Δ_k·Φ⁻¹(1 − min(η/2, 0.5)) (docs/method.md, "Thresholds and fabrication modes"; η = 1 gives 0)."""
    return sigma_k * math.sqrt(sensitivity) * _normal_quantile(1.0 - min(eta / 2.0, 0.5))


DECLARED_ETA = 0.3173  # declared values at length 1: kept above one noise SD (an adaptive η)


def declared_threshold(sigma_1: float, sensitivity: int) -> float:
    """The length-1 threshold of declared values: the adaptive threshold at DECLARED_ETA, one noise standard
    deviation, which keeps a value absent from the data out of the release with probability 84 %."""
    return adaptive_threshold(sigma_1, sensitivity, DECLARED_ETA)


def length_threshold(threshold: Threshold, length: int, sigma_k: float, sensitivity: int) -> float:
    """ρ_k for k ≥ 2 from a fixed or adaptive threshold setting."""
    if threshold.kind == "fixed":
        return float(threshold.values_by_length.get(length, 0.0))
    return adaptive_threshold(sigma_k, sensitivity, float(threshold.values_by_length.get(length, 1.0)))


# --------------------------------------------------------------------------------------- discrete Gaussian helpers
_FINEST_DEN = 1 << 40  # the finest denominator the variance is rounded up to
_TAIL_CUTOFF = 45  # tail sums stop once terms fall below e^-45 ≈ 3e-20 of their first term
_TAIL_CHUNK = 1 << 20  # terms per vectorised block (bounds the memory of a tail sum at large σ)


def _int64_safe(num: int, den: int, cap: int) -> bool:
    """The 64-bit sampler's bound (random.discrete_gaussian), in exact Python integers: (cap·t·den + num)² < 2^62
    bounds its acceptance numerator and 2·num·den·t²·128 < 2^62 its acceptance denominator times Algorithm 1's k,
    with t = ⌊σ⌋ + 1 exactly as the sampler computes it. Must agree with random.gaussian_fits_int64."""
    if num < 1 or den < 1 or cap < 1:
        return False
    t = math.isqrt(num // den) + 1  # ⌊√x⌋ = isqrt(⌊x⌋) for real x ≥ 0
    return (cap * t * den + num) ** 2 < 2**62 and 2 * num * den * t * t * 128 < 2**62


@dataclass(frozen=True)
class DiscreteGaussian:
    """A discrete Gaussian N_Z(0, σ²) with σ² = num/den, rounded *up* from the intended variance (so privacy is at
    least as strong as computed), and the tail cap of the 64-bit sampler. `fits_int64` says whether that sampler is
    exact for it; otherwise `kernels.add_noise` uses the big-integer sampler (no cap, no rounding beyond 2^-40)."""

    num: int
    den: int
    tail_cap: int

    @property
    def variance(self) -> float:
        return self.num / self.den

    @property
    def fits_int64(self) -> bool:
        """Whether the Numba sampler's int64 arithmetic provably cannot overflow for this variance and cap."""
        return _int64_safe(self.num, self.den, self.tail_cap)

    @classmethod
    def with_variance(cls, variance: float) -> DiscreteGaussian:
        """σ² = ⌈variance·den⌉/den with den the largest power of two ≤ 2^40 that keeps the 64-bit sampler exact;
        when even den = 1 does not (variance above about 5·10^7), den = 2^40 for the big-integer sampler, which for
        such variances represents the float exactly. All comparisons are on exact integers."""
        if not (variance > 0 and math.isfinite(variance)):
            raise PrivacyParameterError(f"noise variance must be positive, got {variance}")
        exact = Fraction(variance)
        cap = math.isqrt(math.ceil(1600 * exact) - 1) + 1 + 2  # ⌈40σ⌉ + 2, exactly: ⌈√n⌉ = isqrt(n − 1) + 1
        den = _FINEST_DEN
        while den >= 1:
            num = math.ceil(exact * den)
            if _int64_safe(num, den, cap):
                return cls(num, den, cap)
            den >>= 1
        # beyond the 64-bit bound: the finest denominator, reduced by common factors of two (same value)
        num, den = math.ceil(exact * _FINEST_DEN), _FINEST_DEN
        while num % 2 == 0 and den > 1:
            num, den = num >> 1, den >> 1
        return cls(num, den, cap)

    def log_weight(self, x: float) -> float:
        return -(x * x) / (2.0 * self.variance)

    def _scaled_upper_sum(self, m: int) -> float:
        """Σ_{j≥0} exp(-(2mj + j²)/(2σ²)) = exp(m²/(2σ²))·Σ_{x≥m} exp(-x²/(2σ²)), for m ≥ 0.

        Vectorised over blocks of j, stopping at the first J with (2mJ + J²)/(2σ²) ≥ 45: every dropped term is
        below e^-45 times the first and they decay at least geometrically, so the truncation error is below
        ~1e-19 relative. Each term's exponent is formed exactly in int64 (j(2m + j) < 2^53 up to σ² ≈ 10^13)
        and divided once, so a term carries ≤ 45·2^-53 ≈ 5e-15 relative error and the sum ~1e-15."""
        two_var = 2.0 * self.variance
        J = math.isqrt(m * m + math.ceil(_TAIL_CUTOFF * two_var)) + 1 - m  # (2mJ + J²) ≥ 45·2σ²
        partial = []
        for lo in range(0, J + 1, _TAIL_CHUNK):
            j = np.arange(lo, min(lo + _TAIL_CHUNK, J + 1), dtype=np.int64)
            partial.append(float(np.exp(-(j * (2 * m + j)).astype(np.float64) / two_var).sum()))
        return math.fsum(partial)

    @cached_property
    def _log_normaliser(self) -> float:
        """log Σ_{x∈Z} exp(-x²/(2σ²)) = log(2·S(0) − 1), S(0) = Σ_{x≥0} exp(-x²/(2σ²)) ≥ 1 (no cancellation)."""
        return math.log(2.0 * self._scaled_upper_sum(0) - 1.0)

    def tail(self, m: int) -> float:
        """P(X ≥ m) for integer m, in float arithmetic. Relative precision (measured against 40-digit references,
        σ² from 0.3 to 10^12): ≤ ~2e-14 for m ≤ 20σ, ≤ ~6e-14 to 30σ (the rounding of the exponent m²/(2σ²) grows
        with it); results below 2.2e-308 (m ≳ 37.7σ) are subnormal, with absolute precision 5e-324 only; 0.0 from
        m > 40σ on (the value is below e^-800).

        Cost: O(σ) vectorised terms, at most ~1e7 at σ² = 10^12 (~0.1 s; rho1 there ~0.3 s). The normaliser is
        computed once per instance."""
        m = int(m)
        if m <= 0:  # P(X ≥ m) = 1 − P(X ≥ 1 − m) by symmetry
            return 1.0 - self.tail(1 - m)
        if m * m > 1600 * Fraction(self.num, self.den):  # m > 40σ
            return 0.0
        log_upper = -(m * m) / (2.0 * self.variance) + math.log(self._scaled_upper_sum(m))
        return math.exp(log_upper - self._log_normaliser)

    def least_bound(self, tail: float) -> int:
        """The least integer T ≥ 0 with P(X > T) ≤ tail (to a relative 1e-9, against rounding in `tail`): a search
        from the continuous Gaussian's quantile, a few steps either way."""
        T = max(0, int(math.sqrt(self.variance) * -_NORMAL.inv_cdf(tail)) - 2)
        while self.tail(T + 1) > tail * (1 - 1e-9):
            T += 1
        while T > 0 and self.tail(T) <= tail * (1 - 1e-9):
            T -= 1
        return T


def record_count_noise(budget: BudgetSplit) -> DiscreteGaussian:
    """The record count's noise: N_Z(0, 1/(2ρ_N)), the variance rounded up (sensitivity 1, so ρ_N-zCDP at most)."""
    return DiscreteGaussian.with_variance(budget.records_variance)


def discrete_rho1(noise: DiscreteGaussian, delta1_sensitivity: int, delta: float) -> int:
    """The single-attribute threshold for discrete noise: 1 + T with T the least integer such that
    P(X ≤ T)^Δ₁ ≥ 1 − δ/2, so a record's ≤ Δ₁ exclusive attributes (true count 1) all stay hidden with
    probability ≥ 1 − δ/2. Keep a single attribute iff its noisy count > ρ₁."""
    target_tail = -math.expm1(math.log1p(-delta / 2.0) / delta1_sensitivity)  # 1 − (1 − δ/2)^(1/Δ₁)
    return 1 + noise.least_bound(target_tail)
