"""Randomness for the DP mechanisms: ChaCha20 keystreams keyed from OS entropy, and exact samplers on top of them.

Why not floating point: Mironov (2012) showed that textbook floating-point Laplace/Gaussian samplers leak the
noiseless value through the low bits of their outputs. The samplers here draw only uniform *integers* and combine
them with exact integer arithmetic (Canonne, Kamath & Steinke 2020, "The Discrete Gaussian for Differential
Privacy", Algorithms 1–3): Bernoulli(exp(-γ)) for rational γ, the discrete Laplace and the discrete Gaussian with
rational variance. Their outputs are integers with exactly the intended distribution.

Why ChaCha20 (`kernels/chacha.py`): it is a cryptographic stream cipher (RFC 8439), so its output is unpredictable
to anyone without the key, and the key comes from `os.urandom` at every run. There is deliberately no way to pass a
seed from the command line or the public API; tests get a seeded stream through `DpRandom._seeded_for_tests`.

Two implementations of the same algorithms: the Numba ones work in int64 and are only valid while their products
provably stay below 2^62 (`gaussian_fits_int64`; the discrete Gaussian refuses anything else rather than wrap); the
`*_bigint` ones run on Python's arbitrary-precision integers, for the rare variances beyond that bound (small ε on
wide data, σ² above about 5·10^7). Both draw from the same ChaCha20 stream state, and on inputs that fit in 64 bits
they consume it identically and return identical values (which is also why `discrete_gaussian_bigint` may take its
Laplace proposals from the Numba sampler: only its acceptance test needs big integers).
"""

from __future__ import annotations

import math
import os

import numpy as np
from numba import njit

from sdsynth.kernels.chacha import bernoulli, next_u64, stream_states, uniform_below

_INT64_MAX = (1 << 63) - 1
_SMALL_DEN = 1 << 23  # up to here den·k cannot overflow before k = 2^40 (probability of that below 1/(2^40)!)
# The 64-bit discrete Gaussian keeps (cap·t·den + num)² and 2·num·den·t²·128 below 2^62: the first bounds the
# squared numerator of its acceptance test, the second leaves room for den·k up to k = 128 in Algorithm 1.
_ROOT_BOUND = 1 << 31  # x² < 2^62 ⟺ x < 2^31 for integers x ≥ 0
_ACCEPT_BOUND = 1 << 54  # 2·num·den·t²·128 < 2^62 ⟺ num·den·t² < 2^54
# Constant arguments of the samplers as int64 values rather than literals: Numba compiles a kernel once per argument
# type, and a literal 1 is a type of its own (a first run compiled five versions of `bernoulli`).
_ONE = np.int64(1)
_TWO = np.int64(2)


@njit(cache=True, nogil=True)
def _bernoulli_exp_unit(state: np.ndarray, num: np.int64, den: np.int64) -> bool:
    """Bernoulli(exp(-num/den)) for 0 ≤ num/den ≤ 1 (CKS Algorithm 1, first part): the number k of the first
    failure of Bernoulli(γ/k) trials is odd with probability exp(-γ)."""
    k = np.int64(1)
    if den <= _SMALL_DEN:  # den·k < 2^63 for the first 2^40 trials: more are unreachable in time and probability
        while bernoulli(state, num, den * k):
            k += 1
        return k % 2 == 1
    k_max = _INT64_MAX // den
    while k <= k_max:
        if not bernoulli(state, num, den * k):
            return k % 2 == 1
        k += 1
    # Beyond k_max (probability below 1/128! on the Gaussian's inputs): Bernoulli(γ/k) = Bernoulli(γ)·Bernoulli(1/k)
    # with independent draws, the same law without forming den·k, so never a wrapped product.
    while bernoulli(state, num, den) and bernoulli(state, _ONE, k):
        k += 1
    return k % 2 == 1


@njit(cache=True, nogil=True)
def bernoulli_exp(state: np.ndarray, num: np.int64, den: np.int64) -> bool:
    """Bernoulli(exp(-num/den)) for num ≥ 0, den ≥ 1, exactly (CKS Algorithm 1)."""
    while num > den:
        if not _bernoulli_exp_unit(state, _ONE, _ONE):
            return False
        num -= den
    return _bernoulli_exp_unit(state, num, den)


@njit(cache=True, nogil=True)
def _geometric_exp(state: np.ndarray) -> np.int64:
    """Number of successes before the first failure of Bernoulli(exp(-1)) trials."""
    v = np.int64(0)
    while bernoulli_exp(state, _ONE, _ONE):
        v += 1
    return v


@njit(cache=True, nogil=True)
def discrete_laplace(state: np.ndarray, s: np.int64, t: np.int64) -> np.int64:
    """P(Y = y) ∝ exp(-|y|·s/t) over the integers (CKS Algorithm 2). For ε-DP at sensitivity 1: s/t = ε."""
    while True:
        u = uniform_below(state, t)
        if not bernoulli_exp(state, u, t):
            continue
        x = u + t * _geometric_exp(state)
        y = x // s
        negative = bernoulli(state, _ONE, _TWO)
        if negative and y == 0:
            continue
        return -y if negative else y


