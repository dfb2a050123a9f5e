"""Numba kernel of aggregate-seeded synthesis (docs/method.md, "Aggregate-seeded"): a batch of records built side by
side.

Aggregates are a sorted key array with counts; a key's *index* is its identity here, so synthetic counts are a plain
array aligned with it and weights are array lookups. Each partial record keeps, for every candidate attribute a, the
indices of its released sub-combinations that contain a (updated incrementally when the record grows, so each
sub-combination is looked up once per record), whether the candidate is dead (some sub-combination was never
released), and candidates are first pruned with co-occurrence bitsets.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable

import numpy as np
from numba import njit, prange

from sdsynth.kernels.chacha import init_state, uniform_below
from sdsynth.kernels.counting import _get
from sdsynth.kernels.keys import insert_sorted, pack_key
from sdsynth.kernels.rowsets import has_bit


@njit(cache=True, nogil=True)
def _select(values: np.ndarray, n: int, k: int) -> np.int64:
    """The k-th smallest of values[:n] (0-based), reordering values so that values[k+1:n] are all ≥ it."""
    lo = 0
    hi = n - 1
    while lo < hi:
        pivot = values[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while values[i] < pivot:
                i += 1
            while values[j] > pivot:
                j -= 1
            if i <= j:
                tmp = values[i]
                values[i] = values[j]
                values[j] = tmp
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    return values[k]


@njit(cache=True, nogil=True)
def _r8_rounded(values: np.ndarray, n: int, q: float) -> np.int64:
    """round_half_away(R8 quantile) of values[:n] (docs/method.md, "Aggregate-seeded"), by selection rather than
    sorting."""
    h = (n + 1.0 / 3.0) * q + 1.0 / 3.0
    hf = math.trunc(h)
    if hf <= 0 or q == 0.0:
        v = float(_select(values, n, np.int64(0)))
    elif hf >= n or q == 1.0:
        v = float(_select(values, n, n - 1))
    else:
        lower = _select(values, n, hf - 1)
        upper = values[hf]
        for t in range(hf + 1, n):
            if values[t] < upper:
                upper = values[t]
        v = lower + (h - hf) * (upper - lower)
    return np.int64(math.floor(v + 0.5))


@njit(cache=True, nogil=True)
def _extend_lists(
    b: int, rec: np.ndarray, n_rec: int, z: np.int64, a: np.int64, max_length: int, bits: int, slots: int,
    tkeys: np.ndarray, tidx: np.ndarray, mask: np.uint64, sub_idx: np.ndarray, sub_n: np.ndarray,
    dead: np.ndarray, full: np.ndarray, scratch: np.ndarray, pos: np.ndarray, others: np.ndarray,
    keep_indices: bool, counts: np.ndarray, kept: np.ndarray, n_kept: np.ndarray, keep_top: bool,
) -> None:  # fmt: skip
    """Candidate a of record b: add the sub-combinations {a, z} ∪ T (T ⊆ rec without z, |T| ≤ max_length − 2),
    the ones that appear now that z joined the record. rec[:n_rec] is the record *with* z.

    With `keep_indices` their key indices are listed (counts change as synthetic counts grow); otherwise only the
    extreme values the percentile can reach are kept (`_keep_value`)."""
    m = 0
    for i in range(n_rec):
        if rec[i] != z:
            others[m] = rec[i]
            m += 1
    # T = ∅, then every subset of `others` of size 1..max_length−2 (depth-first)
    size_limit = max_length - 2
    d = -1
    while True:
        # build the sub-combination {a, z} ∪ others[pos[0..d]]
        k = 0
        scratch[k] = a
        k = 1
        k = insert_sorted(scratch, k, z)
        for t in range(d + 1):
            k = insert_sorted(scratch, k, others[pos[t]])
        if k <= max_length:
            i = _get(tkeys, tidx, mask, pack_key(scratch, k, bits, slots)) - 1
            if i < 0:
                dead[b, a] = True
                return
            if keep_indices:
                sub_idx[b, a, sub_n[b, a]] = i
            else:
                _keep_value(kept, n_kept, b, a, counts[i], keep_top)
            sub_n[b, a] += 1
            if k == n_rec + 1:
                full[b, a] = i  # the whole record plus a
        # next subset in depth-first order
        if d + 1 < size_limit and (pos[d] + 1 if d >= 0 else 0) < m:
            pos[d + 1] = pos[d] + 1 if d >= 0 else 0
            d += 1
            continue
        while d >= 0:
            pos[d] += 1
            if pos[d] < m:
                break
            d -= 1
        if d < 0:
            return


@njit(inline="always")
def _keep_value(kept: np.ndarray, n_kept: np.ndarray, b: int, a: np.int64, v: np.int64, keep_top: bool) -> None:
    """Keep the T largest values (or the T smallest when the percentile is below 50), sorted from the extreme.

    The R8 percentile at q ≥ 0.5 of L values only reads the (L − hf + 1)-th and (L − hf)-th largest, and
    L − hf + 1 ≤ (1 − q)·L + 2, so T = ceil((1 − q)·L_max) + 2 kept values answer it exactly for any L ≤ L_max.
    """
    t = kept.shape[2]
    row = kept[b, a]
    n = n_kept[b, a]
    if n == t:
        last = row[t - 1]
        if (keep_top and v <= last) or (not keep_top and v >= last):
            return
        n -= 1
    j = n
    while j > 0 and ((keep_top and row[j - 1] < v) or (not keep_top and row[j - 1] > v)):
        row[j] = row[j - 1]
        j -= 1
    row[j] = v
    n_kept[b, a] = n + 1


@njit(cache=True, nogil=True)
def _r8_from_extremes(row: np.ndarray, total: int, q: float, keep_top: bool) -> np.int64:
    """round_half_away(R8 quantile) of `total` values of which `row` holds the extreme ones (see _keep_value)."""
    h = (total + 1.0 / 3.0) * q + 1.0 / 3.0
    hf = math.trunc(h)
    if keep_top:
        if hf >= total or q == 1.0:
            v = float(row[0])
        else:
            lower = row[total - hf]  # ascending rank hf−1 = descending rank total − hf
            upper = row[total - hf - 1]
            v = lower + (h - hf) * (upper - lower)
    else:
        if hf <= 0 or q == 0.0:
            v = float(row[0])
        elif hf >= total:
            v = float(row[total - 1]) if total <= row.shape[0] else float(row[row.shape[0] - 1])
        else:
            v = row[hf - 1] + (h - hf) * (row[hf] - row[hf - 1])
    return np.int64(math.floor(v + 0.5))


@njit(cache=True, nogil=True)
def _start_record(
    b: int, n_attr: int, bits: int, slots: int, tkeys: np.ndarray, tidx: np.ndarray, mask: np.uint64,
    counts: np.ndarray, use_synthetic: bool, keep_top: bool, sub_idx: np.ndarray, kept: np.ndarray,
    n_kept: np.ndarray, sub_n: np.ndarray, dead: np.ndarray, full: np.ndarray,
) -> None:  # fmt: skip
    """An empty record's candidate lists: each attribute's only sub-combination is {a}."""
    for a in range(n_attr):
        i = _get(tkeys, tidx, mask, np.uint64(a + 1) << np.uint64(bits * (slots - 1))) - 1
        if i < 0:
            dead[b, a] = True
        else:
            if use_synthetic:
                sub_idx[b, a, 0] = i
            else:
                _keep_value(kept, n_kept, b, a, counts[i], keep_top)
            sub_n[b, a] = 1
            full[b, a] = i


@njit(cache=True, nogil=True)
def _propose(
    b: int, step: int, attempt: int, rec: np.ndarray, n_rec: np.ndarray, cols: np.ndarray, column_of: np.ndarray,
    available: np.ndarray, cooc: np.ndarray, max_length: int, q: float, counts: np.ndarray, synthetic: np.ndarray,
    use_synthetic: bool, list_capacity: int, keep_top: bool, sub_idx: np.ndarray, kept: np.ndarray,
    sub_n: np.ndarray, dead: np.ndarray, full: np.ndarray, refused: np.ndarray, key_words: np.ndarray,
    first_record: np.int64,
) -> np.int64:  # fmt: skip
    """Record b's next attribute drawn with the weights of docs/method.md, "Aggregate-seeded" (−1: no candidate left,
    the record ends)."""
    n_attr = available.shape[0]
    n_words = cooc.shape[1]
    allowed = np.empty(n_words, dtype=np.uint64)
    for w in range(n_words):
        allowed[w] = ~np.uint64(0)
    if max_length >= 2:
        for t in range(n_rec[b]):
            row = cooc[rec[b, t]]
            for w in range(n_words):
                allowed[w] &= row[w]
    values = np.empty(list_capacity if use_synthetic else 1, dtype=np.int64)
    cands = np.empty(n_attr, dtype=np.int64)
    weights = np.empty(n_attr, dtype=np.int64)
    n_c = 0
    total = np.int64(0)
    for w in range(n_words):
        x = allowed[w]
        while x != 0:
            low = x & (~x + np.uint64(1))
            bit = 0
            while (low >> np.uint64(bit)) != np.uint64(1):
                bit += 1
            x ^= low
            a = w * 64 + bit
            if a >= n_attr or available[a] <= 0 or dead[b, a] or refused[b, a] or cols[b, column_of[a]]:
                continue
            if n_rec[b] + 1 <= max_length:
                i = full[b, a]
                if i < 0:
                    continue
                wt = counts[i] - synthetic[i] if use_synthetic else counts[i]
                if wt <= 0:
                    continue
            elif not use_synthetic:
                wt = _r8_from_extremes(kept[b, a], sub_n[b, a], q, keep_top)
            else:
                n_v = sub_n[b, a]
                ok = True
                for t in range(n_v):
                    i = sub_idx[b, a, t]
                    v = counts[i] - synthetic[i]
                    if v <= 0:
                        ok = False
                        break
                    values[t] = v
                if not ok:
                    continue
                wt = _r8_rounded(values, n_v, q)
                if wt <= 0:
                    continue
            cands[n_c] = a
            weights[n_c] = wt
            n_c += 1
            total += wt
    if total == 0:
        return np.int64(-1)
    state = np.empty(34, dtype=np.uint32)
    init_state(state, key_words, ((first_record + b) * 64 + step) * 64 + attempt)
    r = uniform_below(state, total)
    k = 0
    while r >= weights[k]:
        r -= weights[k]
        k += 1
    return cands[k]


@njit(cache=True, nogil=True)
def _commit(
    size: int, pending: np.ndarray, proposal: np.ndarray, finished: np.ndarray, refused: np.ndarray,
    available: np.ndarray, synthetic: np.ndarray, use_synthetic: bool, sub_idx: np.ndarray, sub_n: np.ndarray,
    rec: np.ndarray, n_rec: np.ndarray, cols: np.ndarray, column_of: np.ndarray, accepted: np.ndarray,
    sequential: np.ndarray,
) -> int:  # fmt: skip
    """Commit the proposals in a uniformly random order; returns how many were refused (their attribute ran out)."""
    n_pending = 0
    order = np.empty(size, dtype=np.int64)
    for b in range(size):
        if pending[b]:
            order[n_pending] = b
            n_pending += 1
    for i in range(n_pending - 1, 0, -1):
        j = uniform_below(sequential, i + 1)
        tmp = order[i]
        order[i] = order[j]
        order[j] = tmp
    redraw = 0
    for i in range(n_pending):
        b = order[i]
        a = proposal[b]
        if a < 0:
            finished[b] = True
            pending[b] = False
            continue
        if available[a] <= 0:
            refused[b, a] = True
            redraw += 1
            continue
        pending[b] = False
        available[a] -= 1
        if use_synthetic:
            # synthetic[s] += 1 for the released sub-combinations s of the record + a that contain a
            for t in range(sub_n[b, a]):
                synthetic[sub_idx[b, a, t]] += 1
        n_rec[b] = insert_sorted(rec[b], n_rec[b], a)
        cols[b, column_of[a]] = True
        accepted[b] = a
    return redraw


@njit(cache=True, nogil=True)
def _grow(
    b: int, z: np.int64, max_rec: int, rec: np.ndarray, n_rec: np.ndarray, cols: np.ndarray,
    column_of: np.ndarray, cooc: np.ndarray, max_length: int, bits: int, slots: int, tkeys: np.ndarray,
    tidx: np.ndarray, mask: np.uint64, counts: np.ndarray, use_synthetic: bool, keep_top: bool,
    sub_idx: np.ndarray, kept: np.ndarray, n_kept: np.ndarray, sub_n: np.ndarray, dead: np.ndarray,
    full: np.ndarray, refused: np.ndarray,
) -> None:  # fmt: skip
    """Record b just took attribute z: extend its candidates' sub-combination lists (or kill candidates)."""
    scratch = np.empty(max_rec + 2, dtype=np.int64)
    pos = np.empty(max_rec + 2, dtype=np.int64)
    others = np.empty(max_rec + 2, dtype=np.int64)
    row = cooc[z]
    for a in range(refused.shape[1]):
        refused[b, a] = False
        if dead[b, a] or cols[b, column_of[a]]:
            continue
        if max_length >= 2 and not has_bit(row, a):
            dead[b, a] = True  # {a, z} was never released: a can no longer join this record
            continue
        _extend_lists(b, rec[b], n_rec[b], z, a, max_length, bits, slots, tkeys, tidx, mask, sub_idx, sub_n,
                      dead, full, scratch, pos, others, use_synthetic, counts, kept, n_kept, keep_top)  # fmt: skip


