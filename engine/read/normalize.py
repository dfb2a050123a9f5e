"""Normalising raw cells the way the reference does (docs/method.md, "Reading the input"), with a schema's checks on
top: trimmed, missing tokens and non-sensitive zeros made absent, `;`/`:` escaped, multi-value cells split into sets of
parts, numeric cells put into their bins. Each column of a batch is dictionary-encoded, so the work is done once per
distinct cell. Values the schema does not allow are reported with file, row and column.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from sdsynth.errors import InputError, SchemaError, location
from sdsynth.read.escape import ESCAPES, norm
from sdsynth.read.plan import ColumnPlan, PlannedColumn
from sdsynth.read.sources import DEFAULT_BATCH_ROWS, TableSource
from sdsynth.schema.model import ColumnSpec

_NOT_ALLOWED = "value not allowed by the schema:"


@dataclass(frozen=True)
class Violation:
    """A cell the schema does not allow (row = data row counted from 1)."""

    file: str
    row: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{location(self.file, self.row, self.column)}: {self.reason} {self.value!r}"


@dataclass
class NormalizedColumn:
    """One column of a batch, dictionary-encoded: real tables repeat a few distinct cells millions of times, so
    normalisation and checks run once per distinct raw cell and rows only carry an index.

    `values[i]` is the normalised value of distinct cell i (None = absent) for a single-valued column, or its list
    of distinct normalised parts for a multi-valued one; `indices[r]` is row r's distinct cell.
    """

    indices: np.ndarray
    values: list[Any]
    # distinct cells that were exactly `0` and read as absent (the zero rule), and whether every present value is
    # an integer: together they tell when the rule removes a category code (`zeros_dropped`)
    zero_cells: np.ndarray | None = None
    integer_values: bool = False


@dataclass
class NormalizedBatch:
    """One batch of records after docs/method.md, "Reading the input" normalisation, before encoding.

    `subject_ids` holds the `cmp_key`-normalised id per row when a subject id is set. `first_row` is the data row
    number of the batch's first row (rows are counted from 1).
    """

    columns: list[NormalizedColumn]
    height: int
    subject_ids: pl.Series | None
    first_row: int
    violations: list[Violation] = field(default_factory=list)


def _escape(expr: pl.Expr) -> pl.Expr:
    for raw, token in ESCAPES:
        expr = expr.str.replace_all(raw, token, literal=True)
    return expr


def _full_match(pattern: str) -> str:
    return f"^(?:{pattern})$"


def _accept_expr(value: pl.Expr, spec: ColumnSpec | None, sensitive_zeros: bool) -> pl.Expr | None:
    """An expression that is True where a (trimmed, present) value is allowed, or None when anything is."""
    if spec is None:
        return None
    allowed = spec.allowed_values
    if allowed is None and spec.pattern is None:
        return None
    ok = pl.lit(False)
    if allowed is not None:
        ok = value.is_in(sorted(allowed | ({"0"} if sensitive_zeros else set())))
    if spec.pattern is not None:
        ok = ok | value.str.contains(_full_match(spec.pattern))
    return ok


def _canonical(value: pl.Expr, spec: ColumnSpec | None) -> pl.Expr:
    """The schema's value for a spelling it lists as an alias (`48+` → `48 +`); other values as they are."""
    if spec is None or not spec.aliases:
        return value
    return value.replace(spec.alias_map)


# a check: (bad mask over distinct cells, the offending text per cell, reason)
_Check = tuple[np.ndarray, list[str], str]


