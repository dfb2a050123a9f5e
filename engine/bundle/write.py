"""Writing a release: the reference's aggregates TSV, Parquet, and a DuckDB file SQL users can query.

Only what is safe to publish goes here. In particular the attribute dictionary is *not* written: it lists every
value seen in the sensitive data, rare ones included. A multi-value part becomes a column only when some released
combination uses it. Outputs are written into a temporary folder and renamed into place when complete, so a
failed run never leaves a half-written release.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl

from sdsynth._utils.duckdb_files import connect_writable, sql_identifier, sql_literal
from sdsynth._version import __version__
from sdsynth.bundle.codebook import public_codebook
from sdsynth.bundle.comments import comment_release
from sdsynth.bundle.database import RELEASE_DB
from sdsynth.protect.aggregates import Aggregates
from sdsynth.read.escape import unescape
from sdsynth.schema.model import Schema

AGGREGATES_TSV = "aggregates.tsv"
AGGREGATES_PARQUET = "aggregates.parquet"


# ------------------------------------------------------------------------------------------------------ TSV / Parquet
def aggregates_sorted_frame(aggs: Aggregates) -> pl.DataFrame:
    """Keys and counts in the reference's order: length ascending, count descending, then key (docs/method.md, "File
    formats")."""
    return pl.DataFrame(
        {"key": aggs.key_strings(), "length": aggs.lengths.astype(np.int32), "count": aggs.counts},
        schema={"key": pl.String, "length": pl.Int32, "count": pl.Int64},
    ).sort(["length", "count", "key"], descending=[False, True, False])


def write_aggregates_tsv(aggs: Aggregates, path: Path, delimiter: str = "\t") -> None:
    """The reference's aggregates file: header, `record_count`, then one `key<TAB>count` line per combination."""
    frame = aggregates_sorted_frame(aggs)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(f"selections{delimiter}protected_count\n")
        fh.write(f"record_count{delimiter}{aggs.record_count}\n")
        if frame.height:
            frame.select(
                pl.concat_str([pl.col("key"), pl.col("count").cast(pl.String)], separator=delimiter)
            ).write_csv(fh, include_header=False, quote_style="never")


def aggregates_wide_frame(aggs: Aggregates) -> pl.DataFrame:
    """One VARCHAR column per (expanded) column, NULL where the column is not in the combination; length, count."""
    attrs = aggs.attributes
    ids = aggs.ids()
    n = ids.shape[0]
    n_columns = len(attrs.columns)
    in_column = np.full((n, n_columns), -1, dtype=np.int64)
    rows = np.arange(n)
    for d in range(ids.shape[1]):
        present = ids[:, d] >= 0
        a = ids[present, d]
        in_column[rows[present], attrs.column_of[a]] = a
    used = (in_column >= 0).any(axis=0)
    names = attrs.display_column_names()
    values = pl.Series("v", [*attrs.display_values(), None], dtype=pl.String)
    missing = len(values) - 1
    series = []
    for c, col in enumerate(attrs.columns):
        if col.is_part and not used[c]:
            continue  # a part seen only in suppressed combinations must not even be named
        codes = in_column[:, c]
        series.append(values.gather(np.where(codes >= 0, codes, missing)).alias(names[c]))
    frame = pl.DataFrame(series)
    return frame.with_columns(
        pl.Series("length", aggs.lengths.astype(np.int32)), pl.Series("count", aggs.counts.astype(np.int64))
    ).sort(["length", "count"], descending=[False, True], maintain_order=True)


def source_column_sql(aggs: Aggregates, available: list[str]) -> list[str]:
    """SQL select items that show multi-value parts under their source column (parts re-joined)."""
    attrs = aggs.attributes
    items: list[str] = []
    for position, source in enumerate(attrs.sources):
        name = unescape(source.name)
        if not source.is_multi_value:
            items.append(sql_identifier(name))
            continue
        parts = [c for c in attrs.columns if c.source_position == position and unescape(c.name) in available]
        if not parts:
            items.append(f"CAST(NULL AS VARCHAR) AS {sql_identifier(name)}")
            continue
        delim = (source.delimiter or ";").replace("'", "''")
        pieces = ", ".join(
            f"CASE WHEN {sql_identifier(unescape(p.name))} IS NOT NULL THEN {sql_literal(unescape(p.part or ''))} END"
            for p in parts
        )
        items.append(f"NULLIF(concat_ws('{delim}', {pieces}), '') AS {sql_identifier(name)}")
    return items


