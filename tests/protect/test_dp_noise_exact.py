"""Issue 22 point 4: the discrete Gaussian stays exact beyond the 64-bit sampler's bound.

Both sides of the bound (which sampler `add_noise` takes, and the Numba sampler refusing instead of wrapping), the
big-integer samplers against the 64-bit ones draw for draw and against their exact laws, and the float tail
helpers at variances up to 10^12 against high-precision references.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import erfc

from sdsynth.kernels.chacha import next_u64, uniform_below
from sdsynth.protect.dp import kernels
from sdsynth.protect.dp import random as dp_random
from sdsynth.protect.dp.budget import DiscreteGaussian, continuous_rho1, discrete_rho1
from sdsynth.protect.dp.kernels import add_discrete_gaussian, add_noise
from sdsynth.protect.dp.random import (
    DpRandom,
    bernoulli_exp,
    bernoulli_exp_bigint,
    discrete_gaussian,
    discrete_gaussian_bigint,
    discrete_laplace,
    discrete_laplace_bigint,
    gaussian_fits_int64,
    uniform_below_bigint,
)


# ----------------------------------------------------------------------------------------------------- the bound
def _den1_fits(v: int) -> bool:
    """The documented bound for σ² = v/1 and cap ⌈40σ⌉ + 2, written out independently of the code under test."""
    cap = math.isqrt(1600 * v - 1) + 3
    t = math.isqrt(v) + 1
    return (cap * t + v) ** 2 < 2**62 and 2 * v * t * t * 128 < 2**62


def _largest_integer_variance_that_fits() -> int:
    lo, hi = 1, 1 << 30  # _den1_fits(1) holds, _den1_fits(2^30) does not; the bound is monotone in v
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _den1_fits(mid) else (lo, mid)
    return lo


BOUND = _largest_integer_variance_that_fits()


def test_bound_sits_where_the_issue_says() -> None:
    assert 5e7 < BOUND < 5.5e7  # "above about 5·10^7 even den = 1 fails the bound"
    below, above = DiscreteGaussian.with_variance(float(BOUND)), DiscreteGaussian.with_variance(float(BOUND + 1))
    assert below.fits_int64 and (below.num, below.den) == (BOUND, 1)
    assert not above.fits_int64 and Fraction(above.num, above.den) == BOUND + 1


@settings(max_examples=300)
@given(st.integers(1, 2**62), st.integers(1, 2**62), st.integers(1, 2**40), st.sampled_from([-1, 0, 1, None]))
def test_python_and_numba_bounds_agree(num: int, den: int, cap: int, nudge: int | None) -> None:
    """`DiscreteGaussian.fits_int64` (Python integers) and `gaussian_fits_int64` (overflow-free int64) are the same
    predicate; `nudge` moves the cap onto its exact limit for this (num, den) to probe the edge itself."""
    if nudge is not None:
        t = math.isqrt(num // den) + 1
        cap = max(1, (2**31 - 1 - num) // (t * den) + nudge)
    assert DiscreteGaussian(num, den, cap).fits_int64 == gaussian_fits_int64(num, den, cap)


def test_with_variance_rounds_up_to_a_power_of_two_denominator() -> None:
    rng = np.random.default_rng(5)
    for v in [*(10 ** rng.uniform(-3, 13, 300)), 9.0, 24.25, float(BOUND), float(BOUND) + 0.5]:
        noise = DiscreteGaussian.with_variance(float(v))
        exact = Fraction(noise.num, noise.den)
        assert noise.den & (noise.den - 1) == 0 and noise.den <= 2**40
        assert Fraction(float(v)) <= exact < Fraction(float(v)) + Fraction(1, noise.den)  # never weaker privacy
        if noise.fits_int64:  # the finest denominator that keeps the 64-bit sampler exact
            finer = 2 * noise.den
            assert (
                finer > 2**40
                or not DiscreteGaussian(math.ceil(Fraction(float(v)) * finer), finer, noise.tail_cap).fits_int64
            )
        else:  # big-integer path: the float itself (it is a multiple of 2^-40 this far up)
            assert exact == Fraction(float(v))
        assert noise.tail_cap >= 40 * math.sqrt(v)


def test_add_noise_takes_the_numba_path_below_the_bound_and_bigint_above(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"numba": 0, "bigint": 0}
    numba_sampler, bigint_sampler = kernels.add_discrete_gaussian, kernels.discrete_gaussian_bigint

    def numba_spy(*args):  # type: ignore[no-untyped-def]
        calls["numba"] += 1
        return numba_sampler(*args)

    def bigint_spy(*args):  # type: ignore[no-untyped-def]
        calls["bigint"] += 1
        return bigint_sampler(*args)

    monkeypatch.setattr(kernels, "add_discrete_gaussian", numba_spy)
    monkeypatch.setattr(kernels, "discrete_gaussian_bigint", bigint_spy)
    state = DpRandom._seeded_for_tests(21).state
    counts = np.array([0, 5, 10**6], dtype=np.int64)
    below = add_noise(counts, state, DiscreteGaussian.with_variance(float(BOUND)))
    assert calls == {"numba": 1, "bigint": 0}
    above = add_noise(counts, state, DiscreteGaussian.with_variance(float(BOUND + 1)))
    assert calls == {"numba": 1, "bigint": 3}  # one big-integer draw per count
    for out in (below, above):
        assert out.dtype == np.int64 and out.shape == counts.shape
        assert (np.abs(out - counts) < 10 * math.sqrt(BOUND)).all()
    assert add_noise(counts[:0], state, DiscreteGaussian.with_variance(1e9)).shape == (0,)


def test_numba_sampler_refuses_outside_its_bound() -> None:
    state = DpRandom._seeded_for_tests(22).state
    below, above = DiscreteGaussian.with_variance(float(BOUND)), DiscreteGaussian.with_variance(float(BOUND + 1))
    discrete_gaussian(state, below.num, below.den, below.tail_cap)  # fine
    add_discrete_gaussian(np.zeros(2, dtype=np.int64), state, below.num, below.den, below.tail_cap)
    with pytest.raises(ValueError, match="64-bit bound"):
        discrete_gaussian(state, above.num, above.den, above.tail_cap)
    with pytest.raises(ValueError, match="64-bit bound"):
        add_discrete_gaussian(np.zeros(2, dtype=np.int64), state, above.num, above.den, above.tail_cap)
    with pytest.raises(ValueError, match="64-bit bound"):  # variance 1e9: the case that used to wrap silently
        discrete_gaussian(state, 10**9, 1, 1264914)


# -------------------------------------------------------------------------------- big-integer samplers: exactness
def test_uniform_below_bigint_concatenates_words_and_matches_the_numba_draws() -> None:
    a = DpRandom._seeded_for_tests(31).state
    b = a.copy()
    hi, lo = int(next_u64(b)), int(next_u64(b))
    assert uniform_below_bigint(a, 2**128 - 1) == (hi << 64) | lo  # first word most significant
    for m in (1, 7, 2**40 + 3, 2**63 - 25):  # one word: the same draws and result as the 64-bit version
        assert [uniform_below_bigint(a, m) for _ in range(50)] == [int(uniform_below(b, m)) for _ in range(50)]
    assert (a == b).all()


def test_uniform_below_bigint_is_uniform_over_several_words() -> None:
    state = DpRandom._seeded_for_tests(32).state
    m = 3 * 2**100 + 12345  # two words; the six bins x·6 // m differ in size by at most one in ~2^100
    bins = np.array([uniform_below_bigint(state, m) * 6 // m for _ in range(12_000)])
    observed = np.bincount(bins, minlength=6)
    assert stats.chisquare(observed).pvalue > 1e-3


def test_bigint_samplers_reproduce_the_numba_samplers_draw_for_draw() -> None:
    """Where 64 bits suffice, the two implementations are the same algorithm on the same stream."""
    a = DpRandom._seeded_for_tests(33).state
    b = a.copy()
    reps = range(300)
    assert [bernoulli_exp_bigint(a, 5, 3) for _ in reps] == [bool(bernoulli_exp(b, 5, 3)) for _ in reps]
    for s, t in [(2, 3), (1, 31624)]:  # the second: the proposal of σ² = 10^9
        assert [discrete_laplace_bigint(a, s, t) for _ in reps] == [int(discrete_laplace(b, s, t)) for _ in reps]
    for num, den in [(9, 2), (97, 4), (10**6, 1)]:
        cap = DiscreteGaussian.with_variance(num / den).tail_cap
        fast = [int(discrete_gaussian(b, num, den, cap)) for _ in range(1000)]
        assert [discrete_gaussian_bigint(a, num, den, cap) for _ in range(1000)] == fast
    assert (a == b).all()


def test_bigint_gaussian_proposals_do_not_depend_on_which_laplace(monkeypatch: pytest.MonkeyPatch) -> None:
    """discrete_gaussian_bigint draws its Laplace proposals with the Numba sampler when t allows; forcing the
    pure-Python one must give the same draws from the same stream."""
    a = DpRandom._seeded_for_tests(38).state
    b = a.copy()
    with_numba = [discrete_gaussian_bigint(a, 10**9, 1) for _ in range(200)]
    monkeypatch.setattr(dp_random, "NUMBA_LAPLACE_MAX_T", 0)
    assert [discrete_gaussian_bigint(b, 10**9, 1) for _ in range(200)] == with_numba
    assert (a == b).all()


def test_bernoulli_exp_bigint_frequency() -> None:
    state = DpRandom._seeded_for_tests(34).state
    n = 20_000
    cases = [(1, 3), (5, 2), (0, 1), (7, 1), (3 * 2**100 + 1, 2**101), (2**70, 3 * 2**70 + 7)]  # last two: > 64 bits
    for num, den in cases:
        p = math.exp(-num / den)
        hits = sum(bernoulli_exp_bigint(state, num, den) for _ in range(n))
        assert abs(hits / n - p) < 5 * math.sqrt(p * (1 - p) / n) + 1e-9, (num, den)


def _exact_pmf(variance: Fraction, support: np.ndarray) -> np.ndarray:
    """The discrete Gaussian pmf on `support`, normalised over ±60σ (the rest is below e^-1800)."""
    wide = np.arange(-int(60 * math.sqrt(variance)) - 5, int(60 * math.sqrt(variance)) + 6)
    weights = np.exp(-(wide.astype(float) ** 2) / (2 * float(variance)))
    return np.array([weights[wide == x].sum() for x in support]) / weights.sum()


def test_bigint_gaussian_matches_the_exact_pmf_at_small_variance() -> None:
    """σ² = 4.5, untruncated, against the exact pmf (tails pooled into the end bins); the 64-bit sampler on its own
    seed passes the same test (the two are also equal draw for draw, above)."""
    n = 20_000
    support = np.arange(-7, 8)
    pmf = _exact_pmf(Fraction(9, 2), support)
    pmf[0], pmf[-1] = 0.5 * (1 - pmf[1:-1].sum()), 0.5 * (1 - pmf[1:-1].sum())  # P(X ≤ -7) = P(X ≥ 7)
    big_state, fast_state = DpRandom._seeded_for_tests(35).state, DpRandom._seeded_for_tests(36).state
    big = np.array([discrete_gaussian_bigint(big_state, 9, 2) for _ in range(n)])
    fast = add_noise(np.zeros(n, dtype=np.int64), fast_state, DiscreteGaussian.with_variance(4.5))
    for draws in (big, fast):
        observed = np.bincount(np.clip(draws, -7, 7) + 7, minlength=15)
        assert stats.chisquare(observed, pmf * n).pvalue > 1e-3
    assert abs(big.var() / 4.5 - 1) < 4 * math.sqrt(2 / n)


def test_bigint_gaussian_variance_mean_and_shape_at_variance_1e9() -> None:
    """The case that wrapped (sampled SD 1.24× the intended): sample variance within 4 standard errors
    (relative SE of a variance estimate ≈ √(2/n)), mean within 4 SE, and 20 bins equiprobable under N(0, σ²)
    (the discrete and continuous laws differ by ~1/σ ≈ 3e-5 per bin here, far below the sampling error)."""
    n, variance = 20_000, 1e9
    noise = DiscreteGaussian.with_variance(variance)
    assert not noise.fits_int64
    draws = add_noise(np.zeros(n, dtype=np.int64), DpRandom._seeded_for_tests(37).state, noise).astype(float)
    sigma = math.sqrt(variance)
    assert abs(draws.var() / variance - 1) < 4 * math.sqrt(2 / n)
    assert abs(draws.mean()) < 4 * sigma / math.sqrt(n)
    edges = stats.norm.ppf(np.linspace(0, 1, 21)[1:-1], scale=sigma)
    observed = np.bincount(np.searchsorted(edges, draws), minlength=20)
    assert stats.chisquare(observed).pvalue > 1e-3


# ------------------------------------------------------------------------------------------- float tail helpers
def _reference_tail(variance: Fraction, m: int) -> Decimal:
    """P(X ≥ m) with 40 significant digits (direct sum over ±60σ)."""
    with localcontext() as ctx:
        ctx.prec = 40
        v = Decimal(variance.numerator) / Decimal(variance.denominator)
        hi = int(60 * math.sqrt(variance)) + 20
        w = [(-(Decimal(x) ** 2) / (2 * v)).exp() for x in range(hi)]
        total = 2 * sum(w) - 1
        upper = sum(w[m:]) if m > 0 else total - sum(w[1 - m :])
        return upper / total


@pytest.mark.parametrize("variance", [0.3, 4.5, 24.25, 2500.0])
def test_tail_matches_a_high_precision_reference(variance: float) -> None:
    noise = DiscreteGaussian.with_variance(variance)
    exact, sigma = Fraction(noise.num, noise.den), math.sqrt(variance)
    for k in (-1.0, 0.0, 0.01, 1.0, 3.0, 6.0, 10.0, 20.0, 30.0):
        m = math.ceil(k * sigma)
        ref = _reference_tail(exact, m)
        assert abs(Decimal(noise.tail(m)) - ref) <= Decimal("1e-13") * ref, (m, noise.tail(m), ref)
    assert noise.tail(math.ceil(41 * sigma)) == 0.0


@pytest.mark.parametrize("variance", [1e9, 1e12])
def test_tail_at_large_variance_matches_euler_maclaurin(variance: float) -> None:
    """Against Σ_{x≥m} f = ∫_m^∞ f + f(m)/2 − f'(m)/12 + …, f(x) = exp(-x²/(2σ²)), with the normaliser √(2πσ²)
    (Poisson summation: exact up to exp(-2π²σ²)); the neglected Euler–Maclaurin terms are below 1e-15 here."""
    noise = DiscreteGaussian.with_variance(variance)
    sigma = math.sqrt(variance)
    normaliser = math.sqrt(2 * math.pi * variance)
    for k in (0.5, 1.0, 3.0, 6.0, 10.0, 20.0):
        m = math.ceil(k * sigma)
        f = math.exp(-m * m / (2 * variance))
        upper = math.sqrt(math.pi * variance / 2) * erfc(m / math.sqrt(2 * variance)) + f / 2 + m / variance * f / 12
        assert noise.tail(m) == pytest.approx(upper / normaliser, rel=1e-13)
    assert noise.tail(0) == pytest.approx(0.5 + 0.5 / normaliser, rel=1e-15)


@pytest.mark.parametrize("variance", [1e9, 1e12])
def test_discrete_rho1_at_large_variance(variance: float) -> None:
    noise, delta, sensitivity = DiscreteGaussian.with_variance(variance), 1e-9, 4
    rho1 = discrete_rho1(noise, sensitivity, delta)
    target = -math.expm1(math.log1p(-delta / 2) / sensitivity)
    assert noise.tail(rho1) <= target < noise.tail(rho1 - 1)  # T = ρ₁ − 1 is the least T with P(X > T) ≤ target
    assert abs(rho1 - continuous_rho1(math.sqrt(variance / sensitivity), sensitivity, delta)) < 2
