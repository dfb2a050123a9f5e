"""Packing attribute combinations into one `uint64` key.

A combination is its attribute ids in ascending (canonical) order. Slot `d` (from the most significant end) holds
`id + 1` in `bits` bits, unused slots hold 0, so:
- the empty combination is key 0 (free slot marker of the hash tables),
- keys sort like the id tuples (lexicographically, shorter prefix first),
- the layout depends only on the number of attributes, so keys from different passes or machines agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from sdsynth.errors import ParameterError


@dataclass(frozen=True)
class KeyLayout:
    bits: int
    slots: int

    @staticmethod
    def for_attributes(n_attributes: int, reporting_length: int) -> KeyLayout:
        bits = max(1, int(n_attributes).bit_length())
        slots = 64 // bits
        if reporting_length > slots:
            raise ParameterError(
                f"combinations of length {reporting_length} over {n_attributes} distinct attributes do not fit the "
                f"64-bit keys (at most length {slots}); lower the reporting length, bin numeric columns or drop "
                "high-cardinality columns"
            )
        return KeyLayout(bits, slots)

    def shifts(self) -> np.ndarray:
        return np.array([self.bits * (self.slots - 1 - d) for d in range(self.slots)], dtype=np.uint64)

    def pack(self, ids: list[int] | np.ndarray) -> int:
        """The key of one combination (ids in any order)."""
        key = 0
        for d, a in enumerate(sorted(int(x) for x in ids)):
            key |= (a + 1) << (self.bits * (self.slots - 1 - d))
        return key

    def unpack(self, keys: np.ndarray, max_length: int) -> np.ndarray:
        """An (n, max_length) int32 array of ids, -1 where the combination is shorter."""
        return unpack_keys(np.asarray(keys, dtype=np.uint64), self.bits, self.slots, max_length)

    def lengths(self, keys: np.ndarray) -> np.ndarray:
        return key_lengths(np.asarray(keys, dtype=np.uint64), self.bits, self.slots)


# unpack_keys and key_lengths are NumPy, slot by slot (a handful of passes over the keys): as Numba kernels they
# cost more to compile on a first run than they ever take to run.


def unpack_keys(keys: np.ndarray, bits: int, slots: int, max_length: int) -> np.ndarray:
    """Per key, the ids of its slots from the most significant one (slot value − 1) until the first empty slot;
    −1 from there on."""
    keys = np.asarray(keys, dtype=np.uint64)
    out = np.full((keys.shape[0], max_length), -1, dtype=np.int32)
    mask = np.uint64((1 << bits) - 1)
    filled = np.ones(keys.shape[0], dtype=bool)
    for d in range(min(max_length, slots)):
        v = (keys >> np.uint64(bits * (slots - 1 - d))) & mask
        filled &= v != 0
        out[filled, d] = v[filled].astype(np.int32) - 1
    return out


def key_lengths(keys: np.ndarray, bits: int, slots: int) -> np.ndarray:
    """Per key, the number of slots filled before the first empty one."""
    keys = np.asarray(keys, dtype=np.uint64)
    out = np.zeros(keys.shape[0], dtype=np.int8)
    mask = np.uint64((1 << bits) - 1)
    filled = np.ones(keys.shape[0], dtype=bool)
    for d in range(slots):
        filled &= ((keys >> np.uint64(bits * (slots - 1 - d))) & mask) != 0
        out += filled
    return out


@njit(inline="always")
def pack_key(ids: np.ndarray, n: int, bits: int, slots: int) -> np.uint64:
    """The packed key of the ascending attribute ids `ids[:n]` (the layout `KeyLayout.pack` writes)."""
    key = np.uint64(0)
    for d in range(n):
        key |= np.uint64(ids[d] + 1) << np.uint64(bits * (slots - 1 - d))
    return key


@njit(inline="always")
def insert_sorted(ids: np.ndarray, n: int, a: np.int64) -> int:
    """Insert `a` into the ascending `ids[:n]` (room for one more); returns the new length."""
    j = n
    while j > 0 and ids[j - 1] > a:
        ids[j] = ids[j - 1]
        j -= 1
    ids[j] = a
    return n + 1
