"""Integer-encoded records: the attribute dictionary and the records as CSR arrays (spec §1.7–1.8).

Every (column, value) attribute gets a dense id assigned in the canonical order of its human string
`"{header}:{value}"`, so the canonical order of a combination is simply ascending id order. Multi-value columns are
expanded into one binary column per part, named `{column}_{part}`, placed where the source column was. Records are
stored as CSR: `offsets` (int64, length N+1) and `ids` (int32, ascending within each record).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from .errors import InputError
from .ingest import (
    ColumnPlan,
    IngestOptions,
    NormalizedBatch,
    PlannedColumn,
    iter_normalized,
    open_and_plan,
    unescape,
)
from .kernels.csr import build_csr, gather_rows
from .progress import NullProgress, Progress
from .table_source import DEFAULT_BATCH_ROWS, TableSource


@dataclass(frozen=True)
class ExpandedColumn:
    """A column after multi-value expansion (spec §1.7). Names and values are in the escaped (normalised) form."""

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
    a multi-value column's schema declares (None: not declared, or not multi-value)."""

    name: str
    delimiter: str | None = None
    declared_parts: int | None = None

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
    """Expand multi-value columns and assign ids in canonical (human-string) order."""
    columns: list[ExpandedColumn] = []
    entries: list[tuple[str, int, str]] = []  # (label, column index, value)
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
    return SourceColumn(col.name, col.multi_delimiter, declared)


def collect_uniques(batches: Iterator[NormalizedBatch], plan: ColumnPlan) -> list[set[str]]:
    """Distinct values (single-valued columns) or parts (multi-valued columns) per planned column."""
    uniques: list[set[str]] = [set() for _ in plan.columns]
    for nb in batches:
        for pos, col in enumerate(plan.columns):
            used = np.unique(nb.columns[pos].indices)
            values = nb.columns[pos].values
            if col.multi_delimiter is not None:
                for i in used.tolist():
                    uniques[pos].update(values[i])
            else:
                uniques[pos].update(v for i in used.tolist() if (v := values[i]) is not None)
    return uniques


class BatchEncoder:
    """Turns normalised batches into CSR arrays of attribute ids with a fixed dictionary."""

    def __init__(self, plan: ColumnPlan, attributes: AttributeTable) -> None:
        self.plan = plan
        self.attributes = attributes
        # per planned column: value (or part) -> attribute id
        self._ids: list[dict[str, int]] = [{} for _ in plan.columns]
        for a, (c, v) in enumerate(zip(attributes.column_of.tolist(), attributes.values, strict=True)):
            col = attributes.columns[c]
            self._ids[col.source_position][col.part if col.is_part else v] = a  # type: ignore[index]
        self._single = [p for p, c in enumerate(plan.columns) if c.multi_delimiter is None]
        self._multi = [p for p, c in enumerate(plan.columns) if c.multi_delimiter is not None]

    def encode(self, nb: NormalizedBatch) -> tuple[np.ndarray, np.ndarray]:
        n = nb.height
        codes = np.empty((n, len(self._single)), dtype=np.int32)
        for j, pos in enumerate(self._single):
            lookup = self._ids[pos]
            column = nb.columns[pos]
            table = np.array([-1 if v is None else lookup.get(v, -2) for v in column.values] or [-1], dtype=np.int32)
            codes[:, j] = table[column.indices]
        multi_index = np.empty((n, len(self._multi)), dtype=np.int32)
        dict_lists: list[list[list[int]]] = []
        for m, pos in enumerate(self._multi):
            lookup = self._ids[pos]
            column = nb.columns[pos]
            dict_lists.append([[lookup.get(p, -2) for p in parts] for parts in column.values])
            multi_index[:, m] = column.indices
        width = max([len(d) for d in dict_lists], default=0)
        length = max([sum(len(x) for x in d) for d in dict_lists], default=0)
        dict_offsets = np.zeros((len(dict_lists), width + 1), dtype=np.int64)
        dict_ids = np.zeros((len(dict_lists), max(length, 1)), dtype=np.int32)
        for m, entries in enumerate(dict_lists):
            flat = [a for parts in entries for a in parts]
            dict_offsets[m, 1 : len(entries) + 1] = np.cumsum([len(p) for p in entries])
            dict_ids[m, : len(flat)] = flat
        offsets, ids = build_csr(codes, multi_index, dict_offsets, dict_ids)
        if (codes == -2).any() or (ids < 0).any():
            raise InputError(f"{self.plan.source_name}: a value changed between the two reading passes")
        return offsets, ids


