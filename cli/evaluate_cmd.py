"""`sdsynth evaluate`: synthetic data against sensitive data (private), with a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._build import ingest_options, run_context
from ._common import err_console, handle_errors
from ._options import INPUT, OverwriteOpt, QuietOpt, ReportingLengthOpt, ResolutionOpt, with_options


@handle_errors
@with_options(INPUT)
def evaluate(
    sensitive: Annotated[Path, typer.Option("--sensitive", help="The sensitive table (CSV, TSV or Parquet).")],
    synthetic: Annotated[Path, typer.Option("--synthetic", help="The synthetic table (as written by sdsynth).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the evaluation (private material).")],
    aggregates: Annotated[
        Path | None,
        typer.Option("--aggregates", help="A release folder: also compare the synthetic data with its aggregates."),
    ] = None,
    reporting_length: ReportingLengthOpt = 3,
    resolution: ResolutionOpt = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
    *,
    values: dict[str, Any],
) -> None:
    """Evaluate synthetic data against the sensitive data: every metric of SDS (preservation by length and count,
    suppressed and fabricated combinations, errors, leakage of rare combinations), marginal TVDs, the NIST k-marginal
    score with its subsample baseline, propensity MSE and unique exact matches.

    Writes OUT/evaluation.json, OUT/evaluation_details/*.parquet (every headline number can be recomputed from them)
    and OUT/report.html. All of it is computed from the sensitive data: keep it private (written readable by you
    only). With --aggregates, also OUT/aggregates_evaluation.json and OUT/aggregates_report.html (synthetic against
    the released aggregates).
    """
    from sdsynth.jobs.evaluate import run_evaluate

    with run_context(values) as ctx:
        result = run_evaluate(sensitive, synthetic, ingest_options(values), out, reporting_length, resolution,
                              aggregates, overwrite, ctx)  # fmt: skip
    if quiet:
        return
    s = result.private.summary
    pct = s["subsample_equivalent_pct"]
    like = "below a 1 % sample of the real data" if not pct else f"like a {pct:.0f} % sample of the real data"
    err_console.print(
        f"k-marginal {s['k_marginal']:.0f} ({like}); mean TVD 1/2/3-way {s.get('mean_tvd_1', 0):.3f}/"
        f"{s.get('mean_tvd_2', 0):.3f}/{s.get('mean_tvd_3', 0):.3f}; wrote {out}/report.html (private)",
        markup=False,
    )
    for warning in result.private.warnings:
        err_console.print(f"warning: {warning}", markup=False)
