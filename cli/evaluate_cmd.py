"""`sdsynth evaluate`: synthetic data against sensitive data (private), with a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import (
    DelimiterOpt,
    MissingOpt,
    MultiValueLegacyOpt,
    MultiValueOpt,
    OverwriteOpt,
    QuietOpt,
    RichProgress,
    SchemaOpt,
    SensitiveZerosOpt,
    SubjectIdOpt,
    UseColumnsOpt,
    err_console,
    handle_errors,
    ingest_options,
)
from .aggregate_cmd import ReportingLengthOpt, ResolutionOpt


@handle_errors
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
    schema: SchemaOpt = None,
    use_columns: UseColumnsOpt = None,
    sensitive_zeros: SensitiveZerosOpt = None,
    multi_value: MultiValueOpt = None,
    multi_value_columns: MultiValueLegacyOpt = None,
    subject_id: SubjectIdOpt = None,
    missing_values: MissingOpt = None,
    delimiter: DelimiterOpt = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Evaluate synthetic data against the sensitive data: every metric of SDS (preservation by length and count,
    suppressed and fabricated combinations, errors, leakage of rare combinations), marginal TVDs, the NIST k-marginal
    score with its subsample baseline, propensity MSE and unique exact matches.

    Writes OUT/evaluation.json, OUT/evaluation_details/*.parquet (every headline number can be recomputed from them)
    and OUT/report.html. All of it is computed from the sensitive data: keep it private. With --aggregates, also
    OUT/aggregates_evaluation.json and OUT/aggregates_report.html (synthetic against the released aggregates).
    """
    from sdsynth._utils.files import atomic_directory, check_output_dir
    from sdsynth.bundle.read import load_release
    from sdsynth.evaluation.evaluate import evaluate_private, evaluate_public, write_evaluation
    from sdsynth.evaluation.report import render_report

    check_output_dir(out, overwrite, [sensitive, synthetic, aggregates])
    options = ingest_options(
        schema, use_columns, sensitive_zeros, multi_value, multi_value_columns, subject_id, 0, missing_values,
        delimiter, sensitive,
    )  # fmt: skip
    k = resolution if resolution is not None else 10
    progress = RichProgress(quiet)
    released = load_release(aggregates) if aggregates is not None else None
    privacy = dict(released.parameters) if released is not None else {}
    with atomic_directory(out, overwrite, private=True, inputs=[sensitive, synthetic, aggregates]) as tmp:
        evaluation = evaluate_private(sensitive, synthetic, options, reporting_length, k, privacy, progress)
        write_evaluation(evaluation, Path(tmp))
        (Path(tmp) / "report.html").write_text(render_report(evaluation, "Evaluation (private)"), encoding="utf-8")
        if released is not None:
            from sdsynth.encode.tables import encode
            from sdsynth.evaluation.evaluate import synthetic_side_options

            synthetic_records = encode(synthetic, synthetic_side_options(options))
            public = evaluate_public(released, synthetic_records, privacy)
            write_evaluation(public, Path(tmp), prefix="aggregates_")
            (Path(tmp) / "aggregates_report.html").write_text(
                render_report(public, "Synthetic data against the released aggregates"), encoding="utf-8"
            )
    if not quiet:
        s = evaluation.summary
        pct = s["subsample_equivalent_pct"]
        like = "below a 1 % sample of the real data" if not pct else f"like a {pct:.0f} % sample of the real data"
        err_console.print(
            f"k-marginal {s['k_marginal']:.0f} ({like}); mean TVD "
            f"1/2/3-way {s.get('mean_tvd_1', 0):.3f}/{s.get('mean_tvd_2', 0):.3f}/{s.get('mean_tvd_3', 0):.3f}; "
            f"wrote {out}/report.html (private)"
        )
        for warning in evaluation.warnings:
            err_console.print(f"warning: {warning}")
