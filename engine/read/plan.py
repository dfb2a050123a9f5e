"""Planning the columns of an input from its header and the options (docs/method.md, "Reading the input"): which raw
columns are attributes, how each is read (multi-value delimiter, sensitive zeros, missing tokens, schema), the
subject id. Nothing here reads a data row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sdsynth.errors import InputError, ParameterError, SchemaError
from sdsynth.read.escape import norm
from sdsynth.read.options import IngestOptions
from sdsynth.read.sources import TableSource, open_table
from sdsynth.schema.model import ColumnSpec, Schema, cmp_key

RESERVED_COLUMN_NAMES = frozenset({"length", "count"})


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


@dataclass(frozen=True)
class _Header:
    """An input's header, with names matched as the reference matches them (trimmed, case-insensitive)."""

    headers: list[str]
    source_name: str

    @property
    def by_key(self) -> dict[str, int]:
        return {cmp_key(h): i for i, h in enumerate(self.headers)}

    def resolve(self, names: Sequence[str], what: str) -> set[int]:
        """The indices of `names`, or an error naming every unknown one and the columns there are."""
        by_key = self.by_key
        unknown = [n for n in names if cmp_key(n) not in by_key]
        if unknown:
            raise ParameterError(
                f"{self.source_name}: {what} name(s) {', '.join(map(repr, unknown))} are not columns of the input "
                f"(columns: {', '.join(h.strip() for h in self.headers)})"
            )
        return {by_key[cmp_key(n)] for n in names}

    def where(self, schema: Schema | None, test: Any) -> set[int]:
        """Indices of the columns whose schema spec passes `test`."""
        if schema is None:
            return set()
        return {i for i, h in enumerate(self.headers) if (s := schema.column(h)) is not None and test(s)}


def plan_columns(headers: list[str], options: IngestOptions, source_name: str) -> ColumnPlan:
    """Decide which raw columns are attributes and how to read them (docs/method.md, "Reading the input")."""
    header = _Header(headers, source_name)
    subject_index = _subject_index(header, options)
    if options.schema is not None:
        _check_schema_columns(header, options, subject_index)
    used = _used_columns(header, options, subject_index)
    zeros = (
        header.resolve(options.sensitive_zeros, "`sensitive_zeros`")
        if options.sensitive_zeros is not None
        else header.where(options.schema, lambda s: s.sensitive_zeros)
    )
    multi = _multi_value_columns(header, options)
    base_missing = set(options.missing_values if options.missing_values is not None else ())
    if options.missing_values is None and options.schema is not None:
        base_missing |= set(options.schema.missing_values)
    columns = [_planned_column(header, i, options, i in zeros, multi.get(i), base_missing) for i in sorted(used)]
    if not columns:
        raise ParameterError(f"{source_name}: no columns selected")
    return ColumnPlan(
        source_name=source_name,
        headers=headers,
        columns=tuple(columns),
        subject_id_index=subject_index,
        record_limit=options.record_limit,
    )


def _subject_index(header: _Header, options: IngestOptions) -> int | None:
    subject_id = options.effective_subject_id
    if not subject_id:
        return None
    if cmp_key(subject_id) not in header.by_key:
        raise ParameterError(f"{header.source_name}: subject id column {subject_id!r} is not a column of the input")
    return header.by_key[cmp_key(subject_id)]


def _check_schema_columns(header: _Header, options: IngestOptions, subject_index: int | None) -> None:
    """Every schema column is in the input; every input column is in the schema unless columns are chosen."""
    schema = options.schema
    assert schema is not None
    by_key = header.by_key
    # a column the schema does not use, or that `use_columns` leaves out, need not be there (a release's synthetic
    # file has no dropped columns)
    chosen = {cmp_key(n) for n in options.use_columns} if options.use_columns else None
    wanted = [c for c in schema.columns if c.use and (chosen is None or cmp_key(c.name) in chosen)]
    missing_cols = [c.name for c in wanted if cmp_key(c.name) not in by_key]
    if missing_cols:
        raise SchemaError(
            f"{header.source_name}: column(s) {', '.join(map(repr, missing_cols))} of schema "
            f"{schema.name or schema.source!r} are missing from the input"
        )
    dropped = header.resolve(options.drop_columns, "`drop_columns`") if options.drop_columns else set()
    extra = [h.strip() for i, h in enumerate(header.headers)
             if schema.column(h) is None and i != subject_index and i not in dropped]  # fmt: skip
    if extra and options.use_columns is None:
        raise SchemaError(
            f"{header.source_name}: column(s) {', '.join(map(repr, extra))} are not in schema "
            f"{schema.name or schema.source!r}; add them to the schema (use: false to ignore them) "
            "or choose columns with `use_columns` or leave them out with `drop_columns`"
        )


def _used_columns(header: _Header, options: IngestOptions, subject_index: int | None) -> set[int]:
    """`use_columns` (or every column the schema uses, or every column), less `drop_columns`."""
    dropped = header.resolve(options.drop_columns, "`drop_columns`") if options.drop_columns else set()
    if options.use_columns is not None and len(options.use_columns) > 0:
        return header.resolve(options.use_columns, "`use_columns`") - dropped
    not_subject = set(range(len(header.headers))) - ({subject_index} if subject_index is not None else set())
    if options.schema is not None:
        return header.where(options.schema, lambda s: s.use) & not_subject - dropped
    # Deviation from the reference (docs/deviations.md): the subject id is an identifier, not an attribute, unless
    # listed in `use_columns`. Kept as an attribute it would make every record unique.
    return not_subject - dropped


def _multi_value_columns(header: _Header, options: IngestOptions) -> dict[int, str]:
    """Column index → delimiter: the schema's multi-value columns, then the options' (which win)."""
    multi: dict[int, str] = {}
    if options.schema is not None:
        for i, h in enumerate(header.headers):
            s = options.schema.column(h)
            if s is not None and s.kind == "multi_value" and s.delimiter:
                multi[i] = s.delimiter
    for name, delim in (options.multi_value or {}).items():
        multi[header.resolve([name], "`multi_value`").pop()] = delim
    return multi


def _planned_column(
    header: _Header, i: int, options: IngestOptions, zeros: bool, delimiter: str | None, base_missing: set[str]
) -> PlannedColumn:
    raw = header.headers[i]
    spec = options.schema.column(raw) if options.schema is not None else None
    if spec is not None and spec.kind == "numeric" and delimiter is not None:
        raise SchemaError(f"{header.source_name}: column {raw.strip()!r} cannot be both numeric and multi-value")
    name = norm(raw)
    if cmp_key(name) in RESERVED_COLUMN_NAMES:
        raise InputError(
            f"{header.source_name}: a data column may not be named {raw.strip()!r} (reserved for the released "
            "tables' length and count columns); rename it"
        )
    missing = set(base_missing)
    if spec is not None and options.missing_values is None:
        missing |= set(spec.missing_values)
    missing.discard("")
    return PlannedColumn(
        index=i,
        header=raw,
        name=name,
        spec=spec,
        multi_delimiter=delimiter,
        sensitive_zeros=zeros,
        missing=frozenset(m.strip() for m in missing),
    )


def open_and_plan(data: Any, options: IngestOptions) -> tuple[TableSource, ColumnPlan]:
    source = open_table(data, delimiter=options.delimiter)
    return source, plan_columns(source.headers, options, source.name)
