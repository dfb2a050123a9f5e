"""Joining the records of one subject (docs/method.md, "Subject ids"): rows that share a subject id become one record; a
single-valued column with two values in one subject is refused, naming the columns to declare multi-value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from sdsynth.encode.attributes import (
    AttributeTable,
)
from sdsynth.encode.records import (
    EncodedData,
)
from sdsynth.errors import InputError
from sdsynth.read.plan import ColumnPlan


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
    """The error for conflicting columns (docs/method.md, "Subject ids"), naming each once."""
    names = ", ".join(attributes.columns[c].name for c in sorted(set(columns)))
    return (
        f"{source_name}: records with duplicated IDs, please set the following columns as multi value if you want "
        f"to join records with duplicated IDs: {names}"
    )


def join_by_subject(data: EncodedData, subject_ids: pl.Series, plan: ColumnPlan) -> EncodedData:
    """Join records that share a subject id (docs/method.md, "Subject ids").

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
