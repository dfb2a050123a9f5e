"""Numba kernels of the DP per-length loop (docs/method.md, "Differential privacy"): candidates, per-record
sensitivities, bounded counting, discrete Gaussian noise (`add_noise`: the Numba sampler within its 64-bit bound, the
big-integer one beyond)."""

from __future__ import annotations

import numpy as np
from numba import njit

from sdsynth.kernels.chacha import uniform_below
from sdsynth.kernels.counting import _get
from sdsynth.kernels.csr import read_only
from sdsynth.kernels.keys import pack_key
from sdsynth.protect.dp.budget import DiscreteGaussian
from sdsynth.protect.dp.random import (
    discrete_gaussian_bigint,
    discrete_gaussian_in_bound,
    floor_sqrt_plus_one,
    gaussian_fits_int64,
)


@njit(cache=True, nogil=True)
def generate_candidates(
    prev_ids: np.ndarray,  # (n_prev, k-1) ids of the retained (k-1)-tuples, ascending within rows
    attrs: np.ndarray,  # sorted ids of the attributes appearing in the retained (k-1)-tuples
    column_of: np.ndarray,
    retained_keys: np.ndarray,  # lookup table of every retained key of lengths 1..k-1
    retained_vals: np.ndarray,
    k: int,
    bits: int,
    slots: int,
) -> np.ndarray:
    """V_k (docs/method.md, "Candidates per length"): c ∪ {a} for retained c and a of another column, whose
    sub-combinations of lengths
    2..k−1 are all retained. Each candidate is generated once, from its prefix c = candidate minus its largest id:
    that prefix is itself a required retained (k−1)-tuple (for k ≥ 3), so nothing is missed."""
    mask = np.uint64(retained_keys.shape[0] - 1)
    out = np.empty(max(16, prev_ids.shape[0] * 4), dtype=np.uint64)
    n_out = 0
    cand = np.empty(k, dtype=np.int64)
    sub = np.empty(k, dtype=np.int64)
    for r in range(prev_ids.shape[0]):
        last = prev_ids[r, k - 2]
        for j in range(attrs.shape[0]):
            a = attrs[j]
            if a <= last:
                continue
            clash = False
            for d in range(k - 1):
                if column_of[prev_ids[r, d]] == column_of[a]:
                    clash = True
                    break
            if clash:
                continue
            for d in range(k - 1):
                cand[d] = prev_ids[r, d]
            cand[k - 1] = a
            ok = True
            if k >= 3:
                # every proper sub-combination of length >= 2 that contains `a` (the others are subsets of c,
                # retained because c was generated under the same rule)
                for m in range(1, (1 << k) - 1):
                    if not (m >> (k - 1)) & 1:
                        continue
                    size = 0
                    for d in range(k):
                        if (m >> d) & 1:
                            sub[size] = cand[d]
                            size += 1
                    if size < 2:
                        continue
                    if _get(retained_keys, retained_vals, mask, pack_key(sub, size, bits, slots)) == 0:
                        ok = False
                        break
            if not ok:
                continue
            if n_out == out.shape[0]:
                bigger = np.empty(out.shape[0] * 2, dtype=np.uint64)
                for i in range(n_out):  # a loop, not a slice copy: that one compiles an error path of 2 s
                    bigger[i] = out[i]
                out = bigger
            out[n_out] = pack_key(cand, k, bits, slots)
            n_out += 1
    return out[:n_out]


@njit(inline="always")
def _valid_tuples(
    ids: np.ndarray,
    base: np.int64,
    w: np.int64,
    k: int,
    bits: int,
    slots: int,
    cand_keys: np.ndarray,
    cand_index: np.ndarray,
    mask: np.uint64,
    pos: np.ndarray,
    prefix: np.ndarray,
    shifts: np.ndarray,
    buffer: np.ndarray,
) -> int:
    """Write the candidate indices (+1) of the record's k-subsets that are candidates into `buffer`; return how many
    (|W_j|, docs/method.md, "Bounded counting"). `buffer` must hold C(w, k) entries."""
    n = 0
    if w < k:
        return 0
    d = 0
    pos[0] = 0
    prefix[0] = 0
    while d >= 0:
        i = pos[d]
        if i > w - (k - d):
            d -= 1
            continue
        pos[d] = i + 1
        key = prefix[d] | (np.uint64(ids[base + i] + 1) << shifts[d])
        if d == k - 1:
            idx = _get(cand_keys, cand_index, mask, key)
            if idx > 0:
                buffer[n] = idx
                n += 1
        else:
            d += 1
            pos[d] = i + 1
            prefix[d] = key
    return n


