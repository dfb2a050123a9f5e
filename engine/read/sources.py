"""Reading tables: CSV/TSV and Parquet files, or in-memory Arrow, Polars and pandas frames, as batches of strings.

Every source yields Arrow record batches whose columns are all strings (no nulls: a missing cell is ""), so the rest
of the engine sees one shape whatever the input. Files are streamed batch by batch, so memory does not grow with
the number of rows. Malformed files (ragged rows, bad encoding, duplicate headers, ...) raise `InputError` naming
the file, the row and the column, and never quoting a record.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from sdsynth.errors import InputError, location

DEFAULT_BATCH_ROWS = 1_000_000
_CSV_BLOCK_BYTES = 64 << 20


class TableSource(Protocol):
    """A table of string cells that can be read, possibly several times, in batches."""

    name: str
    headers: list[str]

    def iter_batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]: ...


def open_table(data: Any, delimiter: str | None = None) -> TableSource:
    """Open a path (CSV, TSV, Parquet) or wrap an Arrow table / Polars or pandas frame."""
    if isinstance(data, str | Path):
        path = Path(data)
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if path.is_dir():
            raise InputError(f"{path}: is a folder, expected a CSV/TSV or Parquet file")
        if path.suffix.lower() in {".parquet", ".pq"}:
            return ParquetSource(path)
        return CsvSource(path, delimiter=delimiter or _default_delimiter(path))
    if isinstance(data, pa.Table):
        return FrameSource(pl.from_arrow(data), name="arrow table")
    if isinstance(data, pa.RecordBatch):
        return FrameSource(pl.from_arrow(pa.Table.from_batches([data])), name="arrow batch")
    if isinstance(data, pl.DataFrame):
        return FrameSource(data, name="polars frame")
    if isinstance(data, pl.LazyFrame):
        return FrameSource(data.collect(), name="polars frame")
    if type(data).__module__.startswith("pandas") and hasattr(data, "columns"):
        return FrameSource(pl.from_pandas(data.astype("string")), name="pandas frame")
    raise InputError(
        f"cannot read input of type {type(data).__name__}: pass a file path or an Arrow/Polars/pandas table"
    )


def _default_delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() in {".tsv", ".tab"} else ","


def _check_headers(headers: list[str], name: str) -> list[str]:
    if not headers:
        raise InputError(f"{name}: no columns")
    seen: dict[str, int] = {}
    for i, h in enumerate(headers):
        key = h.strip().lower()
        if key == "":
            raise InputError(f"{name}: column {i + 1} has an empty header")
        if key in seen:
            raise InputError(
                f"{name}: duplicate column header {h.strip()!r} (columns {seen[key] + 1} and {i + 1}; headers are "
                "compared trimmed and case-insensitively)"
            )
        seen[key] = i
    return headers


def _as_strings(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Cast every column to non-null strings (Parquet and frames may carry numbers, booleans, dates, nulls)."""
    if all(pa.types.is_string(t) or pa.types.is_large_string(t) for t in batch.schema.types) and all(
        c.null_count == 0 for c in batch.columns
    ):
        return batch
    frame = pl.from_arrow(pa.Table.from_batches([batch]))
    assert isinstance(frame, pl.DataFrame)
    frame = frame.select(pl.all().cast(pl.String).fill_null(""))
    return frame.to_arrow().to_batches()[0] if frame.height else _empty_batch(list(batch.schema.names))


def _empty_batch(names: list[str]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], pa.string()) for _ in names], names=names)


@dataclass
class FrameSource:
    """An in-memory table (already parsed): batches are zero-copy slices."""

    frame: pl.DataFrame
    name: str = "frame"

    def __post_init__(self) -> None:
        self.headers = _check_headers([str(c) for c in self.frame.columns], self.name)

    def iter_batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        if self.frame.height == 0:
            return
        table = self.frame.to_arrow()
        for batch in table.to_batches(max_chunksize=batch_rows):
            yield _as_strings(batch)


@dataclass
class ParquetSource:
    path: Path

    def __post_init__(self) -> None:
        self.name = str(self.path)
        try:
            self._file = pq.ParquetFile(self.path)
        except (pa.ArrowInvalid, OSError):
            raise InputError(f"{self.name}: not a readable Parquet file") from None
        self.headers = _check_headers(list(self._file.schema_arrow.names), self.name)

    def iter_batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        for batch in self._file.iter_batches(batch_size=batch_rows):
            yield _as_strings(batch)


