"""What the explorer knows of a release, read through a DuckDB connection to its public database: the columns and
their values, the released aggregates with their margins of error, and the synthetic records as distinct
dictionary-encoded rows with their weights (or, past a size limit, synthetic counts of attribute combinations).

Everything here comes from the release's own tables (`synthetic`, `aggregates`, `release_levels`, `release_columns`,
`release_info`): the page is post-processing of public files. Nothing is read from the release's folder but the
database, and nothing time-dependent (dates, ids) reaches the page.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sdsynth._utils.duckdb_files import sql_identifier
from sdsynth.errors import InputError

if TYPE_CHECKING:
    import duckdb

# past this many bytes of embedded records, the page embeds synthetic counts of combinations instead (issue 26)
MAX_EMBEDDED_BYTES = 10 * 1024 * 1024
# the parameters the page shows in its header (all public; no date, no release id)
SHOWN_PARAMETERS = (
    "mode", "reporting_length", "record_count", "epsilon", "delta", "resolution", "synthesis_method",
    "synthetic_records", "schema",
)  # fmt: skip
REQUIRED_TABLES = ("synthetic", "aggregates", "release_info", "release_columns")


@dataclass(frozen=True)
class ExplorerColumn:
    """A data column as the page shows it: one bar per value (a multi-value column: one bar per part)."""

    name: str
    description: str
    delimiter: str | None  # a multi-value column's delimiter; None: one value per record
    values: tuple[str, ...]
    released: tuple[str | None, ...]  # per value, the `aggregates` column holding it (None: no released count uses it)

    @property
    def multi_value(self) -> bool:
        return self.delimiter is not None

    def aggregate_test(self, value_index: int) -> tuple[str, str] | None:
        """(aggregates column, the value it holds) for one of this column's values, or None when never released."""
        column = self.released[value_index]
        if column is None:
            return None
        return column, ("1" if self.multi_value else self.values[value_index])


@dataclass(frozen=True)
class ReleaseFacts:
    """The release's columns and the figures that qualify its counts."""

    columns: tuple[ExplorerColumn, ...]
    mode: str  # "dp" or "k-anonymity"
    reporting_length: int
    record_count: int
    record_count_error: dict[str, float]  # DP: {"margin": m}; k-anonymity: {"resolution": k}
    levels: dict[int, dict[str, float]]  # length → DP {"sd", "margin"} or k-anonymity {"resolution"}
    parameters: dict[str, Any]
    synthetic_records: int
    has_error_view: bool = field(default=False)

    def attribute_offsets(self) -> list[int]:
        offsets, total = [], 0
        for column in self.columns:
            offsets.append(total)
            total += len(column.values)
        return offsets


def _parse(value: str) -> Any:
    try:
        return json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return value


def natural_key(text: str) -> list[tuple[int, Any]]:
    """Numbers inside values compare as numbers ("9-17" before "18-20"), the rest as text."""
    return [(0, int(p)) if p.isdigit() else (1, p.casefold()) for p in re.split(r"(\d+)", text) if p]


def release_facts(con: duckdb.DuckDBPyConnection) -> ReleaseFacts:
    """Columns, values, parameters and margins of error of a release; `InputError` if it has no synthetic records."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if "synthetic" in missing:
        raise InputError("this release holds no synthetic records (no `synthetic` table): the explorer compares them "
                         "with the aggregates; make them with `sdsynth synthesize --aggregates RELEASE`")  # fmt: skip
    if missing:
        raise InputError(f"not a complete release (missing table(s) {', '.join(missing)})")
    info = {k: _parse(v) for k, v in con.execute("SELECT key, value FROM release_info").fetchall()}
    mode = str(info.get("mode", "k-anonymity"))
    synthetic_columns = [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'synthetic' ORDER BY ordinal_position"
    ).fetchall()]  # fmt: skip
    descriptions = dict(con.execute(
        "SELECT column_name, coalesce(comment, '') FROM duckdb_columns() WHERE table_name = 'synthetic'"
    ).fetchall())  # fmt: skip
    aggregate_columns = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'aggregates'"
    ).fetchall()}  # fmt: skip
    mapping = con.execute(
        'SELECT "column", source_column, part, delimiter FROM release_columns ORDER BY position'
    ).fetchall()
    columns = [_column(con, name, descriptions.get(name, ""), mapping, aggregate_columns)
               for name in _ordered_sources(mapping, synthetic_columns)]  # fmt: skip
    levels = _levels(con, mode, tables)
    record_count = int(info.get("record_count", 0) or 0)
    if mode == "dp" and info.get("variance_record_count") is not None:
        record_error = {"margin": float(gaussian_record_count_margin(float(info["variance_record_count"])))}
    elif mode == "dp":  # a release whose record count carried discrete Laplace noise (before it moved into zCDP)
        record_error = {"margin": float(record_count_margin(float(info.get("epsilon_record_count") or 0.0)))}
    else:
        record_error = {"resolution": float(info.get("resolution", 1) or 1)}
    synthetic_records = int(con.execute("SELECT count(*) FROM synthetic").fetchall()[0][0])
    shown = {k: info[k] for k in SHOWN_PARAMETERS if k in info}
    return ReleaseFacts(tuple(columns), mode, int(info.get("reporting_length", 0) or 0), record_count, record_error,
                        levels, shown, synthetic_records, "aggregates_with_error" in tables)  # fmt: skip


def record_count_margin(epsilon: float) -> int:
    """The 95 % margin of error of a record count released with discrete Laplace noise of parameter ε (the DP
    record count of releases made before it moved inside zCDP, `epsilon_record_count`): the least m with
    P(|X| > m) ≤ 0.05, where P(|X| ≥ k) = 2q^k / (1 + q) and q = e^(−ε) for k ≥ 1."""
    if epsilon <= 0:
        return 0
    q = math.exp(-epsilon)
    return max(0, math.ceil(math.log(40.0 / (1.0 + q)) / epsilon) - 1)


def gaussian_record_count_margin(variance: float) -> int:
    """The 95 % margin of error of a record count released with discrete Gaussian noise of this variance (the DP
    record count, `variance_record_count`): the least m with P(|X| > m) = 2·P(X ≥ m + 1) ≤ 0.05."""
    from sdsynth.protect.dp.budget import DiscreteGaussian

    return DiscreteGaussian.with_variance(variance).least_bound(0.025)


def _ordered_sources(mapping: list[tuple[Any, ...]], synthetic_columns: list[str]) -> list[str]:
    """The data columns in the release's order (release_columns), then any other column of `synthetic`."""
    order: list[str] = []
    for _, source, _, _ in mapping:
        if source in synthetic_columns and source not in order:
            order.append(source)
    return order + [c for c in synthetic_columns if c not in order]