@njit(inline="always")
def _enumeration_scratch(
    k: int, bits: int, slots: int, buffer_size: int, n_keys: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.uint64]:
    """What `_valid_tuples` works in: each slot's key shift, the enumeration's positions and prefixes, the buffer of
    a record's tuples and the candidate table's mask."""
    shifts = np.empty(slots, dtype=np.uint64)
    for d in range(slots):
        shifts[d] = np.uint64(bits * (slots - 1 - d))
    pos = np.zeros(k + 1, dtype=np.int64)
    prefix = np.zeros(k + 1, dtype=np.uint64)
    return shifts, pos, prefix, np.empty(buffer_size, dtype=np.int64), np.uint64(n_keys - 1)


@njit(inline="always")
def _add_random_subset(buffer: np.ndarray, n: int, allowed: int, state: np.ndarray, counts: np.ndarray) -> None:
    """Add 1 to the counts of `allowed` of the `n` tuples in `buffer`, a uniform random subset (partial
    Fisher–Yates with exact uniform integers from `state`)."""
    for j in range(allowed):
        pick = j + uniform_below(state, n - j)
        tmp = buffer[j]
        buffer[j] = buffer[pick]
        buffer[pick] = tmp
        counts[buffer[j] - 1] += 1


def sensitivities_and_counts(offsets: np.ndarray, ids: np.ndarray, *args: object) -> None:
    """`_sensitivities_and_counts` on read-only records (one compiled version, `csr.read_only`)."""
    _sensitivities_and_counts(read_only(offsets), read_only(ids), *args)


def bound_contributions(offsets: np.ndarray, ids: np.ndarray, *args: object) -> None:
    """`_bound_contributions` on read-only records (one compiled version, `csr.read_only`)."""
    _bound_contributions(read_only(offsets), read_only(ids), *args)


def bounded_counts(offsets: np.ndarray, ids: np.ndarray, *args: object) -> None:
    """`_bounded_counts` on read-only records (one compiled version, `csr.read_only`)."""
    _bounded_counts(read_only(offsets), read_only(ids), *args)


@njit(cache=True, nogil=True)
def _sensitivities_and_counts(
    offsets: np.ndarray,
    ids: np.ndarray,
    row_start: int,
    row_stop: int,
    k: int,
    bits: int,
    slots: int,
    cand_keys: np.ndarray,
    cand_index: np.ndarray,
    histogram: np.ndarray,  # in/out: records by number of valid tuples (clipped to the public bound)
    counts: np.ndarray,  # in/out: per candidate, every record's every valid tuple (before contribution bounding)
    buffer_size: int,
) -> None:
    """Records by number of valid tuples (|W_j|) and, in the same enumeration, the counts before contribution
    bounding: `_bound_contributions` then takes each record holding more valid tuples than the bound chosen from
    the histogram down to a random subset, so the two passes count exactly what `_bounded_counts` would, without
    enumerating every record twice."""
    shifts, pos, prefix, buffer, mask = _enumeration_scratch(k, bits, slots, buffer_size, cand_keys.shape[0])
    top = histogram.shape[0] - 1
    for r in range(row_start, row_stop):
        base = offsets[r]
        w = offsets[r + 1] - base
        n = _valid_tuples(ids, base, w, k, bits, slots, cand_keys, cand_index, mask, pos, prefix, shifts, buffer)
        histogram[min(n, top)] += 1
        for j in range(n):
            counts[buffer[j] - 1] += 1


