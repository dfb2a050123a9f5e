"""Post-processing of retained noisy counts into released aggregates (docs/method.md, "Post-processing"). Pure functions
of the DP output, so they cost no privacy."""

from __future__ import annotations

import numpy as np
from numba import njit

from sdsynth.kernels.counting import _get, build_lookup_table
from sdsynth.kernels.keys import KeyLayout, pack_key


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Rust's f64::round: halves away from zero (numpy.round would round halves to even)."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


@njit(cache=True, nogil=True)
def _missing_parents(
    ids: np.ndarray,
    lengths: np.ndarray,
    counts: np.ndarray,
    tkeys: np.ndarray,
    tvals: np.ndarray,
    bits: int,
    slots: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Sub-combinations (2 ≤ |s| < |c|) of existing keys that are not keys, each with its largest superset count."""
    mask = np.uint64(tkeys.shape[0] - 1)
    out_k = np.empty(16, dtype=np.uint64)
    out_c = np.empty(16, dtype=np.int64)
    n = 0
    sub = np.empty(ids.shape[1], dtype=np.int64)
    for r in range(ids.shape[0]):
        L = lengths[r]
        for m in range(1, (1 << L) - 1):
            size = 0
            for d in range(L):
                if (m >> d) & 1:
                    sub[size] = ids[r, d]
                    size += 1
            if size < 2:
                continue
            key = pack_key(sub, size, bits, slots)
            if _get(tkeys, tvals, mask, key) == 0:
                if n == out_k.shape[0]:
                    out_k = np.concatenate((out_k, np.empty(n, dtype=np.uint64)))
                    out_c = np.concatenate((out_c, np.empty(n, dtype=np.int64)))
                out_k[n] = key
                out_c[n] = counts[r]
                n += 1
    return out_k[:n], out_c[:n]


def add_missing_parent_combinations(
    keys: np.ndarray, counts: np.ndarray, layout: KeyLayout, max_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """docs/method.md, "Post-processing" step 3: create absent sub-combinations of length ≥ 2 with the max count of
    their supersets. Single attributes are never re-added."""
    if len(keys) == 0:
        return keys, counts
    tkeys, tvals = build_lookup_table(keys, np.ones(len(keys), dtype=np.int64))
    ids = layout.unpack(keys, max_length)
    lengths = (ids >= 0).sum(axis=1).astype(np.int64)
    new_k, new_c = _missing_parents(ids, lengths, counts, tkeys, tvals, layout.bits, layout.slots)
    if len(new_k) == 0:
        return keys, counts
    order = np.lexsort((-new_c, new_k))
    new_k, new_c = new_k[order], new_c[order]
    first = np.ones(len(new_k), dtype=bool)
    first[1:] = new_k[1:] != new_k[:-1]
    all_k = np.concatenate([keys, new_k[first]])
    all_c = np.concatenate([counts, new_c[first]])
    order = np.argsort(all_k, kind="stable")
    return all_k[order], all_c[order]


@njit(cache=True, nogil=True)
def _normalize(
    ids: np.ndarray,
    lengths: np.ndarray,
    counts: np.ndarray,
    tkeys: np.ndarray,
    tvals: np.ndarray,
    bits: int,
    slots: int,
) -> np.ndarray:
    mask = np.uint64(tkeys.shape[0] - 1)
    out = counts.copy()
    sub = np.empty(ids.shape[1], dtype=np.int64)
    for r in range(ids.shape[0]):
        L = lengths[r]
        best = counts[r]
        for m in range(1, (1 << L) - 1):
            size = 0
            for d in range(L):
                if (m >> d) & 1:
                    sub[size] = ids[r, d]
                    size += 1
            c = _get(tkeys, tvals, mask, pack_key(sub, size, bits, slots))
            if c > 0 and c < best:
                best = c
        out[r] = best
    return out


def normalize_noisy_combinations(
    keys: np.ndarray, counts: np.ndarray, layout: KeyLayout, max_length: int
) -> np.ndarray:
    """docs/method.md, "Post-processing" step 4: every count becomes at most the smallest count of its present proper
    sub-combinations (one pass over the counts as they were before the step)."""
    if len(keys) == 0:
        return counts
    tkeys, tvals = build_lookup_table(keys, counts)
    ids = layout.unpack(keys, max_length)
    lengths = (ids >= 0).sum(axis=1).astype(np.int64)
    return _normalize(ids, lengths, counts, tkeys, tvals, layout.bits, layout.slots)


def post_process(
    keys: np.ndarray, noisy: np.ndarray, layout: KeyLayout, max_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Round, drop zeros, complete parents, normalise (docs/method.md, "Post-processing" steps 1–4). Keys must be
    sorted."""
    counts = round_half_away(noisy)
    keep = counts > 0
    keys, counts = keys[keep], counts[keep]
    keys, counts = add_missing_parent_combinations(keys, counts, layout, max_length)
    return keys, normalize_noisy_combinations(keys, counts, layout, max_length)
