"""Reading sensitive records the way the reference does (spec §1), with a schema's checks on top.

`IngestOptions` merges a schema with explicit options (explicit options win). `plan_columns` decides which raw
columns are used and how each is read. `normalize_batch` turns a batch of raw strings into normalised values:
trimmed, missing tokens and non-sensitive zeros made absent, reserved characters `;`/`:` replaced by
`<semicolon>`/`<colon>`, multi-value cells split into sets of parts, numeric cells put into their bins. Values the
schema does not allow are reported with file, row and column.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from .errors import InputError, ParameterError, SchemaError, location
from .schema import ColumnSpec, Schema, cmp_key
from .table_source import DEFAULT_BATCH_ROWS, TableSource, open_table

RESERVED_COLUMN_NAMES = frozenset({"length", "count"})
_NOT_ALLOWED = "value not allowed by the schema:"


def norm(text: str) -> str:
    """Spec §1.2: trim, then escape the combination (`;`) and column/value (`:`) delimiters."""
    return text.strip().replace(";", "<semicolon>").replace(":", "<colon>")


def unescape(text: str) -> str:
    """Undo `norm`'s escaping, for output where `;`/`:` are not delimiters (DuckDB, CSV)."""
    return text.replace("<colon>", ":").replace("<semicolon>", ";")


@dataclass(frozen=True)
class IngestOptions:
    """How to read a sensitive table. Unset options come from the schema, then from the reference's defaults."""

    schema: Schema | None = None
    use_columns: Sequence[str] | None = None
    sensitive_zeros: Sequence[str] | None = None
    multi_value: Mapping[str, str] | None = None
    subject_id: str | None = None
    record_limit: int = 0
    missing_values: Sequence[str] | None = None
    delimiter: str | None = None

    def __post_init__(self) -> None:
        if self.record_limit < 0:
            raise ParameterError(f"record limit must be >= 0 (0 = all rows), got {self.record_limit}")
        for name, delim in (self.multi_value or {}).items():
            if not delim:
                raise ParameterError(f"multi-value column {name!r} needs a non-empty delimiter")

    @property
    def effective_subject_id(self) -> str | None:
        if self.subject_id is not None:
            return self.subject_id or None
        return self.schema.subject_id if self.schema else None


@dataclass(frozen=True)
class PlannedColumn:
    """A raw column that will be read, and how."""

    index: int
    header: str
    name: str
    spec: ColumnSpec | None
    multi_delimiter: str | None
    sensitive_zeros: bool
    missing: frozenset[str]

    @property
    def display_name(self) -> str:
        return self.header.strip()

    @property
    def is_numeric(self) -> bool:
        return self.spec is not None and self.spec.kind == "numeric"


@dataclass(frozen=True)
class ColumnPlan:
    source_name: str
    headers: list[str]
    columns: tuple[PlannedColumn, ...]
    subject_id_index: int | None
    record_limit: int


def plan_columns(headers: list[str], options: IngestOptions, source_name: str) -> ColumnPlan:
    """Decide which raw columns are attributes and how to read them (spec §1.3, with the schema)."""
    keys = [cmp_key(h) for h in headers]
    by_key = {k: i for i, k in enumerate(keys)}
    schema = options.schema

    def resolve(names: Sequence[str], what: str) -> set[int]:
        unknown = [n for n in names if cmp_key(n) not in by_key]
        if unknown:
            raise ParameterError(
                f"{source_name}: {what} name(s) {', '.join(map(repr, unknown))} are not columns of the input "
                f"(columns: {', '.join(h.strip() for h in headers)})"
            )
        return {by_key[cmp_key(n)] for n in names}

    subject_id = options.effective_subject_id
    subject_index = None
    if subject_id:
        if cmp_key(subject_id) not in by_key:
            raise ParameterError(f"{source_name}: subject id column {subject_id!r} is not a column of the input")
        subject_index = by_key[cmp_key(subject_id)]

    if schema is not None:
        missing_cols = [c.name for c in schema.columns if cmp_key(c.name) not in by_key]
        if missing_cols:
            raise SchemaError(
                f"{source_name}: column(s) {', '.join(map(repr, missing_cols))} of schema "
                f"{schema.name or schema.source!r} are missing from the input"
            )
        extra = [
            headers[i].strip() for i, k in enumerate(keys) if schema.column(headers[i]) is None and i != subject_index
        ]
        if extra and options.use_columns is None:
            raise SchemaError(
                f"{source_name}: column(s) {', '.join(map(repr, extra))} are not in schema "
                f"{schema.name or schema.source!r}; add them to the schema (use: false to ignore them) "
                "or choose columns with --use-columns"
            )

    if options.use_columns is not None and len(options.use_columns) > 0:
        used = resolve(options.use_columns, "--use-columns")
    elif schema is not None:
        used = {i for i, h in enumerate(headers) if (s := schema.column(h)) is not None and s.use}
    else:
        # Deviation from the reference (spec §8.8): the subject id is an identifier, not an attribute, unless the
        # user lists it in --use-columns. Kept as an attribute it would make every record unique.
        used = set(range(len(headers))) - ({subject_index} if subject_index is not None else set())

    if options.sensitive_zeros is not None:
        zeros = resolve(options.sensitive_zeros, "--sensitive-zeros")
    elif schema is not None:
        zeros = {i for i, h in enumerate(headers) if (s := schema.column(h)) is not None and s.sensitive_zeros}
    else:
        zeros = set()

    multi: dict[int, str] = {}
    if schema is not None:
        for i, h in enumerate(headers):
            s = schema.column(h)
            if s is not None and s.kind == "multi_value" and s.delimiter:
                multi[i] = s.delimiter
    if options.multi_value:
        for idx, (name, delim) in zip(
            [resolve([n], "--multi-value").pop() for n in options.multi_value],
            options.multi_value.items(),
            strict=True,
        ):
            del name
            multi[idx] = delim

    base_missing = set(options.missing_values if options.missing_values is not None else ())
    if options.missing_values is None and schema is not None:
        base_missing |= set(schema.missing_values)

    columns = []
    for i in sorted(used):
        spec = schema.column(headers[i]) if schema is not None else None
        if spec is not None and spec.kind == "numeric" and i in multi:
            raise SchemaError(f"{source_name}: column {headers[i].strip()!r} cannot be both numeric and multi-value")
        name = norm(headers[i])
        if cmp_key(name) in RESERVED_COLUMN_NAMES:
            raise InputError(
                f"{source_name}: a data column may not be named {headers[i].strip()!r} (reserved for the released "
                "tables' length and count columns); rename it"
            )
        missing = set(base_missing)
        if spec is not None and options.missing_values is None:
            missing |= set(spec.missing_values)
        missing.discard("")
        columns.append(
            PlannedColumn(
                index=i,
                header=headers[i],
                name=name,
                spec=spec,
                multi_delimiter=multi.get(i),
                sensitive_zeros=i in zeros,
                missing=frozenset(m.strip() for m in missing),
            )
        )
    if not columns:
        raise ParameterError(f"{source_name}: no columns selected")
    return ColumnPlan(
        source_name=source_name,
        headers=headers,
        columns=tuple(columns),
        subject_id_index=subject_index,
        record_limit=options.record_limit,
    )


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


