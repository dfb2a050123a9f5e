"""Synthetic records back to a table (docs/method.md, "Synthetic output"): one cell per column, the reference's row
order, multi-value cells re-joined, and the files a release holds.

Up to IN_MEMORY_RECORDS records the whole table is built at once and sorted as the reference sorts its output.
Beyond, records are generated, converted and written one batch at a time, in the order they are drawn (the next
batch is drawn while one is written), and their encoded form is spilled to a scratch folder so the release can count
and evaluate them afterwards. DuckDB loads its `synthetic` table from the Parquet file either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from sdsynth._utils.progress import Progress
from sdsynth.backends.local import prefetched
from sdsynth.encode.attributes import AttributeTable
from sdsynth.encode.records import EncodedData
from sdsynth.encode.spill import SpilledRecords
from sdsynth.read.escape import unescape


def _cell_matrix(attributes: AttributeTable, offsets: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """(n, columns) attribute ids, −1 where the record has no attribute in that column."""
    n = len(offsets) - 1
    cells = np.full((n, len(attributes.columns)), -1, dtype=np.int64)
    rows = np.repeat(np.arange(n), np.diff(offsets))
    cells[rows, attributes.column_of[ids]] = ids
    return cells


def reference_order(attributes: AttributeTable, offsets: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Row order of the reference's output (docs/method.md, "Synthetic output"): rows sorted cell by cell (byte order,
    empty first), then stably by the number of non-empty cells, descending. Cells are compared through integer ranks of
    their (escaped) values within their column, which orders exactly like the strings; the ranks of consecutive
    columns are packed into 64-bit words (first column most significant), so one `lexsort` compares a few words per
    row instead of one key per column."""
    cells = _cell_matrix(attributes, offsets, ids)
    if cells.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    value_rank = np.argsort(np.argsort(np.array(attributes.values, dtype=object), kind="stable"), kind="stable")
    column_of = attributes.column_of.astype(np.int64)
    rank = np.zeros(attributes.n_attributes + 1, dtype=np.uint64)  # last entry: the empty cell, 0 ("" sorts first)
    widths = []
    for c in range(cells.shape[1]):
        own = np.flatnonzero(column_of == c)
        rank[own[np.argsort(value_rank[own], kind="stable")]] = np.arange(1, len(own) + 1, dtype=np.uint64)
        widths.append(len(own).bit_length())
    ranks = rank[np.where(cells >= 0, cells, attributes.n_attributes)]
    words, word, used = [], np.zeros(cells.shape[0], dtype=np.uint64), 0
    for c, width in enumerate(widths):
        if used + width > 64:
            words.append(word)
            word, used = np.zeros(cells.shape[0], dtype=np.uint64), 0
        word = (word << np.uint64(width)) | ranks[:, c]
        used += width
    words.append(word)
    filled = (cells >= 0).sum(axis=1)
    return np.lexsort([*reversed(words), -filled])


def records_to_frame(
    data: EncodedData, join_multi_value: bool = True, empty_value: str = "", order: bool = True
) -> pl.DataFrame:
    """The records as strings with the original (unescaped) values; empty cells are `empty_value`."""
    attributes = data.attributes
    offsets, ids = data.offsets, data.ids
    if order:
        rows = reference_order(attributes, offsets, ids)
        data = data.take(rows)
        offsets, ids = data.offsets, data.ids
    cells = _cell_matrix(attributes, offsets, ids)
    values = pl.Series([*attributes.display_values(), empty_value], dtype=pl.String)
    missing = attributes.n_attributes
    names = attributes.display_column_names()
    n = len(offsets) - 1
    columns: list[pl.Series] = []
    for position, source in enumerate(attributes.sources):
        own = [c for c, col in enumerate(attributes.columns) if col.source_position == position]
        if join_multi_value and source.is_multi_value:
            # every planned column is written, also a multi-value column none of whose parts is present
            parts = [
                pl.when(pl.Series(cells[:, k] >= 0)).then(pl.lit(unescape(attributes.columns[k].part or "")))
                for k in own
            ]
            name = unescape(source.name)
            if parts:
                joined = pl.select(
                    pl.concat_str(parts, separator=source.delimiter or ";", ignore_nulls=True).alias(name)
                ).to_series()
            else:
                joined = pl.Series(name, [""] * n, dtype=pl.String)
            columns.append(joined.replace("", empty_value) if empty_value else joined)
            continue
        columns.extend(values.gather(np.where(cells[:, c] >= 0, cells[:, c], missing)).alias(names[c]) for c in own)
    return pl.DataFrame(columns) if columns else pl.DataFrame()


