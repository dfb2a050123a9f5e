"""`sdsynth query`: SQL over a release."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import err_console, handle_errors, out_console


class OutputFormat(enum.StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@handle_errors
def query(
    release: Annotated[Path, typer.Argument(help="Release folder (or its release.duckdb file).")],
    sql: Annotated[str, typer.Argument(help='SQL, e.g. "SELECT gender, count FROM aggregates WHERE length = 1"')],
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    max_rows: Annotated[int, typer.Option("--max-rows", min=0, help="Rows shown in table format (0 = all).")] = 100,
) -> None:
    """Run SQL on a release (read-only) and print the result.

    Tables: aggregates (one column per data column, NULL = not in the combination; length; count), synthetic (the
    synthetic records), release_info (key, value: every parameter used), release_levels (per combination length:
    σ, Δ, threshold), release_columns, evaluation (synthetic vs released aggregates). Views: release_parameters
    (release_info as one typed row), aggregates_by_source_column (multi-value parts folded back into their column)
    and aggregates_with_error (DP: each count with its noise standard deviation and 95 % margin of error;
    k-anonymity: the interval holding the true count). Tables and columns carry comments (duckdb_columns()).

    The SQL sees only the release: files (COPY, read_csv, read_parquet, ATTACH), extensions (INSTALL, LOAD) and
    settings (SET, RESET, PRAGMA) are refused with exit code 2.

    In table format, columns that are empty in every shown row are hidden (csv and json show everything).
    """
    import sys

    from sdsynth.bundle.query import query_notes, run_query

    frame = run_query(release, sql)
    if format is OutputFormat.csv:
        sys.stdout.write(frame.write_csv())
    elif format is OutputFormat.json:
        sys.stdout.write(frame.write_json() + "\n")
    else:
        _print_table(frame, max_rows)
    for note in query_notes(release, sql, frame):
        err_console.print(f"note: {note}", markup=False)


def _print_table(frame: Any, max_rows: int) -> None:
    from rich.table import Table

    shown = frame if not max_rows else frame.head(max_rows)
    empty = [c for c in shown.columns if shown.height and shown.get_column(c).null_count() == shown.height]
    table = Table(show_lines=False)
    columns = [c for c in shown.columns if c not in empty]
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in shown.select(columns).iter_rows():
        table.add_row(*[_cell(v) for v in row])
    out_console.print(table)
    if empty:
        err_console.print(f"({len(empty)} columns empty in every row hidden; --format csv shows them)", markup=False)
    if max_rows and frame.height > max_rows:
        err_console.print(f"({frame.height:,} rows, first {max_rows} shown; --max-rows 0 shows all)", markup=False)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)