class CsvSource:
    """A delimited text file, parsed as RFC 4180 (quotes, doubled quotes, newlines inside quotes).

    Like the reference's reader it is strict: every row must have as many fields as the header, and every byte
    must be UTF-8. Parsing is done by Arrow's multithreaded reader; when it rejects the file, a slow exact scan
    finds the first bad row so the message can name it.
    """

    def __init__(self, path: Path, delimiter: str = ",") -> None:
        if len(delimiter) != 1:
            raise InputError(f"{path}: the delimiter must be one character, got {delimiter!r}")
        self.path = path
        self.name = str(path)
        self.delimiter = delimiter
        self.headers = _check_headers(self._read_header(), self.name)

    def _read_header(self) -> list[str]:
        try:
            with self.path.open("rb") as fh:
                head = fh.read(1 << 20)
        except OSError as exc:
            raise InputError(f"{self.name}: cannot read ({exc.strerror})") from None
        if not head.strip():
            raise InputError(f"{self.name}: the file is empty")
        text = _decode_prefix(head, self.name)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter, strict=True)
        try:
            for row in reader:
                if row:
                    return row
        except csv.Error:
            raise InputError(f"{location(self.name, 0)}: the header row is not valid CSV") from None
        raise InputError(f"{self.name}: the file is empty")

    def iter_batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """The rows in batches of `batch_rows`. A file no larger than one block is parsed whole by Arrow's
        multithreaded reader (its streaming reader parses a block on one thread: 1.4× the time); a larger one is
        streamed block by block, so memory stays bounded by a block and a batch."""
        got_rows = False
        try:
            whole = self.path.stat().st_size <= _CSV_BLOCK_BYTES
            batches = self._read_whole(batch_rows) if whole else self._stream(batch_rows)
            for batch in batches:
                if batch.num_rows:
                    got_rows = True
                    yield batch
        except (pa.ArrowInvalid, UnicodeDecodeError):
            self.diagnose()
            raise InputError(f"{self.name}: not a valid delimited text file") from None
        if not got_rows:
            raise InputError(f"{self.name}: the file has a header row but no data rows")

    def _arrow_options(self) -> dict[str, Any]:
        return {
            "read_options": pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES, use_threads=True, encoding="utf8"),
            "parse_options": pa_csv.ParseOptions(
                delimiter=self.delimiter, newlines_in_values=True, ignore_empty_lines=True
            ),
            "convert_options": pa_csv.ConvertOptions(
                column_types={h: pa.string() for h in self.headers},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        }

    def _read_whole(self, batch_rows: int) -> list[pa.RecordBatch]:
        return pa_csv.read_csv(self.path, **self._arrow_options()).combine_chunks().to_batches(batch_rows)

    def _stream(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        for batch in pa_csv.open_csv(self.path, **self._arrow_options()):
            pending.append(batch)
            pending_rows += batch.num_rows
            while pending_rows >= batch_rows:
                table = pa.Table.from_batches(pending)
                yield from table.slice(0, batch_rows).combine_chunks().to_batches()
                rest = table.slice(batch_rows)
                pending = rest.combine_chunks().to_batches() if rest.num_rows else []
                pending_rows = rest.num_rows
        if pending_rows:
            yield from pa.Table.from_batches(pending).combine_chunks().to_batches()

    def diagnose(self) -> None:
        """Find the first row Arrow rejected and raise an error naming it (never quoting its content)."""
        n_fields = len(self.headers)
        with self.path.open("rb") as fh:
            lines = _DecodedLines(fh, self.name)
            reader = csv.reader(lines, delimiter=self.delimiter, strict=True)
            data_row = -1  # the header is row 0
            try:
                for row in reader:
                    if not row:
                        continue
                    data_row += 1
                    if len(row) != n_fields:
                        raise InputError(
                            f"{location(self.name, data_row)}: expected {n_fields} fields like the header, "
                            f"found {len(row)} (line {reader.line_num} of the file)"
                        )
            except csv.Error:
                raise InputError(
                    f"{location(self.name, data_row + 1)}: malformed quoting (line {reader.line_num} of the file)"
                ) from None
            except _BadEncodingError as exc:
                column = None
                try:
                    cells = next(csv.reader([exc.text], delimiter=self.delimiter))
                    idx = next(i for i, c in enumerate(cells) if "\ufffd" in c)
                    column = self.headers[idx] if idx < n_fields else None
                except (StopIteration, csv.Error):
                    pass
                raise InputError(
                    f"{location(self.name, data_row + 1, column)}: not UTF-8 text (line {exc.line} of the file); "
                    "re-save the file as UTF-8"
                ) from None


class _BadEncodingError(Exception):
    def __init__(self, line: int, text: str) -> None:
        self.line = line
        self.text = text


class _DecodedLines:
    """Iterate the lines of a binary file as UTF-8 text, failing with the physical line number."""

    def __init__(self, fh: Any, name: str) -> None:
        self.fh = fh
        self.line = 0
        self.name = name

    def __iter__(self) -> _DecodedLines:
        return self

    def __next__(self) -> str:
        raw = self.fh.readline()
        if not raw:
            raise StopIteration
        self.line += 1
        if self.line == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _BadEncodingError(self.line, raw.decode("utf-8", errors="replace")) from None


def _decode_prefix(head: bytes, name: str) -> str:
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a multi-byte character cut by the 1 MiB window
            return head[: exc.start].decode("utf-8")
        first_line_end = head.find(b"\n")
        if first_line_end == -1 or exc.start < first_line_end:
            raise InputError(f"{name}: the header row is not UTF-8 text; re-save the file as UTF-8") from None
        return head[: exc.start].decode("utf-8", errors="ignore")
