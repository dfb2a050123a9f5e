"""Splitting an input file into partitions that Dask workers read on their own, with the engine's own readers.

A partition is a run of Parquet row groups, or a byte range of a CSV/TSV file that starts and ends at record
boundaries. Workers open the file themselves (a path every worker sees, or a URL pyarrow's filesystems understand:
`s3://`, `gs://`, `hdfs://`, `file://`), so only a small description travels over the network. Batches go through
the same code as local reading: `ParquetFile.iter_batches` + `table_source._as_strings` for Parquet, a `CsvSource`
over the range's bytes (the header line prepended) for CSV, then `ingest.normalize_batch`.

CSV record boundaries are found by one sequential scan of the file that follows the parser's quoting rules (a
newline inside a quoted value is not a boundary), so files with multi-line cells split correctly.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from numba import njit

from sdsynth.errors import InputError
from sdsynth.read.normalize import NormalizedBatch, first_rows, normalize_batch
from sdsynth.read.plan import ColumnPlan
from sdsynth.read.sources import (
    DEFAULT_BATCH_ROWS,
    CsvSource,
    ParquetSource,
    _as_strings,
    _check_headers,
    _default_delimiter,
    open_table,
)

_SCAN_BLOCK_BYTES = 16 << 20
_HEADER_PROBE_BYTES = 1 << 20


@dataclass(frozen=True)
class InputFile:
    """A file every worker can open: a local or shared path (absolute), or a URL."""

    uri: str
    kind: str  # "parquet" or "csv"
    delimiter: str = ","

    @property
    def is_url(self) -> bool:
        return "://" in self.uri

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        if self.is_url:
            return pafs.FileSystem.from_uri(self.uri)
        return pafs.LocalFileSystem(), self.uri

    def open(self) -> pa.NativeFile:
        fs, path = self.filesystem()
        try:
            return fs.open_input_file(path)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"{self.uri}: cannot open ({exc}); every worker must see the input") from None

    def size(self) -> int:
        fs, path = self.filesystem()
        return int(fs.get_file_info(path).size)


def open_input(data: Any, delimiter: str | None = None) -> tuple[InputFile, list[str]]:
    """The input as a file for workers, and its headers. Local paths are checked with the local readers (same
    messages as a local run); URLs through pyarrow's filesystems."""
    if not isinstance(data, str | Path):
        raise InputError(
            f"the Dask engine reads files that every worker can open; got a {type(data).__name__} (write it to a "
            "shared Parquet file, or use the local engine)"
        )
    text = str(data)
    if "://" not in text:
        source = open_table(Path(text), delimiter=delimiter)
        path = str(Path(text).resolve())
        if isinstance(source, ParquetSource):
            return InputFile(path, "parquet"), source.headers
        assert isinstance(source, CsvSource)
        return InputFile(path, "csv", source.delimiter), source.headers
    suffix = Path(text.split("?", 1)[0]).suffix.lower()
    if suffix in {".parquet", ".pq"}:
        file = InputFile(text, "parquet")
        with file.open() as fh:
            try:
                names = list(pq.ParquetFile(fh).schema_arrow.names)
            except (pa.ArrowInvalid, OSError):
                raise InputError(f"{text}: not a readable Parquet file") from None
        return file, _check_headers(names, text)
    file = InputFile(text, "csv", delimiter or _default_delimiter(Path(text.split("?", 1)[0])))
    with file.open() as fh:
        head = fh.read(_HEADER_PROBE_BYTES)
    return file, CsvSource(_MemoryFile(head, text), file.delimiter).headers  # type: ignore[arg-type]