@njit(cache=True, nogil=True)
def floor_sqrt_plus_one(var_num: np.int64, var_den: np.int64) -> np.int64:
    """t = ⌊σ⌋ + 1 for σ² = var_num/var_den, from exact integer arithmetic: the largest t0 with t0²·den ≤ num, + 1.
    Needs var_num, var_den < 2^31 so that (t0 + 1)²·var_den cannot overflow."""
    t0 = np.int64(np.sqrt(var_num / var_den))
    while (t0 + 1) * (t0 + 1) * var_den <= var_num:
        t0 += 1
    while t0 > 0 and t0 * t0 * var_den > var_num:
        t0 -= 1
    return t0 + 1


@njit(cache=True, nogil=True)
def gaussian_fits_int64(var_num: np.int64, var_den: np.int64, tail_cap: np.int64) -> bool:
    """Whether `discrete_gaussian` is exact for these arguments: (cap·t·den + num)² < 2^62 and
    2·num·den·t²·128 < 2^62, checked without forming any product that could itself overflow. The same predicate
    as `budget.DiscreteGaussian.fits_int64` (exact Python integers); the tests check they agree."""
    if var_num < 1 or var_den < 1 or tail_cap < 1:
        return False
    if var_num >= _ROOT_BOUND or var_den >= _ROOT_BOUND:  # either alone breaks the first bound (cap, t ≥ 1)
        return False
    t = floor_sqrt_plus_one(var_num, var_den)  # ≤ 2^15.5 + 1
    if tail_cap > (_ROOT_BOUND - 1 - var_num) // (t * var_den):  # cap·t·den + num ≤ 2^31 − 1
        return False
    return var_num * var_den <= (_ACCEPT_BOUND - 1) // (t * t)  # num·den·t² ≤ 2^54 − 1


@njit(cache=True, nogil=True)
def discrete_gaussian_in_bound(
    state: np.ndarray, var_num: np.int64, var_den: np.int64, tail_cap: np.int64, t: np.int64
) -> np.int64:
    """`discrete_gaussian` without its bound check, for loops that have checked `gaussian_fits_int64` once and
    computed t = `floor_sqrt_plus_one(var_num, var_den)`. Never call it on unchecked arguments."""
    while True:
        y = discrete_laplace(state, _ONE, t)
        ay = y if y >= 0 else -y
        if ay > tail_cap:
            continue
        # accept with exp(-(|y| - σ²/t)² / (2σ²)) = exp(-(|y|·t·d - n)² / (2·n·d·t²)) with σ² = n/d
        diff = ay * t * var_den - var_num
        if bernoulli_exp(state, diff * diff, 2 * var_num * var_den * t * t):
            return y


@njit(cache=True, nogil=True)
def discrete_gaussian(state: np.ndarray, var_num: np.int64, var_den: np.int64, tail_cap: np.int64) -> np.int64:
    """P(Y = y) ∝ exp(-y²/(2σ²)) over the integers, σ² = var_num/var_den (CKS Algorithm 3).

    Exact, except that proposals with |y| > tail_cap are rejected so the integer arithmetic cannot overflow;
    callers put the cap at ≥ 40σ, where the discarded mass is below exp(-800). Raises ValueError when the arguments
    are outside `gaussian_fits_int64` (wrapped int64 arithmetic would silently change the distribution, and with
    it the privacy guarantee); `kernels.add_noise` sends those to `discrete_gaussian_bigint` instead.
    """
    if not gaussian_fits_int64(var_num, var_den, tail_cap):
        raise ValueError("discrete_gaussian: variance and tail cap outside the 64-bit bound (use kernels.add_noise)")
    return discrete_gaussian_in_bound(state, var_num, var_den, tail_cap, floor_sqrt_plus_one(var_num, var_den))


# ------------------------------------------------------------------------------------ big-integer (pure Python)
# The same CKS 2020 algorithms on Python integers, for arguments whose products do not fit in 64 bits. Every
# decision is an exact integer comparison; uniform integers come from the ChaCha20 stream via `next_u64`.
_U64_MAX = (1 << 64) - 1
# discrete_laplace(state, 1, t) in int64 forms t·k (Algorithm 1) and u + t·v (v counts loop iterations): with
# t ≤ 2^23 neither can overflow before 2^40 iterations, which are unreachable in time and probability.
NUMBA_LAPLACE_MAX_T = _SMALL_DEN


def uniform_below_bigint(state: np.ndarray, m: int) -> int:
    """An integer uniform on [0, m) for any m ≥ 1, exactly: w = ⌈bits(m)/64⌉ stream words concatenated (first word
    most significant) give x uniform on [0, 2^(64w)); x is rejected in the biased top, as in `uniform_below`, whose
    draws and result it reproduces when w = 1."""
    if m < 1:
        raise ValueError(f"uniform_below_bigint needs m ≥ 1, got {m}")
    if m <= _U64_MAX:  # one word (the common case, kept short)
        limit = _U64_MAX - _U64_MAX % m
        while True:
            x = int(next_u64(state))
            if x < limit:
                return x % m
    words = (m.bit_length() + 63) >> 6
    top = (1 << (64 * words)) - 1
    limit = top - top % m  # a multiple of m: x < limit is uniform modulo m
    while True:
        x = 0
        for _ in range(words):
            x = (x << 64) | int(next_u64(state))
        if x < limit:
            return x % m


