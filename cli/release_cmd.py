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
    max_attributes_per_record: MaxAttributesOpt = None,
    ledger: LedgerOpt = None,
    dataset_id: DatasetIdOpt = None,
    budget: BudgetOpt = None,
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
    from sdsynth.backends.dask.engine import compute_engine
    from sdsynth.errors import ParameterError
    from sdsynth.jobs.release import ReleaseSettings, run_release

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
        noise_threshold_type, noise_threshold_values, max_attributes_per_record,
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
        ledger=ledger_request(ledger, dataset_id, budget), title=title,
    )  # fmt: skip
    for flag, value in (("--sampling-law", sampling_law), ("--coverage", coverage)):
        if value is not None and settings.method != "aggregate-seeded":
            raise ParameterError(f"{flag} applies to aggregate-seeded synthesis (the method with --dp)")
    path = resolve_input(input, quiet)
    if dry_run:
        from sdsynth.jobs.dry_run import describe_release

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
    delta_prime: Annotated[
        float,
        typer.Option(
            "--delta-prime",
            help="δ′ at which the zCDP total is converted to (ε, δ′)-DP [default: 1e-06].",
            show_default=False,
        ),
    ] = 1e-6,
) -> None:
    """Print every entry of the ledger (status reserved, spent or failed: all count) and, per dataset, two totals.

    Basic composition: (Σ ε_i, Σ δ_i)-DP; this is the total --budget enforces. zCDP: Σ (ρ_i + ε_N,i²/2) converted to
    (ε, δ′)-DP, plus the δ spent outside zCDP; reported only when every entry of the dataset records ρ, ε_N and
    δ_out (entries from older versions do not).
    """
    from rich import box
    from rich.table import Table

    from sdsynth.protect.ledger import COMPOSITION, ENFORCEMENT, compose, entries

    if not ledger.exists():
        from sdsynth.errors import ParameterError

        raise ParameterError(f"{ledger}: no such ledger")
    rows = entries(ledger, dataset_id)
    compose([], delta_prime)  # validates δ′ even when there is nothing to total

    def num(v: float | None) -> str:
        return "" if v is None else f"{v:.6g}"

    out_console.print(f"ledger {ledger}", markup=False, highlight=False)
    datasets = sorted({e.dataset_id for e in rows} | ({dataset_id} if dataset_id else set()))
    if not datasets:
        out_console.print("no entries", markup=False)
    for ds in datasets:
        mine = [e for e in rows if e.dataset_id == ds]
        if not mine:
            out_console.print(f"dataset {ds!r}: no entries", markup=False)
            continue
        t = compose(mine, delta_prime)
        counts = ", ".join(f"{n} {s}" for s, n in sorted(t.statuses.items()))
        title = f"dataset {ds!r}: {t.entries} entr{'y' if t.entries == 1 else 'ies'} ({counts})"
        table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
        for h in ("created (UTC)", "status", "release", "ε", "δ", "Σ ε", "ρ", "ε_N", "δ_out", "output"):
            folded = h in ("release", "output")
            table.add_column(h, overflow="fold", no_wrap=not folded, min_width=8 if folded else None)
        cumulative = 0.0
        for e in mine:
            cumulative += e.epsilon
            table.add_row(f"{e.created_at:%Y-%m-%d %H:%M:%S}", e.status, e.release_id or "", num(e.epsilon),
                          num(e.delta), num(cumulative), num(e.rho), num(e.epsilon_record_count),
                          num(e.delta_outside_zcdp), e.output or "")  # fmt: skip
        out_console.print(table)
        lines = []
        unknown = ""
        if t.unknown_delta:
            n = f"{t.unknown_delta} entr{'y' if t.unknown_delta == 1 else 'ies'}"
            unknown = f"; {n} without a recorded δ (runs not completed, δ inferred at run time) not in Σ δ_i"
        lines.append(f"  basic-composition total (enforced by --budget): ε = Σ ε_i = {t.epsilon:.6g}, "
                     f"δ = Σ δ_i = {t.delta:.6g}{unknown}")  # fmt: skip
        if t.zcdp_available:
            assert t.rho is not None and t.epsilon_zcdp is not None and t.delta_zcdp is not None
            lines.append(f"  zCDP total (reported, not enforced): ρ = Σ (ρ_i + ε_N,i²/2) = {t.rho:.6g} → "
                         f"ε = ρ + 2√(ρ·ln(1/δ′)) = {t.epsilon_zcdp:.6g} at δ′ = {t.delta_prime:g}, "
                         f"δ = δ′ + Σ δ_out,i = {t.delta_zcdp:.6g}")  # fmt: skip
        else:
            why = []
            for e in mine:
                if e.has_zcdp:
                    continue
                if e.status == "spent":
                    reason = "recorded without ρ, ε_N and δ_out (by an older sdsynth version)"
                elif e.status == "failed":
                    reason = "the run failed after reading the data, before its zCDP costs were known"
                else:
                    reason = "the run has not completed (still running, or killed) and its zCDP costs are not known yet"
                why.append(f"{e.label()}: {reason}")
            lacks = "entry lacks" if len(why) == 1 else "entries lack"
            lines.append(f"  zCDP total: not available — {len(why)} {lacks} ρ, ε_N or δ_out, and a zCDP total "
                         "is stated only when every entry of the dataset has them:")  # fmt: skip
            lines.extend(f"    {w}" for w in why)
        for line in lines:
            out_console.print(line, markup=False, highlight=False)
    out_console.print(f"Composition: {COMPOSITION}. {ENFORCEMENT}.", markup=False, highlight=False)
