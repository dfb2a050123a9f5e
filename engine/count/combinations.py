"""Exact counts of every combination of up to R attributes (docs/method.md, "Counting").

`count_combinations` returns `CombinationCounts`: exact counts, a function of the sensitive data that must never be
released as is (`protect/` turns them into releasable aggregates). Counting streams record batches through a
`backends` job runner, on threads or Dask partitions, so memory follows the distinct combinations, not the records.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from sdsynth._utils.context import RunContext, context
from sdsynth.backends.local import JobRunner, as_runner, default_threads, run_batches
from sdsynth.encode.attributes import AttributeTable
from sdsynth.encode.records import Records
from sdsynth.errors import ParameterError
from sdsynth.kernels.counting import (
    INITIAL_CAPACITY,
    binomial_table,
    build_lookup_table,
    count_csr,
    dense_items,
    new_table,
    table_add,
    table_lookup,
)
from sdsynth.kernels.keys import KeyLayout

DEFAULT_REPORTING_LENGTH = 3


def normalize_reporting_length(reporting_length: int, max_width: int | None) -> int:
    """docs/method.md, "Counting": lengths above what one record can hold are capped. `max_width` is that bound from
    public knowledge only (`AttributeTable.max_record_width`; None when a multi-value column declares no parts): the
    released reporting length must not move when one record brings a new multi-value part."""
    if reporting_length < 1:
        raise ParameterError(f"reporting length must be at least 1, got {reporting_length}")
    return reporting_length if max_width is None else max(1, min(reporting_length, max_width))


@dataclass(frozen=True)
class _CombinationTable:
    """Combinations as sorted packed keys with counts; shared by sensitive counts and released aggregates."""

    attributes: AttributeTable
    layout: KeyLayout
    keys: np.ndarray
    counts: np.ndarray
    reporting_length: int

    @property
    def n_combinations(self) -> int:
        return len(self.keys)

    @cached_property
    def lengths(self) -> np.ndarray:
        return self.layout.lengths(self.keys)

    @cached_property
    def _lookup_table(self) -> tuple[np.ndarray, np.ndarray]:
        return build_lookup_table(self.keys, self.counts)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Counts of the given keys, 0 where the combination is absent."""
        table_keys, table_counts = self._lookup_table
        return table_lookup(table_keys, table_counts, np.asarray(keys, dtype=np.uint64))

    def ids(self) -> np.ndarray:
        """(n, R) attribute ids per combination, -1 padded."""
        return self.layout.unpack(self.keys, self.reporting_length)

    def key_strings(self, delimiter: str = ";") -> list[str]:
        """The reference's combination keys: human forms `header:value` joined by `;`, canonical order."""
        labels = np.asarray([*self.attributes.labels, ""], dtype=object)
        ids = self.ids()
        parts = labels[np.where(ids >= 0, ids, len(labels) - 1)]
        return [delimiter.join(p for p in row if p) for row in parts.tolist()]

    def count_of(self, labels: list[str]) -> int:
        """Count of one combination given as human strings (`"A:a1"`), 0 if absent."""
        index = {lbl: i for i, lbl in enumerate(self.attributes.labels)}
        try:
            key = self.layout.pack([index[lbl] for lbl in labels])
        except KeyError:
            return 0
        return int(self.lookup(np.array([key], dtype=np.uint64))[0])

    def as_dict_single(self) -> dict[str, int]:
        """{`column:value`: count} of the single attributes (escaped human form)."""
        single = self.lengths == 1
        labels = self.attributes.labels
        ids = self.layout.unpack(self.keys[single], 1)[:, 0]
        return {labels[i]: int(c) for i, c in zip(ids.tolist(), self.counts[single].tolist(), strict=True)}

    def as_dict(self) -> dict[str, int]:
        """{combination key: count}; for tests and small data."""
        return dict(zip(self.key_strings(), self.counts.tolist(), strict=True))


@dataclass(frozen=True)
class CombinationCounts(_CombinationTable):
    """Exact counts of every combination of length 1..R present in the sensitive data (sensitive!)."""

    n_records: int = 0


DENSE_CELLS_LIMIT = 1 << 23  # per thread: 64 MiB of int64 counts for the lengths counted densely


