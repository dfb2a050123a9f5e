"""The privacy budget split and the thresholds (spec §3.2, §3.4 g), with exact formulas.

The counts are released with zero-concentrated DP: the R percentile selections are each ε_Q-DP (so ε_Q²/2-zCDP)
and length k's counts carry discrete Gaussian noise of variance σ_k²·Δ_k at L2 sensitivity √Δ_k, i.e.
1/(2σ_k²)-zCDP; ρ-zCDP converts to (ε_M, δ/2)-DP because √ρ = √(ε_M + ln(2/δ)) − √(ln(2/δ)). The other δ/2 pays
for the data-dependent domain of single attributes (threshold ρ_1). See docs/privacy.md for the whole argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from scipy.stats import norm

from ..errors import PrivacyParameterError
from .params import Threshold


@dataclass(frozen=True)
class BudgetSplit:
    epsilon: float
    epsilon_records: float  # ε_N, spent on the record count (pure DP, discrete Laplace)
    epsilon_marginals: float  # ε_M
    delta: float
    rho: float  # zCDP budget of the marginals
    epsilon_percentile: float  # ε_Q of each of the R percentile selections
    sigmas: tuple[float, ...]  # σ_k, k = 1..R

    @property
    def reporting_length(self) -> int:
        return len(self.sigmas)


def infer_delta(protected_records: int) -> float:
    """The reference's default δ = 1 / (ln(n) · n), from the *protected* record count (spec §3.2)."""
    if protected_records < 2:
        raise PrivacyParameterError(
            "cannot infer delta from a protected record count below 2; the dataset is too small for DP"
        )
    return 1.0 / (math.log(protected_records) * protected_records)


def consistency_tolerance(delta: float) -> float:
    """min(10^-n, 1e-8) where n is how many times δ must be multiplied by 10 to reach 1 (spec §3.2)."""
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
    epsilon_records: float = 0.0,
) -> BudgetSplit:
    """Spec §3.2 given δ (already inferred if needed) and the record-count share already taken out."""
    R = reporting_length
    if len(sigma_proportions) != R:
        raise PrivacyParameterError("sigma proportions array size should match the reporting length")
    if not (0 < delta < 1):
        raise PrivacyParameterError(f"delta value must be between 0 and 1, got {delta}")
    eps_m = epsilon - epsilon_records
    L = math.log(2.0 / delta)
    rho = (math.sqrt(eps_m + L) - math.sqrt(L)) ** 2
    qp = percentile_epsilon_proportion
    eps_q = math.sqrt(2.0 * rho * qp / R)
    K = sum(1.0 / (p * p) for p in sigma_proportions)
    sigma = math.sqrt(K / (2.0 * rho * (1.0 - qp)))
    sigmas = tuple(p * sigma for p in sigma_proportions)
    spent = R * eps_q**2 / 2.0 + sum(1.0 / (2.0 * s * s) for s in sigmas)
    if not abs(spent - rho) <= consistency_tolerance(delta):
        raise PrivacyParameterError("something went wrong calculating DP sigmas (budget does not add up)")
    return BudgetSplit(epsilon, epsilon_records, eps_m, delta, rho, eps_q, sigmas)


def continuous_rho1(sigma1: float, delta1_sensitivity: int, delta: float) -> float:
    """The reference's single-attribute threshold for continuous noise: 1 + σ₁√Δ₁·Φ⁻¹((1 − δ/2)^(1/Δ₁))."""
    return 1.0 + sigma1 * math.sqrt(delta1_sensitivity) * norm.ppf((1.0 - delta / 2.0) ** (1.0 / delta1_sensitivity))


def adaptive_threshold(sigma_k: float, sensitivity: int, eta: float) -> float:
    """ρ_k = σ_k·√Δ_k·Φ⁻¹(1 − min(η/2, 0.5)) (spec §3.4 g; η = 1 gives 0)."""
    return sigma_k * math.sqrt(sensitivity) * float(norm.ppf(1.0 - min(eta / 2.0, 0.5)))


def length_threshold(threshold: Threshold, length: int, sigma_k: float, sensitivity: int) -> float:
    """ρ_k for k ≥ 2 from a fixed or adaptive threshold setting."""
    if threshold.kind == "fixed":
        return float(threshold.values_by_length.get(length, 0.0))
    return adaptive_threshold(sigma_k, sensitivity, float(threshold.values_by_length.get(length, 1.0)))


# --------------------------------------------------------------------------------------- discrete Gaussian helpers
@dataclass(frozen=True)
class DiscreteGaussian:
    """A discrete Gaussian N_Z(0, σ²) with σ² = num/den, rounded *up* from the intended variance (so privacy is at
    least as strong as computed), and the integer bounds that keep the sampler's arithmetic within 64 bits."""

    num: int
    den: int
    tail_cap: int

    @property
    def variance(self) -> float:
        return self.num / self.den

    @classmethod
    def with_variance(cls, variance: float) -> DiscreteGaussian:
        if not (variance > 0 and math.isfinite(variance)):
            raise PrivacyParameterError(f"noise variance must be positive, got {variance}")
        sigma = math.sqrt(variance)
        cap = math.ceil(40 * sigma) + 2
        t = int(sigma) + 2
        den = 1 << 40
        # keep (cap·t·den + num)² and 2·num·den·t²·128 below 2^62 (see random.discrete_gaussian)
        while den > 1 and (
            (cap * t * den + variance * den) ** 2 >= 2**62 or 2 * (variance * den + 1) * den * t * t * 128 >= 2**62
        ):
            den >>= 1
        num = math.ceil(Fraction(variance) * den)
        return cls(int(num), int(den), cap)

    def log_weight(self, x: float) -> float:
        return -(x * x) / (2.0 * self.variance)

    def tail(self, m: int) -> float:
        """P(X ≥ m) for integer m (float arithmetic, relative precision ~1e-14)."""
        s = math.sqrt(self.variance)
        lo = -int(40 * s) - 10
        hi = int(40 * s) + 10
        logs = [self.log_weight(x) for x in range(lo, hi + 1)]
        top = max(logs)
        total = math.fsum(math.exp(v - top) for v in logs)
        if m > hi:
            return 0.0
        start = max(m, lo)
        upper = math.fsum(math.exp(self.log_weight(x) - top) for x in range(start, hi + 1))
        return upper / total


def discrete_rho1(noise: DiscreteGaussian, delta1_sensitivity: int, delta: float) -> int:
    """The single-attribute threshold for discrete noise: 1 + T with T the least integer such that
    P(X ≤ T)^Δ₁ ≥ 1 − δ/2, so a record's ≤ Δ₁ exclusive attributes (true count 1) all stay hidden with
    probability ≥ 1 − δ/2. Keep a single attribute iff its noisy count > ρ₁."""
    target_tail = -math.expm1(math.log1p(-delta / 2.0) / delta1_sensitivity)  # 1 − (1 − δ/2)^(1/Δ₁)
    s = math.sqrt(noise.variance)
    T = max(0, int(s * norm.isf(target_tail)) - 2)
    while noise.tail(T + 1) > target_tail * (1 - 1e-9):
        T += 1
    while T > 0 and noise.tail(T) <= target_tail * (1 - 1e-9):
        T -= 1
    return 1 + T