@dataclass
class EncodedData:
    """Encoded records held in memory (see the module docstring)."""

    attributes: AttributeTable
    offsets: np.ndarray
    ids: np.ndarray
    source_name: str = "input"

    @property
    def n_records(self) -> int:
        return len(self.offsets) - 1

    def record(self, r: int) -> np.ndarray:
        return self.ids[self.offsets[r] : self.offsets[r + 1]]

    def record_lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The records as CSR batches (offsets rebased to 0), as a streamed source would yield them."""
        for start in range(0, self.n_records, batch_rows):
            stop = min(start + batch_rows, self.n_records)
            lo, hi = self.offsets[start], self.offsets[stop]
            yield self.offsets[start : stop + 1] - lo, self.ids[lo:hi]

    def take(self, rows: np.ndarray) -> EncodedData:
        offsets, ids = gather_rows(self.offsets, self.ids, np.asarray(rows, dtype=np.int64))
        return EncodedData(self.attributes, offsets, ids, self.source_name)


@dataclass
class EncodedStream:
    """Encoded records that are read again from the source at each pass, so memory does not grow with N.

    Records are produced in batches of CSR arrays; `attributes` is known up front (from a first pass).
    """

    attributes: AttributeTable
    make_batches: Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]
    source_name: str = "input"
    n_records: int = 0  # from the dictionary pass
    n_ids: int = 0  # attributes over all records, from the dictionary pass

    def batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        del batch_rows
        return self.make_batches()


Records = EncodedData | EncodedStream


def encode(
    data: Any,
    options: IngestOptions | None = None,
    progress: Progress | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> EncodedData:
    """Read, normalise and encode a table into memory (joining records by subject id when one is set)."""
    options = options or IngestOptions()
    progress = progress or NullProgress()
    source, plan = open_and_plan(data, options)
    with progress.stage("reading", unit="rows") as bar:
        batches = []
        for nb in iter_normalized(source, plan, batch_rows):
            batches.append(nb)
            bar.advance(nb.height)
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


def encode_together(sources: list[tuple[Any, IngestOptions]], progress: Progress | None = None) -> list[EncodedData]:
    """Several tables encoded with one shared attribute dictionary (the union of their values), so their
    combinations can be compared key by key (evaluation of synthetic against sensitive data).

    The tables must have the same used columns in the same order."""
    progress = progress or NullProgress()
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
    progress: Progress | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Records:
    """Encoded records for one-pass-at-a-time consumers (counting): streamed from files, in memory otherwise.

    Files are read once to build the dictionary, and again at every pass, so memory is bounded by a batch. With a
    subject id, records must be joined across the whole file, so the data are encoded into memory instead.
    """
    options = options or IngestOptions()
    progress = progress or NullProgress()
    source, plan = open_and_plan(data, options)
    if plan.subject_id_index is not None or not _is_file_source(source):
        return encode(data, options, progress, batch_rows)
    size = _ScanSize()
    with progress.stage("scanning values", unit="rows") as bar:
        uniques = collect_uniques(size.count(_advancing(iter_normalized(source, plan, batch_rows), bar)), plan)
    attributes = build_attribute_table(plan, uniques)
    encoder = BatchEncoder(plan, attributes)

    def make_batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for nb in iter_normalized(source, plan, batch_rows):
            yield encoder.encode(nb)

    return EncodedStream(attributes, make_batches, source.name, size.rows, size.attributes)


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


def _is_file_source(source: TableSource) -> bool:
    return hasattr(source, "path")


def _advancing(batches: Iterator[NormalizedBatch], bar: Any) -> Iterator[NormalizedBatch]:
    for nb in batches:
        bar.advance(nb.height)
        yield nb


def _concat_csr(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    if not parts:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32)
    if len(parts) == 1:
        return parts[0]
    offsets = [parts[0][0]]
    base = parts[0][0][-1]
    for off, _ in parts[1:]:
        offsets.append(off[1:] + base)
        base += off[-1]
    return np.concatenate(offsets), np.concatenate([ids for _, ids in parts])


def conflicting_columns(data: EncodedData, subject_ids: pl.Series) -> list[int]:
    """Single-valued columns (sorted indices into `attributes.columns`) holding two different values among the
    records of one subject id: what `join_by_subject` refuses."""
    record_of = np.repeat(np.arange(data.n_records), np.diff(data.offsets))
    return _conflicts(_attribute_rows(data, subject_ids.gather(record_of)))


def _attribute_rows(data: EncodedData, group: Any) -> pl.DataFrame:
    """One row per distinct (group, attribute): the attribute's column and whether that column is single-valued."""
    columns = data.attributes.column_of[data.ids]
    is_single = np.array([not c.is_part for c in data.attributes.columns], dtype=bool)[columns]
    return pl.DataFrame({"g": group, "a": data.ids, "col": columns, "single": is_single}).unique()


def _conflicts(long: pl.DataFrame) -> list[int]:
    return (
        long.filter(pl.col("single"))
        .group_by("g", "col")
        .agg(pl.len().alias("n"))
        .filter(pl.col("n") > 1)
        .get_column("col")
        .unique()
        .sort()
        .to_list()
    )


def duplicated_ids_message(source_name: str, attributes: AttributeTable, columns: list[int]) -> str:
    """The error for conflicting columns (spec §1.6), naming each once."""
    names = ", ".join(attributes.columns[c].name for c in sorted(set(columns)))
    return (
        f"{source_name}: records with duplicated IDs, please set the following columns as multi value if you want "
        f"to join records with duplicated IDs: {names}"
    )


def join_by_subject(data: EncodedData, subject_ids: pl.Series, plan: ColumnPlan) -> EncodedData:
    """Join records that share a subject id (spec §1.6).

    Records are ordered by id (byte order) like the reference. A single-valued column with two different values in
    one group is a conflict: the error names every such column and suggests declaring them multi-value.
    """
    attributes = data.attributes
    n = data.n_records
    order_frame = pl.DataFrame({"sid": subject_ids}).with_row_index("row")
    groups = order_frame.sort("sid").with_columns(pl.col("sid").rle_id().alias("g"))
    group_of_row = np.empty(n, dtype=np.int64)
    group_of_row[groups.get_column("row").to_numpy()] = groups.get_column("g").to_numpy()
    n_groups = int(groups.get_column("g").max()) + 1  # type: ignore[arg-type]
    long = _attribute_rows(data, np.repeat(group_of_row, np.diff(data.offsets)))
    conflicts = _conflicts(long)
    if conflicts:
        raise InputError(duplicated_ids_message(data.source_name, attributes, conflicts))
    long = long.sort("g", "a")
    counts = np.bincount(long.get_column("g").to_numpy(), minlength=n_groups)
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    ids = long.get_column("a").to_numpy().astype(np.int32)
    del plan
    return EncodedData(attributes, offsets, ids, data.source_name)