def _normalize_distinct(
    cells: pl.Series, col: PlannedColumn, collect: bool
) -> tuple[list[Any], list[_Check], np.ndarray | None, bool]:
    """Normalise the distinct raw cells of a column (docs/method.md, "Reading the input") and check them against the
    schema."""
    frame = pl.DataFrame({"raw": cells})
    src = pl.col("raw")
    trimmed = src.str.strip_chars()
    missing = trimmed.is_in(sorted(col.missing)) if col.missing else pl.lit(False)
    checks: list[_Check] = []
    if col.multi_delimiter is not None:
        parts = (
            pl.when(missing)
            .then(pl.lit([], dtype=pl.List(pl.String)))
            .otherwise(src.str.split(col.multi_delimiter, literal=True))
            .list.eval(_canonical(pl.element().str.strip_chars(), col.spec))
        )
        drop = pl.element().eq("") | (pl.element().is_in(sorted(col.missing)) if col.missing else pl.lit(False))
        if not col.sensitive_zeros:
            drop = drop | pl.element().eq("0")
        parts = parts.list.eval(pl.element().filter(~drop))
        accept = _accept_expr(pl.element(), col.spec, col.sensitive_zeros)
        exprs = [parts.alias("parts")]
        if accept is not None:
            exprs.append(parts.list.eval(pl.element().filter(~accept)).alias("bad"))
        out = frame.select(exprs)
        if accept is not None:
            bad = out.get_column("bad")
            mask = (bad.list.len() > 0).to_numpy()
            if mask.any():
                # the offending parts as the cell writes them (joined by the column's own delimiter)
                checks.append((mask, bad.list.join(col.multi_delimiter).to_list(), _NOT_ALLOWED))
                if collect:
                    out = out.with_columns(pl.col("parts").list.set_difference(pl.col("bad")))
        values = out.select(pl.col("parts").list.eval(_escape(pl.element())).list.unique(maintain_order=True))
        return values.get_column("parts").to_list(), checks, None, False

    absent = (trimmed == "") | missing
    if not col.sensitive_zeros:
        absent = absent | (trimmed == "0")
    trimmed = _canonical(trimmed, col.spec)
    if col.is_numeric:
        assert col.spec is not None and col.spec.bins is not None
        zero = (trimmed == "0") & ~missing if not col.sensitive_zeros else pl.lit(False)
        out = frame.select(
            absent.alias("absent"),
            trimmed.alias("text"),
            trimmed.cast(pl.Float64, strict=False).alias("x"),
            zero.alias("zero"),
        )
        is_absent = out.get_column("absent").to_numpy()
        x = out.get_column("x").to_numpy(allow_copy=True).astype(np.float64)
        text = out.get_column("text").to_list()
        labels, in_bins = _bin_labels(x, col.spec.bins.edges, col.spec.bins.labels)
        unparsable = ~is_absent & np.isnan(x) & np.array([t.lower() != "nan" for t in text])
        outside = ~is_absent & ~unparsable & ~in_bins
        if unparsable.any():
            checks.append((unparsable, text, "value is not a number:"))
        if outside.any():
            checks.append((outside, text, "number outside the bins:"))
        binned = [None if a or not ok else lbl for a, ok, lbl in zip(is_absent, in_bins, labels, strict=True)]
        return binned, checks, out.get_column("zero").to_numpy(), False

    accept = _accept_expr(trimmed, col.spec, col.sensitive_zeros)
    zero = (trimmed == "0") & ~missing if not col.sensitive_zeros else pl.lit(False)
    integer = trimmed.str.contains(r"^-?\d+$") | absent
    exprs = [pl.when(absent).then(None).otherwise(_escape(trimmed)).alias("value"), trimmed.alias("text"),
             zero.alias("zero"), integer.alias("integer")]  # fmt: skip
    if accept is not None:
        exprs.append((~absent & ~accept).alias("bad"))
    out = frame.select(exprs)
    values = out.get_column("value").to_list()
    if accept is not None:
        mask = out.get_column("bad").to_numpy()
        if mask.any():
            checks.append((mask, out.get_column("text").to_list(), _NOT_ALLOWED))
            if collect:
                values = [None if b else v for v, b in zip(values, mask, strict=True)]
    return values, checks, out.get_column("zero").to_numpy(), bool(out.get_column("integer").all())


def _bin_labels(
    x: np.ndarray, edges: tuple[float, ...], labels: tuple[str, ...]
) -> tuple[list[str | None], np.ndarray]:
    """Bin labels (escaped) for numbers: left-closed intervals, the last closed on both sides."""
    e = np.asarray(edges, dtype=np.float64)
    idx = np.searchsorted(e, x, side="right") - 1
    idx = np.where(x == e[-1], len(e) - 2, idx)
    ok = ~np.isnan(x) & (idx >= 0) & (idx < len(e) - 1)
    escaped = [norm(lbl) for lbl in labels]
    return [escaped[i] if good else None for i, good in zip(idx.tolist(), ok.tolist(), strict=True)], ok


