"""`sdsynth query`: SQL over a release."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from ._common import handle_errors, out_console


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

    Tables: aggregates (one column per data column, NULL = not in the combination; length; count),
    release_info (key, value), release_levels (one row per combination length); view aggregates_by_source_column.
    """
    import sys

    from sdsynth.engine.release import run_query

    frame = run_query(release, sql)
    if format is OutputFormat.csv:
        sys.stdout.write(frame.write_csv())
    elif format is OutputFormat.json:
        sys.stdout.write(frame.write_json() + "\n")
    else:
        from rich.table import Table

        table = Table(show_lines=False)
        for col in frame.columns:
            table.add_column(col, overflow="fold")
        shown = frame if not max_rows else frame.head(max_rows)
        for row in shown.iter_rows():
            table.add_row(*["" if v is None else str(v) for v in row])
        out_console.print(table)
        if max_rows and frame.height > max_rows:
            out_console.print(f"({frame.height:,} rows, first {max_rows} shown; --max-rows 0 shows all)")
