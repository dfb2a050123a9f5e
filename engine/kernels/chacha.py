"""ChaCha20 keystreams as random sources for Numba kernels (RFC 8439 block function).

A stream is a uint32[34] state: words 0–15 the ChaCha input block (constants, key, counter, nonce), 16–31 the
current output block, 32 the index of the next unused output word (16 = empty). Streams with the same key and
different nonces are independent. The DP mechanisms key them from `os.urandom` only (`dp/random.py`); synthesis,
which is post-processing, may key them from a user seed so that results are reproducible.
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit

_CONSTANTS = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)
STATE_WORDS = 34


@njit(cache=True, nogil=True)
def _quarter(
    a: np.uint32, b: np.uint32, c: np.uint32, d: np.uint32
) -> tuple[np.uint32, np.uint32, np.uint32, np.uint32]:
    """The quarter round (RFC 8439 §2.1) on four words held in local variables (registers, not memory)."""
    a = np.uint32(a + b)
    d = np.uint32(d ^ a)
    d = np.uint32((d << np.uint32(16)) | (d >> np.uint32(16)))
    c = np.uint32(c + d)
    b = np.uint32(b ^ c)
    b = np.uint32((b << np.uint32(12)) | (b >> np.uint32(20)))
    a = np.uint32(a + b)
    d = np.uint32(d ^ a)
    d = np.uint32((d << np.uint32(8)) | (d >> np.uint32(24)))
    c = np.uint32(c + d)
    b = np.uint32(b ^ c)
    b = np.uint32((b << np.uint32(7)) | (b >> np.uint32(25)))
    return a, b, c, d


@njit(cache=True, nogil=True)
def chacha20_block(state: np.ndarray) -> None:
    """Compute the block for the current counter into words 16–31 and advance the counter (RFC 8439 §2.3).

    The 16 working words are local variables and the quarter round a plain function (LLVM inlines it): Numba types
    8 calls instead of inlining 400 function bodies, which made this the costliest kernel to compile."""
    x0, x1, x2, x3 = state[0], state[1], state[2], state[3]
    x4, x5, x6, x7 = state[4], state[5], state[6], state[7]
    x8, x9, x10, x11 = state[8], state[9], state[10], state[11]
    x12, x13, x14, x15 = state[12], state[13], state[14], state[15]
    for _ in range(10):  # column rounds, then diagonal rounds
        x0, x4, x8, x12 = _quarter(x0, x4, x8, x12)
        x1, x5, x9, x13 = _quarter(x1, x5, x9, x13)
        x2, x6, x10, x14 = _quarter(x2, x6, x10, x14)
        x3, x7, x11, x15 = _quarter(x3, x7, x11, x15)
        x0, x5, x10, x15 = _quarter(x0, x5, x10, x15)
        x1, x6, x11, x12 = _quarter(x1, x6, x11, x12)
        x2, x7, x8, x13 = _quarter(x2, x7, x8, x13)
        x3, x4, x9, x14 = _quarter(x3, x4, x9, x14)
    x = (x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15)
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


def stream_state(key: bytes, index: int) -> np.ndarray:
    """Stream number `index` for a 32-byte key (the nonce carries the index, so streams are independent)."""
    if len(key) != 32:
        raise ValueError("a ChaCha20 key has 32 bytes")
    state = np.zeros(STATE_WORDS, dtype=np.uint32)
    state[0:4] = _CONSTANTS
    state[4:12] = np.frombuffer(key, dtype="<u4").astype(np.uint32)
    state[13] = np.uint32(index >> 32)
    state[14] = np.uint32(index & 0xFFFFFFFF)
    state[15] = 1
    state[32] = 16
    return state


def stream_states(key: bytes, streams: int) -> list[np.ndarray]:
    """Streams 0..streams−1 for one key."""
    return [stream_state(key, s) for s in range(streams)]


def stream_key(seed: int | None) -> bytes:
    """A key for post-processing streams (synthesis): derived from `seed`, or from OS entropy when it is None."""
    if seed is None:
        return os.urandom(32)
    return np.random.SeedSequence(int(seed)).generate_state(8, dtype=np.uint32).astype("<u4").tobytes()


def seeded_states(seed: int | None, streams: int) -> list[np.ndarray]:
    """Streams for post-processing: reproducible from `seed`, or from OS entropy when it is None."""
    return stream_states(stream_key(seed), streams)


@njit(cache=True, nogil=True)
def init_state(state: np.ndarray, key_words: np.ndarray, index: np.int64) -> None:
    """Reset `state` to the start of stream `index` of the key (same layout as `stream_state`), inside Numba."""
    state[0] = 0x61707865
    state[1] = 0x3320646E
    state[2] = 0x79622D32
    state[3] = 0x6B206574
    for i in range(8):
        state[4 + i] = key_words[i]
    state[12] = 0
    state[13] = np.uint32(np.uint64(index) >> np.uint64(32))
    state[14] = np.uint32(np.uint64(index) & np.uint64(0xFFFFFFFF))
    state[15] = 1
    state[32] = 16


def key_words(key: bytes) -> np.ndarray:
    return np.frombuffer(key, dtype="<u4").astype(np.uint32)