class CombinationCounter:
    """Counts combinations batch by batch on several threads, each with its own tables; merged at the end.

    Short lengths whose domain C(n_attributes, k) fits `DENSE_CELLS_LIMIT` are counted in dense arrays (cache
    resident, no hashing); the others in hash tables. Memory depends on the attribute domain and the distinct
    combinations, never on the number of records.
    """

    def __init__(
        self, n_attributes: int, layout: KeyLayout, reporting_length: int, n_threads: int | None = None
    ) -> None:
        self.n_attributes = n_attributes
        self.layout = layout
        self.reporting_length = reporting_length
        self.n_threads = n_threads or default_threads()
        self.binom = binomial_table(max(n_attributes, 1), reporting_length)
        self.dense_base = np.full(reporting_length + 1, -1, dtype=np.int64)
        self.dense_size = np.zeros(reporting_length + 1, dtype=np.int64)
        total = 0
        for k in range(1, reporting_length + 1):
            cells = math.comb(n_attributes, k)
            if total + cells <= DENSE_CELLS_LIMIT:
                self.dense_base[k] = total
                self.dense_size[k] = cells
                total += cells
        self.dense = [np.zeros(max(total, 1), dtype=np.int64) for _ in range(self.n_threads)]
        self.tables = [(*new_table(INITIAL_CAPACITY), 0) for _ in range(self.n_threads)]
        self.n_records = 0

    def _count(self, t: int, offsets: np.ndarray, ids: np.ndarray, lo: int, hi: int) -> None:
        keys, counts, used = self.tables[t]
        self.tables[t] = count_csr(
            offsets,
            ids,
            lo,
            hi,
            self.reporting_length,
            self.layout.bits,
            self.layout.slots,
            self.binom,
            self.dense_base,
            self.dense[t],
            keys,
            counts,
            used,
        )

    def count_batches(self, batches: Iterator[tuple[np.ndarray, np.ndarray]], on_batch: Any = None) -> None:
        """Count every batch (see `parallel.run_batches`)."""
        self.n_records += run_batches(batches, self.n_threads, self._count, on_batch)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """Merged (keys, counts), sorted by key."""
        keys, counts, used = self.tables[0]
        for other_keys, other_counts, _ in self.tables[1:]:
            keys, counts, used = table_add(keys, counts, used, other_keys, other_counts)
        dense = self.dense[0]
        for other in self.dense[1:]:
            dense += other
        parts_k, parts_c = [keys[keys != 0]], [counts[keys != 0]]
        for k in range(1, self.reporting_length + 1):
            if self.dense_base[k] >= 0:
                dk, dc = dense_items(
                    dense,
                    int(self.dense_base[k]),
                    int(self.dense_size[k]),
                    k,
                    self.n_attributes,
                    self.binom,
                    self.layout.bits,
                    self.layout.slots,
                )
                parts_k.append(dk)
                parts_c.append(dc)
        all_keys = np.concatenate(parts_k)
        all_counts = np.concatenate(parts_c)
        order = np.argsort(all_keys, kind="stable")
        self.tables = [self.tables[0]]
        self.dense = [dense]
        return all_keys[order], all_counts[order]


def merge_sorted_counts(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Sum (keys, counts) pairs, each sorted by key with unique keys, into one such pair.

    The stable sort of the concatenation is a merge of already sorted runs (Timsort finds them), so this is linear
    in practice; equal keys then sit side by side and are added with `reduceat`.
    """
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    if len(parts) == 1:
        return parts[0]
    keys = np.concatenate([k for k, _ in parts])
    counts = np.concatenate([c for _, c in parts])
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[starts], np.add.reduceat(counts, starts)


@dataclass(frozen=True)
class CountingJob:
    """`count_combinations` as a `parallel.BatchJob`: exact counts of one partition's records, as sorted
    (keys, counts) with the number of records; partitions add up key by key."""

    n_attributes: int
    layout: KeyLayout
    reporting_length: int

    def begin(self, n_threads: int, partition: int) -> tuple[CombinationCounter, list[int]]:
        del partition
        counter = CombinationCounter(self.n_attributes, self.layout, self.reporting_length, n_threads)
        return counter, [0] * n_threads

    def work(
        self,
        state: tuple[CombinationCounter, list[int]],
        thread: int,
        offsets: np.ndarray,
        ids: np.ndarray,
        row_start: int,
        row_stop: int,
    ) -> None:
        counter, records = state
        counter._count(thread, offsets, ids, row_start, row_stop)
        records[thread] += row_stop - row_start

    def end(self, state: tuple[CombinationCounter, list[int]]) -> tuple[np.ndarray, np.ndarray, int]:
        counter, records = state
        keys, counts = counter.result()
        return keys, counts, sum(records)

    def combine(self, parts: Sequence[tuple[np.ndarray, np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray, int]:
        keys, counts = merge_sorted_counts([(k, c) for k, c, _ in parts])
        return keys, counts, sum(n for _, _, n in parts)


def count_combinations(
    records: Records | JobRunner,
    reporting_length: int = DEFAULT_REPORTING_LENGTH,
    ctx: RunContext | None = None,
) -> CombinationCounts:
    """Exact counts of all combinations of length 1..R (docs/method.md, "Counting"), streamed over record batches.

    `records` are local records (counted on `ctx.threads` threads) or any `backends.local.JobRunner`, such as the
    partitions of a Dask cluster (`backends.dask`): the result is the same.
    """
    ctx = context(ctx)
    progress = ctx.progress
    runner = as_runner(records, ctx.threads)
    attributes = runner.attributes
    reporting_length = normalize_reporting_length(reporting_length, attributes.max_record_width())
    layout = KeyLayout.for_attributes(attributes.n_attributes, reporting_length)
    job = CountingJob(attributes.n_attributes, layout, reporting_length)
    with progress.stage("counting combinations", unit="records") as bar:
        keys, counts, n_records = runner.run(job, on_batch=bar.advance)
    return CombinationCounts(
        attributes=attributes,
        layout=layout,
        keys=keys,
        counts=counts,
        reporting_length=reporting_length,
        n_records=n_records,
    )


def round_down(x: np.ndarray | int, multiple: int) -> Any:
    return (x // multiple) * multiple