def bernoulli_bigint(state: np.ndarray, num: int, den: int) -> bool:
    """Bernoulli(num/den), exactly, for 0 ≤ num ≤ den."""
    return uniform_below_bigint(state, den) < num


def _bernoulli_exp_unit_bigint(state: np.ndarray, num: int, den: int) -> bool:
    """Bernoulli(exp(-num/den)) for 0 ≤ num/den ≤ 1 (CKS Algorithm 1, first part)."""
    k = 1
    while bernoulli_bigint(state, num, den * k):
        k += 1
    return k % 2 == 1


def bernoulli_exp_bigint(state: np.ndarray, num: int, den: int) -> bool:
    """Bernoulli(exp(-num/den)) for num ≥ 0, den ≥ 1, exactly (CKS Algorithm 1)."""
    if num < 0 or den < 1:
        raise ValueError(f"bernoulli_exp_bigint needs num ≥ 0 and den ≥ 1, got {num}/{den}")
    while num > den:
        if not _bernoulli_exp_unit_bigint(state, 1, 1):
            return False
        num -= den
    return _bernoulli_exp_unit_bigint(state, num, den)


def _geometric_exp_bigint(state: np.ndarray) -> int:
    """Number of successes before the first failure of Bernoulli(exp(-1)) trials."""
    v = 0
    while bernoulli_exp_bigint(state, 1, 1):
        v += 1
    return v


def discrete_laplace_bigint(state: np.ndarray, s: int, t: int) -> int:
    """P(Y = y) ∝ exp(-|y|·s/t) over the integers (CKS Algorithm 2), s, t ≥ 1."""
    if s < 1 or t < 1:
        raise ValueError(f"discrete_laplace_bigint needs s, t ≥ 1, got {s}, {t}")
    while True:
        u = uniform_below_bigint(state, t)
        if not bernoulli_exp_bigint(state, u, t):
            continue
        x = u + t * _geometric_exp_bigint(state)
        y = x // s
        negative = bernoulli_bigint(state, 1, 2)
        if negative and y == 0:
            continue
        return -y if negative else y


def discrete_gaussian_bigint(state: np.ndarray, var_num: int, var_den: int, tail_cap: int | None = None) -> int:
    """P(Y = y) ∝ exp(-y²/(2σ²)) over the integers, σ² = var_num/var_den (CKS Algorithm 3), for any size.

    With tail_cap None nothing is truncated, so the output has exactly the discrete Gaussian law; a cap rejects
    proposals with |y| > tail_cap exactly as `discrete_gaussian` does (then both return the same draws).
    """
    if var_num < 1 or var_den < 1:
        raise ValueError(f"discrete_gaussian_bigint needs a positive variance, got {var_num}/{var_den}")
    t = math.isqrt(var_num // var_den) + 1  # ⌊σ⌋ + 1: ⌊√x⌋ = isqrt(⌊x⌋) for real x ≥ 0
    accept_den = 2 * var_num * var_den * t * t
    # The Laplace(t) proposal needs no big integers while t ≤ NUMBA_LAPLACE_MAX_T: the Numba Algorithm 2 then
    # consumes the stream exactly as discrete_laplace_bigint and returns the same value, ~5× faster.
    numba_proposal = t <= NUMBA_LAPLACE_MAX_T
    while True:
        y = int(discrete_laplace(state, 1, t)) if numba_proposal else discrete_laplace_bigint(state, 1, t)
        ay = abs(y)
        if tail_cap is not None and ay > tail_cap:
            continue
        # accept with exp(-(|y| - σ²/t)² / (2σ²)) = exp(-(|y|·t·d - n)² / (2·n·d·t²)) with σ² = n/d
        diff = ay * t * var_den - var_num
        if bernoulli_exp_bigint(state, diff * diff, accept_den):
            return y


class DpRandom:
    """Independent ChaCha20 streams (one per thread) keyed from OS entropy."""

    def __init__(self, key: bytes, streams: int = 1) -> None:
        self.states: list[np.ndarray] = stream_states(key, streams)

    @classmethod
    def from_os_entropy(cls, streams: int = 1) -> DpRandom:
        return cls(os.urandom(32), streams)

    @classmethod
    def _seeded_for_tests(cls, seed: int, streams: int = 1) -> DpRandom:
        """TEST ONLY: a reproducible stream. Never used by the CLI or the pipelines."""
        return cls(int(seed).to_bytes(32, "little"), streams)

    @property
    def state(self) -> np.ndarray:
        return self.states[0]

    def numpy_generator(self) -> np.random.Generator:
        """A NumPy generator seeded from this stream, for the float-based steps that state their precision."""
        words = [int(next_u64(self.states[0])) for _ in range(4)]
        return np.random.Generator(np.random.PCG64DXSM(np.random.SeedSequence(words)))
