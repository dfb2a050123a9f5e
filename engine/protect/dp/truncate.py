"""An explicit bound on the attributes of one record (`--max-attributes-per-record N`), for DP runs whose
multi-value columns declare no parts.

The DP loop needs W, the most attributes one record can hold, before it reads anything: the percentile's candidate
ranges and the loop's lengths follow from it, and they are released. Taken from the data, W would move when one
record brings a new multi-value part. With an explicit N, W = N and a record holding more keeps a uniformly random
subset of N of its attributes (a documented deviation: the reference has no such bound).

Why this is safe: the subset of a record is a function of the record's attributes and of a 32-byte key drawn from
the DP random source (OS entropy) at each run, never output. For a fixed key, cutting is a map applied to each
record on its own, so two inputs that differ in one record still differ in one record after cutting, and every
guarantee of the DP loop holds for the cut records. Over the key, each record's subset is uniform (ChaCha20
keystream, `uniform_below`). Because the subset depends on the record itself and not on where it sits, every pass
over the records (streamed again from the file, or on any Dask partition) cuts a record the same way; two identical
records are cut identically, which changes nothing above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from sdsynth.kernels.chacha import STATE_WORDS, init_state, uniform_below


@njit(cache=True, nogil=True)
def _record_index(ids: np.ndarray, start: np.int64, length: np.int64) -> np.int64:
    """A 64-bit stream index from a record's attribute ids (splitmix64 steps): equal records, equal streams."""
    h = np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(length)
    for i in range(length):
        h ^= np.uint64(ids[start + i]) + np.uint64(0x9E3779B97F4A7C15) + (h << np.uint64(6)) + (h >> np.uint64(2))
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        h = h ^ (h >> np.uint64(31))
    return np.int64(h)


@njit(cache=True, nogil=True)
def truncate_rows(
    offsets: np.ndarray, ids: np.ndarray, lo: int, hi: int, limit: int, key_words: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rows [lo, hi) as CSR (offsets rebased to 0), each record cut to a uniformly random subset of at most `limit`
    attributes, ids kept ascending."""
    n = hi - lo
    new_offsets = np.empty(n + 1, dtype=np.int64)
    new_offsets[0] = 0
    longest = 0
    for r in range(n):
        length = offsets[lo + r + 1] - offsets[lo + r]
        longest = max(longest, length)
        new_offsets[r + 1] = new_offsets[r] + min(length, limit)
    out = np.empty(new_offsets[n], dtype=ids.dtype)
    state = np.empty(STATE_WORDS, dtype=np.uint32)
    positions = np.empty(max(longest, 1), dtype=np.int64)
    for r in range(n):
        start = offsets[lo + r]
        length = offsets[lo + r + 1] - start
        dst = new_offsets[r]
        if length <= limit:
            for t in range(length):
                out[dst + t] = ids[start + t]
            continue
        init_state(state, key_words, _record_index(ids, start, length))
        for t in range(length):
            positions[t] = t
        for t in range(limit):  # partial Fisher–Yates: the first `limit` positions are a uniform subset
            j = t + uniform_below(state, length - t)
            positions[t], positions[j] = positions[j], positions[t]
        chosen = np.sort(positions[:limit])
        for t in range(limit):
            out[dst + t] = ids[start + chosen[t]]
    return new_offsets, out


@dataclass(frozen=True)
class TruncatedJob:
    """A `parallel.BatchJob` run over the records cut to at most `limit` attributes each (see the module)."""

    inner: Any
    limit: int
    key_words: np.ndarray

    def begin(self, n_threads: int, partition: int) -> Any:
        return self.inner.begin(n_threads, partition)

    def work(self, state: Any, thread: int, offsets: np.ndarray, ids: np.ndarray, lo: int, hi: int) -> None:
        cut_offsets, cut_ids = truncate_rows(offsets, ids, lo, hi, self.limit, self.key_words)
        self.inner.work(state, thread, cut_offsets, cut_ids, 0, hi - lo)

    def end(self, state: Any) -> Any:
        return self.inner.end(state)

    def combine(self, parts: Sequence[Any]) -> Any:
        return self.inner.combine(parts)
