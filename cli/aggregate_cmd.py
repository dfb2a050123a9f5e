"""`sdsynth aggregate`: released aggregate counts of attribute combinations (k-anonymous or DP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._build import run_context, settings, the_input
from ._common import err_console, handle_errors
from ._options import (
    DP,
    INPUT,
    LEDGER,
    RUN,
    InputArg,
    OutOpt,
    OverwriteOpt,
    PrivateOutOpt,
    QuietOpt,
    ReleasedLengthOpt,
    ResolutionOpt,
    with_options,
)


@handle_errors
@with_options(DP, LEDGER, INPUT, RUN)
def aggregate(
    input: InputArg = None,
    out: OutOpt = Path("release"),
    reporting_length: ReleasedLengthOpt = None,
    resolution: ResolutionOpt = None,
    private_out: PrivateOutOpt = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
    *,
    values: dict[str, Any],
) -> None:
    """Count every combination of up to R attributes and release the counts, k-anonymous or (--dp) DP.

    Writes OUT/aggregates.tsv (the reference's format), OUT/aggregates.parquet and OUT/release.duckdb (tables
    aggregates, release_info, release_levels; view aggregates_by_source_column). Query it with `sdsynth query OUT`.
    With --dp every count, and the record count, carries noise; release_info and release_levels record every
    privacy parameter used (ε, δ, ρ, σ and contribution bound per length, thresholds).
    """
    from sdsynth.jobs.aggregate import run_aggregate

    job = settings(values)
    data, options = the_input(input, values)
    with run_context(values) as ctx:
        result = run_aggregate(data, options, job, ctx)
    if quiet:
        return
    aggs = result.aggregates
    by_len = ", ".join(f"length {lvl['length']}: {lvl['released_combinations']:,}" for lvl in aggs.levels)
    protection = f"k = {job.k}" if job.dp is None else f"ε = {job.dp.epsilon}, noisy"
    err_console.print(f"released {aggs.n_combinations:,} combinations ({by_len}); record count as released "
                      f"{aggs.record_count:,} ({protection})", markup=False)  # fmt: skip
    err_console.print(f'wrote {out}/ — try: sdsynth query {out} "SELECT * FROM aggregates LIMIT 10"', markup=False)
    if private_out is not None:
        err_console.print(f"wrote private statistics to {private_out}/ (do not publish)", markup=False)
