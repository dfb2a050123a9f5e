"""The Dask backend (`pip install 'sdsynth[distributed]'`; docs/distributed.md): the input loaded on a cluster as a
`backends.local.JobRunner`, so counting and the DP passes run partition by partition on the workers.

Each pass is a map (run a `BatchJob` on one partition, on a worker) and a reduce (combine the partitions' results
tree-wise, `split_every` at a time); every noise draw of `dp_marginals` happens on the client, once, on the sums.

Loading an input (`DaskEngine.load`):
1. the client reads the header and splits the file into partitions (`partitions`);
2. workers read and normalise their partitions and send back their distinct values; the client builds the attribute
   dictionary from their union, so every worker encodes with the same ids;
3. workers encode their partitions with it and keep them in memory (`persist=True`, the default: later passes
   skip reading and normalising), or read them again at every pass (`persist=False`: worker memory is bounded by
   a batch). With a subject id, rows are first hash-partitioned by subject (`subjects`) and joined, so each record
   is one subject, as locally; these joined records are always kept in memory.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sdsynth._utils.progress import NullProgress, Progress
from sdsynth.backends.dask.partitions import CsvRangeError, InputFile, Partition, open_input, plan_partitions
from sdsynth.backends.dask.subjects import encode_split, join_bucket
from sdsynth.backends.local import BatchJob, default_threads, run_job
from sdsynth.encode.attributes import AttributeTable, build_attribute_table, collect_uniques
from sdsynth.encode.records import BatchEncoder, EncodedData, _concat_csr
from sdsynth.encode.subjects import duplicated_ids_message
from sdsynth.errors import InputError, ParameterError, SdsynthError
from sdsynth.read.normalize import NormalizedBatch
from sdsynth.read.options import IngestOptions
from sdsynth.read.plan import ColumnPlan, plan_columns
from sdsynth.read.sources import DEFAULT_BATCH_ROWS, CsvSource

T = TypeVar("T")
DEFAULT_SPLIT_EVERY = 8


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:  # pragma: no cover - depends on the installation
        raise ParameterError(
            "the Dask engine needs the `distributed` extra: pip install 'sdsynth[distributed]'"
        ) from None
    return distributed


@dataclass
class DaskEngine:
    """A Dask client: a `LocalCluster` of `workers` processes, or an existing scheduler (`tcp://host:8786`).

    `threads_per_worker` applies to the local cluster; tasks run one thread each (`threads_per_task`), so a worker
    with T threads runs T partitions at once. `partition_rows` sets the partition size (None: two partitions per
    worker thread, 10,000 to 1,000,000 rows each); Parquet partitions are whole row groups. `split_every` is the
    fan-in of the tree reduction. Use it as a context manager, or call `start()` and `close()`.
    """

    scheduler: str | None = None
    workers: int | None = None
    threads_per_worker: int = 1
    partition_rows: int | None = None
    persist: bool = True
    split_every: int = DEFAULT_SPLIT_EVERY
    batch_rows: int = DEFAULT_BATCH_ROWS
    threads_per_task: int = 1
    memory_limit: str | float | int | None = "auto"
    _client: Any = field(default=None, init=False, repr=False)
    _cluster: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.scheduler is not None and self.workers is not None:
            raise ParameterError("give either a scheduler address or a number of local workers, not both")
        if self.workers is not None and self.workers < 1:
            raise ParameterError(f"the number of workers must be at least 1, got {self.workers}")
        if self.split_every < 2:
            raise ParameterError(f"split_every must be at least 2, got {self.split_every}")
        if self.partition_rows is not None and self.partition_rows < 1:
            raise ParameterError(f"partition_rows must be at least 1, got {self.partition_rows}")

    def start(self) -> DaskEngine:
        if self._client is not None:
            return self
        distributed = _import_distributed()
        if self.scheduler is not None:
            try:
                self._client = distributed.Client(self.scheduler, timeout="30s")
            except OSError as exc:
                raise ParameterError(f"cannot reach the Dask scheduler at {self.scheduler}: {exc}") from None
            try:
                self._client.wait_for_workers(1, timeout=60)
            except TimeoutError:
                self.close()
                raise ParameterError(f"the Dask scheduler at {self.scheduler} has no worker (waited 60 s)") from None
        else:
            self._cluster = distributed.LocalCluster(
                n_workers=self.workers or default_threads(),
                threads_per_worker=self.threads_per_worker,
                processes=True,
                host="127.0.0.1",  # scheduler and workers listen on this machine only
                dashboard_address="127.0.0.1:0",  # a free port, on this machine only (it shows task names and sizes)
                memory_limit=self.memory_limit,
            )
            self._client = distributed.Client(self._cluster)
        return self

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> DaskEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def client(self) -> Any:
        if self._client is None:
            raise ParameterError("the Dask engine is not started: use `with DaskEngine(...) as engine:`")
        return self._client

    def total_threads(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def load(
        self, data: str | Path, options: IngestOptions | None = None, progress: Progress | None = None
    ) -> DaskRecords:
        """The records of a file, partitioned over the workers and encoded with one global dictionary."""
        return _load(self, data, options or IngestOptions(), progress or NullProgress())


@dataclass(frozen=True)
class _Failure:
    """A partition's reading error, carried back as data so the client can report the first one in file order."""

    error: SdsynthError


