"""The DP options shared by `aggregate`, `synthesize` and `release`, and their translation into `DpParameters`."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import typer


class AccuracyChoice(str, enum.Enum):
    prioritize_long = "prioritize-long"
    prioritize_short = "prioritize-short"
    balanced = "balanced"
    custom = "custom"


class FabricationChoice(str, enum.Enum):
    uncontrolled = "uncontrolled"
    progressive = "progressive"
    balanced = "balanced"
    minimize = "minimize"
    custom_fixed = "custom-fixed"
    custom_adaptive = "custom-adaptive"


DpOpt = Annotated[bool, typer.Option("--dp", help="Differential privacy instead of k-anonymity (needs --epsilon).")]
EpsilonOpt = Annotated[
    float | None, typer.Option("--epsilon", "--noise-epsilon", help="DP: total privacy budget ε (> 0).")
]
DeltaOpt = Annotated[
    float | None,
    typer.Option(
        "--delta",
        "--noise-delta",
        help="DP: δ in (0, 1), a public choice: take it well below 1/n for n records (docs/privacy.md) [default: 1e-6]",
    ),
]
MaxAttributesOpt = Annotated[
    int | None,
    typer.Option(
        "--max-attributes-per-record",
        min=1,
        help="DP: at most N attributes per record (a record holding more keeps a random subset of N). Needed when "
        "a multi-value column's parts are not listed in the schema [default: one per column plus declared parts]",
    ),
]
PercentileOpt = Annotated[
    int | None,
    typer.Option(
        "--percentile",
        "--sensitivities-percentile",
        help="DP: percentile (0-100) of per-record contributions used as each length's contribution bound "
        "[default: 99]",
    ),
]
PercentileShareOpt = Annotated[
    float | None,
    typer.Option(
        "--percentile-epsilon-proportion",
        "--sensitivities-epsilon-proportion",
        help="DP: share of the budget spent choosing the contribution bounds [default: 0.01]",
    ),
]
RecordShareOpt = Annotated[
    float | None,
    typer.Option(
        "--record-count-epsilon-proportion",
        "--number-of-records-epsilon-proportion",
        help="DP: share of ε spent on the noisy record count (always released noisy) [default: 0.005]",
    ),
]
AccuracyOpt = Annotated[
    AccuracyChoice | None,
    typer.Option("--accuracy-mode", help="DP: how noise is shared between lengths [default: prioritize-long]"),
]
SigmaOpt = Annotated[
    str | None,
    typer.Option(
        "--sigma-proportions", help="DP: relative noise per length, comma-separated, one per length (custom mode)."
    ),
]
FabricationOpt = Annotated[
    FabricationChoice | None,
    typer.Option(
        "--fabrication-mode", help="DP: how hard to filter combinations absent from the data [default: uncontrolled]"
    ),
]
ThresholdOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--threshold",
        help="DP, custom fabrication modes: LENGTH=VALUE (repeatable); a count (custom-fixed) or a factor in (0, 1] "
        "(custom-adaptive) per combination length ≥ 2.",
    ),
]
ThresholdTypeOpt = Annotated[
    str | None, typer.Option("--noise-threshold-type", hidden=True, help="Reference spelling: fixed|adaptive.")
]
ThresholdValuesOpt = Annotated[
    str | None,
    typer.Option("--noise-threshold-values", hidden=True, help="Reference spelling: v2,v3,... for lengths 2,3,..."),
]


LedgerOpt = Annotated[
    Path | None,
    typer.Option(
        "--ledger",
        help="DP: budget ledger (a DuckDB file) that records this run's ε before any data is read; without it "
        "nothing is recorded.",
    ),
]
DatasetIdOpt = Annotated[str | None, typer.Option("--dataset-id", help="DP, with --ledger: the dataset spent on.")]
BudgetOpt = Annotated[
    float | None,
    typer.Option(
        "--budget",
        help="DP, with --ledger: total ε allowed for the dataset (basic composition: the sum of every recorded "
        "ε); a run that would pass it is refused before reading data.",
    ),
]


def ledger_request(ledger: Path | None, dataset_id: str | None, budget: float | None) -> Any:
    from sdsynth.protect.ledger import LedgerRequest

    return LedgerRequest.from_options(ledger, dataset_id, budget)


def _floats(text: str, what: str) -> list[float]:
    from sdsynth.errors import ParameterError

    try:
        return [float(x) for x in text.replace(" ", ",").split(",") if x.strip()]
    except ValueError:
        raise ParameterError(f"{what} must be numbers separated by commas, got {text!r}") from None


def dp_parameters(
    dp: bool,
    reporting_length: int,
    epsilon: float | None,
    delta: float | None,
    percentile: int | None,
    percentile_share: float | None,
    record_share: float | None,
    accuracy: AccuracyChoice | None,
    sigma_proportions: str | None,
    fabrication: FabricationChoice | None,
    thresholds: list[str] | None,
    threshold_type: str | None,
    threshold_values: str | None,
    max_attributes_per_record: int | None = None,
) -> Any:
    """DpParameters from the options, or None without --dp; one clear error for any invalid combination."""
    from sdsynth.errors import ParameterError
    from sdsynth.protect.dp.params import AccuracyMode, DpParameters, FabricationMode

    given = {
        "--epsilon": epsilon, "--delta": delta, "--percentile": percentile,
        "--percentile-epsilon-proportion": percentile_share, "--record-count-epsilon-proportion": record_share,
        "--accuracy-mode": accuracy, "--sigma-proportions": sigma_proportions, "--fabrication-mode": fabrication,
        "--threshold": thresholds, "--noise-threshold-type": threshold_type,
        "--noise-threshold-values": threshold_values, "--max-attributes-per-record": max_attributes_per_record,
    }  # fmt: skip
    if not dp:
        used = [name for name, value in given.items() if value is not None]
        if used:
            raise ParameterError(f"{', '.join(used)} only apply with --dp")
        return None
    if epsilon is None:
        raise ParameterError("--dp needs --epsilon (the privacy budget), e.g. --epsilon 4")

    if sigma_proportions is not None:
        if accuracy not in (None, AccuracyChoice.custom):
            raise ParameterError("--sigma-proportions goes with --accuracy-mode custom")
        accuracy_mode = AccuracyMode.custom(_floats(sigma_proportions, "--sigma-proportions"))
    elif accuracy is AccuracyChoice.custom:
        raise ParameterError("--accuracy-mode custom needs --sigma-proportions")
    else:
        accuracy_mode = {
            None: AccuracyMode.prioritize_long_combinations(),
            AccuracyChoice.prioritize_long: AccuracyMode.prioritize_long_combinations(),
            AccuracyChoice.prioritize_short: AccuracyMode.prioritize_short_combinations(),
            AccuracyChoice.balanced: AccuracyMode.balanced(),
        }[accuracy]

    values: dict[int, float] = {}
    if threshold_values is not None:
        values = {i + 2: v for i, v in enumerate(_floats(threshold_values, "--noise-threshold-values"))}
        if threshold_type not in (None, "fixed", "adaptive"):
            raise ParameterError("--noise-threshold-type must be fixed or adaptive")
        implied = FabricationChoice.custom_adaptive if threshold_type == "adaptive" else FabricationChoice.custom_fixed
        if fabrication not in (None, implied):
            raise ParameterError("--noise-threshold-values conflicts with --fabrication-mode")
        fabrication = implied
    for item in thresholds or []:
        if "=" not in item:
            raise ParameterError(f"--threshold expects LENGTH=VALUE, got {item!r}")
        length, value = item.split("=", 1)
        try:
            values[int(length)] = float(value)
        except ValueError:
            raise ParameterError(f"--threshold expects LENGTH=VALUE with numbers, got {item!r}") from None
    custom = fabrication in (FabricationChoice.custom_fixed, FabricationChoice.custom_adaptive)
    if values and not custom:
        raise ParameterError("--threshold goes with --fabrication-mode custom-fixed or custom-adaptive")
    fabrication_mode = {
        None: FabricationMode.uncontrolled(),
        FabricationChoice.uncontrolled: FabricationMode.uncontrolled(),
        FabricationChoice.progressive: FabricationMode.progressive(),
        FabricationChoice.balanced: FabricationMode.balanced(),
        FabricationChoice.minimize: FabricationMode.minimize(),
        FabricationChoice.custom_fixed: FabricationMode.custom_fixed(values),
        FabricationChoice.custom_adaptive: FabricationMode.custom_adaptive(values),
    }[fabrication]
    defaults = DpParameters.__dataclass_fields__
    return DpParameters(
        epsilon=epsilon,
        reporting_length=reporting_length,
        delta=delta,
        percentile_percentage=percentile if percentile is not None else defaults["percentile_percentage"].default,
        percentile_epsilon_proportion=(
            percentile_share if percentile_share is not None else defaults["percentile_epsilon_proportion"].default
        ),
        number_of_records_epsilon_proportion=(
            record_share if record_share is not None else defaults["number_of_records_epsilon_proportion"].default
        ),
        accuracy_mode=accuracy_mode,
        fabrication_mode=fabrication_mode,
        max_attributes_per_record=max_attributes_per_record,
    )
