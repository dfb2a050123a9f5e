"""Randomness for the DP mechanisms: ChaCha20 keystreams keyed from OS entropy, and exact samplers on top of them.

Why not floating point: Mironov (2012) showed that textbook floating-point Laplace/Gaussian samplers leak the
noiseless value through the low bits of their outputs. The samplers here draw only uniform *integers* and combine
them with exact integer arithmetic (Canonne, Kamath & Steinke 2020, "The Discrete Gaussian for Differential
Privacy", Algorithms 1–3): Bernoulli(exp(-γ)) for rational γ, the discrete Laplace and the discrete Gaussian with
rational variance. Their outputs are integers with exactly the intended distribution.

Why ChaCha20 (`kernels/chacha.py`): it is a cryptographic stream cipher (RFC 8439), so its output is unpredictable
to anyone without the key, and the key comes from `os.urandom` at every run. There is deliberately no way to pass a
seed from the command line or the public API; tests get a seeded stream through `DpRandom._seeded_for_tests`.
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit

from ..kernels.chacha import bernoulli, next_u64, stream_states, uniform_below


@njit(cache=True, nogil=True)
def _bernoulli_exp_unit(state: np.ndarray, num: np.int64, den: np.int64) -> bool:
    """Bernoulli(exp(-num/den)) for 0 ≤ num/den ≤ 1 (CKS Algorithm 1, first part)."""
    k = np.int64(1)
    while True:
        if not bernoulli(state, num, den * k):
            return k % 2 == 1
        k += 1


@njit(cache=True, nogil=True)
def bernoulli_exp(state: np.ndarray, num: np.int64, den: np.int64) -> bool:
    """Bernoulli(exp(-num/den)) for num ≥ 0, den ≥ 1, exactly (CKS Algorithm 1)."""
    while num > den:
        if not _bernoulli_exp_unit(state, 1, 1):
            return False
        num -= den
    return _bernoulli_exp_unit(state, num, den)


@njit(cache=True, nogil=True)
def _geometric_exp(state: np.ndarray) -> np.int64:
    """Number of successes before the first failure of Bernoulli(exp(-1)) trials."""
    v = np.int64(0)
    while bernoulli_exp(state, 1, 1):
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
        negative = bernoulli(state, 1, 2)
        if negative and y == 0:
            continue
        return -y if negative else y


@njit(cache=True, nogil=True)
def discrete_gaussian(state: np.ndarray, var_num: np.int64, var_den: np.int64, tail_cap: np.int64) -> np.int64:
    """P(Y = y) ∝ exp(-y²/(2σ²)) over the integers, σ² = var_num/var_den (CKS Algorithm 3).

    Exact, except that proposals with |y| > tail_cap are rejected so the integer arithmetic cannot overflow;
    callers put the cap at ≥ 40σ, where the discarded mass is below exp(-800).
    """
    # t = floor(σ) + 1, from exact integer arithmetic: the largest t0 with t0² ≤ σ²
    t0 = np.int64(np.sqrt(var_num / var_den))
    while (t0 + 1) * (t0 + 1) * var_den <= var_num:
        t0 += 1
    while t0 > 0 and t0 * t0 * var_den > var_num:
        t0 -= 1
    t = t0 + 1
    while True:
        y = discrete_laplace(state, 1, t)
        ay = y if y >= 0 else -y
        if ay > tail_cap:
            continue
        # accept with exp(-(|y| - σ²/t)² / (2σ²)) = exp(-(|y|·t·d - n)² / (2·n·d·t²)) with σ² = n/d
        diff = ay * t * var_den - var_num
        if bernoulli_exp(state, diff * diff, 2 * var_num * var_den * t * t):
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