# ------------------------------------------------------------------------------------------------------------ DuckDB
def release_date() -> str:
    """The one timestamp a public file carries: the UTC date, so that times of day (and the gap between stages,
    which tells how long the private evaluation took) are never published."""
    return dt.datetime.now(dt.UTC).date().isoformat()


def release_info_values(
    aggs: Aggregates, extra: Mapping[str, Any] | None = None, created_at: str | None = None
) -> dict[str, Any]:
    """Every parameter of the release, with its Python type (`release_info` holds them as text)."""
    info: dict[str, Any] = {
        "software": f"sdsynth {__version__}",
        "created_at": created_at or release_date(),
        "mode": aggs.mode,
        "reporting_length": aggs.reporting_length,
        "record_count": aggs.record_count,
        "released_combinations": aggs.n_combinations,
    }
    info.update(aggs.parameters)
    # the parameters hold the length asked for; the release holds combinations up to the one it reached (min(R, W)
    # under DP), which readers of the release need
    asked = info.get("reporting_length")
    info["reporting_length"] = aggs.reporting_length
    if asked != aggs.reporting_length:
        info["reporting_length_requested"] = asked
    if extra:
        info.update(extra)
    return info


def release_info_rows(
    aggs: Aggregates, extra: Mapping[str, Any] | None = None, created_at: str | None = None
) -> list[tuple[str, str]]:
    """`release_info`'s rows: key, value as text (JSON for anything but text)."""
    return [(k, _as_text(v)) for k, v in release_info_values(aggs, extra, created_at).items()]


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _sql_type(value: Any) -> str:
    """The SQL type of a parameter in `release_parameters`."""
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return "BIGINT"
    if isinstance(value, int | float):
        return "DOUBLE"
    return "VARCHAR"


def release_parameters_sql(info: Mapping[str, Any]) -> str:
    """A one-row view of `release_info` with one typed column per key, read from the text table (one source of
    truth): `SELECT epsilon, delta FROM release_parameters`."""
    items = []
    for key, value in info.items():
        text = f"(SELECT value FROM release_info WHERE key = {sql_literal(key)})"
        cast = "CAST(NULL AS VARCHAR)" if value is None else f"CAST({text} AS {_sql_type(value)})"
        items.append(f"{cast} AS {sql_identifier(key)}")
    return "CREATE VIEW release_parameters AS SELECT " + ", ".join(items)


def release_columns_frame(aggs: Aggregates, available: list[str]) -> pl.DataFrame:
    """How the released columns map to the data's columns (so a release can be read back and re-joined).

    Rows and positions come from what is public only: the input's planned columns and the released columns (a
    multi-value part is listed once a released combination uses it). A multi-value column with no released part
    keeps a row with an empty `column`, so no record can add, remove or shift a row."""
    attrs = aggs.attributes
    rows = []
    for position, source in enumerate(attrs.sources):
        columns = [c for c in attrs.columns if c.source_position == position and unescape(c.name) in available]
        if source.is_multi_value and not columns:
            rows.append({"column": None, "source_column": unescape(source.name), "part": None,
                         "delimiter": source.delimiter})  # fmt: skip
        for col in columns:
            rows.append(
                {
                    "column": unescape(col.name),
                    "source_column": unescape(col.source),
                    "part": unescape(col.part) if col.part is not None else None,
                    "delimiter": col.delimiter,
                }
            )
    schema = {"column": pl.String, "source_column": pl.String, "part": pl.String, "delimiter": pl.String}
    frame = pl.DataFrame(rows, schema=schema).with_row_index("position")
    return frame.select(*schema, pl.col("position").cast(pl.Int32))


def _create_table(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame | Path, order_by: str = "") -> None:
    """A table from a frame, or from a Parquet file (streamed by DuckDB, for tables larger than memory)."""
    if isinstance(frame, Path):
        con.execute(f"CREATE TABLE {sql_identifier(name)} AS SELECT * FROM read_parquet(?) {order_by}", [str(frame)])
        return
    con.register("incoming_frame", frame.to_arrow())
    con.execute(f"CREATE TABLE {sql_identifier(name)} AS SELECT * FROM incoming_frame {order_by}")
    con.unregister("incoming_frame")