def _read_normalized(part: Partition, plan: ColumnPlan, batch_rows: int) -> list[NormalizedBatch] | _Failure:
    try:
        return list(part.normalized(plan, batch_rows))
    except SdsynthError as exc:
        return _Failure(exc)


def _summary(batches: list[NormalizedBatch] | _Failure, plan: ColumnPlan) -> tuple[list[set[str]], int] | _Failure:
    if isinstance(batches, _Failure):
        return batches
    return collect_uniques(iter(batches), plan), sum(nb.height for nb in batches)


def _summary_streamed(part: Partition, plan: ColumnPlan, batch_rows: int) -> tuple[list[set[str]], int] | _Failure:
    rows = 0

    def counted() -> Iterator[NormalizedBatch]:
        nonlocal rows
        for nb in part.normalized(plan, batch_rows):
            rows += nb.height
            yield nb

    try:
        return collect_uniques(counted(), plan), rows
    except SdsynthError as exc:
        return _Failure(exc)


def _read_again(part: Partition, plan: ColumnPlan, batch_rows: int) -> _Failure | None:
    """Read a partition whose first row is now known, so its first error names the right row."""
    try:
        for _ in part.normalized(plan, batch_rows):
            pass
    except SdsynthError as exc:
        return _Failure(exc)
    return None


def _diagnose_csv(file: InputFile) -> _Failure | None:
    """The exact parse error of a CSV file (row and line), found by the local reader's diagnosis."""
    if file.is_url:
        return None
    try:
        CsvSource(Path(file.uri), file.delimiter).diagnose()
    except SdsynthError as exc:
        return _Failure(exc)
    return None


def _count_rows(part: Partition) -> int:
    return part.count_rows()


def _encode(batches: list[NormalizedBatch], plan: ColumnPlan, attributes: AttributeTable) -> EncodedData:
    encoder = BatchEncoder(plan, attributes)
    offsets, ids = _concat_csr([encoder.encode(nb) for nb in batches])
    return EncodedData(attributes, offsets, ids, plan.source_name)


def _n_records(data: EncodedData | list[int]) -> int:
    return data.n_records if isinstance(data, EncodedData) else 0


def _n_ids(data: EncodedData) -> int:
    return len(data.ids)


def _conflicts(data: EncodedData | list[int]) -> list[int]:
    return [] if isinstance(data, EncodedData) else data


def _job_on_encoded(data: EncodedData, job: BatchJob[T], partition: int, threads: int, batch_rows: int) -> T:
    return run_job(data.batches(batch_rows), job, threads, partition)


def _job_on_partition(
    part: Partition,
    plan: ColumnPlan,
    attributes: AttributeTable,
    job: BatchJob[T],
    partition: int,
    threads: int,
    batch_rows: int,
) -> T:
    encoder = BatchEncoder(plan, attributes)
    return run_job((encoder.encode(nb) for nb in part.normalized(plan, batch_rows)), job, threads, partition)


def _combine(job: BatchJob[T], *parts: T) -> T:
    return job.combine(parts)