@njit(cache=True, nogil=True)
def _bound_contributions(
    offsets: np.ndarray,
    ids: np.ndarray,
    row_start: int,
    row_stop: int,
    k: int,
    bits: int,
    slots: int,
    cand_keys: np.ndarray,
    cand_index: np.ndarray,
    allowed: int,
    state: np.ndarray,
    counts: np.ndarray,  # in/out: per candidate, the change to the unbounded counts
    buffer_size: int,
) -> None:
    """The change that turns `_sensitivities_and_counts`' unbounded counts into `_bounded_counts`' bounded ones: a
    record holding more than `allowed` valid tuples takes all of them out and adds back a uniform random subset of
    `allowed` (the same partial Fisher–Yates, from the same stream, as `_bounded_counts`). A record whose length w
    gives C(w, k) ≤ `allowed` cannot hold more and is skipped without enumerating its tuples."""
    shifts, pos, prefix, buffer, mask = _enumeration_scratch(k, bits, slots, buffer_size, cand_keys.shape[0])
    for r in range(row_start, row_stop):
        base = offsets[r]
        w = offsets[r + 1] - base
        subsets = 1
        for i in range(k):  # C(w, k), exact: each step's product is divisible by i + 1
            subsets = subsets * (w - i) // (i + 1)
            if subsets <= 0:
                break
        if subsets <= allowed:
            continue
        n = _valid_tuples(ids, base, w, k, bits, slots, cand_keys, cand_index, mask, pos, prefix, shifts, buffer)
        if n <= allowed:
            continue
        for j in range(n):
            counts[buffer[j] - 1] -= 1
        _add_random_subset(buffer, n, allowed, state, counts)


@njit(cache=True, nogil=True)
def _bounded_counts(
    offsets: np.ndarray,
    ids: np.ndarray,
    row_start: int,
    row_stop: int,
    k: int,
    bits: int,
    slots: int,
    cand_keys: np.ndarray,
    cand_index: np.ndarray,
    allowed: int,
    state: np.ndarray,
    counts: np.ndarray,  # in/out: per candidate (index into the sorted candidate keys)
    buffer_size: int,
) -> None:
    """Each record adds 1 to at most `allowed` of its valid tuples, a uniform random subset when it has more
    (docs/method.md, "Bounded counting"; partial Fisher–Yates with exact uniform integers)."""
    shifts, pos, prefix, buffer, mask = _enumeration_scratch(k, bits, slots, buffer_size, cand_keys.shape[0])
    for r in range(row_start, row_stop):
        base = offsets[r]
        w = offsets[r + 1] - base
        n = _valid_tuples(ids, base, w, k, bits, slots, cand_keys, cand_index, mask, pos, prefix, shifts, buffer)
        if n <= allowed:
            for j in range(n):
                counts[buffer[j] - 1] += 1
        else:
            _add_random_subset(buffer, n, allowed, state, counts)


@njit(cache=True, nogil=True)
def add_discrete_gaussian(
    counts: np.ndarray, state: np.ndarray, var_num: np.int64, var_den: np.int64, tail_cap: np.int64
) -> np.ndarray:
    """counts + independent N_Z(0, var_num/var_den) draws. Raises ValueError outside the 64-bit sampler's bound
    (`gaussian_fits_int64`), checked once for the whole array; `add_noise` picks the right sampler."""
    if not gaussian_fits_int64(var_num, var_den, tail_cap):
        raise ValueError("add_discrete_gaussian: variance and tail cap outside the 64-bit bound (use add_noise)")
    t = floor_sqrt_plus_one(var_num, var_den)
    out = np.empty(counts.shape[0], dtype=np.int64)
    for i in range(counts.shape[0]):
        out[i] = counts[i] + discrete_gaussian_in_bound(state, var_num, var_den, tail_cap, t)
    return out


def add_noise(counts: np.ndarray, state: np.ndarray, noise: DiscreteGaussian) -> np.ndarray:
    """counts + independent N_Z(0, noise.num/noise.den) draws (CKS 2020 Algorithm 3), always exact.

    The Numba sampler runs when its int64 arithmetic provably cannot overflow (`noise.fits_int64`); beyond that
    bound (σ² above about 5·10^7) the big-integer sampler draws from the same stream, untruncated. Exactness there
    matters more than speed: a wrapped product would change the noise law and so the privacy guarantee."""
    counts = np.asarray(counts, dtype=np.int64)
    if noise.fits_int64:
        return add_discrete_gaussian(counts, state, np.int64(noise.num), np.int64(noise.den), np.int64(noise.tail_cap))
    draws = [discrete_gaussian_bigint(state, noise.num, noise.den) for _ in range(counts.shape[0])]
    return counts + np.array(draws, dtype=np.int64).reshape(counts.shape)
