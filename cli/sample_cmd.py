"""`sdsynth sample-data`: realistic fictitious data for trying sdsynth out and for benchmarks."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ._common import err_console, fail, handle_errors
from ._options import OverwriteOpt, QuietOpt


class SampleFormat(str, Enum):
    ctdc = "ctdc"
    htcds = "htcds"


@handle_errors
def sample_data(
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="ctdc: file to write (.csv, .tsv or .parquet); htcds: folder for the four tables."
        ),
    ],
    rows: Annotated[
        int, typer.Option("--rows", "-n", min=1, help="Number of records (htcds: number of victims).")
    ] = 17_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed: the same seed gives the same data.")] = 20_240_329,
    format: Annotated[
        SampleFormat,
        typer.Option(
            "--format",
            help="ctdc: one row per victim in the CTDC victim-perpetrator layout; htcds: a case-management export "
            "(persons, victims, perpetrators, cases) for `sdsynth prepare htcds`.",
        ),
    ] = SampleFormat.ctdc,
    parquet: Annotated[bool, typer.Option("--parquet", help="htcds: write Parquet files instead of CSV.")] = False,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Generate fictitious, correlated records: CTDC victim-perpetrator rows, or an HTCDS case-management export.

    ctdc (schema ctdc-victim-perpetrator): latent victim profiles, skewed frequencies, 5-40 % missing cells per
    column, multi-value perpetrator cells and rare combinations; the output format follows the file extension.
    htcds: persons.csv, victims.csv, perpetrators.csv and cases.csv in OUT, with fictitious names and contacts,
    missing fields, invalid country codes and perpetrators linked to several victims.
    """
    import time

    start = time.perf_counter()
    if format is SampleFormat.htcds:
        from sdsynth.htcds.sample import generate_htcds, write_htcds

        paths = write_htcds(generate_htcds(rows, seed), out, parquet=parquet, overwrite=overwrite)
        if not quiet:
            err_console.print(
                f"wrote an HTCDS export of {rows:,} victims to {out}/ ({', '.join(p.name for p in paths)}) in "
                f"{time.perf_counter() - start:.1f} s",
                markup=False,
            )
        return
    if parquet:
        fail("--parquet applies to --format htcds; for ctdc, give --out a .parquet name")

    from sdsynth._utils.files import atomic_file
    from sdsynth.sample_data import write_ctdc

    with atomic_file(out, overwrite=overwrite) as tmp:
        write_ctdc(tmp, rows, seed, suffix=out.suffix)
    if not quiet:
        err_console.print(f"wrote {rows:,} rows to {out} in {time.perf_counter() - start:.1f} s")
