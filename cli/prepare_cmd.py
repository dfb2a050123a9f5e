"""`sdsynth prepare htcds`: from a case-management export to one row per victim, ready for a release."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import OverwriteOpt, QuietOpt, err_console, fail, handle_errors, split_names

app = typer.Typer(
    help="Turn case-management exports into one table per victim that `release` and `aggregate` read.",
    no_args_is_help=True,
)

_TABLE_HELP = "CSV, Parquet or Excel (.xlsx: pip install 'sdsynth[excel]'), HTCDS field names as headers."


@app.command("htcds")
@handle_errors
def htcds(
    persons: Annotated[Path, typer.Option("--persons", help=f"Persons table (prs_ fields). {_TABLE_HELP}")],
    victims: Annotated[Path, typer.Option("--victims", help="Victims table (Id, PersonId, vic_ fields).")],
    perpetrators: Annotated[
        Path, typer.Option("--perpetrators", help="Perpetrators table (Id, PersonId, per_RoleInProcess).")
    ],
    cases: Annotated[
        Path,
        typer.Option("--cases", help="One row per victim-perpetrator link: VictimId, PerpetratorId, CreatedDate."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Prepared table to write: .csv or .parquet.")],
    keep_victim_field: Annotated[
        list[str] | None,
        typer.Option(
            "--keep-victim-field",
            help="Also keep this victim-context picklist (e.g. vic_MethodsOfControl) as a multi-value column "
            "(repeatable). The shipped schema does not list it: pass --use-columns or extend the schema.",
            show_default=False,
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Build one row per victim in the CTDC victim-perpetrator layout (schema htcds-victim) from an HTCDS export.

    Victim attributes come from the victim's person and earliest case; the perpetrators linked by the cases are
    folded into the IP_ columns. Names, contact details, addresses and free text are never read: the command lists
    the columns it left out. Ids only join the tables and are not written.
    """
    import time

    from sdsynth.engine.htcds import prepare_htcds
    from sdsynth.engine.release import atomic_file
    from sdsynth.engine.sample_data import write_table

    if out.suffix.lower() not in {".csv", ".tsv", ".parquet", ".pq"}:
        fail(f"{out}: the prepared table is written as .csv, .tsv or .parquet; give --out one of these extensions")
    start = time.perf_counter()
    frame, report = prepare_htcds(persons, victims, perpetrators, cases, split_names(keep_victim_field) or ())
    with atomic_file(out, overwrite=overwrite) as tmp:
        write_table(frame, tmp, suffix=out.suffix)
    if quiet:
        return
    err_console.print(
        f"prepared {report.victims:,} victims ({report.perpetrators:,} perpetrators, {report.links:,} "
        f"victim-perpetrator links) into {out} in {time.perf_counter() - start:.1f} s",
        markup=False,
    )
    for file, dropped in report.dropped.items():
        if dropped:
            err_console.print(f"not read from {file}: {', '.join(dropped)}", markup=False)
    if report.empty_columns:
        err_console.print(f"left empty (no such field in this export): {', '.join(report.empty_columns)}", markup=False)
    for line in report.warnings():
        err_console.print(f"note: {line}", markup=False)
    err_console.print(f"next: sdsynth schema validate {out} --schema htcds-victim", markup=False)
