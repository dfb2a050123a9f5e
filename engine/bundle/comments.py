"""`COMMENT ON` for the release database, so SQL users (and tools that show catalog comments: DBeaver, DuckDB's
`duckdb_columns()`, `.schema`) learn what each table and column holds without the docs.

Data columns take the description of their column in the public codebook (what a person wrote in the schema,
never anything drafted from the data); a multi-value part names its value and the column it comes from.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import polars as pl

from sdsynth._utils.duckdb_files import sql_identifier, sql_literal
from sdsynth.schema.model import Schema

TABLES: dict[str, str] = {
    "aggregates": (
        "Released counts of attribute combinations: one column per released data column or multi-value part (NULL: "
        "not in the combination), the combination's length and its released count. Privacy parameters: release_info."
    ),
    "aggregates_by_source_column": "aggregates with multi-value parts joined back under their data column",
    "aggregates_with_error": (
        "aggregates with their uncertainty: under DP the noise SD of the length and a 95 % margin of error; under "
        "k-anonymity the interval [lower_bound, upper_bound] holding the true count"
    ),
    "release_info": "Parameters of the release, as text (key, value); release_parameters has them typed in one row",
    "release_parameters": (
        "release_info as one row, one typed column per key: numbers as numbers, booleans as booleans, lists and "
        "mappings as JSON text"
    ),
    "release_levels": "Per combination length: the protection's parameters and the number of released combinations",
    "release_columns": (
        "How the released columns map to the data's columns: a multi-value part is source_column_part; positions "
        "come from public information only"
    ),
    "synthetic": (
        "Synthetic records made from the release (post-processing): one column per data column, multi-value parts "
        "joined by the column's delimiter. For counts of up to reporting_length attributes, aggregates is exact "
        "where this table is sampled"
    ),
    "evaluation": "The synthetic records measured against the released aggregates (no sensitive data): metric, value",
}

FIXED_COLUMNS: dict[str, dict[str, str]] = {
    "aggregates": {
        "length": "Number of attributes in the combination",
        "count": "Released count (DP: noisy and post-processed; k-anonymity: rounded down to a multiple of k)",
    },
    "release_info": {"key": "Parameter name", "value": "Parameter value as text (JSON for lists and mappings)"},
    "release_columns": {
        "column": "Column of aggregates (NULL for a multi-value column none of whose parts is released)",
        "source_column": "The data's column",
        "part": "The multi-value part this column stands for (NULL for an ordinary column)",
        "delimiter": "Delimiter joining the parts of a multi-value cell",
        "position": "Position of the data column, from the schema and the released columns only",
    },
    "release_levels": {
        "length": "Combination length",
        "sigma": "DP: σ of the discrete Gaussian for one unit of sensitivity at this length",
        "sensitivity": "DP: Δ, the contribution bound (combinations counted per record at this length)",
        "noise_sd": "DP: standard deviation of the noise added to each count of this length (σ·√Δ)",
        "threshold": "DP: noisy counts below this are not released",
        "declared_threshold": (
            "DP, length 1: the threshold of the values of columns whose schema declares every value (a public "
            "domain); `threshold` applies to the other columns' values"
        ),
        "percentile_candidates": "DP: size of the public range the contribution bound was chosen from",
        "candidates": "DP: combinations of this length proposed from released shorter ones",
        "resolution": "k-anonymity: k",
        "released_combinations": "Number of released combinations of this length",
    },
    "evaluation": {"metric": 'Metric name (docs/method.md, "Evaluation")', "value": "Its value"},
    "aggregates_with_error": {
        "noise_sd": "DP: standard deviation of the noise added to counts of this length (before post-processing)",
        "margin_of_error_95": "DP: 1.96 × noise_sd, the half-width of a 95 % interval around the count",
        "lower_bound": "k-anonymity: the true count is at least this (the released count)",
        "upper_bound": "k-anonymity: the true count is at most this (count + k − 1)",
    },
}


def comment_release(con: duckdb.DuckDBPyConnection, codebook: Schema | None, released_columns: pl.DataFrame) -> None:
    """Comment every table and view of the release, their fixed columns, and the data columns of `aggregates`,
    `aggregates_by_source_column` and `synthetic` (`released_columns`: the release_columns frame)."""
    relations = {
        name: kind
        for name, kind in con.execute(
            "SELECT table_name, 'TABLE' FROM duckdb_tables() UNION ALL "
            "SELECT view_name, 'VIEW' FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
    }
    columns = _relation_columns(con)
    by_source = _source_descriptions(codebook)
    of_column = {
        row["column"]: (row["source_column"], row["part"])
        for row in released_columns.iter_rows(named=True)
        if row["column"] is not None
    }
    for name, kind in relations.items():
        if name in TABLES:
            con.execute(f"COMMENT ON {kind} {sql_identifier(name)} IS {sql_literal(TABLES[name])}")
        described = dict(FIXED_COLUMNS.get(name, {}))
        if name in ("aggregates", "aggregates_with_error"):
            described |= FIXED_COLUMNS["aggregates"]
            described |= {c: _part_text(*of_column[c], by_source) for c in columns.get(name, ()) if c in of_column}
        elif name in ("aggregates_by_source_column", "synthetic"):
            described |= FIXED_COLUMNS["aggregates"] if name != "synthetic" else {}
            described |= {c: by_source[c] for c in columns.get(name, ()) if by_source.get(c)}
        for column, text in described.items():
            if column in columns.get(name, ()) and text:
                con.execute(f"COMMENT ON COLUMN {sql_identifier(name)}.{sql_identifier(column)} IS {sql_literal(text)}")


def _relation_columns(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    rows = con.execute("SELECT table_name, column_name FROM duckdb_columns() WHERE NOT internal").fetchall()
    for table, column in rows:
        out.setdefault(table, set()).add(column)
    return out


def _source_descriptions(codebook: Schema | None) -> Mapping[str, str]:
    return {} if codebook is None else {c.name: c.description for c in codebook.columns}


def _part_text(source: str, part: str | None, by_source: Mapping[str, str]) -> str:
    description = by_source.get(source, "")
    if part is None:
        return description
    head = f"Part {part!r} of the multi-value column {source}"
    return f"{head}: {description}" if description else head
