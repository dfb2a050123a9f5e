"""`sdsynth prepare htcds`: from a case-management export to one row per victim, ready for a release."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._build import split_names
from ._common import err_console, fail, handle_errors
from ._options import OverwriteOpt, QuietOpt

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
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Prepared table to write: .csv, .tsv or .parquet (mode 0600).")
    ],
    keep_victim_field: Annotated[
        list[str] | None,
        typer.Option(
            "--keep-victim-field",
            help="Also keep this HTCDS victim picklist (e.g. vic_MethodsOfControl, vic_Vulnerabilities) as a "
            "multi-value column (repeatable). Only the picklists listed in docs/htcds.md are accepted (any other name "
            "is refused with the list); never free text or places. The shipped schema does not list them: pass "
            "--use-columns or extend the schema.",
            metavar="<field>",
            show_default=False,
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Build one row per victim in the CTDC victim-perpetrator layout (schema htcds-victim) from an HTCDS export.

    Victim attributes come from the victim's person and earliest case; the perpetrators linked by the cases are
    folded into the IP_ columns. A person with several victim records (re-trafficked, registered twice) becomes one
    merged row, so that a release protects each person; the command says how many. Names, contact details,
    addresses and free text are never read: the command lists the columns it left out. Ids only join the tables
    and are not written. The output is readable by its owner only (mode 0600).
    """
    import time

    from sdsynth.htcds.prepare import prepare_htcds, write_prepared

    if out.suffix.lower() not in {".csv", ".tsv", ".parquet", ".pq"}:
        fail(f"{out}: the prepared table is written as .csv, .tsv or .parquet; give --out one of these extensions")
    start = time.perf_counter()
    frame, report = prepare_htcds(persons, victims, perpetrators, cases, split_names(keep_victim_field) or ())
    write_prepared(frame, out, overwrite=overwrite)
    if not quiet:
        records = f" from {report.victim_records:,} victim records" if report.victim_records != report.victims else ""
        err_console.print(
            f"prepared {report.victims:,} victims{records} ({report.perpetrators:,} perpetrators, {report.links:,} "
            f"victim-perpetrator links) into {out} (readable by you only) in {time.perf_counter() - start:.1f} s",
            markup=False,
        )
    if report.merged_persons:  # shown even with --quiet: the table has fewer rows than the victims file
        err_console.print(
            f"warning: persons with several victim records: {report.merged_persons:,}; each person's records were "
            "merged into one row, so that a release protects the person (rules: docs/htcds.md)",
            markup=False,
        )
    if quiet:
        return
    for file, dropped in report.dropped.items():
        if dropped:
            err_console.print(f"not read from {file}: {', '.join(dropped)}", markup=False)
    if report.empty_columns:
        err_console.print(f"left empty (no such field in this export): {', '.join(report.empty_columns)}", markup=False)
    for line in report.warnings():
        err_console.print(f"note: {line}", markup=False)
    err_console.print(f"next: sdsynth schema validate {out} --schema htcds-victim", markup=False)
