"""`sdsynth synthesize`: synthetic records (and the aggregates of the same run) as one release."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import (
    DelimiterOpt,
    Engine,
    EngineOpt,
    InputArg,
    MissingOpt,
    MultiValueLegacyOpt,
    MultiValueOpt,
    OverwriteOpt,
    QuietOpt,
    RecordLimitOpt,
    RichProgress,
    SchedulerOpt,
    SchemaOpt,
    SensitiveZerosOpt,
    SubjectIdOpt,
    ThreadsOpt,
    UseColumnsOpt,
    WorkersOpt,
    err_console,
    handle_errors,
    ingest_options,
    resolve_input,
)
from ._dp_options import (
    AccuracyOpt,
    BudgetOpt,
    DatasetIdOpt,
    DeltaOpt,
    DpOpt,
    EpsilonOpt,
    FabricationOpt,
    LedgerOpt,
    MaxAttributesOpt,
    PercentileOpt,
    PercentileShareOpt,
    RecordShareOpt,
    SigmaOpt,
    ThresholdOpt,
    ThresholdTypeOpt,
    ThresholdValuesOpt,
    dp_parameters,
    ledger_request,
)
from .aggregate_cmd import PrivateOutOpt, ReportingLengthOpt, ResolutionOpt


class Method(str, enum.Enum):
    unseeded = "unseeded"
    row_seeded = "row-seeded"
    value_seeded = "value-seeded"
    aggregate_seeded = "aggregate-seeded"


class SamplingLaw(str, enum.Enum):
    auto = "auto"
    calibrated = "calibrated"
    reference = "reference"


SamplingLawOpt = Annotated[
    SamplingLaw | None,
    typer.Option(
        "--sampling-law",
        help="aggregate-seeded: calibrated (absence sampled, empty cells and multi-value parts at their released "
        "rates), reference (pac-synth's law, spec §4.9), or auto: the one whose first records fit the 1- and 2-way "
        "tables derived from the released counts better (decided from the aggregates only; see docs/synthesis.md) "
        "[default: auto]",
    ),
]

CoverageOpt = Annotated[
    float | None,
    typer.Option(
        "--coverage",
        help="calibrated law: share of each batch's records (0 to 1) that may be drawn from released combinations "
        "the batch lacks, so that combinations the release counts many times do not vanish: two thirds for records "
        "that each start from one of them and stay dense, the rest for records packed with several, largest released "
        "counts first; more covers more rare combinations at some cost in 1- and 2-way fidelity, 0 turns it off "
        "(docs/synthesis.md, step 7) [default: 0.15]",
    ),
]


def aggregate_seeded_parameters(
    sampling_law: SamplingLaw | None,
    use_synthetic_counts: bool = False,
    weight_selection_percentile: int | None = None,
    aggregate_counts_scale_factor: float | None = None,
    batch_size: int | None = None,
    coverage: float | None = None,
) -> Any:
    """AggregateSeededParameters from the CLI options; the reference law's options are refused with the other law."""
    from sdsynth.errors import ParameterError
    from sdsynth.synth.aggregate_seeded import DEFAULT_SAMPLING_LAW, AggregateSeededParameters

    law = sampling_law.value if sampling_law is not None else DEFAULT_SAMPLING_LAW
    reference_only = {
        "--use-synthetic-counts": use_synthetic_counts or None, "--batch-size": batch_size,
        "--weight-selection-percentile": weight_selection_percentile,
        "--aggregate-counts-scale-factor": aggregate_counts_scale_factor,
    }  # fmt: skip
    used = [k for k, v in reference_only.items() if v is not None]
    if law != "reference" and used:
        raise ParameterError(f"{', '.join(used)} belong to --sampling-law reference (the {law} law has no such option)")
    return AggregateSeededParameters(
        use_synthetic_counts=use_synthetic_counts,
        weight_selection_percentile=95 if weight_selection_percentile is None else weight_selection_percentile,
        aggregate_counts_scale_factor=aggregate_counts_scale_factor,
        sampling_law=law,
        coverage=coverage,
        **({"batch_size": batch_size} if batch_size is not None else {}),
    )


