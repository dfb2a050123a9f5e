"""Reading a release back as `Aggregates`, so synthesis can run from published aggregates alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl

from sdsynth.bundle.database import relation_arrow, release_database
from sdsynth.encode.attributes import AttributeTable, ExpandedColumn, SourceColumn
from sdsynth.errors import InputError
from sdsynth.kernels.keys import KeyLayout
from sdsynth.protect.aggregates import Aggregates
from sdsynth.read.escape import norm


def _frame(con: duckdb.DuckDBPyConnection, sql: str) -> pl.DataFrame:
    frame = pl.from_arrow(relation_arrow(con.sql(sql)))
    assert isinstance(frame, pl.DataFrame)
    return frame


def load_release(folder: str | Path) -> Aggregates:
    """The aggregates of a release folder (written by `sdsynth aggregate`, `synthesize` or `release`)."""
    db = release_database(folder)
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        missing = {"aggregates", "release_info", "release_columns"} - tables
        if missing:
            raise InputError(f"{db}: not a complete release (missing table(s) {', '.join(sorted(missing))})")
        info = {k: v for k, v in con.execute("SELECT key, value FROM release_info").fetchall()}
        columns = _frame(con, "SELECT * FROM release_columns ORDER BY position")
        wide = _frame(con, "SELECT * FROM aggregates")
        levels = (
            _frame(con, "SELECT * FROM release_levels ORDER BY length").to_dicts() if "release_levels" in tables else []
        )
    finally:
        con.close()
    return _to_aggregates(wide, columns, info, str(db), levels)


def _parse(value: str) -> object:
    try:
        return json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return value


def _to_aggregates(
    wide: pl.DataFrame, columns: pl.DataFrame, info: dict[str, str], source: str, levels: list[dict[str, Any]]
) -> Aggregates:
    """The aggregates as read back; `levels` (the release's `release_levels` rows) keep what each length used, so a
    release synthesized from this one keeps them, and the calibrated law reads the same bounds as in-process."""
    # expanded columns in their original order; sources keep their first position (a multi-value column with no
    # released part has a row with an empty `column`: a source without expanded columns)
    expanded: list[ExpandedColumn] = []
    sources: dict[str, SourceColumn] = {}
    for row in columns.iter_rows(named=True):
        src = row["source_column"]
        position = list(sources).index(src) if src in sources else len(sources)
        sources.setdefault(src, SourceColumn(norm(src), row["delimiter"]))
        if row["column"] is None:
            continue
        part = row["part"]
        expanded.append(
            ExpandedColumn(
                norm(row["column"]), norm(src), position, norm(part) if part is not None else None, row["delimiter"]
            )
        )
    names = [c for c in columns.get_column("column").to_list() if c is not None]
    entries: list[tuple[str, int, str]] = []
    for c, (name, col) in enumerate(zip(names, expanded, strict=True)):
        values = wide.get_column(name).drop_nulls().unique().to_list() if name in wide.columns else []
        for v in values:
            value = "1" if col.is_part else norm(v)
            entries.append((f"{col.name}:{value}", c, value))
    entries.sort(key=lambda e: e[0])
    attributes = AttributeTable(
        columns=tuple(expanded),
        column_of=np.array([e[1] for e in entries], dtype=np.int32),
        values=tuple(e[2] for e in entries),
        sources=tuple(sources.values()),
    )
    index = {(c, v): i for i, (_, c, v) in enumerate(entries)}
    reporting_length = int(_parse(info.get("reporting_length", "0")) or 0)  # type: ignore[arg-type]
    max_length = int(wide.get_column("length").max() or 1) if wide.height else 1  # type: ignore[arg-type]
    reporting_length = max(1, reporting_length or max_length)
    layout = KeyLayout.for_attributes(attributes.n_attributes, max(reporting_length, max_length))
    shifts = [layout.bits * (layout.slots - 1 - d) for d in range(layout.slots)]
    keys = np.zeros(wide.height, dtype=np.uint64)
    ids_per_row: list[list[int]] = [[] for _ in range(wide.height)]
    for c, (name, col) in enumerate(zip(names, expanded, strict=True)):
        if name not in wide.columns:
            continue
        cells = wide.get_column(name).to_list()
        for r, v in enumerate(cells):
            if v is not None:
                ids_per_row[r].append(index[(c, "1" if col.is_part else norm(v))])
    for r, ids in enumerate(ids_per_row):
        key = 0
        for d, a in enumerate(sorted(ids)):
            key |= (a + 1) << shifts[d]
        keys[r] = key
    counts = wide.get_column("count").to_numpy().astype(np.int64)
    order = np.argsort(keys, kind="stable")
    if len(keys) and (np.diff(keys[order]) == 0).any():
        raise InputError(f"{source}: the aggregates table holds the same combination twice")
    parameters = {k: _parse(v) for k, v in info.items()}
    return Aggregates(
        attributes=attributes,
        layout=layout,
        keys=keys[order],
        counts=counts[order],
        reporting_length=reporting_length,
        mode=str(info.get("mode", "k-anonymity")),
        record_count=int(_parse(info.get("record_count", "0")) or 0),  # type: ignore[arg-type]
        parameters=parameters,
        levels=levels,
    )
