"""Reading one table of an HTCDS export: only the columns `prepare` needs, every cell as text.

Case-management exports hold names, phone numbers, addresses and free text next to the fields we use. Those columns
are never read: CSV and Parquet readers are asked for the selected columns only, and the names of the others are
returned so the command can say what it left out. Cells are text (Namibia's code `NA` stays `NA`), trimmed, and an
empty cell is null. Column names are matched as everywhere in sdsynth: trimmed and case-insensitively.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from sdsynth.errors import InputError, location
from sdsynth.read.sources import CsvSource
from sdsynth.schema.model import cmp_key

EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})


@dataclass(frozen=True)
class Field:
    """A column to read, by its HTCDS name; `aliases` are other spellings (HTCDS v1), tried in order."""

    name: str
    aliases: tuple[str, ...] = ()
    required: bool = True


@dataclass(frozen=True)
class ExportTable:
    """The selected columns of one file, renamed to the fields' names, and the headers left unread."""

    frame: pl.DataFrame
    name: str
    present: frozenset[str]
    dropped: tuple[str, ...]


def read_export_table(path: str | Path, fields: Sequence[Field], allow_empty: bool = True) -> ExportTable:
    """Read `fields` from a CSV/TSV, Parquet or Excel file; a missing required field is one clear error."""
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise InputError(f"{name}: no such file")
    if path.is_dir():
        raise InputError(f"{name}: is a folder, expected a CSV, Parquet or Excel file")
    suffix = path.suffix.lower()
    csv_source = None
    if suffix in PARQUET_SUFFIXES:
        headers = _parquet_headers(path)
    elif suffix in EXCEL_SUFFIXES:
        headers = _excel_headers(path)
    else:
        csv_source = CsvSource(path, delimiter="\t" if suffix in {".tsv", ".tab"} else ",")
        headers = csv_source.headers
    _check_unique(headers, name)
    by_key = {cmp_key(h): h for h in headers}
    selected: dict[str, str] = {}  # field name -> header in the file
    for f in fields:
        header = next((by_key[cmp_key(n)] for n in (f.name, *f.aliases) if cmp_key(n) in by_key), None)
        if header is not None:
            selected[f.name] = header
        elif f.required:
            also = f" (or {', '.join(repr(a) for a in f.aliases)})" if f.aliases else ""
            raise InputError(
                f"{location(name, column=f.name)}: the column is missing{also}; HTCDS field names expected"
            )
    columns = list(dict.fromkeys(selected.values()))
    if suffix in PARQUET_SUFFIXES:
        frame = _read_parquet(path, columns)
    elif suffix in EXCEL_SUFFIXES:
        frame = _read_excel(path, columns)
    else:
        assert csv_source is not None
        frame = _read_csv(csv_source, columns)
    if frame.height == 0 and not allow_empty:
        raise InputError(f"{name}: the file has a header row but no data rows")
    frame = frame.select(_clean(pl.col(header)).alias(field) for field, header in selected.items())
    dropped = tuple(h for h in headers if h not in set(columns))
    return ExportTable(frame=frame, name=name, present=frozenset(selected), dropped=dropped)


def check_ids(table: ExportTable, column: str = "Id") -> None:
    """Every row has an id and no id repeats: the joins depend on it (messages name rows, never ids)."""
    ids = table.frame[column]
    if ids.null_count():
        row = int(ids.is_null().arg_max() or 0) + 1
        raise InputError(f"{location(table.name, row, column)}: empty id; every row needs one")
    repeated = ~ids.is_first_distinct()
    if repeated.any():
        row = int(repeated.arg_max() or 0) + 1
        raise InputError(f"{location(table.name, row, column)}: this id already appears on an earlier row")


def _clean(expr: pl.Expr) -> pl.Expr:
    text = expr.cast(pl.String).str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def _check_unique(headers: Sequence[str], name: str) -> None:
    seen: dict[str, int] = {}
    for i, h in enumerate(headers):
        key = cmp_key(h)
        if key in seen:
            raise InputError(f"{name}: duplicate column header {h.strip()!r} (columns {seen[key] + 1} and {i + 1})")
        seen[key] = i


def _read_csv(source: CsvSource, columns: list[str]) -> pl.DataFrame:
    read_opts = pa_csv.ReadOptions(use_threads=True, encoding="utf8", block_size=64 << 20)
    parse_opts = pa_csv.ParseOptions(delimiter=source.delimiter, newlines_in_values=True, ignore_empty_lines=True)
    convert_opts = pa_csv.ConvertOptions(
        include_columns=columns,
        column_types={c: pa.string() for c in columns},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        table = pa_csv.read_csv(
            source.path, read_options=read_opts, parse_options=parse_opts, convert_options=convert_opts
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        source.diagnose()  # raises an error naming the row (and column), never quoting it
        raise InputError(f"{source.name}: not a valid delimited text file") from None
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _parquet_headers(path: Path) -> list[str]:
    try:
        return list(pq.ParquetFile(path).schema_arrow.names)
    except (pa.ArrowInvalid, OSError):
        raise InputError(f"{path}: not a readable Parquet file") from None


def _read_parquet(path: Path, columns: list[str]) -> pl.DataFrame:
    try:
        frame = pl.from_arrow(pq.read_table(path, columns=columns))
    except (pa.ArrowInvalid, OSError):
        raise InputError(f"{path}: not a readable Parquet file") from None
    assert isinstance(frame, pl.DataFrame)
    return frame


def _need_excel_reader(path: Path) -> None:
    if importlib.util.find_spec("fastexcel") is None:
        raise InputError(
            f"{path}: reading Excel files needs the optional package fastexcel: pip install 'sdsynth[excel]' "
            "(or export the sheet as CSV)"
        )


def _excel_headers(path: Path) -> list[str]:
    _need_excel_reader(path)
    try:
        head = pl.read_excel(path, read_options={"n_rows": 0}, drop_empty_cols=False, raise_if_empty=False)
    except Exception:  # fastexcel's own errors: the message could quote cells, so say only what failed
        raise InputError(f"{path}: not a readable Excel file (the first sheet is read)") from None
    return [str(c) for c in head.columns]


def _read_excel(path: Path, columns: list[str]) -> pl.DataFrame:
    try:
        return pl.read_excel(path, columns=columns, infer_schema_length=0, drop_empty_cols=False, raise_if_empty=False)
    except Exception:
        raise InputError(f"{path}: not a readable Excel file (the first sheet is read)") from None
