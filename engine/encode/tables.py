"""Tables to encoded records: `encode` (into memory), `stream_encoded` (a file read again at every pass, so memory
is bounded by a batch) and `encode_together` (several tables over one dictionary, for comparing them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl

from sdsynth._utils.context import RunContext, context
from sdsynth._utils.progress import Progress
from sdsynth.encode.attributes import (
    build_attribute_table,
    collect_uniques,
)
from sdsynth.encode.records import BatchEncoder, EncodedData, EncodedStream, Records, _concat_csr
from sdsynth.encode.subjects import (
    join_by_subject,
)
from sdsynth.errors import InputError
from sdsynth.read.normalize import NormalizedBatch, iter_normalized
from sdsynth.read.options import IngestOptions
from sdsynth.read.plan import ColumnPlan, PlannedColumn, open_and_plan
from sdsynth.read.sources import DEFAULT_BATCH_ROWS, TableSource


def encode(
    data: Any,
    options: IngestOptions | None = None,
    ctx: RunContext | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> EncodedData:
    """Read, normalise and encode a table into memory (joining records by subject id when one is set)."""
    options = options or IngestOptions()
    progress = context(ctx).progress
    source, plan = open_and_plan(data, options)
    zeros = ZeroTally(plan)
    with progress.stage("reading", unit="rows") as bar:
        batches = []
        for nb in zeros.watch(iter_normalized(source, plan, batch_rows)):
            batches.append(nb)
            bar.advance(nb.height)
    zeros.warn(progress)
    attributes = build_attribute_table(plan, collect_uniques(iter(batches), plan))
    encoder = BatchEncoder(plan, attributes)
    with progress.stage("encoding", total=sum(b.height for b in batches), unit="rows") as bar:
        parts = []
        for nb in batches:
            parts.append(encoder.encode(nb))
            bar.advance(nb.height)
    offsets, ids = _concat_csr(parts)
    data_out = EncodedData(attributes, offsets, ids, source.name)
    if plan.subject_id_index is not None and data_out.n_records:
        subject_ids = pl.concat([b.subject_ids for b in batches if b.subject_ids is not None])
        data_out = join_by_subject(data_out, subject_ids, plan)
    return data_out


def encode_together(sources: list[tuple[Any, IngestOptions]], ctx: RunContext | None = None) -> list[EncodedData]:
    """Several tables encoded with one shared attribute dictionary (the union of their values), so their
    combinations can be compared key by key (evaluation of synthetic against sensitive data).

    The tables must have the same used columns in the same order."""
    progress = context(ctx).progress
    read = []
    for data, options in sources:
        source, plan = open_and_plan(data, options)
        with progress.stage(f"reading {source.name}", unit="rows") as bar:
            batches = list(_advancing(iter_normalized(source, plan), bar))
        read.append((source, plan, batches))
    first_plan = read[0][1]
    names = [c.name for c in first_plan.columns]
    for source, plan, _ in read[1:]:
        other = [c.name for c in plan.columns]
        if other != names:
            missing = sorted(set(names) - set(other))
            extra = sorted(set(other) - set(names))
            raise InputError(
                f"{source.name}: columns differ from {read[0][0].name}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; extra {', '.join(extra)}" if extra else "")
                + ("" if missing or extra else "; same columns in another order")
            )
    uniques: list[set[str]] = [set() for _ in first_plan.columns]
    for _, plan, batches in read:
        for pos, values in enumerate(collect_uniques(iter(batches), plan)):
            uniques[pos] |= values
    attributes = build_attribute_table(first_plan, uniques)
    out = []
    for source, plan, batches in read:
        encoder = BatchEncoder(plan, attributes)
        offsets, ids = _concat_csr([encoder.encode(nb) for nb in batches])
        data_out = EncodedData(attributes, offsets, ids, source.name)
        if plan.subject_id_index is not None and data_out.n_records:
            subject_ids = pl.concat([b.subject_ids for b in batches if b.subject_ids is not None])
            data_out = join_by_subject(data_out, subject_ids, plan)
        out.append(data_out)
    return out


def stream_encoded(
    data: Any,
    options: IngestOptions | None = None,
    ctx: RunContext | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Records:
    """Encoded records for one-pass-at-a-time consumers (counting): streamed from files, in memory otherwise.

    Files are read once to build the dictionary, and again at every pass, so memory is bounded by a batch. With a
    subject id, records must be joined across the whole file, so the data are encoded into memory instead.
    """
    options = options or IngestOptions()
    progress = context(ctx).progress
    source, plan = open_and_plan(data, options)
    if plan.subject_id_index is not None or not _is_file_source(source):
        return encode(data, options, ctx, batch_rows)
    size, zeros, kept = _ScanSize(), ZeroTally(plan), _KeptBatches(len(plan.columns))
    with progress.stage("scanning values", unit="rows") as bar:
        scanned = kept.keep(zeros.watch(size.count(_advancing(iter_normalized(source, plan, batch_rows), bar))))
        uniques = collect_uniques(scanned, plan)
    zeros.warn(progress)
    attributes = build_attribute_table(plan, uniques)
    encoder = BatchEncoder(plan, attributes)
    if kept.batches is not None:  # small enough: encoded from the scan, and every later pass reads memory
        with progress.stage("encoding in memory"):
            offsets, ids = _concat_csr([encoder.encode(nb) for nb in kept.batches])
        return EncodedData(attributes, offsets, ids, source.name)

    def make_batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for nb in iter_normalized(source, plan, batch_rows):
            yield encoder.encode(nb)

    return EncodedStream(attributes, make_batches, source.name, size.rows, size.attributes)


IN_MEMORY_CELLS = 256 << 20  # a file of at most this many cells (rows × columns) is encoded into memory,
IN_MEMORY_BYTES_PER_CELL = 12  # if at this many bytes a cell (the scan's batches, then the encoded records)
IN_MEMORY_SHARE = 0.25  # it takes at most this share of the memory available when the scan starts


def in_memory_cells() -> int:
    """The most cells a file may have to be encoded into memory: IN_MEMORY_CELLS, fewer on a machine with little
    memory available (10 M rows of 16 columns take about 2 GB)."""
    import psutil

    available = psutil.virtual_memory().available
    return min(IN_MEMORY_CELLS, int(available * IN_MEMORY_SHARE) // IN_MEMORY_BYTES_PER_CELL)


class _KeptBatches:
    """The normalised batches of the scan, kept while the file has at most `in_memory_cells()` cells (about 4 bytes
    a cell): a file that small is encoded from them into memory, so the passes that follow (seven for a DP release
    at R 3) neither read nor normalise it again; a larger one is streamed from the file at each pass (a release
    spills it to its private folder first)."""

    def __init__(self, n_columns: int) -> None:
        self.n_columns = max(n_columns, 1)
        self.batches: list[NormalizedBatch] | None = []
        self.cells = 0
        self.limit = in_memory_cells()

    def keep(self, batches: Iterator[NormalizedBatch]) -> Iterator[NormalizedBatch]:
        for nb in batches:
            if self.batches is not None:
                self.cells += nb.height * self.n_columns
                if self.cells > self.limit:
                    self.batches = None
                else:
                    self.batches.append(nb)
            yield nb


class _ScanSize:
    """Rows and attributes seen by a pass over normalised batches (for the memory guard)."""

    def __init__(self) -> None:
        self.rows = 0
        self.attributes = 0

    def count(self, batches: Iterator[NormalizedBatch]) -> Iterator[NormalizedBatch]:
        for nb in batches:
            self.rows += nb.height
            for col in nb.columns:
                sizes = np.array([len(v) if isinstance(v, list) else int(v is not None) for v in col.values])
                if len(sizes):
                    self.attributes += int((np.bincount(col.indices, minlength=len(sizes)) * sizes).sum())
            yield nb


ZERO_SHARE_NOTED = 0.2  # a dropped `0` in this share of a column's rows removes a real category
CODE_MAX_VALUES = 64  # integer values with at most this many distinct ones (0 included) are category codes


class ZeroTally:
    """Watches the first pass over a table for the reference's zero rule (a cell `0` is absent unless the column has
    sensitive zeros) removing a category: a column of integer codes that uses 0, or one where 0 fills a large share
    of the rows. `warn` names them and the option that keeps 0 as a value; it prints no count from the data."""

    def __init__(self, plan: ColumnPlan) -> None:
        self.plan = plan
        self.rows = 0
        self.zeros = np.zeros(len(plan.columns), dtype=np.int64)
        self.integers = np.ones(len(plan.columns), dtype=bool)
        self.values: list[set[str]] = [set() for _ in plan.columns]

    def watch(self, batches: Iterator[NormalizedBatch]) -> Iterator[NormalizedBatch]:
        for nb in batches:
            self.rows += nb.height
            for pos, col in enumerate(nb.columns):
                if col.zero_cells is None:
                    continue
                if col.zero_cells.any():
                    rows_per_cell = np.bincount(col.indices, minlength=len(col.zero_cells))
                    self.zeros[pos] += int(rows_per_cell[col.zero_cells].sum())
                self.integers[pos] &= col.integer_values
                if len(self.values[pos]) <= CODE_MAX_VALUES:  # a few more tell codes from a measure
                    self.values[pos].update(v for v in col.values if v is not None)
            yield nb

    def binary(self) -> list[str]:
        """Columns of 0 and 1 the schema does not call flags: read as flags (0 = no), unless 0 is a category."""
        return [col.display_name for pos, col in enumerate(self.plan.columns)
                if self.zeros[pos] and self._binary(pos) and not _declared_flag(col)]  # fmt: skip

    def _binary(self, pos: int) -> bool:
        return bool(self.integers[pos]) and self.values[pos] <= {"1"}

    def columns(self) -> list[tuple[str, str]]:
        """(column, why) for every other column whose dropped zeros look like a category."""
        out = []
        for pos, col in enumerate(self.plan.columns):
            if not self.zeros[pos] or self._binary(pos) or _declared_flag(col):
                continue
            share = self.zeros[pos] / max(self.rows, 1)
            if self.integers[pos] and len(self.values[pos]) < CODE_MAX_VALUES:
                out.append((col.display_name, "its values are integer codes"))
            elif share >= ZERO_SHARE_NOTED:
                out.append((col.display_name, f"0 fills about {round(share * 20) * 5} % of its rows"))
        return out

    def warn(self, progress: Progress) -> None:
        binary = self.binary()
        if binary:
            progress.warn(
                f"note: {', '.join(binary)} hold only 0 and 1: read as flags (1 = yes, 0 = absent, like an empty "
                "cell). If 0 is a category there (a sex coded 0/1), pass `sensitive_zeros` with those columns"
            )
        for name, why in self.columns():
            progress.warn(
                f"warning: column {name!r} uses 0 and {why}; a 0 cell is read as 'absent' (the reference's rule), so "
                f"that category disappears from the release and synthetic records leave it empty. If 0 is a value "
                f"there, pass `sensitive_zeros` {name} (or `sensitive_zeros: true` in the schema)"
            )


def _declared_flag(col: PlannedColumn) -> bool:
    return col.spec is not None and col.spec.kind == "flag"


def _is_file_source(source: TableSource) -> bool:
    return hasattr(source, "path")


def _advancing(batches: Iterator[NormalizedBatch], bar: Any) -> Iterator[NormalizedBatch]:
    for nb in batches:
        bar.advance(nb.height)
        yield nb
