"""The attribute dictionary (docs/method.md, "Records"): every (column, value) attribute gets a dense id in the
canonical order of its human string `"{header}:{value}"`, so a combination's canonical order is ascending id order.
Multi-value columns are expanded into one binary column per part, named `{column}_{part}`, where the source column was;
`sources` keeps the input's planned columns, which are public, beside the values seen, which are not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from sdsynth.errors import InputError
from sdsynth.read.escape import unescape
from sdsynth.read.normalize import NormalizedBatch
from sdsynth.read.plan import ColumnPlan, PlannedColumn


@dataclass(frozen=True)
class ExpandedColumn:
    """A column after multi-value expansion (docs/method.md, "Records"). Names and values are in the escaped
    (normalised) form."""

    name: str
    source: str
    source_position: int
    part: str | None = None
    delimiter: str | None = None

    @property
    def is_part(self) -> bool:
        return self.part is not None


@dataclass(frozen=True)
class SourceColumn:
    """A column of the input as planned (from the header and the options, never from the values), so everything
    derived from it is the same for any two inputs with the same header. `declared_parts` is the number of parts
    a multi-value column's schema declares (None: not declared, or not multi-value); `domain_size` the number of
    values or parts the schema gives the column (`ColumnSpec.domain_size`; None: not a public fact)."""

    name: str
    delimiter: str | None = None
    declared_parts: int | None = None
    domain_size: int | None = None

    @property
    def is_multi_value(self) -> bool:
        return self.delimiter is not None


@dataclass(frozen=True)
class AttributeTable:
    """The attribute dictionary: id → (expanded column, value), ids in canonical order.

    `sources` lists the input's columns as planned: a multi-value column whose parts were never seen (or never
    released) keeps its place there, so outputs list the same columns whatever the records hold.
    """

    columns: tuple[ExpandedColumn, ...]
    column_of: np.ndarray  # int32, attribute id → index into `columns`
    values: tuple[str, ...]  # escaped value of each attribute ("1" for multi-value parts)
    sources: tuple[SourceColumn, ...] = ()  # indexed by ExpandedColumn.source_position

    def __post_init__(self) -> None:
        if not self.sources:  # built from columns alone (tests, older callers): the sources the columns name
            by_position: dict[int, SourceColumn] = {}
            for col in self.columns:
                by_position.setdefault(col.source_position, SourceColumn(col.source, col.delimiter))
            ordered = tuple(by_position[p] for p in sorted(by_position))
            if sorted(by_position) != list(range(len(ordered))):
                raise ValueError("source positions must number the sources 0..n-1")
            object.__setattr__(self, "sources", ordered)

    @property
    def n_attributes(self) -> int:
        return len(self.values)

    def max_record_width(self) -> int | None:
        """The most attributes a record can hold, from public knowledge only: one per single-valued column plus
        the declared parts of each multi-value column; None when a multi-value column declares no parts."""
        width = 0
        for source in self.sources:
            if not source.is_multi_value:
                width += 1
            elif source.declared_parts is None:
                return None
            else:
                width += source.declared_parts
        return width

    @property
    def labels(self) -> list[str]:
        """Human strings `header:value` (escaped), the reference's attribute form."""
        return [f"{self.columns[c].name}:{v}" for c, v in zip(self.column_of.tolist(), self.values, strict=True)]

    @property
    def source_columns(self) -> list[str]:
        """Source column names (escaped), in input order, as written back in synthetic records."""
        return [s.name for s in self.sources]

    def source_index_of(self) -> np.ndarray:
        """Attribute id → index into `source_columns`."""
        per_column = np.array([c.source_position for c in self.columns], dtype=np.int32)
        return per_column[self.column_of] if self.n_attributes else np.zeros(0, dtype=np.int32)

    def display_column_names(self) -> list[str]:
        return [unescape(c.name) for c in self.columns]

    def display_values(self) -> list[str]:
        return [unescape(v) for v in self.values]

    def to_frame(self) -> pl.DataFrame:
        """One row per attribute: id, column, value (unescaped), label (escaped human form)."""
        cols = self.display_column_names()
        return pl.DataFrame(
            {
                "id": np.arange(self.n_attributes, dtype=np.int32),
                "column": [cols[c] for c in self.column_of.tolist()],
                "value": self.display_values(),
                "label": self.labels,
            }
        )


