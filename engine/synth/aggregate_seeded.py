"""Aggregate-seeded synthesis (docs/method.md, "Aggregate-seeded"): records rebuilt from released aggregates only.

This is post-processing of a release (k-anonymous or DP): no sensitive data is read. The reference builds records
one at a time, each attribute drawn with a weight taken from the aggregates (the count of the whole combination while
it is short enough, else a percentile of its released sub-combinations), under a per-attribute budget equal to the
single-attribute counts. We build a *batch* of records at once: at each step every partial record draws its next
attribute in parallel (array lookups, candidates pruned by co-occurrence bitsets), then the draws are committed one
record at a time in random order against the budget, and a draw whose attribute ran out meanwhile is redrawn. The
budget and every "never an unreleased combination" guarantee stay exact; what changes is that records of a batch do
not see each other's synthetic counts until the step is committed. docs/synthesis.md measures the effect and how
the default batch size was chosen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import numba
import numpy as np

from sdsynth._utils.context import RunContext, context
from sdsynth._utils.progress import NullProgress, Progress, ProgressBar
from sdsynth.encode.attributes import AttributeTable
from sdsynth.encode.records import EncodedData, _concat_csr
from sdsynth.errors import ParameterError
from sdsynth.kernels.chacha import key_words, stream_key, stream_state
from sdsynth.kernels.counting import build_lookup_table
from sdsynth.protect.aggregates import Aggregates
from sdsynth.synth.agg_kernels import build_batch
from sdsynth.synth.calibrated import CalibratedSampler, calibrated_batches, release_fit, release_model
from sdsynth.synth.options import (
    AUTO_MIN_PILOT_RECORDS,
    AUTO_PILOT_RECORDS,
    AUTO_PILOT_SHARE,
    AggregateSeededParameters,
)

SEQUENTIAL_STREAM = 1 << 62
OUTPUT_BATCH_RECORDS = 1_000_000


def _cooccurrence(aggs: Aggregates, n_words: int) -> np.ndarray:
    """cooc[a] has bit b set iff the pair {a, b} was released."""
    n_attr = aggs.attributes.n_attributes
    cooc = np.zeros((n_attr, n_words), dtype=np.uint64)
    pairs = aggs.keys[aggs.lengths == 2]
    if len(pairs):
        ids = aggs.layout.unpack(pairs, 2)
        for x, y in ((ids[:, 0], ids[:, 1]), (ids[:, 1], ids[:, 0])):
            np.bitwise_or.at(cooc, (x, y // 64), np.left_shift(np.uint64(1), (y % 64).astype(np.uint64)))
    return cooc


def aggregate_seeded(
    aggs: Aggregates, target: int | None, params: AggregateSeededParameters | None = None, ctx: RunContext | None = None
) -> EncodedData:
    """Synthetic records from released aggregates: exactly `target` records, or (None, reference law only) until the
    single-attribute budget is spent; `ctx.seed` makes them reproducible."""
    return concat_records(aggs.attributes, aggregate_seeded_batches(aggs, target, params, ctx))


def concat_records(attributes: AttributeTable, batches: Iterable[EncodedData]) -> EncodedData:
    offsets, ids = _concat_csr([(b.offsets, b.ids) for b in batches])
    return EncodedData(attributes, offsets, ids, "synthetic")


def aggregate_seeded_batches(
    aggs: Aggregates, target: int | None, params: AggregateSeededParameters | None = None, ctx: RunContext | None = None
) -> Iterator[EncodedData]:
    """The same records as `aggregate_seeded`, in batches (for outputs larger than memory)."""
    params = params or AggregateSeededParameters()
    params.check_target(target)
    ctx = context(ctx)
    if ctx.threads is not None:
        numba.set_num_threads(max(1, min(ctx.threads, numba.config.NUMBA_NUM_THREADS)))
    params, start = resolve_sampling_law(aggs, target, params, ctx.seed, ctx.progress)
    if params.sampling_law == "calibrated":
        params.check_target(target)
        return start.batches() if start is not None else calibrated_batches(aggs, target, ctx.seed, params.coverage)
    return _reference_batches(aggs, target, params, ctx.seed)


def choose_sampling_law(
    aggs: Aggregates, target: int | None, params: AggregateSeededParameters, seed: int | None = None
) -> AggregateSeededParameters:
    """`params` with an `auto` law resolved: the calibrated law draws its first output batch, the reference law
    `reference_pilot_records(target)` records, and the law whose 1- and 2-way distributions (empty cells included)
    are closer to the released ones on that many records wins (sum of the mean TVDs; ties go to the calibrated
    law). Post-processing of the aggregates only. `--records budget` needs the reference law."""
    return resolve_sampling_law(aggs, target, params, seed)[0]


@dataclass
class CalibratedStart:
    """The calibrated law's sampler for the whole output and its first batch, drawn while `auto` chose the law: the
    output continues from them instead of drawing them again."""

    sampler: CalibratedSampler
    first: EncodedData

    def whole(self) -> EncodedData | None:
        """The first batch when it is the whole output, else None."""
        return self.first if len(self.sampler.batch_sizes()) <= 1 else None

    def batches(self) -> Iterator[EncodedData]:
        yield self.first
        for index, size in enumerate(self.sampler.batch_sizes()[1:], start=1):
            yield self.sampler.batch(index, size)


def reference_pilot_records(target: int) -> int:
    """How many records the reference law draws for `auto`'s comparison: a tenth of the output (so the choice costs
    about a tenth of a reference-law synthesis on top of the calibrated one), at least AUTO_MIN_PILOT_RECORDS (a
    fit on fewer records is mostly sampling noise) and at most AUTO_PILOT_RECORDS."""
    share = math.ceil(AUTO_PILOT_SHARE * target)
    return min(target, AUTO_PILOT_RECORDS, max(AUTO_MIN_PILOT_RECORDS, share))


def resolve_sampling_law(
    aggs: Aggregates,
    target: int | None,
    params: AggregateSeededParameters,
    seed: int | None = None,
    progress: Progress | None = None,
) -> tuple[AggregateSeededParameters, CalibratedStart | None]:
    """`choose_sampling_law`, and, when the calibrated law wins, its sampler and first batch (the output's own:
    `calibrated_batches(aggs, target, seed)` begins with them). The calibrated law's first batch is drawn as the
    output would be; the reference law draws `reference_pilot_records(target)` records, and both are compared on
    that many records (a random subset of the calibrated batch), so the choice costs about a tenth of a
    reference-law synthesis. `progress` shows the records drawn (a public number: at most the released count)."""
    if aggs.column_pairs() is not None:  # chosen column pairs: the reference law needs every pair released
        if params.sampling_law == "reference" or target is None:
            raise ParameterError(
                "this release holds chosen column pairs only (`column_pairs` tree), and the reference sampling law "
                "(also used for a `--records` budget) needs every pair: use the calibrated law with a record count"
            )
        if params.sampling_law == "auto":
            return replace(params, sampling_law="calibrated", chosen_by="auto: chosen column pairs were released"), None
    if params.sampling_law != "auto":
        return params, None
    if target is None:
        reference_law = "auto: --records budget needs the reference law"
        return replace(params, sampling_law="reference", chosen_by=reference_law, coverage=None), None
    pilot = reference_pilot_records(target)
    if pilot == 0 or aggs.record_count <= 0 or len(aggs.keys) == 0:
        return replace(params, sampling_law="calibrated", chosen_by="auto: nothing to compare"), None
    progress = progress or NullProgress()
    # three stages, so that the choice's own cost (the reference pilot and both fits) shows apart from the calibrated
    # law's fitting and its first batch, which the output keeps
    with progress.stage("fitting the calibrated law"):
        model = release_model(aggs)  # the tables of the release, computed once for the sampler and both fits
        sampler = CalibratedSampler(aggs, target, seed, model, params.coverage)
    first_size = sampler.batch_sizes()[0]
    with progress.stage("synthesizing (calibrated law, first batch)", total=first_size, unit="records",
                        shown=True) as bar:  # fmt: skip
        first = sampler.batch(0, first_size)
        bar.advance(first_size)
    with progress.stage("choosing the sampling law (reference pilot)", total=pilot, unit="records",
                        shown=True) as bar:  # fmt: skip
        compared = first
        if pilot < first_size:  # as many records as the reference pilot, taken at random
            compared = first.take(np.sort(np.random.default_rng(seed).choice(first_size, size=pilot, replace=False)))
        calibrated = release_fit(aggs, compared, model)
        reference_params = replace(params, sampling_law="reference", coverage=None)
        reference_batches = counted(_reference_batches(aggs, pilot, reference_params, seed), bar)
        reference = release_fit(aggs, concat_records(aggs.attributes, reference_batches), model)
    law = "calibrated" if sum(calibrated) <= sum(reference) else "reference"
    how = (f"auto: mean 1-/2-way TVD to the release over {pilot:,} records, calibrated {calibrated[0]:.4f} / "
           f"{calibrated[1]:.4f}, reference {reference[0]:.4f} / {reference[1]:.4f}")  # fmt: skip
    if law == "reference":
        return replace(params, sampling_law=law, chosen_by=how, coverage=None), None
    return replace(params, sampling_law=law, chosen_by=how), CalibratedStart(sampler, first)


REFERENCE_LIST_BYTES = 256 << 20  # the reference law's per-record candidate lists of one batch stay within this


def _candidate_slots(n_columns: int, reporting_length: int, params: AggregateSeededParameters) -> tuple[int, int]:
    """(capacity, kept): the reference law's candidate slots per record and attribute, all of them (synthetic counts
    used) or the extremes kept for the weight percentile."""
    q = params.weight_selection_percentile / 100.0
    capacity = sum(math.comb(n_columns - 1, ell - 1) for ell in range(1, max(reporting_length, 1) + 1)) + 1
    return capacity, min(capacity, math.ceil(min(q, 1 - q) * capacity) + 3)


def reference_law_bytes(
    n_attributes: int, n_columns: int, reporting_length: int, records: int, params: AggregateSeededParameters
) -> int:
    """The memory the reference law holds while drawing `records` records: the candidate lists of a batch and the
    attributes' co-occurrence bitsets (for the memory estimate)."""
    capacity, kept = _candidate_slots(n_columns, reporting_length, params)
    per_record = capacity if params.use_synthetic_counts else kept
    lists = min(REFERENCE_LIST_BYTES, 8 * max(1, n_attributes) * per_record * max(records, 1))
    return lists + n_attributes * max(1, (n_attributes + 63) // 64) * 8


def _reference_batches(
    aggs: Aggregates, target: int | None, params: AggregateSeededParameters, seed: int | None
) -> Iterator[EncodedData]:
    attrs = aggs.attributes
    n_attr = attrs.n_attributes
    n_columns = len(attrs.columns)
    R = aggs.reporting_length
    counts = aggs.counts.astype(np.int64)
    if params.aggregate_counts_scale_factor is not None:
        counts = np.ceil(counts * params.aggregate_counts_scale_factor).astype(np.int64)
    tkeys, tidx = build_lookup_table(aggs.keys, np.arange(1, len(aggs.keys) + 1, dtype=np.int64))
    singles = aggs.lengths == 1
    initial = np.zeros(n_attr, dtype=np.int64)
    initial[aggs.layout.unpack(aggs.keys[singles], 1)[:, 0]] = counts[singles]
    available = initial.copy()
    synthetic = np.zeros(len(aggs.keys), dtype=np.int64)
    n_words = max(1, (n_attr + 63) // 64)
    cooc = _cooccurrence(aggs, n_words)
    if R < 2:
        cooc[:] = ~np.uint64(0)
    q = params.weight_selection_percentile / 100.0
    max_rec = n_columns
    capacity, kept_size = _candidate_slots(n_columns, R, params)
    per_record = capacity if params.use_synthetic_counts else kept_size
    batch_cap = max(1, REFERENCE_LIST_BYTES // (8 * max(1, n_attr) * per_record))
    key = stream_key(seed)
    words = key_words(key)
    sequential = stream_state(key, SEQUENTIAL_STREAM)
    mean_length = max(1.0, float(initial.sum()) / max(1, aggs.record_count))
    column_of = attrs.column_of.astype(np.int64)
    if len(aggs.keys) == 0 or initial.sum() == 0:
        if target:
            raise ParameterError("the aggregates hold no single attribute: nothing to synthesize from")
        return
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    in_parts = 0
    produced = 0
    next_record_id = 0
    while True:
        if target is None and available.sum() == 0:
            break
        if target is not None:
            if produced >= target:
                break
            if available.sum() == 0:  # docs/method.md, "Aggregate-seeded": reset the budget and the synthetic counts
                available[:] = initial
                synthetic[:] = 0
        # a smaller batch as the budget runs low, so its end is reached nearly record by record
        budget_records = int(available.sum() / mean_length)
        size = max(1, min(params.batch_size, batch_cap, budget_records // 4 if budget_records >= 4 else 1))
        if target is not None:
            size = min(size, target - produced)
        rec, lengths = build_batch(
            size, max_rec, n_columns, column_of, available, cooc, R, q, aggs.layout.bits, aggs.layout.slots,
            tkeys, tidx, counts, synthetic, params.use_synthetic_counts, capacity, kept_size, words,
            np.int64(next_record_id), sequential,
        )  # fmt: skip
        next_record_id += size
        kept = lengths > 0  # an empty record is dropped (the budget ran out under it)
        if target is not None:
            kept &= np.cumsum(kept) <= target - produced
        lengths = lengths[kept]
        rows = rec[kept]
        ids = rows[np.arange(rows.shape[1])[None, :] < lengths[:, None]].astype(np.int32)
        parts.append((np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), ids))
        produced += len(lengths)
        in_parts += len(lengths)
        if in_parts >= OUTPUT_BATCH_RECORDS:
            offsets, ids = _concat_csr(parts)
            yield EncodedData(attrs, offsets, ids, "synthetic")
            parts, in_parts = [], 0
    if in_parts or not produced:
        offsets, ids = _concat_csr(parts)
        yield EncodedData(attrs, offsets, ids, "synthetic")


def target_records(aggs: Aggregates, records: int | str | None) -> int | None:
    """The number of records asked for: a number, None for "budget", the released record count by default."""
    if records == "budget":
        return None
    return aggs.record_count if records is None else int(records)


def synthesize_from_aggregates(
    aggs: Aggregates, records: int | str | None, params: AggregateSeededParameters, ctx: RunContext
) -> tuple[EncodedData | Iterator[EncodedData], AggregateSeededParameters]:
    """The synthetic records of a release: in memory, or (large outputs) a generator of batches to write as they
    come; and the parameters used (an `auto` sampling law resolved, for the release's records).

    The one synthesis path of the CLI and the Python API. With `ctx.cluster`, calibrated-law batches are drawn on its
    workers (the same records as locally); the reference law feeds each batch's counts into the next, so it runs
    here."""
    from sdsynth.synth.output import streamed

    target = target_records(aggs, records)
    params, start = resolve_sampling_law(aggs, target, params, ctx.seed, ctx.progress)
    whole = start.whole() if start is not None else None
    if whole is not None:  # the batch drawn while choosing the law is the whole output
        return whole, params
    if ctx.cluster is not None and params.sampling_law == "calibrated" and target is not None:
        from sdsynth.synth.distributed import iter_synthesize_distributed

        batches = iter_synthesize_distributed(aggs, target, ctx.seed, ctx.cluster, params.coverage)
    elif start is not None:
        batches = start.batches()
    else:
        batches = aggregate_seeded_batches(aggs, target, params, ctx)
    if streamed(target if target is not None else aggs.record_count):
        return batches, params
    with ctx.progress.stage("synthesizing (aggregate-seeded)", total=target, unit="records", shown=True) as bar:
        return concat_records(aggs.attributes, counted(batches, bar)), params


def counted(batches: Iterable[EncodedData], bar: ProgressBar) -> Iterator[EncodedData]:
    """The batches, advancing `bar` by the records of each as it comes."""
    for batch in batches:
        bar.advance(batch.n_records)
        yield batch
