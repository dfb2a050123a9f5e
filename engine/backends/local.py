"""Running a Numba kernel over record batches on every core, and the job interface shared with the Dask backend.

Kernels release the GIL (`nogil=True`), so plain threads run them in parallel. Each batch is split into one
contiguous row range per thread with about the same number of attributes; thread `t` always gets range `t`, so a
kernel may keep per-thread state (tables, accumulators) without locks. The next batch is read and encoded while
the current one is processed.

Counting and the DP passes are *jobs* (`BatchJob`): per-thread state, a kernel called on row ranges, and a result
that is a sum over records, so results of disjoint sets of records combine (`combine`) into the result of their
union. A `JobRunner` runs a job over every record: `ThreadRunner` on this machine's threads (`run_batches`), or
`engine.distributed.DaskRecords` partition by partition on a Dask cluster, combining the partitions' results
tree-wise. The algorithms (`count_combinations`, `dp_marginals`) only see the runner.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from sdsynth.encode.attributes import AttributeTable
    from sdsynth.encode.records import Records


Batch = tuple[np.ndarray, np.ndarray]
Work = Callable[[int, np.ndarray, np.ndarray, int, int], None]
T = TypeVar("T")


def default_threads() -> int:
    return max(1, os.cpu_count() or 1)


def split_rows(offsets: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Contiguous row ranges with about the same number of attributes each."""
    n = len(offsets) - 1
    if n == 0:
        return []
    targets = np.linspace(0, offsets[-1], parts + 1)[1:-1]
    cuts = [0, *np.searchsorted(offsets, targets).tolist(), n]
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


def run_batches(
    batches: Iterator[Batch], n_threads: int, work: Work, on_batch: Callable[[int], None] | None = None
) -> int:
    """Call `work(thread, offsets, ids, row_start, row_stop)` over every batch; return the number of records."""
    n_records = 0
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        pending: list[Future[None]] = []
        for offsets, ids in batches:
            for f in pending:
                f.result()
            ranges = split_rows(offsets, n_threads)
            pending = [pool.submit(work, t, offsets, ids, lo, hi) for t, (lo, hi) in enumerate(ranges)]
            n_records += len(offsets) - 1
            if on_batch is not None:
                on_batch(len(offsets) - 1)
        for f in pending:
            f.result()
    return n_records


class BatchJob(Protocol[T]):
    """A computation over records whose result is a sum over records (counts, histograms).

    `begin` makes the per-thread state for one partition of the records (`partition` numbers the partitions of a
    distributed run, 0 locally; jobs that draw random numbers derive their streams from it); `work` processes rows
    [lo, hi) of a batch on thread `thread`; `end` turns the state into the partition's result; `combine` adds the
    results of disjoint partitions. Jobs are shipped to Dask workers, so they must pickle.
    """

    def begin(self, n_threads: int, partition: int) -> Any: ...

    def work(
        self, state: Any, thread: int, offsets: np.ndarray, ids: np.ndarray, row_start: int, row_stop: int
    ) -> None: ...

    def end(self, state: Any) -> T: ...

    def combine(self, parts: Sequence[T]) -> T: ...


def run_job(
    batches: Iterator[Batch],
    job: BatchJob[T],
    n_threads: int,
    partition: int = 0,
    on_batch: Callable[[int], None] | None = None,
) -> T:
    """One partition's result of `job` over `batches`, on `n_threads` threads."""
    state = job.begin(n_threads, partition)
    run_batches(batches, n_threads, partial(job.work, state), on_batch)
    return job.end(state)


@runtime_checkable
class JobRunner(Protocol):
    """Runs jobs over every record of a dataset: threads here (`ThreadRunner`) or a Dask cluster.

    `partitioned` is True when the records are split over several processes, so that per-thread random streams
    cannot be shared and must be derived per partition instead.
    """

    attributes: AttributeTable
    partitioned: bool
    n_threads: int

    def run(self, job: BatchJob[T], on_batch: Callable[[int], None] | None = None) -> T: ...


@dataclass
class ThreadRunner:
    """Jobs over local records (in memory or streamed from a file) on this machine's threads."""

    records: Records
    n_threads: int
    partitioned = False

    @property
    def attributes(self) -> AttributeTable:
        return self.records.attributes

    def run(self, job: BatchJob[T], on_batch: Callable[[int], None] | None = None) -> T:
        return run_job(self.records.batches(), job, self.n_threads, 0, on_batch)


def as_runner(records: Records | JobRunner, n_threads: int | None = None) -> JobRunner:
    """`records` itself when it already runs jobs (a distributed dataset), else threads over local records."""
    if isinstance(records, JobRunner):
        return records
    return ThreadRunner(records, n_threads or default_threads())


_END = object()


def prefetched(items: Iterable[T]) -> Iterator[T]:
    """`items`, each produced in a background thread while the caller consumes the previous one (e.g. drawing the
    next synthetic batch while this one is written). Exceptions of the producer are raised here."""
    iterator = iter(items)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(next, iterator, _END)
        while (item := pending.result()) is not _END:
            pending = pool.submit(next, iterator, _END)
            yield item
