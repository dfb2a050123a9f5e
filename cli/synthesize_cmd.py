"""`sdsynth synthesize`: synthetic records (and the aggregates of the same run) as one release."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._build import run_context, settings, the_input
from ._common import err_console, handle_errors
from ._options import (
    DP,
    INPUT,
    LAW,
    LEDGER,
    REFERENCE_LAW,
    RUN,
    InputArg,
    MethodOpt,
    OutOpt,
    OverwriteOpt,
    PrivateOutOpt,
    QuietOpt,
    RecordsOpt,
    ReleasedLengthOpt,
    ResolutionOpt,
    SeedOpt,
    with_options,
)

AggregatesOpt = Annotated[
    Path | None,
    typer.Option("--aggregates", help="Synthesize from a published release folder (aggregate-seeded; no sensitive "
                 "input at all)."),
]  # fmt: skip
RatioOpt = Annotated[
    float | None,
    typer.Option("--oversampling-ratio", help="value-seeded: refuse attributes that would push a released "
                 "combination above its count × (1 + ratio)."),
]  # fmt: skip
TriesOpt = Annotated[
    int, typer.Option("--oversampling-tries", min=1, help="value-seeded: refusals allowed per record.")
]


@handle_errors
@with_options(LAW, REFERENCE_LAW, DP, LEDGER, INPUT, RUN)
def synthesize(
    input: InputArg = None,
    out: OutOpt = Path("synthetic"),
    method: MethodOpt = None,
    resolution: ResolutionOpt = None,
    reporting_length: ReleasedLengthOpt = None,
    seed: SeedOpt = None,
    records: RecordsOpt = None,
    aggregates: AggregatesOpt = None,
    oversampling_ratio: RatioOpt = None,
    oversampling_tries: TriesOpt = 1,
    private_out: PrivateOutOpt = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
    *,
    values: dict[str, Any],
) -> None:
    """Synthesize records: k-anonymous (unseeded, row-seeded, value-seeded) or from released aggregates
    (aggregate-seeded: k-anonymous, DP with --dp, or an existing release with --aggregates).

    Writes OUT/synthetic.csv (multi-value cells re-joined, empty cells empty), OUT/synthetic.parquet, and the
    aggregates of the same run (aggregates.tsv, aggregates.parquet); OUT/release.duckdb holds tables synthetic,
    aggregates, release_info, release_levels and release_columns. --seed makes synthesis reproducible; DP noise
    never depends on it.
    """
    from sdsynth.jobs.synthesize import run_synthesize

    job = settings(values)
    data, options = (input, None) if aggregates is not None else the_input(input, values)
    with run_context(values) as ctx:
        result = run_synthesize(data, options, job, ctx)
    if quiet:
        return
    protection = (f"ε = {job.dp.epsilon}" if job.dp else f"from {aggregates}" if aggregates is not None
                  else f"k = {job.k}")  # fmt: skip
    err_console.print(f"synthesized {result.synthetic_records:,} records ({job.method}, {protection}); released "
                      f"{result.aggregates.n_combinations:,} aggregate combinations", markup=False)  # fmt: skip
    err_console.print(f'wrote {out}/ — try: sdsynth query {out} "SELECT * FROM synthetic LIMIT 10"', markup=False)
