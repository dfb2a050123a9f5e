"""`sdsynth release`: from a sensitive table to a public release and a private folder, in one command."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from ._build import run_context, settings, the_input
from ._common import err_console, flag_names, handle_errors, out_console
from ._options import (
    DP,
    INPUT,
    LAW,
    LEDGER,
    RUN,
    InputArg,
    MethodOpt,
    OverwriteOpt,
    QuietOpt,
    RecordsOpt,
    ReleasedLengthOpt,
    ResolutionOpt,
    SeedOpt,
    with_options,
)


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


ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", callback=_load_config, is_eager=True,
                 help="TOML file with any of these options (long names, e.g. epsilon = 4); the command line wins."),
]  # fmt: skip
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Check the inputs and print the budget split, ledger effect and a memory estimate; "
                 "compute nothing."),
]  # fmt: skip


@handle_errors
@with_options(LAW, DP, LEDGER, INPUT, RUN)
def release(
    ctx: typer.Context,
    input: InputArg = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Public release folder (safe to publish).")] = Path(
        "release"
    ),
    private_out: Annotated[
        Path, typer.Option("--private-out", help="Private folder: evaluation against the sensitive data, true counts.")
    ] = Path("private"),
    resolution: ResolutionOpt = None,
    reporting_length: ReleasedLengthOpt = None,
    method: MethodOpt = None,
    records: RecordsOpt = None,
    seed: SeedOpt = None,
    title: Annotated[str, typer.Option("--title", help="Title of the reports.")] = "sdsynth release",
    config: ConfigOpt = None,
    dry_run: DryRunOpt = False,
    previous_release: Annotated[
        Path | None,
        typer.Option(
            "--previous-release",
            help="With --dry-run --dp: a previous public DP release of the same dataset; its contribution bounds give "
            "the noise SD and threshold per length at the chosen ε, and the dry run counts how many of its "
            "combinations would clear them.",
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
    *,
    values: dict[str, Any],
) -> None:
    """One command from a sensitive table to a release: aggregates, synthetic records, evaluation and reports.

    OUT (publish it): aggregates.tsv/.parquet, synthetic.csv/.parquet, release.duckdb (tables aggregates,
    synthetic, release_info, release_levels, release_columns, evaluation; views aggregates_by_source_column,
    aggregates_with_error), report.html (synthetic against the released aggregates), codebook.yaml and
    manifest.json (parameters and SHA-256 of every file). PRIVATE_OUT (keep it): the evaluation against the
    sensitive data (evaluation.json, details, report.html), disclosure-risk statistics, true counts and the input's
    fingerprint. Choose --dp --epsilon E (differential privacy) or --resolution K (k-anonymity).
    """
    from sdsynth.jobs.release import run_release

    if input is None and ctx.meta.get("config_input"):
        input = Path(ctx.meta["config_input"])
    job = settings(values)
    data, options = the_input(input, values)
    if previous_release is not None and not (dry_run and job.dp is not None):
        from sdsynth.errors import ParameterError

        raise ParameterError("--previous-release applies to a DP dry run: add --dry-run and --dp")
    if dry_run:
        from sdsynth.jobs.dry_run import dry_run_release

        checked = dry_run_release(data, options, job, previous_release)
        out_console.print(str(checked), markup=False, highlight=False)
        for refusal in checked.refusals:
            err_console.print(f"error: {flag_names(refusal)}", markup=False)
        if checked.refusals:
            err_console.print(f"dry run: the release would stop ({len(checked.refusals)} problem(s) above)")
            raise typer.Exit(1)
        return
    with run_context(values) as run:
        result = run_release(data, options, job, run)
    if quiet:
        return
    kept = 100 - result.public_summary["suppressed_pct"]
    protection = f"ε = {job.dp.epsilon}" if job.dp else f"k = {job.k}"
    err_console.print(f"released {result.aggregates.n_combinations:,} aggregate combinations and "
                      f"{result.synthetic_records:,} synthetic records ({protection}); synthetic vs released "
                      f"aggregates: {kept:.1f} % of combinations kept", markup=False)  # fmt: skip
    err_console.print(f"public: {out}/ (report.html, explore.html, release.duckdb, manifest.json)", markup=False)
    err_console.print(f"private: {private_out}/ (report.html with the k-marginal score; do not publish)", markup=False)
