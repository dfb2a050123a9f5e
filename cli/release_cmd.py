"""`sdsynth release` (one-command release) and `sdsynth budget show` (the privacy budget ledger)."""

from __future__ import annotations

import tomllib
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
    out_console,
    resolve_input,
)
from ._dp_options import (
    AccuracyOpt,
    DeltaOpt,
    DpOpt,
    EpsilonOpt,
    FabricationOpt,
    PercentileOpt,
    PercentileShareOpt,
    RecordShareOpt,
    SigmaOpt,
    ThresholdOpt,
    ThresholdTypeOpt,
    ThresholdValuesOpt,
    dp_parameters,
)
from .aggregate_cmd import ReportingLengthOpt, ResolutionOpt
from .synthesize_cmd import CoverageOpt, Method, SamplingLawOpt, _method, _records, aggregate_seeded_parameters


def _load_config(ctx: typer.Context, value: Path | None) -> Path | None:
    """Options from a TOML file become the defaults; options given on the command line still win."""
    if value is None:
        return None
    try:
        with value.open("rb") as fh:
            config = tomllib.load(fh)
    except FileNotFoundError:
        raise typer.BadParameter(f"{value}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise typer.BadParameter(f"{value}: not valid TOML ({exc})") from None
    known = {p.name for p in ctx.command.params}
    flat: dict[str, Any] = {}
    for key, v in config.items():
        name = key.replace("-", "_")
        if name == "input":  # the positional argument: used when the command line gives none
            ctx.meta["config_input"] = str(v)
            continue
        if name not in known or name == "config":
            raise typer.BadParameter(f"{value}: unknown option {key!r} (use the long option names, e.g. epsilon)")
        flat[name] = v
    ctx.default_map = {**(ctx.default_map or {}), **flat}
    return value


@handle_errors
def release(
    ctx: typer.Context,
    input: InputArg = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Public release folder (safe to publish).")] = Path(
        "release"
    ),
    private_out: Annotated[
        Path, typer.Option("--private-out", help="Private folder: evaluation against the sensitive data, true counts.")
    ] = Path("private"),
    dp: DpOpt = False,
    epsilon: EpsilonOpt = None,
    resolution: ResolutionOpt = None,
    reporting_length: ReportingLengthOpt = 3,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            metavar="[" + "|".join(m.value for m in Method) + "]",
            callback=_method,
            help="Synthesis method [default: aggregate-seeded with --dp, else row-seeded]",
        ),
    ] = "",
    records: Annotated[
        str | None,
        typer.Option(
            "--records",
            callback=_records,
            metavar="N|budget",
            help="aggregate-seeded: number of synthetic records [default: the released record count]",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Makes synthesis reproducible (never DP noise).")] = None,
    sampling_law: SamplingLawOpt = None,
    coverage: CoverageOpt = None,
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
    ledger: Annotated[
        Path | None, typer.Option("--ledger", help="Budget ledger (a DuckDB file) recording every DP release.")
    ] = None,
    dataset_id: Annotated[str | None, typer.Option("--dataset-id", help="Dataset the budget is spent on.")] = None,
    budget: Annotated[
        float | None, typer.Option("--budget", help="Total ε allowed for the dataset; refuse releases beyond it.")
    ] = None,
    title: Annotated[str, typer.Option("--title", help="Title of the reports.")] = "sdsynth release",
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            callback=_load_config,
            is_eager=True,
            help="TOML file with any of these options (long names, e.g. epsilon = 4); the command line wins.",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check the inputs and print the budget split, ledger effect and a memory estimate; compute nothing.",
        ),
    ] = False,
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
    """One command from a sensitive table to a release: aggregates, synthetic records, evaluation and reports.

    OUT (publish it): aggregates.tsv/.parquet, synthetic.csv/.parquet, release.duckdb (tables aggregates,
    synthetic, release_info, release_levels, release_columns, evaluation; views aggregates_by_source_column,
    aggregates_with_error), report.html (synthetic against the released aggregates), codebook.yaml and
    manifest.json (parameters and SHA-256 of every file). PRIVATE_OUT (keep it): the evaluation against the
    sensitive data (evaluation.json, details, report.html), disclosure-risk statistics, true counts and the input's
    fingerprint. Choose --dp --epsilon E (differential privacy) or --resolution K (k-anonymity).
    """
    from sdsynth.engine.distributed import compute_engine
    from sdsynth.engine.errors import ParameterError
    from sdsynth.engine.release_pipeline import ReleaseSettings, run_release

    del config
    if input is None and ctx.meta.get("config_input"):
        input = Path(ctx.meta["config_input"])
    if dp and resolution is not None:
        raise ParameterError("choose --dp --epsilon E (differential privacy) or --resolution K (k-anonymity), not both")
    k = resolution if resolution is not None else 10
    if k < 1:
        raise ParameterError(f"--resolution must be at least 1, got {k}")
    dp_params = dp_parameters(
        dp, reporting_length, epsilon, delta, percentile, percentile_epsilon_proportion,
        record_count_epsilon_proportion, accuracy_mode, sigma_proportions, fabrication_mode, threshold,
        noise_threshold_type, noise_threshold_values,
    )  # fmt: skip
    options = ingest_options(
        schema, use_columns, sensitive_zeros, multi_value, multi_value_columns, subject_id, record_limit,
        missing_values, delimiter, input,
    )  # fmt: skip
    settings = ReleaseSettings(
        out=out, private_out=private_out, options=options, dp=dp_params, resolution=k,
        reporting_length=reporting_length, method=method or None, records=records, seed=seed,
        aggregate_seeded=aggregate_seeded_parameters(sampling_law, coverage=coverage), overwrite=overwrite,
        n_threads=threads,
        ledger_path=ledger, dataset_id=dataset_id, budget=budget, title=title,
    )  # fmt: skip
    for flag, value in (("--sampling-law", sampling_law), ("--coverage", coverage)):
        if value is not None and settings.method != "aggregate-seeded":
            raise ParameterError(f"{flag} applies to aggregate-seeded synthesis (the method with --dp)")
    path = resolve_input(input, quiet)
    if dry_run:
        from sdsynth.engine.dry_run import describe_release

        out_console.print(describe_release(path, settings), markup=False, highlight=False)
        return
    with compute_engine(engine.value, scheduler, workers) as cluster:
        result = run_release(path, settings, RichProgress(quiet), cluster)
    if not quiet:
        s = result.public_summary
        err_console.print(
            f"released {result.aggregates.n_combinations:,} aggregate combinations and {result.synthetic_records:,} "
            f"synthetic records ({'ε = ' + str(dp_params.epsilon) if dp_params else 'k = ' + str(k)}); synthetic vs "
            f"released aggregates: {100 - s['suppressed_pct']:.1f} % of combinations kept"
        )
        err_console.print(f"public: {out}/ (report.html, release.duckdb, manifest.json)")
        err_console.print(f"private: {private_out}/ (report.html with the k-marginal score; do not publish)")


budget_app = typer.Typer(help="The privacy budget ledger.", no_args_is_help=True)


@budget_app.command("show")
@handle_errors
def show(
    ledger: Annotated[Path, typer.Option("--ledger", help="The ledger file.")],
    dataset_id: Annotated[str | None, typer.Option("--dataset-id", help="Only this dataset.")] = None,
) -> None:
    """Print every DP release recorded in the ledger, with the cumulative ε and δ per dataset."""
    from rich.table import Table

    from sdsynth.engine.ledger import COMPOSITION, history

    frame = history(ledger, dataset_id)
    table = Table()
    for col in frame.columns:
        table.add_column(col)
    for row in frame.iter_rows():
        table.add_row(*["" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v) for v in row])
    out_console.print(table)
    out_console.print(f"Composition: {COMPOSITION}.")
