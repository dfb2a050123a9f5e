"""The k-anonymity synthesizers of the reference: unseeded, row-seeded, value-seeded (docs/method.md, "Synthesis").

Each one builds records attribute by attribute so that every combination in a synthetic record (of any length)
matches at least k sensitive records. Fitting reads the sensitive data once: exact counts of short combinations
(for the first, crowded steps) and one bitset per attribute (for the deeper steps), over the records in clustered order
so that the rows of a partial record are a few runs of words. Sampling is post-processing of
those structures; with a seed it is reproducible (whatever the number of threads: work is cut into fixed chunks,
each with its own ChaCha20 stream).
"""

from __future__ import annotations

import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sdsynth._utils.context import RunContext
from sdsynth.backends.local import default_threads
from sdsynth.count.combinations import count_combinations, round_down
from sdsynth.encode.records import EncodedData
from sdsynth.errors import ParameterError, PrivacyParameterError
from sdsynth.kernels.chacha import key_words, stream_key, stream_state
from sdsynth.kernels.counting import build_lookup_table
from sdsynth.kernels.keys import KeyLayout
from sdsynth.kernels.rowsets import build_bitsets, clustered_order, nonzero_words
from sdsynth.protect.aggregates import Aggregates
from sdsynth.synth.kernels import consolidate, row_seeded_groups, row_seeded_prefix, suppress, unseeded_records

TABLE_LENGTH = 3
CHUNK = 8192  # records per random stream in the parallel phases
SEQUENTIAL_STREAM = 1 << 62  # stream index of the sequential phases (consolidation, suppression)


@dataclass
class SeededModel:
    """What the seeded synthesizers need from the sensitive data (sensitive itself: never released)."""

    data: EncodedData
    resolution: int
    single_counts: np.ndarray
    layout: KeyLayout
    table_length: int
    table_keys: np.ndarray
    table_vals: np.ndarray
    bits: np.ndarray  # rows in `record_of_row` order
    colbits: np.ndarray
    record_of_row: np.ndarray
    word_offsets: np.ndarray  # per attribute, its bitset's non-zero words (CSR)
    word_ids: np.ndarray
    n_threads: int = field(default_factory=default_threads)

    @classmethod
    def fit(cls, data: EncodedData, resolution: int, n_threads: int | None = None) -> SeededModel:
        if resolution < 1:
            raise PrivacyParameterError(f"resolution k must be at least 1, got {resolution}")
        n_columns = len(data.attributes.columns)
        table_length = max(1, min(TABLE_LENGTH, n_columns))
        counts = count_combinations(data, table_length, RunContext(threads=n_threads))
        layout = counts.layout
        table_length = min(table_length, layout.slots)
        keys, vals = build_lookup_table(counts.keys, counts.counts)
        singles = np.zeros(data.attributes.n_attributes, dtype=np.int64)
        single_mask = counts.lengths == 1
        singles[layout.unpack(counts.keys[single_mask], 1)[:, 0]] = counts.counts[single_mask]
        n_attributes = data.attributes.n_attributes
        order = clustered_order(data.offsets, data.ids, n_attributes)
        bits, colbits = build_bitsets(data.offsets, data.ids, data.attributes.column_of, n_attributes, n_columns, order)
        return cls(data, resolution, singles, layout, table_length, keys, vals, bits, colbits, order,
                   *nonzero_words(bits), n_threads or default_threads())  # fmt: skip

    @property
    def n_records(self) -> int:
        return self.data.n_records

    def targets(self) -> np.ndarray:
        """round_down(n_a, k) for attributes with n_a ≥ k, else 0: what a k-anonymous release shows."""
        k = self.resolution
        return np.where(self.single_counts >= k, round_down(self.single_counts, k), 0)


def _chunks(total: int) -> list[tuple[int, int, int]]:
    return [(i, lo, min(lo + CHUNK, total)) for i, lo in enumerate(range(0, total, CHUNK))]


def _parallel(n_threads: int, jobs: list[Any]) -> None:
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        for f in [pool.submit(job) for job in jobs]:
            f.result()