def _int32_values(array: pa.Array) -> np.ndarray:
    """The values of a null-free int32 Arrow array, as NumPy. Not `to_numpy`: that goes through pyarrow's pandas
    shim, which imports pandas (0.3 s of every command's start)."""
    return np.frombuffer(array.buffers()[1], dtype=np.int32, count=len(array), offset=array.offset * 4)


def _dictionary_encoded(batch: pa.RecordBatch, plan: ColumnPlan) -> list[pa.DictionaryArray]:
    """The planned columns as distinct cells and row indices, on Arrow's threads (a column per thread; encoding a
    column does not itself use several): half the time on 2 cores."""
    columns = [batch.column(col.index) for col in plan.columns]
    with ThreadPoolExecutor(max(1, min(pa.cpu_count(), len(columns)))) as pool:
        return list(pool.map(pc.dictionary_encode, columns))


def normalize_batch(batch: pa.RecordBatch, plan: ColumnPlan, first_row: int, collect: bool = False) -> NormalizedBatch:
    """Normalise one batch of raw strings (docs/method.md, "Reading the input").

    With `collect=False` the first schema violation raises `SchemaError`; with `collect=True` every violation is
    returned in the batch (for `schema validate`) and offending cells are treated as absent.
    """
    columns: list[NormalizedColumn] = []
    violations: list[tuple[int, int, Violation]] = []
    for pos, (col, encoded) in enumerate(zip(plan.columns, _dictionary_encoded(batch, plan), strict=True)):
        indices = _int32_values(encoded.indices)
        cells = pl.Series("raw", encoded.dictionary, dtype=pl.String)
        values, checks, zero_cells, integers = _normalize_distinct(cells, col, collect)
        columns.append(NormalizedColumn(indices, values, zero_cells, integers))
        for mask, shown, reason in checks:
            rows = np.flatnonzero(mask[indices])
            if not collect:
                rows = rows[:1]
            for r in rows.tolist():
                v = Violation(plan.source_name, r + first_row, col.display_name, shown[indices[r]], reason)
                violations.append((r, pos, v))
    violations.sort(key=lambda t: (t[0], t[1]))
    if violations and not collect:
        raise SchemaError(
            f"{violations[0][2]} (the schema does not allow it; `sdsynth schema validate` lists every such cell)"
        )
    subject_ids = None
    if plan.subject_id_index is not None:
        raw = pl.Series("id", batch.column(plan.subject_id_index), dtype=pl.String)
        ids = raw.str.strip_chars().str.to_lowercase()
        empty = ids == ""
        if empty.any():
            row = int(empty.arg_true()[0]) + first_row
            raise InputError(
                f"{location(plan.source_name, row, plan.headers[plan.subject_id_index].strip())}: "
                "records with missing/empty Subject ID"
            )
        subject_ids = ids
    return NormalizedBatch(
        columns=columns,
        height=batch.num_rows,
        subject_ids=subject_ids,
        first_row=first_row,
        violations=[v for _, _, v in violations],
    )


def iter_normalized(
    source: TableSource, plan: ColumnPlan, batch_rows: int = DEFAULT_BATCH_ROWS, collect: bool = False
) -> Iterator[NormalizedBatch]:
    """Stream the source as normalised batches, honouring the record limit."""
    row = 1
    for batch in first_rows(source.iter_batches(batch_rows), plan.record_limit or None):
        yield normalize_batch(batch, plan, row, collect=collect)
        row += batch.num_rows


def first_rows(batches: Iterable[pa.RecordBatch], limit: int | None) -> Iterator[pa.RecordBatch]:
    """The batches cut after `limit` rows in total (all of them when `limit` is None)."""
    remaining = limit
    for batch in batches:
        if remaining is not None:
            if remaining <= 0:
                return
            if batch.num_rows > remaining:
                batch = batch.slice(0, remaining)
            remaining -= batch.num_rows
        yield batch
