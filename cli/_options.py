"""The command line's options, defined once, and `with_options`, which adds groups of them to a command.

A command's own signature names only its own options; the groups (input reading, DP, the ledger, synthesis, where the
passes run) are appended by `with_options` and reach the command as one dict, `values`, keyed by parameter name, which
`_build` turns into the engine's values. Help texts name flags; the engine's messages name parameters, which
`_common.handle_errors` maps back to these flags.
"""

from __future__ import annotations

import enum
import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer


class Method(str, enum.Enum):
    unseeded = "unseeded"
    row_seeded = "row-seeded"
    value_seeded = "value-seeded"
    aggregate_seeded = "aggregate-seeded"


class SamplingLaw(str, enum.Enum):
    auto = "auto"
    calibrated = "calibrated"
    reference = "reference"


class AccuracyChoice(str, enum.Enum):
    prioritize_long = "prioritize-long"
    prioritize_short = "prioritize-short"
    balanced = "balanced"
    custom = "custom"


class ColumnPairsChoice(str, enum.Enum):
    all = "all"
    tree = "tree"


class FabricationChoice(str, enum.Enum):
    uncontrolled = "uncontrolled"
    progressive = "progressive"
    balanced = "balanced"
    minimize = "minimize"
    custom_fixed = "custom-fixed"
    custom_adaptive = "custom-adaptive"


class Engine(str, enum.Enum):
    local = "local"
    dask = "dask"


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


def _method(value: str | None) -> str | None:
    """The reference's spellings (row_seeded, ...) too."""
    if not value:
        return None
    key = value.strip().lower().replace("_", "-")
    if key not in {m.value for m in Method}:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(m.value for m in Method)}")
    return key


