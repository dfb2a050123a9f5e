"""DP marginals: the reference's per-length loop (docs/method.md, "Differential privacy") with defensible noise (see
docs/privacy.md).

For k = 1..R: candidates V_k (single attributes, then extensions of the retained (k−1)-tuples), each record's valid
k-tuples, a DP percentile of their numbers as the contribution bound Δ_k, a uniformly random subset of at most Δ_k
tuples per record, discrete Gaussian noise of variance σ_k²·Δ_k on every candidate (zero counts included), a threshold,
retention. Then post-processing (docs/method.md, "Post-processing").

Two deliberate fixes of the reference (docs/deviations.md): the percentile uses a sensitivity-1 score over a public
range, and the single-attribute domain is built after contribution bounding, so one record brings at most Δ₁
attributes into it (the reference's ρ₁ bound assumes so, but its domain holds every attribute of the record).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from sdsynth._utils.context import RunContext, context
from sdsynth._version import __version__
from sdsynth.backends.local import BatchJob, JobRunner, as_runner
from sdsynth.encode.attributes import AttributeTable
from sdsynth.encode.records import Records
from sdsynth.errors import PrivacyParameterError
from sdsynth.kernels.chacha import key_words, next_u64, stream_state
from sdsynth.kernels.counting import build_lookup_table
from sdsynth.kernels.keys import KeyLayout
from sdsynth.protect.aggregates import Aggregates
from sdsynth.protect.dp.budget import (
    BudgetSplit,
    DiscreteGaussian,
    budget_of,
    declared_threshold,
    discrete_rho1,
    length_threshold,
    record_count_noise,
)
from sdsynth.protect.dp.kernels import (
    add_noise,
    bound_contributions,
    bounded_counts,
    generate_candidates,
    sensitivities_and_counts,
)
from sdsynth.protect.dp.length_rule import at_length, choose_length
from sdsynth.protect.dp.pair_tree import (
    EPSILON_DENOMINATOR,
    choose_tree,
    extra_rounds,
    in_column_pairs,
    pair_layout,
    pair_scores,
    round_epsilon,
    sibling_pairs,
    tree_rounds,
)
from sdsynth.protect.dp.params import DpParameters
from sdsynth.protect.dp.percentile import MAX_PERCENTILE_CANDIDATES, percentile_by_rule, select_percentile
from sdsynth.protect.dp.postprocess import post_process
from sdsynth.protect.dp.random import DpRandom
from sdsynth.protect.dp.truncate import TruncatedJob
from sdsynth.read.escape import unescape

ZERO_FAST_PATH_MIN = 4096  # from this many zero-count candidates on, sample their noise in bulk


@dataclass
class LevelReport:
    """What one combination length used (all of it safe to release)."""

    length: int
    sigma: float
    sensitivity: int
    noise_variance: float
    threshold: float
    percentile_range: int
    candidates: int | None
    retained: int
    released_combinations: int = 0
    declared_threshold: float | None = None  # length 1: the threshold of declared values (a public domain)

    def as_row(self) -> dict[str, Any]:
        return {
            "length": self.length,
            "sigma": self.sigma,
            "sensitivity": self.sensitivity,
            "noise_sd": math.sqrt(self.noise_variance) if self.noise_variance else 0.0,
            "threshold": self.threshold,
            "percentile_candidates": self.percentile_range,
            "candidates": self.candidates,
            "released_combinations": self.released_combinations,
            "declared_threshold": self.declared_threshold,
        }


@dataclass
class DpResult:
    """The DP aggregates, the budget split and what each length used (all releasable), and `private`: figures
    computed from the sensitive records that only the private folder may hold (records cut to the bound)."""

    aggregates: Aggregates
    budget: BudgetSplit
    levels: list[LevelReport] = field(default_factory=list)
    private: dict[str, Any] = field(default_factory=dict)


def public_max_attributes(attributes: AttributeTable, explicit_bound: int | None = None) -> int:
    """W: the most attributes one record can hold, from public knowledge only (it sets released ranges and lengths):
    an explicit bound (`--max-attributes-per-record`, records holding more are cut, see `truncate`), else one per
    single-valued column plus the parts each multi-value column declares in the schema. Refused otherwise: the
    number of parts seen in the data moves when one record brings a new part."""
    if explicit_bound is not None:
        return explicit_bound
    width = attributes.max_record_width()
    if width is None:
        undeclared = [unescape(s.name) for s in attributes.sources if s.is_multi_value and s.declared_parts is None]
        raise PrivacyParameterError(undeclared_parts_message(undeclared))
    return max(width, 1)


def undeclared_parts_message(columns: Sequence[str]) -> str:
    return (
        f"multi-value column(s) {', '.join(map(repr, columns))} declare no parts, so the most attributes one record "
        "can hold would come from the data (one record with a new part would change the release): list the parts "
        "in a schema (kind: multi_value, values: [...]) or give `max_attributes_per_record` N (records holding more "
        "keep a random subset of N attributes)"
    )


def candidate_keys(
    previous: np.ndarray, retained: np.ndarray, attributes: AttributeTable, layout: KeyLayout, k: int
) -> np.ndarray:
    """V_k from the retained (k−1)-tuples `previous` and all retained keys so far (docs/method.md, "Candidates per
    length"), sorted."""
    prev_ids = layout.unpack(previous, k - 1).astype(np.int64)
    rk, rv = build_lookup_table(retained, np.ones(len(retained), dtype=np.int64))
    present = np.unique(prev_ids).astype(np.int64)
    column_of = attributes.column_of.astype(np.int64)
    return np.unique(generate_candidates(prev_ids, present, column_of, rk, rv, k, layout.bits, layout.slots))


@dataclass(frozen=True)
class RecordLengthsJob:
    """N, the histogram of attributes per record (the k = 1 sensitivities, clipped to the public bound `cap`), the
    longest record (only to size scratch buffers; never released) and the number of records longer than `cap` (cut
    when `cap` is an explicit bound; private), in one pass (a `parallel.BatchJob`)."""

    cap: int

    def begin(self, n_threads: int, partition: int) -> list[list[Any]]:
        del partition
        return [[0, np.zeros(self.cap + 1, dtype=np.int64), 0, 0] for _ in range(n_threads)]

    def work(self, state: list[list[Any]], thread: int, offsets: np.ndarray, ids: np.ndarray, lo: int, hi: int) -> None:
        del ids
        lengths = offsets[lo + 1 : hi + 1] - offsets[lo:hi]
        acc = state[thread]
        acc[0] += hi - lo
        if len(lengths):
            acc[1] += np.bincount(np.minimum(lengths, self.cap), minlength=self.cap + 1)[: self.cap + 1]
            acc[2] = max(acc[2], int(lengths.max()))
            acc[3] += int((lengths > self.cap).sum())

    def end(self, state: list[list[Any]]) -> tuple[int, np.ndarray, int, int]:
        return self.combine([(a[0], a[1], a[2], a[3]) for a in state])

    def combine(self, parts: Sequence[tuple[int, np.ndarray, int, int]]) -> tuple[int, np.ndarray, int, int]:
        hist = np.zeros(self.cap + 1, dtype=np.int64)
        for part in parts:
            hist += part[1]
        return sum(p[0] for p in parts), hist, max((p[2] for p in parts), default=0), sum(p[3] for p in parts)


def _sum_arrays(parts: Sequence[np.ndarray]) -> np.ndarray:
    out = parts[0].copy()
    for p in parts[1:]:
        out += p
    return out


@dataclass(frozen=True)
class SensitivityJob:
    """For one length k ≥ 2, in one enumeration: records by number of valid k-tuples (|W_j|, clipped to the public
    bound), and every candidate's count before contribution bounding (`BoundJob` then bounds it)."""

    k: int
    layout: KeyLayout
    cand_keys: np.ndarray  # lookup table of the candidates (keys, index + 1)
    cand_index: np.ndarray
    bound: int
    buffer_size: int
    n_candidates: int

    def begin(self, n_threads: int, partition: int) -> list[tuple[np.ndarray, np.ndarray]]:
        del partition
        return [(np.zeros(self.bound + 1, dtype=np.int64), np.zeros(self.n_candidates, dtype=np.int64))
                for _ in range(n_threads)]  # fmt: skip

    def work(
        self, state: list[tuple[np.ndarray, np.ndarray]], thread: int, offsets: np.ndarray, ids: np.ndarray,
        lo: int, hi: int,
    ) -> None:  # fmt: skip
        histogram, counts = state[thread]
        sensitivities_and_counts(
            offsets, ids, lo, hi, self.k, self.layout.bits, self.layout.slots, self.cand_keys, self.cand_index,
            histogram, counts, self.buffer_size,
        )  # fmt: skip

    def end(self, state: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        return self.combine(state)

    def combine(self, parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        return _sum_arrays([p[0] for p in parts]), _sum_arrays([p[1] for p in parts])


@dataclass
class ThreadStreams:
    """Local runs: the per-thread streams of the run's `DpRandom`, continued from one length to the next."""

    states: list[np.ndarray]

    def for_partition(self, partition: int, n_threads: int) -> list[np.ndarray]:
        del partition
        return self.states[:n_threads]


PARTITION_STREAM_STRIDE = 1 << 10  # stream index = partition · stride + thread: at most 1,024 threads per task


@dataclass(frozen=True)
class PartitionStreams:
    """Distributed runs: stream `partition · 1024 + thread` of a fresh 32-byte key made on the client for one
    length (drawn from the run's main ChaCha20 stream, itself keyed from OS entropy, never from a seed). No two
    partitions or threads share keystream, so each record's subset is drawn once, independently of every other
    record's; a task that Dask runs again draws the same subsets (same key, same stream), so a retry adds no second
    sample. See docs/distributed.md for the argument."""

    key: bytes

    def for_partition(self, partition: int, n_threads: int) -> list[np.ndarray]:
        # indices stay below 2^32, so a block counter that wrapped into the nonce could not reach another stream
        if n_threads > PARTITION_STREAM_STRIDE or partition >= 1 << 22:
            raise ValueError("too many threads or partitions for distinct random streams")
        return [stream_state(self.key, partition * PARTITION_STREAM_STRIDE + t) for t in range(n_threads)]


@dataclass(frozen=True)
class BoundedCountJob:
    """Contribution-bounded counts of one length: each record adds 1 to at most `allowed` of its valid k-tuples, a
    uniformly random subset drawn from the partition's random streams (docs/method.md, "Bounded counting")."""

    k: int
    layout: KeyLayout
    cand_keys: np.ndarray
    cand_index: np.ndarray
    n_candidates: int
    allowed: int
    buffer_size: int
    streams: ThreadStreams | PartitionStreams

    def begin(self, n_threads: int, partition: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        counts = [np.zeros(self.n_candidates, dtype=np.int64) for _ in range(n_threads)]
        return counts, self.streams.for_partition(partition, n_threads)

    def work(
        self,
        state: tuple[list[np.ndarray], list[np.ndarray]],
        thread: int,
        offsets: np.ndarray,
        ids: np.ndarray,
        lo: int,
        hi: int,
    ) -> None:
        counts, streams = state
        bounded_counts(
            offsets, ids, lo, hi, self.k, self.layout.bits, self.layout.slots, self.cand_keys, self.cand_index,
            self.allowed, streams[thread], counts[thread], self.buffer_size,
        )  # fmt: skip

    def end(self, state: tuple[list[np.ndarray], list[np.ndarray]]) -> np.ndarray:
        return _sum_arrays(state[0])

    def combine(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        return _sum_arrays(parts)


@dataclass(frozen=True)
class BoundJob(BoundedCountJob):
    """For one length k ≥ 2: the change that bounds `SensitivityJob`'s counts, each record holding more than
    `allowed` valid tuples keeping a uniformly random subset of `allowed`, drawn from the partition's random streams
    (docs/method.md, "Bounded counting"). With it the counts are exactly `BoundedCountJob`'s, for one enumeration
    of the few records that can hold more than `allowed` instead of all."""

    def work(
        self, state: tuple[list[np.ndarray], list[np.ndarray]], thread: int, offsets: np.ndarray, ids: np.ndarray,
        lo: int, hi: int,
    ) -> None:  # fmt: skip
        counts, streams = state
        bound_contributions(
            offsets, ids, lo, hi, self.k, self.layout.bits, self.layout.slots, self.cand_keys, self.cand_index,
            self.allowed, streams[thread], counts[thread], self.buffer_size,
        )  # fmt: skip


def _fresh_key(state: np.ndarray) -> bytes:
    """32 bytes from a ChaCha20 stream: the key of one length's partition streams."""
    return b"".join(int(next_u64(state)).to_bytes(8, "little") for _ in range(4))


def _zero_noise_bulk(
    n_zero: int, noise: DiscreteGaussian, minimum: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Which of `n_zero` zero-count candidates pass, and their noisy values, without drawing noise for each.

    Naively each zero candidate gets X_i ~ N_Z(0, σ²) and passes iff X_i ≥ m (m = the least integer above the
    threshold and above 0). The X_i are i.i.d., so (i) the number passing is Binomial(n_zero, p) with p = P(X ≥ m);
    (ii) given that number B, by exchangeability the passing set is a uniformly random B-subset; (iii) given that a
    candidate passes, its value is X conditioned on X ≥ m, independently of the others. Sampling (i)–(iii) therefore
    gives exactly the naive joint distribution of (passing set, values). Our p and the conditional tail are computed
    in floating point (relative error ~1e-14), so the distributions agree up to that precision.
    """
    p = noise.tail(minimum)
    passing = int(rng.binomial(n_zero, p)) if p > 0 else 0
    if passing == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    chosen = np.sort(rng.choice(n_zero, size=passing, replace=False))
    # values beyond √(m² + 90σ²) weigh less than e^-45 of X = m (the cut `DiscreteGaussian.tail` makes too), so the
    # table stays small even at variances of 10¹²
    span = math.isqrt(minimum * minimum + math.ceil(90 * noise.variance)) - minimum + 1
    xs = np.arange(minimum, minimum + span + 1, dtype=np.float64)
    weights = np.exp(-(xs * xs - minimum * minimum) / (2.0 * noise.variance))
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    values = minimum + np.searchsorted(cdf, rng.random(passing), side="right")
    return chosen, np.minimum(values, minimum + span).astype(np.int64)


@dataclass
class _Run:
    """One DP run's shared state: where the passes over the records run, its random streams (`main` for every draw
    made here), the public shape of the output (W, the key layout, the loop's lengths) and the budget."""

    runner: JobRunner
    rng: DpRandom
    main: np.ndarray
    floats: np.random.Generator
    params: DpParameters
    W: int
    loop_length: int
    layout: KeyLayout
    budget: BudgetSplit
    cut_key: np.ndarray | None  # with an explicit bound: the key of each record's kept subset
    progress: Any

    def over_records(self, job: BatchJob[Any]) -> BatchJob[Any]:
        """`job` over the records cut to W attributes when the bound is explicit (`truncate`)."""
        return TruncatedJob(job, self.W, self.cut_key) if self.cut_key is not None else job

    def pass_over(self, job: BatchJob[Any], label: str) -> Any:
        with self.progress.stage(label, unit="records") as bar:
            return self.runner.run(job, bar.advance)


def _start(records: Records | JobRunner, params: DpParameters, ctx: RunContext, rng: DpRandom | None) -> _Run:
    """The run's state, from public inputs only: nothing here reads a record."""
    runner = as_runner(records, ctx.threads)
    # locally: one stream per thread plus the main one (the last); distributed: the main one only, the partitions'
    # streams are derived from it (see PartitionStreams)
    n_streams = 1 if runner.partitioned else runner.n_threads + 1
    rng = rng or DpRandom.from_os_entropy(n_streams)
    if len(rng.states) < n_streams:
        raise ValueError("the DP random source needs one stream per thread plus one")
    main = rng.states[n_streams - 1]
    floats = rng.numpy_generator()
    attributes = runner.attributes
    W = public_max_attributes(attributes, params.max_attributes_per_record)
    # an explicit bound cuts longer records to a random subset of W attributes, keyed from the DP source
    cut_key = key_words(_fresh_key(main)) if params.max_attributes_per_record is not None else None
    loop_length, layout, budget = _shape(params, W, attributes.n_attributes)
    return _Run(runner, rng, main, floats, params, W, loop_length, layout, budget, cut_key, ctx.progress)


def _shape(params: DpParameters, W: int, n_attributes: int) -> tuple[int, KeyLayout, BudgetSplit]:
    """The loop's lengths, the key layout and the budget split of `params` (public inputs only)."""
    loop_length = min(params.reporting_length, W)  # no record holds a longer combination
    return loop_length, KeyLayout.for_attributes(n_attributes, loop_length), budget_of(params)


def _with_params(run: _Run, params: DpParameters) -> _Run:
    """`run` with the parameters of another reporting length (its loop's lengths, key layout and budget split)."""
    loop_length, layout, budget = _shape(params, run.W, run.runner.attributes.n_attributes)
    return replace(run, params=params, loop_length=loop_length, layout=layout, budget=budget)


def _record_count(run: _Run) -> tuple[int, np.ndarray, int, int]:
    """The released (noisy) record count, the histogram of attributes per record (the length-1 sensitivities,
    clipped to W), the longest record after cutting (buffer sizes only) and how many records were cut (private)."""
    lengths_job = RecordLengthsJob(min(run.W, MAX_PERCENTILE_CANDIDATES))
    n_true, length_hist, longest, n_longer = run.pass_over(lengths_job, "DP: record count")
    if run.cut_key is not None:
        longest = min(longest, run.W)
    if n_true == 0:
        raise PrivacyParameterError("number_of_records must be greater than 0")
    # ρ_N-zCDP: discrete Gaussian noise of variance 1/(2ρ_N) (rounded up) at sensitivity 1
    noise = record_count_noise(run.budget)
    n_protected = int(add_noise(np.array([n_true], dtype=np.int64), run.main, noise)[0])
    del n_true  # everything below uses the protected count only
    if n_protected <= 0:
        raise PrivacyParameterError(
            "adding noise to the number of records gave a non-positive count: the dataset is too small for this epsilon"
        )
    return n_protected, length_hist, longest, n_longer


def _noisy_retained(
    run: _Run, counts: np.ndarray, k: int, noise: DiscreteGaussian, rho: float, declared: np.ndarray | None = None,
    rho_declared: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Indices of the candidates kept at length k and their noisy counts, ascending by index: every candidate in
    the domain gets noise and is kept above the threshold; at k ≥ 2 the zero-count candidates too (in bulk when
    they are many, `_zero_noise_bulk`). At k = 1 the domain is the attributes left after contribution bounding and
    every attribute of `declared` (the values of columns whose schema declares them all, a public domain: seen in
    the data or not), kept above `rho_declared` instead of `rho`."""
    in_domain = np.flatnonzero(counts > 0)
    if k > 1:
        zero_idx, zero_rho = np.flatnonzero(counts == 0), rho
    else:
        zero_idx = np.flatnonzero((counts == 0) & declared) if declared is not None else np.zeros(0, dtype=np.int64)
        zero_rho = rho_declared
    noisy = add_noise(counts[in_domain], run.main, noise)
    threshold = np.where(declared[in_domain], rho_declared, rho) if k == 1 and declared is not None else rho
    keep = (noisy > threshold) & (noisy > 0)
    kept_idx, kept_val = [in_domain[keep]], [noisy[keep]]
    if len(zero_idx):
        minimum = max(math.floor(zero_rho) + 1, 1)
        if len(zero_idx) >= ZERO_FAST_PATH_MIN:
            chosen, values = _zero_noise_bulk(len(zero_idx), noise, minimum, run.floats)
            kept_idx.append(zero_idx[chosen])
            kept_val.append(values)
        else:
            z = add_noise(counts[zero_idx], run.main, noise)
            zkeep = z >= minimum
            kept_idx.append(zero_idx[zkeep])
            kept_val.append(z[zkeep])
    idx, vals = np.concatenate(kept_idx), np.concatenate(kept_val)
    order = np.argsort(idx)
    return idx[order], vals[order]


def declared_attributes(attributes: AttributeTable) -> np.ndarray:
    """Per attribute, whether its column's schema declares every value as a public fact (`SourceColumn.domain_size`):
    the attribute table then holds all of them whatever the data (`build_attribute_table`), so at length 1 each gets
    noise and none needs hiding by the δ-threshold."""
    source_of = np.array([c.source_position for c in attributes.columns], dtype=np.int64)
    public = np.array([s.domain_size is not None for s in attributes.sources], dtype=bool)
    return public[source_of[attributes.column_of]] if len(attributes.column_of) else np.zeros(0, dtype=bool)


def _column_pair_tree(run: _Run, singles: np.ndarray, noisy: np.ndarray, n_protected: int) -> list[tuple[int, int]]:
    """The DP tree of column pairs (`column_pairs` tree, dp/pair_tree.py), scored against the released singles."""
    attributes = run.runner.attributes
    n_columns = len(attributes.columns)
    ids = run.layout.unpack(singles, 1)[:, 0].astype(np.int64)
    layout = pair_layout(attributes.column_of, n_columns, ids, noisy)
    tables = run.pass_over(run.over_records(layout.job()), "DP: scoring column pairs")
    scores = pair_scores(layout, tables, n_protected)
    extra = run.params.extra_column_pairs
    return choose_tree(scores, n_columns, run.budget.rho_selection, run.main, sibling_pairs(attributes), extra)


def _levels(
    run: _Run, length_hist: np.ndarray, longest: int, n_protected: int
) -> tuple[list[np.ndarray], list[np.ndarray], list[LevelReport], list[tuple[int, int]] | None]:
    """The per-length loop (docs/method.md, "Differential privacy"): candidates, a DP contribution bound, bounded
    counts, noise, threshold, retention; stops at the first length that keeps nothing. With `column_pairs` tree,
    length 2 holds the pairs of a DP-chosen tree of columns only (returned; None: every pair)."""
    params, budget, layout, attributes = run.params, run.budget, run.layout, run.runner.attributes
    retained_keys: list[np.ndarray] = []
    retained_noisy: list[np.ndarray] = []
    levels: list[LevelReport] = []
    tree: list[tuple[int, int]] | None = None
    for k in range(1, run.loop_length + 1):
        sigma_k = budget.sigmas[k - 1]
        bound = min(math.comb(run.W, k), MAX_PERCENTILE_CANDIDATES)
        if k == 1:
            cand_keys = np.array([layout.pack([a]) for a in range(attributes.n_attributes)], dtype=np.uint64)
        else:
            cand_keys = candidate_keys(retained_keys[-1], np.concatenate(retained_keys), attributes, layout, k)
            if k == 2 and params.column_pairs == "tree":
                tree = _column_pair_tree(run, retained_keys[0], retained_noisy[0], n_protected)
                cand_keys = cand_keys[in_column_pairs(cand_keys, tree, attributes, layout)]
                bound = min(bound, len(tree))  # a record holds at most one value pair per chosen column pair
            if len(cand_keys) == 0:
                break
        n_candidates = len(cand_keys) if k > 1 else None  # the length-1 domain is data-dependent: not released
        ck, ci = build_lookup_table(cand_keys, np.arange(1, len(cand_keys) + 1, dtype=np.int64))
        buffer_size = max(1, math.comb(longest, k))
        histogram, unbounded = length_hist, None
        if k > 1:
            job = run.over_records(SensitivityJob(k, layout, ck, ci, bound, buffer_size, len(cand_keys)))
            histogram, unbounded = run.pass_over(job, f"DP: length {k} sensitivities and counts")
        allowed = select_percentile(histogram, params.percentile_percentage, budget.epsilon_percentile, run.main)
        if allowed == 0:
            levels.append(LevelReport(k, sigma_k, 0, 0.0, float("nan"), bound, n_candidates, 0))
            break
        streams = PartitionStreams(_fresh_key(run.main)) if run.runner.partitioned else ThreadStreams(run.rng.states)
        if unbounded is None:
            count_job = BoundedCountJob(k, layout, ck, ci, len(cand_keys), allowed, buffer_size, streams)
            counts = run.pass_over(run.over_records(count_job), f"DP: length {k} counts")
        else:  # only the records that may hold more than `allowed` tuples are enumerated again
            bound_job = BoundJob(k, layout, ck, ci, len(cand_keys), allowed, buffer_size, streams)
            counts = unbounded + run.pass_over(run.over_records(bound_job), f"DP: length {k} contribution bounds")
        noise = DiscreteGaussian.with_variance(sigma_k * sigma_k * allowed)
        declared, rho_declared = None, None
        if k == 1:
            rho = float(discrete_rho1(noise, allowed, params.resolved_delta))
            declared = declared_attributes(attributes)
            rho_declared = declared_threshold(sigma_k, allowed) if declared.any() else None
        else:
            rho = length_threshold(params.threshold, k, sigma_k, allowed)
        idx, vals = _noisy_retained(run, counts, k, noise, rho, declared, rho_declared or 0.0)
        levels.append(LevelReport(k, sigma_k, allowed, noise.variance, rho, bound, n_candidates, len(idx),
                                  declared_threshold=rho_declared))  # fmt: skip
        if len(idx) == 0:
            break
        retained_keys.append(cand_keys[idx])
        retained_noisy.append(vals)
    return retained_keys, retained_noisy, levels, tree


def _tree_parameters(run: _Run, tree: list[tuple[int, int]]) -> dict[str, Any]:
    """What the tree's choice used and chose, for release_info (all public)."""
    attributes = run.runner.attributes
    names = [c.name for c in attributes.columns]
    siblings = sibling_pairs(attributes)
    extra = extra_rounds(len(names), siblings, run.params.extra_column_pairs)
    rounds = tree_rounds(len(names), siblings) + extra
    eps_round = math.floor(round_epsilon(run.budget.rho_selection, rounds) * EPSILON_DENOMINATOR)
    return {
        "rho_column_pairs": run.budget.rho_selection,
        "extra_column_pairs": extra,  # as resolved (None asks for as many as the tree's edges)
        "column_pair_rounds": rounds,
        "column_pairs_always_released": "the pairs of parts of one multi-value column",
        "epsilon_column_pairs_each": eps_round / EPSILON_DENOMINATOR,
        "column_pair_score": "L1 distance to independence of the released singles (sensitivity 1)",
        "released_column_pairs": [[names[a], names[b]] for a, b in tree],
    }


def _percentile_rule(params: DpParameters) -> dict[str, str]:
    """How the percentile was chosen, when by rule (release_info)."""
    if not params.adaptive_percentile:
        return {}
    return {"percentile_rule": "auto: the 99th when N̂/100 ≥ (2/ε_Q)·ln(range of length 2), else the 95th"}


def _release_parameters(run: _Run) -> dict[str, Any]:
    """Every parameter the run used, for release_info (all public)."""
    params, budget, delta = run.params, run.budget, run.params.resolved_delta
    cut = run.cut_key is not None
    return {
        "mode": "dp",
        **params.describe(),
        "delta": delta,
        "delta_default": params.delta is None,
        "delta_outside_zcdp": delta / 2,
        "epsilon_record_count": 0.0,  # no pure-DP part: the record count is measured inside zCDP
        "rho_record_count": budget.rho_records,
        "variance_record_count": record_count_noise(budget).variance,
        "rho_zcdp": budget.rho,
        "epsilon_percentile_each": budget.epsilon_percentile,
        "max_attributes_per_record": run.W,
        "max_attributes_per_record_from": "explicit bound (longer records keep a random subset)"
        if cut
        else "schema (one per column, declared parts per multi-value column)",
        "noise": "discrete Gaussian (exact sampler, ChaCha20 keyed from OS entropy)",
        "record_count_noise": "discrete Gaussian",
        "percentile_score": "rank distance (sensitivity 1) over a public range",
        **_percentile_rule(params),
        "unit_of_privacy": "one record (one victim after subject-id joining)",
        "software": f"sdsynth {__version__}",
    }


def dp_marginals(
    records: Records | JobRunner,
    params: DpParameters,
    ctx: RunContext | None = None,
    rng: DpRandom | None = None,
) -> DpResult:
    """DP aggregates of all combinations of length ≤ R (docs/method.md, "Differential privacy"). Randomness comes from
    OS entropy unless a test injects `rng` (`DpRandom._seeded_for_tests`); `ctx` gives the progress display, the threads
    and the cluster, never a seed.

    `records` are local records (on `ctx.threads` threads) or a `backends.local.JobRunner` such as the partitions of
    a Dask cluster: the passes over the records (record count and lengths, sensitivities, bounded counts) run
    wherever the records are and are summed; every noise draw happens here, once, on the sums.
    """
    run = _start(records, params, context(ctx), rng)
    n_protected, length_hist, longest, n_longer = _record_count(run)
    length_choice = None
    if params.adaptive_length:  # post-processing of the released count: the run's shape may shrink, never grow
        length_choice = choose_length(params, [s.domain_size for s in run.runner.attributes.sources], n_protected)
        run = _with_params(run, at_length(params, length_choice.length))
    if params.adaptive_percentile:  # post-processing of the released count, as the length rule
        chosen = percentile_by_rule(n_protected, run.budget.epsilon_percentile, run.W, min(2, run.loop_length))
        run = replace(run, params=replace(run.params, percentile_percentage=chosen))
    retained_keys, retained_noisy, levels, tree = _levels(run, length_hist, longest, n_protected)
    if retained_keys:
        keys = np.concatenate(retained_keys)
        noisy_all = np.concatenate(retained_noisy)
        order = np.argsort(keys, kind="stable")
        keys, released = post_process(keys[order], noisy_all[order], run.layout, run.loop_length)
    else:
        keys, released = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    lengths = run.layout.lengths(keys)
    for lvl in levels:
        lvl.released_combinations = int((lengths == lvl.length).sum())
    aggs = Aggregates(
        attributes=run.runner.attributes,
        layout=run.layout,
        keys=keys,
        counts=released,
        reporting_length=run.loop_length,
        mode="dp",
        record_count=n_protected,
        parameters={
            **_release_parameters(run),
            **(length_choice.describe() if length_choice else {}),
            **(_tree_parameters(run, tree) if tree is not None else {}),
        },
        levels=[lvl.as_row() for lvl in levels],
    )
    private = {"records_cut_to_max_attributes": n_longer} if run.cut_key is not None else {}
    return DpResult(aggs, run.budget, levels, private)