def _records(value: str | None) -> int | str | None:
    if value is None:
        return None
    if value.strip().lower() == "budget":
        return "budget"
    try:
        n = int(value)
    except ValueError:
        raise typer.BadParameter(f"expected a number of records or 'budget', got {value!r}") from None
    if n < 0:
        raise typer.BadParameter("the number of records must be >= 0")
    return n


def _method(value: str) -> str:
    if not value:
        return ""  # chosen later: row-seeded, or aggregate-seeded with --dp / --aggregates
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
            help="Synthesis method (spec §4); the reference's spellings (row_seeded, ...) work too. Default: "
            "row-seeded, or aggregate-seeded with --dp or --aggregates.",
        ),
    ] = "",
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
    aggregates: Annotated[
        Path | None,
        typer.Option(
            "--aggregates",
            help="Synthesize from a published release folder (aggregate-seeded; no sensitive input at all).",
        ),
    ] = None,
    records: Annotated[
        str | None,
        typer.Option(
            "--records",
            "--target-number-of-records",
            callback=_records,
            metavar="N|budget",
            help="aggregate-seeded / unseeded: number of records. Default: the released record count (the noisy "
            "one in DP); 'budget' spends the single-attribute budget instead (the reference's default).",
        ),
    ] = None,
    use_synthetic_counts: Annotated[
        bool,
        typer.Option("--use-synthetic-counts", help="aggregate-seeded: subtract already synthesized counts."),
    ] = False,
    weight_selection_percentile: Annotated[
        int | None,
        typer.Option(
            "--weight-selection-percentile",
            help="aggregate-seeded: percentile of sub-combination weights for long combinations [default: 95]",
        ),
    ] = None,
    aggregate_counts_scale_factor: Annotated[
        float | None,
        typer.Option("--aggregate-counts-scale-factor", help="aggregate-seeded: multiply every aggregate count."),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="aggregate-seeded: records built side by side [default: 256]"),
    ] = None,
    sampling_law: SamplingLawOpt = None,
    coverage: CoverageOpt = None,
    dp: DpOpt = False,
    epsilon: EpsilonOpt = None,
    delta: DeltaOpt = None,
    percentile: PercentileOpt = None,
    percentile_epsilon_proportion: PercentileShareOpt = None,
    record_count_epsilon_proportion: RecordShareOpt = None,
    accuracy_mode: AccuracyOpt = None,
    sigma_proportions: SigmaOpt = None,
    fabrication_mode: FabricationOpt = None,
    threshold: ThresholdOpt = None,
    noise_threshold_type: ThresholdTypeOpt = None,
    noise_threshold_values: ThresholdValuesOpt = None,
    max_attributes_per_record: MaxAttributesOpt = None,
    ledger: LedgerOpt = None,
    dataset_id: DatasetIdOpt = None,
    budget: BudgetOpt = None,
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
    engine: EngineOpt = Engine.local,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Synthesize records: k-anonymous (unseeded, row-seeded, value-seeded) or from released aggregates
    (aggregate-seeded: k-anonymous, DP with --dp, or an existing release with --aggregates).

    Writes OUT/synthetic.csv (multi-value cells re-joined, empty cells empty), OUT/synthetic.parquet, and the
    aggregates of the same run (aggregates.tsv, aggregates.parquet); OUT/release.duckdb holds tables synthetic,
    aggregates, release_info, release_levels and release_columns. --seed makes synthesis reproducible; DP noise
    never depends on it.
    """
    from sdsynth.backends.dask.engine import compute_engine
    from sdsynth.errors import ParameterError
    from sdsynth.jobs.synthesize import run_synthesize, run_synthesize_from_release

    method_choice = Method(method) if method else None
    if (dp or aggregates is not None) and method_choice not in (None, Method.aggregate_seeded):
        raise ParameterError(
            f"--method {method_choice.value} synthesizes from the sensitive records under k-anonymity; --dp and "
            "--aggregates synthesize from aggregates (aggregate-seeded)"
        )
    if method_choice is None:
        method_choice = Method.aggregate_seeded if dp or aggregates is not None else Method.row_seeded
    aggregate_options = {
        "--use-synthetic-counts": use_synthetic_counts or None, "--batch-size": batch_size,
        "--weight-selection-percentile": weight_selection_percentile,
        "--aggregate-counts-scale-factor": aggregate_counts_scale_factor, "--sampling-law": sampling_law,
        "--coverage": coverage,
    }  # fmt: skip
    if method_choice is not Method.aggregate_seeded:
        used = [k for k, v in aggregate_options.items() if v is not None]
        if used:
            raise ParameterError(f"{', '.join(used)} apply to --method aggregate-seeded")
        if records is not None and method_choice is not Method.unseeded:
            raise ParameterError(f"{method_choice.value} decides the number of records itself; drop --records")
        if records == "budget":
            raise ParameterError("--records budget applies to aggregate-seeded synthesis")
    if aggregates is not None and input is not None:
        raise ParameterError("give either an INPUT (sensitive records) or --aggregates (a release), not both")
    if dp and resolution is not None:
        raise ParameterError("--resolution is the k of k-anonymity; a --dp release is protected by --epsilon instead")
    k = resolution if resolution is not None else 10
    if k < 1:
        raise ParameterError(f"--resolution must be at least 1, got {k}")
    if reporting_length < 1:
        raise ParameterError(f"--reporting-length must be at least 1, got {reporting_length}")
    if oversampling_ratio is not None and method_choice is not Method.value_seeded:
        raise ParameterError("--oversampling-ratio applies to --method value-seeded")
    if oversampling_ratio is not None and oversampling_ratio < 0:
        raise ParameterError(f"--oversampling-ratio must be >= 0, got {oversampling_ratio}")
    dp_params = dp_parameters(
        dp, reporting_length, epsilon, delta, percentile, percentile_epsilon_proportion,
        record_count_epsilon_proportion, accuracy_mode, sigma_proportions, fabrication_mode, threshold,
        noise_threshold_type, noise_threshold_values, max_attributes_per_record,
    )  # fmt: skip
    agg_params = None
    if method_choice is Method.aggregate_seeded:
        agg_params = aggregate_seeded_parameters(
            sampling_law,
            use_synthetic_counts,
            weight_selection_percentile,
            aggregate_counts_scale_factor,
            batch_size,
            coverage,
        )
    if aggregates is not None and ledger is not None:
        raise ParameterError("--ledger records DP runs over sensitive data; synthesizing from a release spends no "
                             "budget")  # fmt: skip
    if private_out is not None and aggregates is not None:
        raise ParameterError("--private-out needs the sensitive input; a release alone has no private statistics")
    progress = RichProgress(quiet)
    if method_choice is not Method.aggregate_seeded and engine is not Engine.local:
        raise ParameterError(
            f"--engine {engine.value} runs aggregate-seeded synthesis; --method {method_choice.value} reads the "
            "records into this machine's memory: use --engine local"
        )
    with compute_engine(engine.value, scheduler, workers) as cluster:
        if aggregates is not None:
            result = run_synthesize_from_release(
                aggregates, out, records, agg_params, seed, overwrite, threads, progress, cluster
            )
        else:
            path = resolve_input(input, quiet)
            options = ingest_options(
                schema, use_columns, sensitive_zeros, multi_value, multi_value_columns, subject_id, record_limit,
                missing_values, delimiter, input,
            )  # fmt: skip
            extra: dict[str, object] = {}
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
                progress=progress,
                synthesizer_options=extra,
                dp=dp_params,
                records=records if method_choice is Method.aggregate_seeded else None,
                aggregate_seeded_params=agg_params,
                cluster=cluster,
                ledger_request=ledger_request(ledger, dataset_id, budget),
            )
    if not quiet:
        protection = (
            f"ε = {dp_params.epsilon}"
            if dp_params
            else (f"from {aggregates}" if aggregates is not None else f"k = {k}")
        )
        err_console.print(
            f"synthesized {result.synthetic_records:,} records ({method_choice.value}, {protection}); released "
            f"{result.aggregates.n_combinations:,} aggregate combinations"
        )
        err_console.print(f'wrote {out}/ — try: sdsynth query {out} "SELECT * FROM synthetic LIMIT 10"')
