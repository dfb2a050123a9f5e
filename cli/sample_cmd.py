"""`sdsynth sample-data`: realistic fictitious data for trying sdsynth out and for benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import OverwriteOpt, QuietOpt, err_console, handle_errors


@handle_errors
def sample_data(
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write: .csv, .tsv or .parquet.")],
    rows: Annotated[int, typer.Option("--rows", "-n", min=1, help="Number of records.")] = 17_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed: the same seed gives the same data.")] = 20_240_329,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Generate fictitious, correlated records in the CTDC victim-perpetrator layout (schema ctdc-victim-perpetrator).

    Latent victim profiles, skewed frequencies, 5-40 % missing cells per column, multi-value perpetrator cells and
    rare combinations. The output format follows the file extension.
    """
    import time

    from sdsynth.engine.release import atomic_file
    from sdsynth.engine.sample_data import generate_ctdc, write_table

    start = time.perf_counter()
    frame = generate_ctdc(rows, seed)
    with atomic_file(out, overwrite=overwrite) as tmp:
        write_table(frame, tmp, suffix=out.suffix)
    if not quiet:
        err_console.print(f"wrote {rows:,} rows to {out} in {time.perf_counter() - start:.1f} s")