def write_duckdb(
    path: Path,
    aggs: Aggregates,
    info_extra: Mapping[str, Any] | None = None,
    tables: Mapping[str, pl.DataFrame | Path] | None = None,
    created_at: str | None = None,
    codebook: Schema | None = None,
) -> None:
    """The release database: `aggregates`, `aggregates_by_source_column`, `release_info` (and typed,
    `release_parameters`), `release_levels`, `release_columns`, and any extra released tables (for example
    `synthetic`), every table and column commented (data columns from the public `codebook`). Written in a storage
    format DuckDB ≥ 1.1 reads."""
    wide = aggregates_wide_frame(aggs)
    available = [c for c in wide.columns if c not in ("length", "count")]
    con = connect_writable(path)
    try:
        con.execute("BEGIN TRANSACTION")  # one commit for the whole file, not one per statement and comment
        _create_table(con, "aggregates", wide)
        items = source_column_sql(aggs, available)
        con.execute(
            "CREATE VIEW aggregates_by_source_column AS SELECT "
            + ", ".join([*items, '"length"', '"count"'])
            + " FROM aggregates"
        )
        values = release_info_values(aggs, info_extra, created_at)
        info = pl.DataFrame([(k, _as_text(v)) for k, v in values.items()], schema=["key", "value"], orient="row")
        _create_table(con, "release_info", info)
        con.execute(release_parameters_sql(values))
        levels = pl.DataFrame(aggs.levels) if aggs.levels else pl.DataFrame({"length": []}, schema={"length": pl.Int32})
        _create_table(con, "release_levels", levels, "ORDER BY length")
        released_columns = release_columns_frame(aggs, available)
        _create_table(con, "release_columns", released_columns, "ORDER BY position")
        if aggs.mode == "dp" and "noise_sd" in levels.columns:
            # the noise added at each length (before post-processing) and a 95 % margin of error from it
            con.execute(
                "CREATE VIEW aggregates_with_error AS SELECT a.*, l.noise_sd, round(1.96 * l.noise_sd, 1) AS "
                "margin_of_error_95 FROM aggregates a JOIN release_levels l USING (length)"
            )
        elif "resolution" in levels.columns:
            # counts were rounded down to a multiple of k: the true count lies in [count, count + k − 1]
            con.execute(
                "CREATE VIEW aggregates_with_error AS SELECT a.*, a.count AS lower_bound, a.count + l.resolution - 1 "
                "AS upper_bound FROM aggregates a JOIN release_levels l USING (length)"
            )
        for name, frame in (tables or {}).items():
            _create_table(con, name, frame)
        comment_release(con, codebook, released_columns)
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    finally:
        con.close()


def write_aggregates_release(
    aggs: Aggregates,
    out_dir: Path,
    info_extra: Mapping[str, Any] | None = None,
    tables: Mapping[str, pl.DataFrame | Path] | None = None,
    created_at: str | None = None,
    schema: Schema | None = None,
) -> list[Path]:
    """Write `aggregates.tsv`, `aggregates.parquet` and `release.duckdb` into an (already temporary) folder; the
    database's comments describe the data columns from the public codebook of `schema`. With synthetic records
    (`tables["synthetic"]`), also `explore.html`, the explorer page, built from the database just written."""
    tsv = out_dir / AGGREGATES_TSV
    write_aggregates_tsv(aggs, tsv)
    parquet = out_dir / AGGREGATES_PARQUET
    aggregates_wide_frame(aggs).write_parquet(parquet)
    db = out_dir / RELEASE_DB
    write_duckdb(db, aggs, info_extra, tables, created_at, public_codebook(aggs, schema))
    if "synthetic" not in (tables or {}):
        return [tsv, parquet, db]
    return [tsv, parquet, db, write_explorer_page(out_dir)]


def write_explorer_page(out_dir: Path) -> Path:
    """`explore.html` from the release database in `out_dir` (public files only: post-processing)."""
    from sdsynth.bundle.database import open_release_readonly
    from sdsynth.explore import EXPLORE_HTML, build_page

    con = open_release_readonly(out_dir / RELEASE_DB)
    try:
        page = build_page(con)
    finally:
        con.close()
    path = out_dir / EXPLORE_HTML
    path.write_text(page, encoding="utf-8")
    return path