def _column(
    con: duckdb.DuckDBPyConnection, name: str, description: str, mapping: list[tuple[Any, ...]], aggregated: set[str]
) -> ExplorerColumn:
    rows = [r for r in mapping if r[1] == name]
    delimiter = next((d for _, _, _, d in rows if d), None)
    seen = [r[0] for r in con.execute(f"SELECT DISTINCT {sql_identifier(name)} FROM synthetic WHERE "
                                      f"{sql_identifier(name)} IS NOT NULL").fetchall()]  # fmt: skip
    if delimiter is None:
        released = name if name in aggregated else None
        values = set(seen)
        if released is not None:
            values |= {r[0] for r in con.execute(f"SELECT DISTINCT {sql_identifier(name)} FROM aggregates WHERE "
                                                 f"{sql_identifier(name)} IS NOT NULL").fetchall()}  # fmt: skip
        ordered = tuple(sorted(values, key=natural_key))
        return ExplorerColumn(name, description, None, ordered, tuple(released for _ in ordered))
    parts = [(part, column) for column, _, part, _ in rows if part is not None and column in aggregated]
    known = {part for part, _ in parts}
    extra = sorted({p for cell in seen for p in cell.split(delimiter) if p and p not in known}, key=natural_key)
    values = tuple([p for p, _ in parts] + extra)
    return ExplorerColumn(name, description, delimiter, values, tuple([c for _, c in parts] + [None] * len(extra)))


def _levels(con: duckdb.DuckDBPyConnection, mode: str, tables: set[str]) -> dict[int, dict[str, float]]:
    """Per combination length, what qualifies a released count: DP the noise standard deviation and the 95 % margin
    exactly as `aggregates_with_error` computes it; k-anonymity the resolution k."""
    if "release_levels" not in tables:
        return {}
    names = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'release_levels'"
    ).fetchall()}  # fmt: skip
    if mode == "dp" and "noise_sd" in names:
        rows = con.execute("SELECT length, noise_sd, round(1.96 * noise_sd, 1) FROM release_levels").fetchall()
        return {int(n): {"sd": float(sd), "margin": float(m)} for n, sd, m in rows if sd is not None}
    if "resolution" in names:
        rows = con.execute("SELECT length, resolution FROM release_levels").fetchall()
        return {int(n): {"resolution": float(k)} for n, k in rows if k is not None}
    return {}


# ------------------------------------------------------------------------------------------------- encodings
def encode_array(values: np.ndarray) -> dict[str, Any]:
    """A numeric array as the page decodes it: the smallest unsigned type that holds it (else float64), base64."""
    values = np.asarray(values)
    if values.size and values.min() >= 0 and np.all(values == np.floor(values)):
        top = values.max()
        kind = "u8" if top < 1 << 8 else "u16" if top < 1 << 16 else "u32" if top < 1 << 32 else "f64"
    else:
        kind = "f64" if values.size else "u8"
    dtype = {"u8": "<u1", "u16": "<u2", "u32": "<u4", "f64": "<f8"}[kind]
    return {"type": kind, "data": base64.b64encode(values.astype(dtype).tobytes()).decode("ascii")}


