"""Randomness for the DP mechanisms: a ChaCha20 keystream keyed from OS entropy, and exact samplers on top of it.

Why not floating point: Mironov (2012) showed that textbook floating-point Laplace/Gaussian samplers leak the
noiseless value through the low bits of their outputs. The samplers here draw only uniform *integers* and combine
them with exact integer arithmetic (Canonne, Kamath & Steinke 2020, "The Discrete Gaussian for Differential
Privacy", Algorithms 1–3): Bernoulli(exp(-γ)) for rational γ, the discrete Laplace and the discrete Gaussian with
rational variance. Their outputs are integers with exactly the intended distribution.

Why ChaCha20: it is a cryptographic stream cipher (RFC 8439), so its output is unpredictable to anyone without the
key, and the key comes from `os.urandom` at every run. There is deliberately no way to pass a seed from the
command line or the public API; tests get a seeded stream through `DpRandom._seeded_for_tests`.

State layout (uint32[34]): words 0–15 the ChaCha input block (constants, key, counter, nonce), 16–31 the current
output block, 32 the index of the next unused output word (16 = empty).
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit

_CONSTANTS = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)
STATE_WORDS = 34


@njit(inline="always")
def _rotl(x: np.uint32, n: int) -> np.uint32:
    return np.uint32((x << np.uint32(n)) | (x >> np.uint32(32 - n)))


@njit(inline="always")
def _quarter(x: np.ndarray, a: int, b: int, c: int, d: int) -> None:
    x[a] = np.uint32(x[a] + x[b])
    x[d] = _rotl(np.uint32(x[d] ^ x[a]), 16)
    x[c] = np.uint32(x[c] + x[d])
    x[b] = _rotl(np.uint32(x[b] ^ x[c]), 12)
    x[a] = np.uint32(x[a] + x[b])
    x[d] = _rotl(np.uint32(x[d] ^ x[a]), 8)
    x[c] = np.uint32(x[c] + x[d])
    x[b] = _rotl(np.uint32(x[b] ^ x[c]), 7)


@njit(cache=True, nogil=True)
def chacha20_block(state: np.ndarray) -> None:
    """Compute the block for the current counter into words 16–31 and advance the counter (RFC 8439 §2.3)."""
    x = state[0:16].copy()
    for _ in range(10):
        _quarter(x, 0, 4, 8, 12)
        _quarter(x, 1, 5, 9, 13)
        _quarter(x, 2, 6, 10, 14)
        _quarter(x, 3, 7, 11, 15)
        _quarter(x, 0, 5, 10, 15)
        _quarter(x, 1, 6, 11, 12)
        _quarter(x, 2, 7, 8, 13)
        _quarter(x, 3, 4, 9, 14)
    for i in range(16):
        state[16 + i] = np.uint32(x[i] + state[i])
    state[12] = np.uint32(state[12] + np.uint32(1))
    if state[12] == 0:  # 32-bit block counter wrapped: carry into the first nonce word (never reused)
        state[13] = np.uint32(state[13] + np.uint32(1))
    state[32] = 0


@njit(cache=True, nogil=True)
def next_u32(state: np.ndarray) -> np.uint32:
    if state[32] >= 16:
        chacha20_block(state)
    v = state[16 + state[32]]
    state[32] += 1
    return v


@njit(cache=True, nogil=True)
def next_u64(state: np.ndarray) -> np.uint64:
    hi = np.uint64(next_u32(state))
    lo = np.uint64(next_u32(state))
    return (hi << np.uint64(32)) | lo


@njit(cache=True, nogil=True)
def uniform_below(state: np.ndarray, m: np.int64) -> np.int64:
    """An integer uniform on [0, m), exactly (rejection of the biased top of the 64-bit range). m ≥ 1."""
    um = np.uint64(m)
    limit = np.uint64(0xFFFFFFFFFFFFFFFF) - (np.uint64(0xFFFFFFFFFFFFFFFF) % um)
    while True:
        x = next_u64(state)
        if x < limit:
            return np.int64(x % um)


@njit(cache=True, nogil=True)
def uniform_double(state: np.ndarray) -> float:
    """A double uniform on [0, 1) with 53 random bits (only for float-based steps, see the callers)."""
    return np.float64(next_u64(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def bernoulli(state: np.ndarray, num: np.int64, den: np.int64) -> bool:
    """Bernoulli(num/den), exactly, for 0 ≤ num ≤ den."""
    return uniform_below(state, den) < num


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
        if len(key) != 32:
            raise ValueError("a ChaCha20 key has 32 bytes")
        words = np.frombuffer(key, dtype="<u4").astype(np.uint32)
        self.states: list[np.ndarray] = []
        for s in range(streams):
            state = np.zeros(STATE_WORDS, dtype=np.uint32)
            state[0:4] = _CONSTANTS
            state[4:12] = words
            state[12] = 0
            state[13:16] = (0, 0, s + 1)  # distinct nonce per stream: independent keystreams
            state[32] = 16
            self.states.append(state)
        self._streams = streams
        self._key = key

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