def unseeded(model: SeededModel, n_records: int | None, seed: int | None) -> EncodedData:
    """docs/method.md, "Unseeded": `n_records` records (default N), each drawn column by column in a random column
    order."""
    n = model.n_records if n_records is None else n_records
    if n < 0:
        raise ParameterError(f"the number of records must be >= 0, got {n}")
    attrs = model.data.attributes
    n_columns = len(attrs.columns)
    out_ids = np.zeros((n, max(n_columns, 1)), dtype=np.int32)
    out_len = np.zeros(n, dtype=np.int64)
    key = stream_key(seed)
    if model.n_records == 0:
        return EncodedData(attrs, np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int32), "synthetic")
    jobs = [
        lambda i=i, lo=lo, hi=hi: unseeded_records(
            lo, hi - lo, model.data.offsets, model.data.ids, model.record_of_row, attrs.column_of, n_columns,
            model.bits, model.word_offsets, model.word_ids, model.colbits, model.single_counts, model.n_records,
            model.resolution, stream_state(key, i), out_ids, out_len,
        )
        for i, lo, hi in _chunks(n)
    ]  # fmt: skip
    _parallel(model.n_threads, jobs)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(out_len, out=offsets[1:])
    mask = np.arange(out_ids.shape[1])[None, :] < out_len[:, None]
    return EncodedData(attrs, offsets, out_ids[mask].astype(np.int32), "synthetic")


