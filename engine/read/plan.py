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
from sdsynth.schema.model import ColumnSpec, cmp_key

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
                "or choose columns with `use_columns`"
            )

    if options.use_columns is not None and len(options.use_columns) > 0:
        used = resolve(options.use_columns, "`use_columns`")
    elif schema is not None:
        used = {i for i, h in enumerate(headers) if (s := schema.column(h)) is not None and s.use}
    else:
        # Deviation from the reference (spec §8.8): the subject id is an identifier, not an attribute, unless the
        # user lists it in --use-columns. Kept as an attribute it would make every record unique.
        used = set(range(len(headers))) - ({subject_index} if subject_index is not None else set())

    if options.sensitive_zeros is not None:
        zeros = resolve(options.sensitive_zeros, "`sensitive_zeros`")
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
            [resolve([n], "`multi_value`").pop() for n in options.multi_value],
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


def open_and_plan(data: Any, options: IngestOptions) -> tuple[TableSource, ColumnPlan]:
    source = open_table(data, delimiter=options.delimiter)
    return source, plan_columns(source.headers, options, source.name)