def _width(n: int) -> int:
    return 1 if n < 1 << 8 else 2 if n < 1 << 16 else 4


def cell_parts(column: ExplorerColumn, cells: list[str]) -> list[list[int]]:
    """Per cell (index 0: no value), the indices of the column's values it holds."""
    index = {v: i for i, v in enumerate(column.values)}
    if not column.multi_value:
        return [[], *([index[c]] for c in cells)]
    return [[], *(sorted({index[p] for p in c.split(column.delimiter or "") if p in index}) for c in cells)]


@dataclass(frozen=True)
class SyntheticProfiles:
    """The distinct synthetic rows: per column its cells (sorted), the rows' cell codes (0 = no value; rows ×
    columns) and each row's number of synthetic records."""

    cells: list[list[str]]
    codes: np.ndarray
    weights: np.ndarray


def synthetic_profiles(con: duckdb.DuckDBPyConnection, facts: ReleaseFacts) -> SyntheticProfiles:
    """The distinct synthetic rows of the release (one GROUP BY over its synthetic records)."""
    import polars as pl

    names = [c.name for c in facts.columns]
    select = ", ".join(sql_identifier(n) for n in names)
    relation = con.sql(f"SELECT {select}, count(*) AS __weight FROM synthetic GROUP BY ALL ORDER BY ALL NULLS FIRST")
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow  # renamed in DuckDB 2
    frame = pl.from_arrow(fetch())
    assert isinstance(frame, pl.DataFrame)
    cells_of, codes = [], np.zeros((frame.height, len(names)), dtype=np.int64)
    for j, name in enumerate(names):
        series = frame.get_column(name).cast(pl.String)
        cells = sorted(series.drop_nulls().unique().to_list())
        lookup = pl.Series(cells, dtype=pl.String)
        code = series.replace_strict(lookup, pl.Series(np.arange(1, len(cells) + 1)), default=0, return_dtype=pl.Int64)
        codes[:, j] = code.fill_null(0).to_numpy()
        cells_of.append(cells)
    return SyntheticProfiles(cells_of, codes, frame.get_column("__weight").to_numpy().astype(np.int64))


def profile_size(profiles: SyntheticProfiles) -> int:
    """The bytes the distinct synthetic rows take in the page (base64 of their codes and weights)."""
    if not profiles.cells:
        return 0
    widths = [_width(len(cells) + 1) for cells in profiles.cells]
    top = int(profiles.weights.max()) if len(profiles.weights) else 0
    return math.ceil(len(profiles.weights) * (sum(widths) + _width(top)) * 4 / 3)


def embedded_records(facts: ReleaseFacts, profiles: SyntheticProfiles) -> dict[str, Any]:
    """The synthetic records as distinct dictionary-encoded rows with their weights."""
    codes = profiles.codes
    return {
        "rows": int(codes.shape[0]),
        "cells": [cell_parts(column, c) for column, c in zip(facts.columns, profiles.cells, strict=True)],
        "codes": [encode_array(codes[:, j]) for j in range(codes.shape[1])],
        "weights": encode_array(profiles.weights),
    }


def encode_combinations(keys: list[tuple[int, ...]], counts: list[float], width: int) -> dict[str, Any]:
    """Combinations of attribute ids (sorted, padded to `width` with −1 → the largest value) and their counts."""
    ids = np.full((len(keys), max(width, 1)), -1, dtype=np.int64)
    for r, key in enumerate(keys):
        ids[r, : len(key)] = key
    pad = int(ids.max()) + 1 if ids.size else 0
    ids[ids < 0] = pad
    return {
        "width": max(width, 1),
        "pad": pad,
        "ids": encode_array(ids.ravel()),
        "counts": encode_array(np.asarray(counts)),
    }


def released_combinations(con: duckdb.DuckDBPyConnection, facts: ReleaseFacts) -> dict[str, Any]:
    """Every released combination as sorted attribute ids (the page's numbering) and its released count."""
    offsets = facts.attribute_offsets()
    tests: dict[tuple[str, str], int] = {}
    for column, offset in zip(facts.columns, offsets, strict=True):
        for i in range(len(column.values)):
            test = column.aggregate_test(i)
            if test is not None:
                tests[test] = offset + i
    used = sorted({c for c, _ in tests})
    if not used:
        return encode_combinations([], [], facts.reporting_length)
    select = ", ".join(sql_identifier(c) for c in used)
    rows = con.execute(f'SELECT {select}, "count" FROM aggregates ORDER BY ALL').fetchall()
    keys, counts = [], []
    for row in rows:
        ids = [tests.get((c, v), -1) for c, v in zip(used, row[:-1], strict=True) if v is not None]
        if -1 in ids:  # a value the page does not list (cannot happen: values include every released one)
            continue
        keys.append(tuple(sorted(ids)))
        counts.append(float(row[-1]))
    width = max([len(k) for k in keys] + [facts.reporting_length, 1])
    return encode_combinations(keys, counts, width)