@dataclass
class DaskRecords:
    """Encoded records spread over a Dask cluster: a `parallel.JobRunner` for `count_combinations` and
    `dp_marginals`. `partitions` are futures of `EncodedData` held by the workers, or `Partition`s read again at
    every pass. Call `release()` (or use it as a context manager) to free the workers' memory."""

    engine: DaskEngine
    attributes: AttributeTable
    source_name: str
    partitions: list[Any]
    rows: list[int]
    persisted: bool
    plan: Any = None  # future of the ColumnPlan (streamed partitions only)
    attributes_future: Any = None
    partitioned = True

    @property
    def n_threads(self) -> int:
        return self.engine.threads_per_task

    @property
    def n_records(self) -> int:
        return sum(self.rows)

    @property
    def n_ids(self) -> int:
        """Attributes over all records (for the memory guard); an upper bound when partitions are read again."""
        if not self.persisted:
            return self.n_records * len(self.attributes.columns)
        client = self.engine.client
        return sum(client.gather([client.submit(_n_ids, p, pure=False) for p in self.partitions]))

    def run(self, job: BatchJob[T], on_batch: Callable[[int], None] | None = None) -> T:
        """Map `job` over the partitions on the workers, combine tree-wise, return the total."""
        distributed = _import_distributed()
        client = self.engine.client
        [job_future] = client.scatter([job], broadcast=True, hash=False)
        threads, batch_rows = self.engine.threads_per_task, self.engine.batch_rows
        if self.persisted:
            maps = [
                client.submit(_job_on_encoded, part, job_future, i, threads, batch_rows, pure=False)
                for i, part in enumerate(self.partitions)
            ]
        else:
            maps = [
                client.submit(
                    _job_on_partition,
                    *(part, self.plan, self.attributes_future, job_future, i, threads, batch_rows),
                    pure=False,
                )
                for i, part in enumerate(self.partitions)
            ]
        total = _tree_reduce(client, maps, job_future, self.engine.split_every)
        if on_batch is not None:
            index = {m.key: i for i, m in enumerate(maps)}
            for done in distributed.as_completed(maps):
                on_batch(self.rows[index[done.key]])
        return total.result()

    def release(self) -> None:
        client = self.engine._client
        if client is not None:
            futures = [p for p in self.partitions if not isinstance(p, Partition)]
            futures += [f for f in (self.plan, self.attributes_future) if f is not None]
            _release(futures)
        self.partitions = []

    def __enter__(self) -> DaskRecords:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _release(futures: list[Any]) -> None:
    """Drop our references (computed dependents stay; `Client.cancel` would cancel them too)."""
    for f in futures:
        f.release()


def _tree_reduce(client: Any, futures: list[Any], job_future: Any, split_every: int) -> Any:
    if not futures:
        return client.submit(_combine, job_future, pure=False)
    while len(futures) > 1:
        futures = [
            client.submit(_combine, job_future, *futures[i : i + split_every], pure=False)
            for i in range(0, len(futures), split_every)
        ]
    return futures[0]


def _with_rows(parts: list[Partition], rows: list[int], limit: int) -> list[Partition]:
    """First rows from the partitions' row counts; the record limit cut at the right partition."""
    out = []
    first = 1
    for part, n in zip(parts, rows, strict=True):
        share = None if not limit else max(0, min(n, limit - (first - 1)))
        if share != 0:
            out.append(part.with_rows(first, n if share is None else share, share))
        first += n
    return [Partition(i, p.file, p.row_groups, p.start, p.stop, p.header, p.first_row, p.rows, p.limit)
            for i, p in enumerate(out)]  # fmt: skip


