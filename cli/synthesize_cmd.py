"""`sdsynth synthesize`: synthetic records (and the aggregates of the same run) as one release."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from ._common import (
    DelimiterOpt,
    InputArg,
    MissingOpt,
    MultiValueLegacyOpt,
    MultiValueOpt,
    OverwriteOpt,
    QuietOpt,
    RecordLimitOpt,
    RichProgress,
    SchemaOpt,
    SensitiveZerosOpt,
    SubjectIdOpt,
    ThreadsOpt,
    UseColumnsOpt,
    err_console,
    handle_errors,
    ingest_options,
    resolve_input,
)
from .aggregate_cmd import PrivateOutOpt, ReportingLengthOpt, ResolutionOpt


class Method(str, enum.Enum):
    unseeded = "unseeded"
    row_seeded = "row-seeded"
    value_seeded = "value-seeded"


def _method(value: str) -> str:
    key = value.strip().lower().replace("_", "-")
    if key not in {m.value for m in Method}:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(m.value for m in Method)}")
    return key


@handle_errors
def synthesize(
    input: InputArg = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Release folder to write (must not exist).")] = Path(
        "synthetic"
    ),
    method: Annotated[
        str,
        typer.Option(
            "--method",
            "--mode",
            metavar="[" + "|".join(m.value for m in Method) + "]",
            callback=_method,
            help="Synthesis method (spec §4); the reference's spellings (row_seeded, ...) work too.",
        ),
    ] = Method.row_seeded.value,
    resolution: ResolutionOpt = None,
    reporting_length: ReportingLengthOpt = 3,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Makes synthesis reproducible (same seed, same output); default: OS entropy."),
    ] = None,
    oversampling_ratio: Annotated[
        float | None,
        typer.Option(
            "--oversampling-ratio",
            help="value-seeded: refuse attributes that would push a released combination above its count × (1 + "
            "ratio).",
        ),
    ] = None,
    oversampling_tries: Annotated[
        int, typer.Option("--oversampling-tries", min=1, help="value-seeded: refusals allowed per record.")
    ] = 1,
    private_out: PrivateOutOpt = None,
    schema: SchemaOpt = None,
    use_columns: UseColumnsOpt = None,
    sensitive_zeros: SensitiveZerosOpt = None,
    multi_value: MultiValueOpt = None,
    multi_value_columns: MultiValueLegacyOpt = None,
    subject_id: SubjectIdOpt = None,
    record_limit: RecordLimitOpt = 0,
    missing_values: MissingOpt = None,
    delimiter: DelimiterOpt = None,
    threads: ThreadsOpt = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Synthesize records whose every attribute combination matches at least k sensitive records.

    Writes OUT/synthetic.csv (multi-value cells re-joined, empty cells empty), OUT/synthetic.parquet, and the
    k-anonymous aggregates of the same run (aggregates.tsv, aggregates.parquet); OUT/release.duckdb holds tables
    synthetic, aggregates, release_info and release_levels.
    """
    from sdsynth.engine.errors import ParameterError
    from sdsynth.engine.pipeline import run_synthesize
    from sdsynth.engine.release import check_output_dir

    k = resolution if resolution is not None else 10
    if k < 1:
        raise ParameterError(f"--resolution must be at least 1, got {k}")
    if reporting_length < 1:
        raise ParameterError(f"--reporting-length must be at least 1, got {reporting_length}")
    method_choice = Method(method)
    if oversampling_ratio is not None and method_choice is not Method.value_seeded:
        raise ParameterError("--oversampling-ratio applies to --method value-seeded")
    if oversampling_ratio is not None and oversampling_ratio < 0:
        raise ParameterError(f"--oversampling-ratio must be >= 0, got {oversampling_ratio}")
    check_output_dir(out, overwrite)
    if private_out is not None:
        check_output_dir(private_out, overwrite)
    path = resolve_input(input, quiet)
    options = ingest_options(
        schema, use_columns, sensitive_zeros, multi_value, multi_value_columns, subject_id, record_limit,
        missing_values, delimiter, input,
    )  # fmt: skip
    extra = {}
    if method_choice is Method.value_seeded:
        extra = {"oversampling_ratio": oversampling_ratio, "oversampling_tries": oversampling_tries}
    result = run_synthesize(
        path,
        options,
        out,
        method=method_choice.value,
        reporting_length=reporting_length,
        resolution=k,
        seed=seed,
        private_out=private_out,
        overwrite=overwrite,
        n_threads=threads,
        progress=RichProgress(quiet),
        synthesizer_options=extra,
    )
    if not quiet:
        err_console.print(
            f"synthesized {result.synthetic.height:,} records ({method_choice.value}, k = {k}); released "
            f"{result.aggregates.n_combinations:,} aggregate combinations"
        )
        err_console.print(f'wrote {out}/ — try: sdsynth query {out} "SELECT * FROM synthetic LIMIT 10"')