def _consolidate(
    model: SeededModel,
    available: np.ndarray,
    state: np.ndarray,
    oversampling: tuple[Aggregates, float, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    attrs = model.data.attributes
    n_columns = len(attrs.columns)
    ratio, tries, agg_keys, agg_vals, agg_length = -1.0, 1, np.zeros(2, np.uint64), np.zeros(2, np.int64), 1
    if oversampling is not None:
        aggs, ratio, tries = oversampling
        agg_keys, agg_vals = build_lookup_table(aggs.keys, aggs.counts)
        agg_length = aggs.reporting_length
    bound = sum(math.comb(n_columns, ell) for ell in range(agg_length)) + 1
    return consolidate(
        available, available > 0, attrs.column_of, n_columns, model.resolution, model.table_length,
        model.table_keys, model.table_vals, model.layout.bits, model.layout.slots, model.bits, state, ratio,
        max(1, tries), agg_keys, agg_vals, agg_length, bound, model.word_offsets, model.word_ids,
    )  # fmt: skip


def _suppress(model: SeededModel, offsets: np.ndarray, ids: np.ndarray, state: np.ndarray) -> EncodedData:
    current = np.bincount(ids, minlength=model.data.attributes.n_attributes)
    excess = np.where(model.single_counts >= model.resolution, np.maximum(current - model.targets(), 0), 0)
    out_offsets, out_ids = suppress(offsets, ids, excess.astype(np.int64), state)
    return EncodedData(model.data.attributes, out_offsets, out_ids, "synthetic")


def _concat(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = [np.zeros(1, dtype=np.int64)]
    base = 0
    for off, _ in parts:
        offsets.append(off[1:] + base)
        base += int(off[-1])
    return np.concatenate(offsets), np.concatenate([ids.astype(np.int32) for _, ids in parts])


def row_seeded_phase1(model: SeededModel, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """docs/method.md, "Row-seeded" phase 1: record j is grown from sensitive record j's attributes (CSR, one record per
    input)."""
    data = model.data
    n = data.n_records
    out_ids = np.zeros(len(data.ids), dtype=np.int32)
    out_len = np.zeros(n, dtype=np.int64)
    prefix_key = np.zeros(n, dtype=np.uint64)
    key = stream_key(seed)
    words = key_words(key)
    prefix_depth = max(1, model.table_length - 1)  # walks are grouped here; the table still serves one more step
    jobs = [
        lambda lo=lo, hi=hi: row_seeded_prefix(
            data.offsets, data.ids, lo, hi, model.resolution, prefix_depth, model.table_keys,
            model.table_vals, model.layout.bits, model.layout.slots, words, out_ids, out_len, prefix_key,
        )
        for _, lo, hi in _chunks(n)
    ]  # fmt: skip
    _parallel(model.n_threads, jobs)
    running = np.flatnonzero(prefix_key != 0)
    if len(running):
        order = np.argsort(prefix_key[running], kind="stable")
        walks = running[order].astype(np.int64)
        sorted_keys = prefix_key[walks]
        starts = np.flatnonzero(np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]]))
        group_starts = np.concatenate([starts, [len(walks)]]).astype(np.int64)
        # contiguous runs of groups with about the same number of walks per job
        cuts = np.searchsorted(group_starts, np.linspace(0, len(walks), 4 * model.n_threads + 1)[1:-1])
        bounds = sorted({0, *cuts.tolist(), len(group_starts) - 1})
        jobs = [
            lambda a=a, b=b: row_seeded_groups(
                data.offsets, data.ids, walks, group_starts, a, b, model.resolution, prefix_depth,
                model.table_length, model.table_keys, model.table_vals, model.layout.bits, model.layout.slots,
                model.bits, model.word_offsets, model.word_ids, words, out_ids, out_len,
            )
            for a, b in itertools.pairwise(bounds)
            if b > a
        ]  # fmt: skip
        _parallel(model.n_threads, jobs)
    keep = _prefix_mask(data.offsets, out_len)
    return np.concatenate([[0], np.cumsum(out_len)]).astype(np.int64), out_ids[keep]


def row_seeded(model: SeededModel, seed: int | None, diagnostics: dict[str, int] | None = None) -> EncodedData:
    """docs/method.md, "Row-seeded": one record grown from each sensitive record's attributes, consolidation,
    suppression."""
    data = model.data
    phase1 = row_seeded_phase1(model, seed)
    synthesized = np.bincount(phase1[1], minlength=data.attributes.n_attributes)
    # not_used[a] = n_a − synthesized[a], so the budget round_down(n_a,k) − n_a + not_used[a] simplifies to:
    available = np.where(model.single_counts >= model.resolution, model.targets() - synthesized, 0)
    sequential = stream_state(stream_key(seed), SEQUENTIAL_STREAM)
    phase2 = _consolidate(model, np.maximum(available, 0).astype(np.int64), sequential)
    offsets, ids = _concat([phase1, phase2])
    result = _suppress(model, offsets, ids, sequential)
    if diagnostics is not None:
        diagnostics.update(seeded=len(phase1[0]) - 1, consolidated=len(phase2[0]) - 1, kept=result.n_records)
    return result


def _prefix_mask(offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """For CSR slots, True on the first lengths[r] slots of each record r."""
    position = np.arange(offsets[-1]) - np.repeat(offsets[:-1], np.diff(offsets))
    return position < np.repeat(lengths, np.diff(offsets))


def value_seeded(
    model: SeededModel, seed: int | None, oversampling: tuple[Aggregates, float, int] | None = None
) -> EncodedData:
    """docs/method.md, "Value-seeded": consolidation over the whole attribute budget, then suppression.

    With oversampling control, records are refused when a sub-combination would exceed its aggregate count by more than
    the ratio. Deviation: the budget stays round_down(n_a, k); the reference uses round_down(n_a, k) − n_a + A_a, which
    with k-anonymous aggregates is 2·round_down(n_a, k) − n_a (docs/method.md, "Value-seeded").
    """
    if oversampling is not None and not (oversampling[1] >= 0):
        raise ParameterError(f"the oversampling ratio must be >= 0, got {oversampling[1]}")
    if oversampling is not None and oversampling[2] < 1:
        raise ParameterError(f"oversampling tries must be >= 1, got {oversampling[2]}")
    key = stream_key(seed)
    sequential = stream_state(key, SEQUENTIAL_STREAM)
    offsets, ids = _consolidate(model, model.targets().astype(np.int64), sequential, oversampling)
    return _suppress(model, offsets, ids, sequential)