def _load(engine: DaskEngine, data: str | Path, options: IngestOptions, progress: Progress) -> DaskRecords:
    client = engine.client
    file, headers = open_input(data, options.delimiter)
    plan = plan_columns(headers, options, str(data) if file.is_url else str(Path(data)))
    parts = plan_partitions(file, engine.partition_rows, engine.total_threads())
    if plan.record_limit and any(p.rows is None for p in parts):
        with progress.stage("counting rows (Dask)", total=len(parts), unit="partitions", shown=True):
            counts = client.gather([client.submit(_count_rows, p, pure=False) for p in parts])
        parts = _with_rows(parts, counts, plan.record_limit)
    elif plan.record_limit:
        parts = _with_rows(parts, [p.rows or 0 for p in parts], plan.record_limit)
    [plan_future] = client.scatter([plan], broadcast=True, hash=False)
    subjects = plan.subject_id_index is not None
    keep = engine.persist or subjects
    with progress.stage("reading values (Dask)", total=len(parts), unit="partitions", shown=True) as bar:
        if keep:
            normalized = [client.submit(_read_normalized, p, plan_future, engine.batch_rows, pure=False) for p in parts]
            summaries = [client.submit(_summary, n, plan_future, pure=False) for n in normalized]
        else:
            normalized = []
            summaries = [client.submit(_summary_streamed, p, plan_future, engine.batch_rows, pure=False) for p in parts]
        results = client.gather(summaries)
        bar.advance(len(parts))
    failed = [i for i, r in enumerate(results) if isinstance(r, _Failure)]
    if failed:
        client.cancel(normalized)
        _report_failure(engine, parts, results, failed[0], plan_future)
    rows = [r[1] for r in results]
    if file.kind == "csv" and sum(rows) == 0 and not plan.record_limit:
        raise InputError(f"{plan.source_name}: the file has a header row but no data rows")
    if parts[0].first_row is None:
        parts = _with_rows(parts, rows, 0)
    uniques: list[set[str]] = [set() for _ in plan.columns]
    for r in results:
        for pos, values in enumerate(r[0]):
            uniques[pos] |= values
    attributes = build_attribute_table(plan, uniques)
    [attributes_future] = client.scatter([attributes], broadcast=True, hash=False)
    if not keep:
        return DaskRecords(engine, attributes, plan.source_name, parts, rows, False, plan_future, attributes_future)
    with progress.stage("encoding (Dask)", total=len(parts), unit="partitions", shown=True) as bar:
        if subjects:
            encoded, rows = _co_partition(engine, normalized, plan, plan_future, attributes, attributes_future)
        else:
            encoded = [client.submit(_encode, n, plan_future, attributes_future, pure=False) for n in normalized]
            distributed = _import_distributed()
            distributed.wait(encoded)
        _release(normalized)
        bar.advance(len(parts))
    _release([plan_future, attributes_future])
    return DaskRecords(engine, attributes, plan.source_name, encoded, rows, True)


def _report_failure(
    engine: DaskEngine, parts: list[Partition], results: list[Any], first: int, plan_future: Any
) -> None:
    """Raise the error a local run would raise: the first one in file order, with its absolute row number."""
    client = engine.client
    error = results[first].error
    again = None
    if isinstance(error, CsvRangeError):
        again = client.submit(_diagnose_csv, parts[first].file, pure=False).result()
        error = InputError(str(error))
    elif parts[first].first_row is None:  # a CSV range: its first row is known now that those before it were read
        before = sum(r[1] for r in results[:first])
        part = parts[first].with_rows(before + 1, 0, None)
        again = client.submit(_read_again, part, plan_future, engine.batch_rows, pure=False).result()
    raise again.error if again is not None else error


def _co_partition(
    engine: DaskEngine,
    normalized: list[Any],
    plan: ColumnPlan,
    plan_future: Any,
    attributes: AttributeTable,
    attributes_future: Any,
) -> tuple[list[Any], list[int]]:
    """Hash-partition the encoded rows by subject id and join each subject's rows (see `distributed_subjects`)."""
    client = engine.client
    n_buckets = len(normalized)
    splits = [client.submit(encode_split, n, plan_future, attributes_future, n_buckets, pure=False) for n in normalized]
    joined = []
    for b in range(n_buckets):
        pieces = [client.submit(operator.getitem, s, b, pure=False) for s in splits]
        joined.append(client.submit(join_bucket, plan_future, attributes_future, plan.source_name, *pieces, pure=False))
    conflicts = client.gather([client.submit(_conflicts, j, pure=False) for j in joined])
    columns = [c for per_bucket in conflicts for c in per_bucket]
    if columns:
        client.cancel(joined)
        raise InputError(duplicated_ids_message(plan.source_name, attributes, columns))
    rows = client.gather([client.submit(_n_records, j, pure=False) for j in joined])
    _release(splits)
    return joined, rows


@contextmanager
def compute_engine(
    engine: str = "local", scheduler: str | None = None, workers: int | None = None
) -> Iterator[DaskEngine | None]:
    """The CLI's `--engine local|dask --scheduler ADDRESS --workers N`: None for local runs, else a started
    `DaskEngine` (an existing cluster at `scheduler`, or a LocalCluster of `workers` processes), closed on exit."""
    if engine not in ("local", "dask"):
        raise ParameterError(f"`engine` must be local or dask, got {engine!r}")
    if engine == "local":
        if scheduler is not None or workers is not None:
            raise ParameterError("`scheduler` and `workers` need `engine` dask")
        yield None
        return
    with DaskEngine(scheduler=scheduler, workers=workers) as cluster:
        yield cluster