@dataclass
class NormalizedBatch:
    """One batch of records after §1 normalisation, before encoding.

    `subject_ids` holds the `cmp_key`-normalised id per row when a subject id is set. `first_row` is the data row
    number of the batch's first row (rows are counted from 1).
    """

    columns: list[NormalizedColumn]
    height: int
    subject_ids: pl.Series | None
    first_row: int
    violations: list[Violation] = field(default_factory=list)


def _escape(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_all(";", "<semicolon>", literal=True).str.replace_all(":", "<colon>", literal=True)


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


# a check: (bad mask over distinct cells, the offending text per cell, reason)
_Check = tuple[np.ndarray, list[str], str]


def _normalize_distinct(cells: pl.Series, col: PlannedColumn, collect: bool) -> tuple[list[Any], list[_Check]]:
    """Normalise the distinct raw cells of a column (spec §1.4) and check them against the schema."""
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
            .list.eval(pl.element().str.strip_chars())
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
                checks.append((mask, bad.list.join(", ").to_list(), _NOT_ALLOWED))
                if collect:
                    out = out.with_columns(pl.col("parts").list.set_difference(pl.col("bad")))
        values = out.select(pl.col("parts").list.eval(_escape(pl.element())).list.unique(maintain_order=True))
        return values.get_column("parts").to_list(), checks

    absent = (trimmed == "") | missing
    if not col.sensitive_zeros:
        absent = absent | (trimmed == "0")
    if col.is_numeric:
        assert col.spec is not None and col.spec.bins is not None
        out = frame.select(
            absent.alias("absent"), trimmed.alias("text"), trimmed.cast(pl.Float64, strict=False).alias("x")
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
        return [None if a or not ok else lbl for a, ok, lbl in zip(is_absent, in_bins, labels, strict=True)], checks

    accept = _accept_expr(trimmed, col.spec, col.sensitive_zeros)
    exprs = [pl.when(absent).then(None).otherwise(_escape(trimmed)).alias("value"), trimmed.alias("text")]
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
    return values, checks


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


def normalize_batch(batch: pa.RecordBatch, plan: ColumnPlan, first_row: int, collect: bool = False) -> NormalizedBatch:
    """Normalise one batch of raw strings (spec §1.4).

    With `collect=False` the first schema violation raises `SchemaError`; with `collect=True` every violation is
    returned in the batch (for `schema validate`) and offending cells are treated as absent.
    """
    columns: list[NormalizedColumn] = []
    violations: list[tuple[int, int, Violation]] = []
    for pos, col in enumerate(plan.columns):
        encoded = pc.dictionary_encode(batch.column(col.index))
        indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
        cells = pl.Series("raw", encoded.dictionary, dtype=pl.String)
        values, checks = _normalize_distinct(cells, col, collect)
        columns.append(NormalizedColumn(indices, values))
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


def open_and_plan(data: Any, options: IngestOptions) -> tuple[TableSource, ColumnPlan]:
    source = open_table(data, delimiter=options.delimiter)
    return source, plan_columns(source.headers, options, source.name)