def build_attribute_table(plan: ColumnPlan, uniques: list[set[str]]) -> AttributeTable:
    """Expand multi-value columns and assign ids in canonical (human-string) order. A column whose schema gives
    every value as a public fact (`ColumnSpec.public_values`) has all of them, seen in the data or not: its part of
    the table does not depend on the records (a DP release gives each value a noisy count)."""
    columns: list[ExpandedColumn] = []
    entries: list[tuple[str, int, str]] = []  # (label, column index, value)
    uniques = [seen | set(_public_values(col)) for seen, col in zip(uniques, plan.columns, strict=True)]
    for pos, col in enumerate(plan.columns):
        if col.multi_delimiter is not None:
            for part in sorted(uniques[pos], key=lambda p: f"{col.name}_{p}"):
                columns.append(
                    ExpandedColumn(f"{col.name}_{part}", col.name, pos, part=part, delimiter=col.multi_delimiter)
                )
                entries.append((f"{col.name}_{part}:1", len(columns) - 1, "1"))
        else:
            columns.append(ExpandedColumn(col.name, col.name, pos))
            entries.extend((f"{col.name}:{v}", len(columns) - 1, v) for v in uniques[pos])
    names = [c.name.lower() for c in columns]
    if len(set(names)) != len(names):
        dup = sorted({unescape(c.name) for c in columns if names.count(c.name.lower()) > 1})
        raise InputError(
            f"{plan.source_name}: column name(s) {', '.join(map(repr, dup))} appear twice after multi-value "
            "expansion (a header equals `column_part` of a multi-value column); rename one"
        )
    entries.sort(key=lambda e: e[0])
    labels = [e[0] for e in entries]
    if len(set(labels)) != len(labels):
        raise InputError(f"{plan.source_name}: two different values have the same normalised form")
    return AttributeTable(
        columns=tuple(columns),
        column_of=np.array([e[1] for e in entries], dtype=np.int32),
        values=tuple(e[2] for e in entries),
        sources=tuple(planned_source(col) for col in plan.columns),
    )


def _public_values(col: PlannedColumn) -> tuple[str, ...]:
    return (col.spec.public_values or ()) if col.spec is not None else ()


def planned_source(col: PlannedColumn) -> SourceColumn:
    """A planned column as a `SourceColumn`: parts count as declared only when the schema lists them and they were
    not drafted from the data."""
    spec = col.spec
    declared = (
        len(spec.values)
        if col.multi_delimiter is not None and spec is not None and spec.kind == "multi_value"
        and spec.values is not None and not spec.drafted
        else None
    )  # fmt: skip
    return SourceColumn(col.name, col.multi_delimiter, declared, spec.domain_size if spec is not None else None)


def value_counts(batches: Iterator[NormalizedBatch], plan: ColumnPlan) -> list[dict[str, int]]:
    """Per planned column, the rows holding each value (single-valued columns) or each part (multi-valued)."""
    counts: list[dict[str, int]] = [{} for _ in plan.columns]
    for nb in batches:
        for pos, col in enumerate(plan.columns):
            column = nb.columns[pos]
            rows = np.bincount(column.indices, minlength=len(column.values))  # indices are dictionary codes
            used = np.flatnonzero(rows)
            seen = counts[pos]
            for i, k in zip(used.tolist(), rows[used].tolist(), strict=True):
                value = column.values[i]
                for v in (value or []) if col.multi_delimiter is not None else ([] if value is None else [value]):
                    seen[v] = seen.get(v, 0) + k
    return counts


def collect_uniques(batches: Iterator[NormalizedBatch], plan: ColumnPlan) -> list[set[str]]:
    """Distinct values (single-valued columns) or parts (multi-valued columns) per planned column."""
    return [set(counts) for counts in value_counts(batches, plan)]