def write_synthetic(frame: pl.DataFrame, folder: Path) -> list[Path]:
    """`synthetic.csv` (empty cells empty) and `synthetic.parquet` (empty cells null)."""
    csv = folder / "synthetic.csv"
    write_csv(frame, csv)
    parquet = folder / "synthetic.parquet"
    as_nulls(frame).write_parquet(parquet)
    return [csv, parquet]


def write_csv(frame: pl.DataFrame, path: Path | None = None) -> str | None:
    """CSV with minimal quoting where empty cells are written empty (not `""`), like the reference's writer."""
    return as_nulls(frame).write_csv(path, null_value="")


def as_nulls(frame: pl.DataFrame) -> pl.DataFrame:
    """Empty strings become nulls (for Parquet and SQL, where missing is NULL)."""
    return frame.with_columns(pl.all().replace("", None)) if frame.width else frame


class SyntheticWriter:
    """`synthetic.csv` and `synthetic.parquet` written batch by batch, for outputs larger than memory.

    Rows are written in the order they are drawn: the reference's global order needs every record at once, and
    sorting each batch on its own would cost time and order nothing. The encoded batches are also kept on disk
    (`spill`) so the release can count and evaluate them afterwards without reading the CSV back.
    """

    def __init__(self, folder: Path, spill: SpilledRecords | None = None) -> None:
        self.csv_path = folder / "synthetic.csv"
        self.parquet_path = folder / "synthetic.parquet"
        self._csv = self.csv_path.open("wb")
        self._parquet: pq.ParquetWriter | None = None
        self.spill = spill
        self.n_records = 0
        self._header: EncodedData | None = None

    def add(self, batch: EncodedData) -> None:
        if batch.n_records == 0:
            self._header = self._header or batch
            return
        frame = as_nulls(records_to_frame(batch, order=False)).with_columns(pl.all().cast(pl.String))
        frame.write_csv(self._csv, include_header=self.n_records == 0, null_value="")
        table = frame.to_arrow()
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.parquet_path, table.schema)
        self._parquet.write_table(table.cast(self._parquet.schema))
        if self.spill is not None:
            self.spill.append(batch.offsets, batch.ids)
        self.n_records += batch.n_records

    def close(self) -> None:
        if self.n_records == 0 and self._header is not None:  # no record at all: the header and an empty table
            frame = as_nulls(records_to_frame(self._header)).with_columns(pl.all().cast(pl.String))
            frame.write_csv(self._csv, null_value="")
            self._parquet = pq.ParquetWriter(self.parquet_path, frame.to_arrow().schema)
        self._csv.close()
        if self._parquet is not None:
            self._parquet.close()


IN_MEMORY_RECORDS = 2_000_000


@dataclass
class SyntheticOutput:
    """What was written: the records again (in memory, or spilled to disk) for counting and evaluation."""

    records: Any  # EncodedData | SpilledRecords
    n_records: int
    parquet: Path
    streamed: bool


def write_synthetic_files(
    synthetic: EncodedData | Iterable[EncodedData],
    attributes: AttributeTable,
    folder: Path,
    scratch: Path,
    progress: Progress,
    expected: int | None = None,
) -> SyntheticOutput:
    """`synthetic.csv` and `synthetic.parquet` in `folder`; batches are spilled to `scratch` (remove it later)."""
    if isinstance(synthetic, EncodedData):
        with progress.stage("writing synthetic records"):
            write_synthetic(records_to_frame(synthetic), folder)
        return SyntheticOutput(synthetic, synthetic.n_records, folder / "synthetic.parquet", streamed=False)
    writer = SyntheticWriter(folder, SpilledRecords(attributes, scratch, "synthetic"))
    try:
        with progress.stage("synthesizing and writing records", total=expected, unit="records", shown=True) as bar:
            for batch in prefetched(synthetic):  # the next batch is drawn while this one is written
                writer.add(batch)
                bar.advance(batch.n_records)
    finally:
        writer.close()
    assert writer.spill is not None
    return SyntheticOutput(writer.spill, writer.n_records, writer.parquet_path, streamed=True)


def streamed(expected_records: int | None) -> bool:
    """Whether an output of this many records is written batch by batch."""
    return expected_records is not None and expected_records > IN_MEMORY_RECORDS
