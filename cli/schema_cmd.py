"""`sdsynth schema infer|validate`: draft a schema from data, check data against a schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._build import ingest_options
from ._common import err_console, handle_errors, out_console
from ._options import (
    SCHEMA_HELP,
    DelimiterOpt,
    DropColumnsOpt,
    MissingOpt,
    MultiValueOpt,
    OverwriteOpt,
    UseColumnsOpt,
)

app = typer.Typer(help="Draft a schema from data, check data against a schema, print a shipped schema.",
                  no_args_is_help=True)  # fmt: skip


@app.command("show")
@handle_errors
def show(
    name: Annotated[str, typer.Argument(help="A shipped schema's name (see --schema in any command), or a file.")],
) -> None:
    """Print a shipped schema, comments included, to copy and edit: `sdsynth schema show adult-uci > my.yaml`."""
    from sdsynth.schema.files import load_schema, schema_text

    load_schema(name)  # a clear error, listing the shipped schemas, for an unknown name or an invalid file
    out_console.print(schema_text(name), end="", markup=False, highlight=False)


@app.command("infer")
@handle_errors
def infer(
    input: Annotated[Path, typer.Argument(help="Table to describe: CSV, TSV or Parquet.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the draft here (default: print it).")] = None,
    name: Annotated[str, typer.Option("--name", help="Name recorded in the schema.")] = "",
    delimiter: DelimiterOpt = None,
    max_rows: Annotated[int, typer.Option("--max-rows", min=1, help="Rows to look at.")] = 1_000_000,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write a draft schema (YAML) from the data: kinds, allowed values, missing tokens, numeric bins.

    The draft lists values seen in the sensitive data (marked `drafted: true`) and bins computed from it (marked
    `inferred: true`): review it, and keep it private (it is written readable by you only). Releases never copy a
    drafted list into their public codebook; remove `drafted: true` once you have checked a list. Bins inferred from
    data leak in DP mode; replace them with public edges.
    """
    from sdsynth._utils.files import atomic_file
    from sdsynth.read.draft import infer_schema

    # named by --name only: the input's file name would travel into every release made with this schema
    schema = infer_schema(input, name=name or "draft", delimiter=delimiter, max_rows=max_rows)
    text = "# Draft schema inferred by `sdsynth schema infer`: review it; it lists values seen in the data.\n"
    text += schema.to_yaml()
    if out is None:
        out_console.print(text, end="", markup=False, highlight=False)
        return
    with atomic_file(out, overwrite=overwrite, private=True) as tmp:
        tmp.write_text(text, encoding="utf-8")
    err_console.print(f"wrote {out} ({len(schema.columns)} columns)")
    identifiers = [c.name for c in schema.columns if not c.use and "identifier" in c.description]
    if identifiers:
        verb = "looks like an identifier" if len(identifiers) == 1 else "look like identifiers"
        err_console.print(f"note: {', '.join(identifiers)} {verb} (a distinct value in half of the rows or more): "
                          "marked `use: false` (dropped)", markup=False)  # fmt: skip
    zeros = [c.name for c in schema.columns if c.sensitive_zeros]
    if zeros:
        err_console.print(f"note: 0 is a value (sensitive_zeros: true), not 'absent', in {', '.join(zeros)}",
                          markup=False)  # fmt: skip
    if schema.inferred_bin_columns:
        err_console.print(
            "note: bins of " + ", ".join(schema.inferred_bin_columns) + " were inferred from the data "
            "(they leak in a DP release: replace them with public edges)"
        )


@app.command("validate")
@handle_errors
def validate(
    input: Annotated[Path, typer.Argument(help="Table to check: CSV, TSV or Parquet.")],
    schema: Annotated[str, typer.Option("--schema", help=SCHEMA_HELP)],
    use_columns: UseColumnsOpt = None,
    drop_columns: DropColumnsOpt = None,
    multi_value: MultiValueOpt = None,
    missing_values: MissingOpt = None,
    delimiter: DelimiterOpt = None,
    max_report: Annotated[
        int,
        typer.Option("--max-report", min=0, help="Print at most this many offending values (0 = all of them)."),
    ] = 20,
) -> None:
    """Check a table against a schema; exit 1 if any cell is not allowed.

    Prints one line per offending value of a column (how many rows hold it, the first rows, the allowed value it most
    likely meant), hints for columns that hold joined values the schema does not declare multi-value, and a count.
    Rows are data rows counted from 1 (the header is not counted).
    """
    from sdsynth.read.validate import validation_report

    options = ingest_options(
        {"schema": schema, "use_columns": use_columns, "drop_columns": drop_columns, "multi_value": multi_value,
         "missing_values": missing_values, "delimiter": delimiter}
    )  # fmt: skip
    report = validation_report(input, options)
    if not report.violations:
        err_console.print(f"{input}: matches schema {schema}", markup=False)
        return
    shown = report.groups if not max_report else report.groups[:max_report]
    for group in shown:
        out_console.print(str(group), markup=False, highlight=False)
    for hint in report.hints:
        out_console.print(f"hint: {hint}", markup=False, highlight=False)
    more = len(report.groups) - len(shown)
    tail = f"; {more:,} more (--max-report 0 lists them all)" if more else ""
    err_console.print(f"{report.violations:,} cell(s) of {report.file} violate schema {schema}: {len(report.groups):,} "
                      f"distinct value(s){tail}", markup=False)  # fmt: skip
    raise typer.Exit(1)
