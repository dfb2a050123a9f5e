"""The exact samplers: ChaCha20 against RFC 8439, and the discrete distributions against their exact pmfs."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from numba import njit
from scipy import stats

from sdsynth.kernels.chacha import chacha20_block, seeded_states, uniform_below
from sdsynth.protect.dp.random import DpRandom, bernoulli_exp, discrete_gaussian, discrete_laplace


def test_chacha20_block_matches_rfc8439() -> None:
    state = DpRandom(bytes(range(32))).state
    state[12] = 1
    state[13:16] = [0x09000000, 0x4A000000, 0]
    chacha20_block(state)
    expected = [
        0xE4E7F110, 0x15593BD1, 0x1FDD0F50, 0xC47120A3, 0xC7F4D1C7, 0x0368C033, 0x9AAA2204, 0x4E6CD4C3,
        0x466482D2, 0x09AA9F07, 0x05D7C214, 0xA2028BD9, 0xD19C12B5, 0xB94E16DE, 0xE883D0CB, 0x4E3C50A2,
    ]  # fmt: skip
    assert state[16:32].tolist() == expected
    assert state[12] == 2  # the block counter advanced


def test_os_entropy_streams_differ() -> None:
    a, b = DpRandom.from_os_entropy(2), DpRandom.from_os_entropy(1)
    draws = [[int(uniform_below(s, 1 << 40)) for _ in range(4)] for s in (a.states[0], a.states[1], b.states[0])]
    assert draws[0] != draws[1] and draws[0] != draws[2]


@njit
def _draw_many_jit(state, kind, a, b, cap, n):  # type: ignore[no-untyped-def]
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        if kind == 0:
            out[i] = uniform_below(state, a)
        elif kind == 1:
            out[i] = 1 if bernoulli_exp(state, a, b) else 0
        elif kind == 2:
            out[i] = discrete_laplace(state, a, b)
        else:
            out[i] = discrete_gaussian(state, a, b, cap)
    return out


def _draw_many(state: np.ndarray, kind: int, a: int, b: int, n: int) -> np.ndarray:
    """n draws of uniform_below(a) (kind 0), Bernoulli(exp(-a/b)) (1), discrete Laplace (2) or the discrete
    Gaussian with σ² = a/b (3), whose tail cap is ⌈40σ⌉ + 2 as in DiscreteGaussian.with_variance (the 64-bit
    sampler refuses a cap outside its bound)."""
    cap = math.isqrt(math.ceil(1600 * Fraction(a, b)) - 1) + 3 if kind == 3 else 0
    return _draw_many_jit(state, kind, a, b, cap, n)


def _chi2_pvalue(samples: np.ndarray, support: np.ndarray, pmf_of) -> float:  # type: ignore[no-untyped-def]
    """Chi-square goodness of fit on `support`, the mass outside it pooled into the two end bins."""
    wide = np.arange(support[0] - 400, support[-1] + 401)
    mass = pmf_of(wide).astype(float)
    mass /= mass.sum()
    inside = (wide >= support[0]) & (wide <= support[-1])
    expected = mass[inside].copy()
    expected[0] += mass[wide < support[0]].sum()
    expected[-1] += mass[wide > support[-1]].sum()
    observed = np.array([(samples == x).sum() for x in support], dtype=float)
    observed[0] += (samples < support[0]).sum()
    observed[-1] += (samples > support[-1]).sum()
    return float(stats.chisquare(observed, expected * len(samples)).pvalue)


def test_uniform_below_is_uniform() -> None:
    s = DpRandom._seeded_for_tests(1).state
    x = _draw_many(s, 0, 7, 0, 70_000)
    assert _chi2_pvalue(x, np.arange(7), lambda v: ((v >= 0) & (v < 7)).astype(float)) > 1e-3


def test_bernoulli_exp_frequency() -> None:
    s = DpRandom._seeded_for_tests(2).state
    for num, den in [(1, 3), (5, 2), (0, 1), (7, 1)]:
        x = _draw_many(s, 1, num, den, 40_000)
        p = math.exp(-num / den)
        assert abs(x.mean() - p) < 5 * math.sqrt(p * (1 - p) / len(x)) + 1e-9


def test_discrete_laplace_pmf() -> None:
    s = DpRandom._seeded_for_tests(3).state
    x = _draw_many(s, 2, 1, 2, 60_000)  # P ∝ exp(-|y|/2)
    support = np.arange(-12, 13)
    assert _chi2_pvalue(x, support, lambda v: np.exp(-np.abs(v) / 2)) > 1e-3


def test_discrete_gaussian_pmf_and_variance() -> None:
    s = DpRandom._seeded_for_tests(4).state
    var_num, var_den = 97, 4  # σ² = 24.25
    x = _draw_many(s, 3, var_num, var_den, 80_000)
    support = np.arange(-16, 17)
    assert _chi2_pvalue(x, support, lambda v: np.exp(-(v**2) / (2 * 24.25))) > 1e-3
    assert abs(x.var() - 24.25) < 0.6


def test_synthesis_streams_are_reproducible_from_a_seed_only() -> None:
    a, b, c = seeded_states(5, 2), seeded_states(5, 2), seeded_states(None, 2)
    draw = lambda s: [int(uniform_below(s, 1 << 30)) for _ in range(3)]  # noqa: E731
    assert draw(a[0]) == draw(b[0]) and draw(a[1]) == draw(b[1])
    assert draw(a[0]) != draw(a[1]) and draw(c[0]) != draw(seeded_states(5, 1)[0])