# ------------------------------------------------------------------------------------------------ single options
InputArg = Annotated[
    Path | None,
    typer.Argument(
        help="Sensitive table: CSV, TSV or Parquet. Omit it to use the bundled CTDC-like sample (17,000 rows).",
        show_default=False,
    ),
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Release folder to write (must not exist).")]
PrivateOutOpt = Annotated[
    Path | None,
    typer.Option(
        "--private-out",
        help="Folder for what is computed from the sensitive data (statistics, evaluation, true counts). Never "
        "publish it.",
    ),
]
ReportingLengthOpt = Annotated[
    int,
    typer.Option(
        "--reporting-length", "-r", help="Longest attribute combination counted (R, at least 1).", show_default=True
    ),
]
ReleasedLengthOpt = Annotated[
    str | None,
    typer.Option(
        "--reporting-length",
        "-r",
        metavar="N|auto",
        help="Longest attribute combination released (R, at least 1). auto (the default with --dp): at most 3, "
        "stopping at 2 when length-3 counts would carry little signal for this ε, schema and the released record "
        "count (docs/privacy.md, 'Reporting length by rule'). Default without --dp: 3.",
    ),
]
ResolutionOpt = Annotated[
    int | None,
    typer.Option(
        "--resolution", "-k", help="k of k-anonymity: counts are rounded down to multiples of k [default: 10]"
    ),
]
SeedOpt = Annotated[
    int | None,
    typer.Option("--seed", help="Makes synthesis reproducible (same seed, same output); never DP noise."),
]
MethodOpt = Annotated[
    str | None,
    typer.Option(
        "--method",
        "--mode",
        metavar="[" + "|".join(m.value for m in Method) + "]",
        callback=_method,
        help="Synthesis method. row-seeded (default with k-anonymity): every combination of any length in a "
        "synthetic record occurs at least k times in the data, but there may be more records than in the data and "
        "short combinations drift; aggregate-seeded (the method with --dp and --aggregates): drawn from the released "
        "aggregates alone, the released record count and counts of up to R attributes much closer to the data, no "
        "guarantee on longer combinations; also unseeded and value-seeded (the guarantee of row-seeded).",
    ),
]
RecordsOpt = Annotated[
    str | None,
    typer.Option(
        "--records",
        "--target-number-of-records",
        callback=_records,
        metavar="N|budget",
        help="aggregate-seeded / unseeded: number of records. Default: the released record count (the noisy one in "
        "DP); 'budget' spends the single-attribute budget instead (the reference's default).",
    ),
]
OverwriteOpt = Annotated[
    bool,
    typer.Option("--overwrite", help="Replace an existing output written by sdsynth (never one holding an input)."),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only errors and privacy warnings: no progress, notes or summary.")
]


# ------------------------------------------------------------------------------------------------ option groups
def _opt(kind: Any, *flags: str, default: Any = None, **option: Any) -> tuple[Any, Any]:
    """(annotation, default) of one option, for `_group`."""
    return Annotated[kind, typer.Option(*flags, **option)], default


def _group(**params: tuple[Any, Any]) -> list[inspect.Parameter]:
    kind = inspect.Parameter.KEYWORD_ONLY
    return [inspect.Parameter(n, kind, annotation=a, default=d) for n, (a, d) in params.items()]


def _shipped_schemas() -> str:
    from sdsynth.schema.files import builtin_schemas

    return ", ".join(builtin_schemas())


SCHEMA_HELP = (
    f"Schema file (YAML/JSON) or the name of a shipped schema ({_shipped_schemas()}; `sdsynth schema show NAME` "
    "prints one to copy and edit)."
)

INPUT = _group(
    schema=_opt(str | None, "--schema", help=SCHEMA_HELP + " Explicit options below override it."),
    use_columns=_opt(
        list[str] | None,
        "--use-columns",
        help="Columns to use (repeat or comma-separate); default: all.",
        show_default=False,
    ),
    drop_columns=_opt(
        list[str] | None,
        "--drop-columns",
        help="Columns to leave out (repeat or comma-separate), e.g. identifiers; with --use-columns, of those.",
        show_default=False,
    ),
    sensitive_zeros=_opt(
        list[str] | None,
        "--sensitive-zeros",
        help="Columns where '0' is a value rather than 'absent' (repeat or comma-separate).",
    ),
    multi_value=_opt(
        list[str] | None,
        "--multi-value",
        help="Multi-value column and its delimiter, COL=DELIM (repeatable), e.g. IP_Gender=;",
    ),
    multi_value_columns=_opt(
        list[str] | None, "--multi-value-columns", help="Reference CLI spelling: COL,DELIM.", hidden=True
    ),
    subject_id=_opt(
        str | None,
        "--subject-id",
        help="Column identifying the subject: rows with the same id are joined into one.",
    ),
    record_limit=_opt(int, "--record-limit", default=0, min=0, help="Use only the first N data rows (0 = all)."),
    missing_values=_opt(
        list[str] | None,
        "--missing-values",
        help="Tokens meaning 'missing', e.g. N or ? (repeatable); default from schema.",
    ),
    delimiter=_opt(
        str | None,
        "--delimiter",
        "--sensitive-delimiter",
        help="Field delimiter of a text input (default: ',' or TAB for .tsv).",
    ),
)

DP = _group(
    dp=_opt(bool, "--dp", default=False, help="Differential privacy instead of k-anonymity (needs --epsilon)."),
    epsilon=_opt(float | None, "--epsilon", "--noise-epsilon", help="DP: total privacy budget ε (> 0)."),
    delta=_opt(
        float | None,
        "--delta",
        "--noise-delta",
        help="DP: δ in (0, 1), a public choice: take it well below 1/n for n records (docs/privacy.md) [default: 1e-6]",
    ),
    percentile=_opt(
        int | None,
        "--percentile",
        "--sensitivities-percentile",
        help="DP: percentile (0-100) of per-record contributions used as each length's contribution bound "
        "[default: 99]",
    ),
    percentile_epsilon_proportion=_opt(
        float | None,
        "--percentile-epsilon-proportion",
        "--sensitivities-epsilon-proportion",
        help="DP: share of the budget spent choosing the contribution bounds [default: 0.01]",
    ),
    record_count_epsilon_proportion=_opt(
        float | None,
        "--record-count-epsilon-proportion",
        "--number-of-records-epsilon-proportion",
        help="DP: share of the zCDP budget ρ spent on the noisy record count (always released noisy; discrete "
        "Gaussian noise, where the reference spends this share of ε on Laplace noise) [default: 0.005]",
    ),
    accuracy_mode=_opt(
        AccuracyChoice | None,
        "--accuracy-mode",
        help="DP: how noise is shared between lengths [default: prioritize-long]",
    ),
    sigma_proportions=_opt(
        str | None,
        "--sigma-proportions",
        help="DP: relative noise per length, comma-separated, one per length (custom mode).",
    ),
    fabrication_mode=_opt(
        FabricationChoice | None,
        "--fabrication-mode",
        help="DP: how hard to filter combinations absent from the data [default: uncontrolled]",
    ),
    threshold=_opt(
        list[str] | None,
        "--threshold",
        help="DP, custom fabrication modes: LENGTH=VALUE (repeatable); a count (custom-fixed) or a factor in "
        "(0, 1] (custom-adaptive) per combination length ≥ 2.",
    ),
    noise_threshold_type=_opt(
        str | None, "--noise-threshold-type", hidden=True, help="Reference spelling: fixed|adaptive."
    ),
    noise_threshold_values=_opt(
        str | None, "--noise-threshold-values", hidden=True, help="Reference spelling: v2,v3,..."
    ),
    max_attributes_per_record=_opt(
        int | None,
        "--max-attributes-per-record",
        min=1,
        help="DP: at most N attributes per record (a record holding more keeps a random subset of N). Needed "
        "when a multi-value column's parts are not listed in the schema [default: one per column plus declared "
        "parts]",
    ),
    column_pairs=_opt(
        ColumnPairsChoice | None,
        "--column-pairs",
        help="DP: the pairs of columns length 2 releases. all: every pair; tree: pairs chosen with DP (those of "
        "one multi-value column's parts, a spanning tree as MST chooses it, and as many more), far less noise per "
        "pair on wide tables at ε ≤ 1; SQL users find only those pairs, and synthetic records keep to released "
        "combinations within them only. tree releases lengths 1 and 2 and synthesizes with the calibrated law "
        "[default: all]",
    ),
    pair_selection_proportion=_opt(
        float | None,
        "--pair-selection-proportion",
        help="DP, with --column-pairs tree: share of the zCDP budget ρ spent choosing the tree [default: 0.1]",
    ),
    extra_column_pairs=_opt(
        int | None,
        "--extra-column-pairs",
        min=0,
        help="DP, with --column-pairs tree: this many more column pairs chosen after the tree, by the same "
        "mechanism; 0 releases the tree alone [default: as many as the tree's edges]",
    ),
)

LEDGER = _group(
    ledger=_opt(
        Path | None,
        "--ledger",
        help="DP: budget ledger (a DuckDB file) that records this run's ε before any data is read; without it "
        "nothing is recorded.",
    ),
    dataset_id=_opt(str | None, "--dataset-id", help="DP, with --ledger: the dataset spent on."),
    budget=_opt(
        float | None,
        "--budget",
        help="DP, with --ledger: total ε allowed for the dataset (basic composition: the sum of every recorded "
        "ε); a run that would pass it is refused before reading data.",
    ),
)

LAW = _group(
    sampling_law=_opt(
        SamplingLaw | None,
        "--sampling-law",
        help="aggregate-seeded: calibrated (absence sampled, empty cells and multi-value parts at their released "
        "rates), reference (pac-synth's law), or auto: the one whose first records fit the 1- and 2-way tables "
        "derived from the released counts better (decided from the aggregates only; see docs/synthesis.md) "
        "[default: auto]",
    ),
    coverage=_opt(
        float | None,
        "--coverage",
        help="calibrated law: share of each batch's records (0 to 1) that may be drawn from released "
        "combinations the batch lacks, so that combinations the release counts many times do not vanish; more "
        "covers more rare combinations at some cost in 1- and 2-way fidelity, 0 turns it off "
        "(docs/synthesis.md, step 7) [default: 0.15]",
    ),
)

REFERENCE_LAW = _group(
    use_synthetic_counts=_opt(
        bool, "--use-synthetic-counts", default=False, help="reference law: subtract already synthesized counts."
    ),
    weight_selection_percentile=_opt(
        int | None,
        "--weight-selection-percentile",
        help="reference law: percentile of sub-combination weights for long combinations [default: 95]",
    ),
    aggregate_counts_scale_factor=_opt(
        float | None, "--aggregate-counts-scale-factor", help="reference law: multiply every aggregate count."
    ),
    batch_size=_opt(int | None, "--batch-size", help="reference law: records built side by side [default: 256]"),
)

RUN = _group(
    threads=_opt(int | None, "--threads", "--n-threads", min=1, help="Worker threads (default: one per core)."),
    verbose=_opt(
        bool,
        "--verbose",
        "-v",
        default=False,
        help="After the run, each stage's time and share of the whole command (a release also writes them to its "
        "private folder, stage_times.json).",
    ),
    engine=_opt(
        Engine,
        "--engine",
        default=Engine.local,
        show_default=True,
        help="Where the passes over the records run: local (this machine's threads) or dask (a Dask cluster: "
        "--scheduler ADDRESS, or a local cluster of --workers N processes; pip install 'sdsynth[distributed]').",
    ),
    scheduler=_opt(str | None, "--scheduler", help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786."),
    workers=_opt(
        int | None,
        "--workers",
        min=1,
        help="--engine dask without --scheduler: worker processes of the local cluster [default: one per core].",
    ),
)


def with_options(*groups: list[inspect.Parameter]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Append option groups to a command's own options; the command receives every option value as `values`."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(func)
        hints = typing.get_type_hints(func, include_extras=True)  # the command module's names, resolved there
        params = [p.replace(annotation=hints[p.name]) for p in own.parameters.values() if p.name != "values"]
        added = [p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD) for g in groups for p in g]

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            mine = {k: v for k, v in kwargs.items() if k in own.parameters}
            return func(**mine, values=kwargs)

        command.__signature__ = own.replace(parameters=[*params, *added], return_annotation=None)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in [*params, *added]}
        return command

    return decorate


def _annotation(group: list[inspect.Parameter], name: str) -> Any:
    return next(p.annotation for p in group if p.name == name)


# single input options for commands that take a few of them (schema validate, schema infer)
UseColumnsOpt = _annotation(INPUT, "use_columns")
DropColumnsOpt = _annotation(INPUT, "drop_columns")
MultiValueOpt = _annotation(INPUT, "multi_value")
MissingOpt = _annotation(INPUT, "missing_values")
DelimiterOpt = _annotation(INPUT, "delimiter")