class _MemoryFile(io.BytesIO):
    """Bytes that `CsvSource` reads as if they were a file: Arrow parses the object itself, `open` gives the
    header reader and the error diagnosis a fresh view, and `stat` the size."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self._name = name

    def open(self, mode: str = "rb") -> io.BytesIO:
        del mode
        return io.BytesIO(self.getvalue())

    def stat(self) -> SimpleNamespace:
        return SimpleNamespace(st_size=len(self.getbuffer()))

    def __str__(self) -> str:
        return self._name


@dataclass(frozen=True)
class Partition:
    """One partition of an input file. `first_row` (data rows counted from 1) and `rows` are None until known
    (CSV ranges: after the first pass); `limit` caps the rows read (the record limit's share of this partition)."""

    index: int
    file: InputFile
    row_groups: tuple[int, ...] = ()
    start: int = 0
    stop: int = 0
    header: bytes = b""
    first_row: int | None = None
    rows: int | None = None
    limit: int | None = None

    def with_rows(self, first_row: int, rows: int, limit: int | None) -> Partition:
        return Partition(
            self.index, self.file, self.row_groups, self.start, self.stop, self.header, first_row, rows, limit
        )

    def raw_batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """The partition's rows as all-string Arrow batches (as `TableSource.iter_batches` gives them)."""
        if self.file.kind == "parquet":
            with self.file.open() as fh:
                reader = pq.ParquetFile(fh)
                for batch in reader.iter_batches(batch_size=batch_rows, row_groups=list(self.row_groups)):
                    yield _as_strings(batch)
            return
        with self.file.open() as fh:
            data = fh.read_at(self.stop - self.start, self.start)
        if not data.strip():
            return
        source = CsvSource(_MemoryFile(self.header + data, self.file.uri), self.file.delimiter)  # type: ignore[arg-type]
        source.name = self.file.uri
        try:
            yield from source.iter_batches(batch_rows)
        except InputError as exc:
            raise CsvRangeError(str(exc)) from None

    def normalized(self, plan: ColumnPlan, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[NormalizedBatch]:
        """Normalised batches (docs/method.md, "Reading the input"), rows numbered from `first_row` (from 1 when unknown
        yet)."""
        row = self.first_row or 1
        for batch in first_rows(self.raw_batches(batch_rows), self.limit):
            yield normalize_batch(batch, plan, row)
            row += batch.num_rows

    def count_rows(self) -> int:
        return sum(b.num_rows for b in self.raw_batches())


class CsvRangeError(InputError):
    """The CSV parser rejected a range; its row numbers are relative to the range, so the client diagnoses the whole
    file again to name the row."""


def plan_partitions(file: InputFile, target_rows: int | None, threads: int) -> list[Partition]:
    """Partitions of about `target_rows` rows (None: two per worker thread, between 10,000 and 1,000,000 rows)."""
    if file.kind == "parquet":
        with file.open() as fh:
            meta = pq.ParquetFile(fh).metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        target = target_rows or _auto_rows(sum(sizes), threads)
        groups: list[list[int]] = []
        acc = 0
        for i, n in enumerate(sizes):
            if not groups or acc >= target:
                groups.append([])
                acc = 0
            groups[-1].append(i)
            acc += n
        parts = []
        first = 1
        for g in groups:
            rows = sum(sizes[i] for i in g)
            parts.append(Partition(len(parts), file, row_groups=tuple(g), first_row=first, rows=rows))
            first += rows
        return parts or [Partition(0, file, first_row=1, rows=0)]
    return _csv_partitions(file, target_rows, threads)


def _auto_rows(total: int, threads: int) -> int:
    return max(10_000, min(1_000_000, math.ceil(total / max(1, 2 * threads))))


def _csv_partitions(file: InputFile, target_rows: int | None, threads: int) -> list[Partition]:
    size = file.size()
    with file.open() as fh:
        head = fh.read(min(size, _HEADER_PROBE_BYTES))
        lines = max(1, head.count(b"\n"))
        row_bytes = max(1.0, len(head) / lines)
        target = target_rows or _auto_rows(int(size / row_bytes), threads)
        stride = max(1, int(target * row_bytes))
        cuts = _record_boundaries(fh, size, stride, ord(file.delimiter))
    if not cuts:  # a header without a line end: no data rows (the reader says so)
        cuts = [size]
    header_end = cuts[0]
    header = _read_range(file, 0, header_end)
    bounds = [c for c in cuts if c < size]
    bounds.append(size)
    parts = []
    for start, stop in itertools.pairwise(bounds):
        if stop > start:
            parts.append(Partition(len(parts), file, start=start, stop=stop, header=header))
    return parts or [Partition(0, file, start=header_end, stop=size, header=header)]


def _read_range(file: InputFile, start: int, stop: int) -> bytes:
    with file.open() as fh:
        return fh.read_at(stop - start, start)


def _record_boundaries(fh: pa.NativeFile, size: int, stride: int, delimiter: int) -> list[int]:
    """Byte offsets just after a record's line end: the first one (the end of the header), then the first one at
    least `stride` bytes after the previous cut, and so on."""
    fh.seek(0)
    state = 0
    next_target = 1
    base = 0
    cuts: list[int] = []
    while base < size:
        block = np.frombuffer(fh.read(_SCAN_BLOCK_BYTES), dtype=np.uint8)
        if len(block) == 0:
            break
        out = np.empty(len(block) // stride + 2, dtype=np.int64)
        state, next_target, n = _scan_block(block, state, delimiter, base, next_target, stride, out)
        cuts.extend(out[:n].tolist())
        base += len(block)
    return cuts


@njit(cache=True, nogil=True)
def _scan_block(
    buf: np.ndarray, state: int, delimiter: int, base: int, next_target: int, stride: int, out: np.ndarray
) -> tuple[int, int, int]:
    """RFC 4180 states as Arrow's parser reads them: 0 = start of a field, 1 = unquoted field, 2 = inside quotes,
    3 = a quote seen inside quotes (an escaped quote if another follows, else the end of the quoted part). A `\\n`
    in state 0 or 1 ends a record."""
    n = 0
    for i in range(buf.shape[0]):
        c = buf[i]
        if state == 2:
            if c == 34:
                state = 3
            continue
        if state == 3:
            if c == 34:
                state = 2
                continue
            state = 1
        if c == delimiter:
            state = 0
        elif c == 10:
            state = 0
            pos = base + i + 1
            if pos >= next_target:
                out[n] = pos
                n += 1
                next_target = pos + stride
        elif c == 13:
            state = 0
        elif c == 34 and state == 0:
            state = 2
        else:
            state = 1
    return state, next_target, n