PARALLEL_AFTER = 100_000  # records of a synthesis built before batches go to the parallel kernel


def build_batch(
    size: int, max_rec: int, n_columns: int, column_of: np.ndarray, available: np.ndarray, cooc: np.ndarray,
    max_length: int, q: float, bits: int, slots: int, tkeys: np.ndarray, tidx: np.ndarray, counts: np.ndarray,
    synthetic: np.ndarray, use_synthetic: bool, list_capacity: int, kept_size: int, key_words: np.ndarray,
    first_record: np.int64, sequential: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Build `size` records side by side against (and updating) `available` and `synthetic` (docs/method.md,
    "Aggregate-seeded").

    Each step, every unfinished record draws its next attribute; the draws are committed one record at a time in a
    uniformly random order; a draw whose attribute ran out meanwhile is refused and redrawn. Returns (records,
    lengths). The draws of a step run in parallel once PARALLEL_AFTER records of the synthesis are built
    (`first_record`): a `prange` loop costs seconds of compilation, worth it on large outputs only, and the records
    are the same either way (each draw reads only its own record and the counts committed before the step).
    """
    kernel = _build_batch_parallel if first_record >= PARALLEL_AFTER else _build_batch_serial
    return kernel(size, max_rec, n_columns, column_of, available, cooc, max_length, q, bits, slots, tkeys, tidx,
                  counts, synthetic, use_synthetic, list_capacity, kept_size, key_words, first_record,
                  sequential)  # fmt: skip


def _build_batch(
    size: int, max_rec: int, n_columns: int, column_of: np.ndarray, available: np.ndarray, cooc: np.ndarray,
    max_length: int, q: float, bits: int, slots: int, tkeys: np.ndarray, tidx: np.ndarray, counts: np.ndarray,
    synthetic: np.ndarray, use_synthetic: bool, list_capacity: int, kept_size: int, key_words: np.ndarray,
    first_record: np.int64, sequential: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """`build_batch`, compiled twice below (`_build_batch_serial`, `_build_batch_parallel`): without `parallel` its
    `prange` is a plain `range`."""
    n_attr = available.shape[0]
    mask = np.uint64(tkeys.shape[0] - 1)
    rec = np.zeros((size, max_rec + 1), dtype=np.int64)
    n_rec = np.zeros(size, dtype=np.int64)
    finished = np.zeros(size, dtype=np.bool_)
    cols = np.zeros((size, n_columns), dtype=np.bool_)
    keep_top = q >= 0.5
    sub_idx = np.empty((size, n_attr, list_capacity if use_synthetic else 1), dtype=np.int64)
    kept = np.empty((size, n_attr, 1 if use_synthetic else kept_size), dtype=np.int64)
    n_kept = np.zeros((size, n_attr), dtype=np.int64)
    sub_n = np.zeros((size, n_attr), dtype=np.int64)
    dead = np.zeros((size, n_attr), dtype=np.bool_)
    full = np.full((size, n_attr), -1, dtype=np.int64)
    refused = np.zeros((size, n_attr), dtype=np.bool_)
    proposal = np.full(size, -1, dtype=np.int64)
    pending = np.zeros(size, dtype=np.bool_)
    accepted = np.full(size, -1, dtype=np.int64)
    for step in range(max_rec + 1):
        any_open = False
        for b in range(size):
            pending[b] = not finished[b]
            any_open = any_open or pending[b]
        if not any_open:
            break
        attempt = np.int64(0)  # not a literal 0: one signature of _propose
        while True:
            # one loop over the records (parallel in the parallel kernel, where each such loop costs seconds of
            # compilation): before its first proposal of a step, a record starts (step 0) or grows by the attribute
            # it took at the previous step; both only touch its own state
            for i in prange(size):
                b = np.int64(i)  # a parallel loop's index is unsigned: callees would compile for uint64 as well
                if attempt == 0:
                    if step == 0:
                        _start_record(b, n_attr, bits, slots, tkeys, tidx, mask, counts, use_synthetic, keep_top,
                                      sub_idx, kept, n_kept, sub_n, dead, full)  # fmt: skip
                    elif accepted[b] >= 0:
                        z = accepted[b]
                        accepted[b] = -1
                        _grow(b, z, max_rec, rec, n_rec, cols, column_of, cooc, max_length, bits, slots, tkeys, tidx,
                              mask, counts, use_synthetic, keep_top, sub_idx, kept, n_kept, sub_n, dead, full,
                              refused)  # fmt: skip
                if pending[b]:
                    proposal[b] = _propose(
                        b, step, attempt, rec, n_rec, cols, column_of, available, cooc, max_length, q, counts,
                        synthetic, use_synthetic, list_capacity, keep_top, sub_idx, kept, sub_n, dead, full, refused,
                        key_words, first_record,
                    )  # fmt: skip
            redraw = _commit(size, pending, proposal, finished, refused, available, synthetic, use_synthetic,
                             sub_idx, sub_n, rec, n_rec, cols, column_of, accepted, sequential)  # fmt: skip
            if redraw == 0:
                break
            attempt += 1
    return rec, n_rec


def _renamed(function: Callable[..., object], name: str) -> Callable[..., object]:
    """A copy of `function` under another name: Numba keys its on-disk cache by the function's name, so the serial
    and parallel compilations of one source each keep their own entry (under the name the module holds them by,
    which `kernels.ahead` looks up)."""
    copy = types.FunctionType(function.__code__, function.__globals__, name, function.__defaults__,
                              function.__closure__)  # fmt: skip
    copy.__qualname__ = name
    return copy


_build_batch_serial = njit(cache=True, nogil=True)(_renamed(_build_batch, "_build_batch_serial"))
_build_batch_parallel = njit(cache=True, nogil=True, parallel=True)(_renamed(_build_batch, "_build_batch_parallel"))
