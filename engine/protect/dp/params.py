"""DP parameters, mirroring pac-synth's `DpAggregateSeededParametersBuilder` (docs/method.md, "Parameters") and its
defaults.

Every check of the reference (docs/method.md, "Parameters" and "Thresholds and fabrication modes") is kept, and so are
the ones it forgets (docs/method.md, "Parameters"): a scale factor must be positive, percentiles must lie in [0, 100], a
DP run needs R ≥ 1, thresholds must name lengths 2..R.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sdsynth.errors import PrivacyParameterError

ThresholdType = Literal["fixed", "adaptive"]


@dataclass(frozen=True)
class AccuracyMode:
    """How the Gaussian noise is shared between combination lengths (relative σ per length, docs/method.md,
    "Parameters")."""

    name: str
    proportions: tuple[float, ...] | None = None  # only for "custom"

    @classmethod
    def prioritize_long_combinations(cls) -> AccuracyMode:
        return cls("prioritize-long")

    @classmethod
    def prioritize_short_combinations(cls) -> AccuracyMode:
        return cls("prioritize-short")

    @classmethod
    def balanced(cls) -> AccuracyMode:
        return cls("balanced")

    @classmethod
    def custom(cls, sigma_proportions: Sequence[float]) -> AccuracyMode:
        return cls("custom", tuple(float(p) for p in sigma_proportions))

    def sigma_proportions(self, reporting_length: int) -> tuple[float, ...]:
        R = reporting_length
        if self.name == "prioritize-long":
            return tuple(1.0 / k for k in range(1, R + 1))
        if self.name == "prioritize-short":
            return tuple(1.0 / (R - k + 1) for k in range(1, R + 1))
        if self.name == "balanced":
            return tuple(1.0 for _ in range(R))
        if self.name == "custom":
            props = self.proportions or ()
            if len(props) != R:
                raise PrivacyParameterError(
                    f"sigma proportions array size should match the reporting length: got {len(props)} for R = {R}"
                )
            if any(not (p > 0 and math.isfinite(p)) for p in props):
                raise PrivacyParameterError(f"sigma proportions must all be > 0, got {list(props)}")
            return props
        raise PrivacyParameterError(f"unknown accuracy mode {self.name!r}")


@dataclass(frozen=True)
class Threshold:
    """Per-length thresholds on noisy counts for lengths ≥ 2 (docs/method.md, "Thresholds and fabrication modes")."""

    kind: ThresholdType
    values_by_length: Mapping[int, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.kind.capitalize(),
            "valuesByLen": {str(k): v for k, v in sorted(self.values_by_length.items())},
        }


@dataclass(frozen=True)
class FabricationMode:
    """How aggressively fabricated (absent in the data) combinations are filtered (docs/method.md, "Thresholds and
    fabrication modes")."""

    name: str
    values: Mapping[int, float] | None = None  # only for custom modes

    @classmethod
    def uncontrolled(cls) -> FabricationMode:
        return cls("uncontrolled")

    @classmethod
    def progressive(cls) -> FabricationMode:
        return cls("progressive")

    @classmethod
    def balanced(cls) -> FabricationMode:
        return cls("balanced")

    @classmethod
    def minimize(cls) -> FabricationMode:
        return cls("minimize")

    @classmethod
    def custom_fixed(cls, values: Mapping[int, float]) -> FabricationMode:
        return cls("custom-fixed", dict(values))

    @classmethod
    def custom_adaptive(cls, values: Mapping[int, float]) -> FabricationMode:
        return cls("custom-adaptive", dict(values))

    def threshold(self, reporting_length: int) -> Threshold:
        R = reporting_length
        if self.name == "uncontrolled":
            return Threshold("adaptive", {k: 1.0 for k in range(2, R + 1)})
        if self.name == "progressive":
            if R < 2:
                return Threshold("adaptive", {})
            if R == 2:
                return Threshold("adaptive", {2: 0.1})
            return Threshold("adaptive", {k: min(1.0, 0.1 + (0.9 / (R - 2)) * (k - 2)) for k in range(2, R + 1)})
        if self.name == "balanced":
            return Threshold("adaptive", {k: 0.55 if k == 2 else 1.0 for k in range(2, R + 1)})
        if self.name == "minimize":
            return Threshold("adaptive", {k: 0.01 for k in range(2, R + 1)})
        if self.name in ("custom-fixed", "custom-adaptive"):
            values = dict(self.values or {})
            for k, v in values.items():
                if not (isinstance(k, int) and 1 < k <= R):
                    raise PrivacyParameterError(
                        f"threshold lengths must be between 2 and the reporting length {R}, got {k}"
                    )
                if self.name == "custom-fixed" and not (v >= 0 and math.isfinite(v)):
                    raise PrivacyParameterError(f"fixed thresholds must be >= 0, got {v} for length {k}")
                if self.name == "custom-adaptive" and not (0 < v <= 1):
                    raise PrivacyParameterError(f"adaptive threshold factors must be in (0, 1], got {v} for length {k}")
            return Threshold("fixed" if self.name == "custom-fixed" else "adaptive", values)
        raise PrivacyParameterError(f"unknown fabrication mode {self.name!r}")


AUTO_LENGTH = "auto"  # `--reporting-length auto`: at most MAX_AUTO_LENGTH, chosen by length_rule.py
MAX_AUTO_LENGTH = 3


def reporting_length_option(value: int | str | None, dp: bool) -> int | str:
    """The reporting length as given (a number, "auto" or None: the default) as a number or AUTO_LENGTH: None is
    AUTO_LENGTH in DP mode and 3 otherwise; "auto" needs DP (it reads the noise)."""
    if value is None:
        return AUTO_LENGTH if dp else MAX_AUTO_LENGTH
    if isinstance(value, str) and value.strip().lower() == AUTO_LENGTH:
        if not dp:
            raise PrivacyParameterError(
                "`reporting_length` auto chooses the length from the DP noise; with k-anonymity give a number"
            )
        return AUTO_LENGTH
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise PrivacyParameterError(f"`reporting_length` must be a whole number or auto, got {value!r}")


DEFAULT_DELTA = 1e-6  # a public constant: δ must not depend on the data (docs/privacy.md, "Choosing δ")


@dataclass(frozen=True)
class DpParameters:
    """Everything that defines a DP aggregation; defaults are pac-synth's (docs/method.md, "Parameters"), except δ (see
    `resolved_delta`) and the optional explicit bound on attributes per record. `from_options` (the command line and
    the Python API) also chooses the percentile by rule unless one is given (`adaptive_percentile`)."""

    epsilon: float = 4.0
    reporting_length: int = 3
    delta: float | None = None  # None: DEFAULT_DELTA
    percentile_percentage: int = 99
    percentile_epsilon_proportion: float = 0.01
    number_of_records_epsilon_proportion: float = 0.005
    accuracy_mode: AccuracyMode = field(default_factory=AccuracyMode.prioritize_long_combinations)
    fabrication_mode: FabricationMode = field(default_factory=FabricationMode.uncontrolled)
    max_attributes_per_record: int | None = None  # explicit W; longer records keep a random subset (dp/truncate.py)
    adaptive_length: bool = False  # reporting_length is the most released; the run may stop sooner (length_rule.py)
    column_pairs: str = "all"  # "tree": length 2 holds only a DP-chosen tree of column pairs (dp/pair_tree.py)
    pair_selection_proportion: float = 0.1  # with "tree": the share of ρ that chooses the tree
    extra_column_pairs: int | None = None  # with "tree": more pairs chosen after the tree (None: as many again)
    adaptive_percentile: bool = False  # the percentile chosen by rule from the released count (percentile.py)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """One clear error per invalid setting (docs/method.md, "Parameters": the reference's checks and the ones it
        forgets)."""
        if not (self.epsilon > 0 and math.isfinite(self.epsilon)):
            raise PrivacyParameterError(f"`epsilon` must be > 0, got {self.epsilon}")
        if not isinstance(self.reporting_length, int) or self.reporting_length < 1:
            raise PrivacyParameterError(
                f"DP needs an explicit `reporting_length` of at least 1, got {self.reporting_length}"
            )
        if self.delta is not None and not (0 < self.delta < 1):
            raise PrivacyParameterError(f"`delta` must be between 0 and 1 (exclusive), got {self.delta}")
        if self.max_attributes_per_record is not None and (
            not isinstance(self.max_attributes_per_record, int) or self.max_attributes_per_record < 1
        ):
            raise PrivacyParameterError(
                f"`max_attributes_per_record` must be a whole number >= 1, got {self.max_attributes_per_record}"
            )
        if (
            not (0 <= self.percentile_percentage <= 100)
            or int(self.percentile_percentage) != self.percentile_percentage
        ):
            raise PrivacyParameterError(
                f"`percentile` must be an integer between 0 and 100, got {self.percentile_percentage}"
            )
        if not (0 < self.percentile_epsilon_proportion < 1):
            raise PrivacyParameterError(
                f"`percentile_epsilon_proportion` must be > 0 and < 1, got {self.percentile_epsilon_proportion}"
            )
        if not (0 < self.number_of_records_epsilon_proportion < 1):
            raise PrivacyParameterError(
                "`record_count_epsilon_proportion` must be > 0 and < 1 (the record count is always protected in "
                f"DP mode), got {self.number_of_records_epsilon_proportion}"
            )
        if self.percentile_epsilon_proportion + self.number_of_records_epsilon_proportion >= 1:
            raise PrivacyParameterError(
                "`percentile_epsilon_proportion` and `record_count_epsilon_proportion` leave no budget for the counts"
            )
        if self.column_pairs not in COLUMN_PAIRS:
            raise PrivacyParameterError(
                f"`column_pairs` must be one of {', '.join(COLUMN_PAIRS)}, got {self.column_pairs!r}"
            )
        if self.column_pairs == "tree":
            if self.reporting_length != 2 or self.adaptive_length:
                raise PrivacyParameterError(
                    "`column_pairs` tree releases single values and a tree of column pairs: it needs "
                    f"`reporting_length` 2 (or auto, which then means 2), got {self.reporting_length}"
                )
            extra = self.extra_column_pairs
            if extra is not None and (not isinstance(extra, int) or isinstance(extra, bool) or extra < 0):
                raise PrivacyParameterError(
                    f"`extra_column_pairs` must be a whole number >= 0, got {self.extra_column_pairs}"
                )
            if not (0 < self.pair_selection_proportion < 1) or (
                self.pair_selection_proportion
                + self.percentile_epsilon_proportion
                + self.number_of_records_epsilon_proportion
                >= 1
            ):
                raise PrivacyParameterError(
                    "`pair_selection_proportion` must be > 0 and leave budget for the counts, got "
                    f"{self.pair_selection_proportion}"
                )
        self.sigma_proportions  # noqa: B018 - validates custom proportions
        self.threshold  # noqa: B018 - validates custom thresholds

    @classmethod
    def from_options(
        cls,
        dp: bool = True,
        epsilon: float | None = None,
        delta: float | None = None,
        reporting_length: int | str = 3,
        percentile: int | None = None,
        percentile_epsilon_proportion: float | None = None,
        record_count_epsilon_proportion: float | None = None,
        accuracy_mode: str | None = None,
        sigma_proportions: Sequence[float] | None = None,
        fabrication_mode: str | None = None,
        thresholds: Mapping[int, float] | None = None,
        max_attributes_per_record: int | None = None,
        column_pairs: str | None = None,
        pair_selection_proportion: float | None = None,
        extra_column_pairs: int | None = None,
    ) -> DpParameters | None:
        """The parameters from options given one by one (None: not given), or None without `dp` (then none of them
        may be given): the one place that knows which options go together."""
        given = {
            "epsilon": epsilon, "delta": delta, "percentile": percentile,
            "percentile_epsilon_proportion": percentile_epsilon_proportion,
            "record_count_epsilon_proportion": record_count_epsilon_proportion, "accuracy_mode": accuracy_mode,
            "sigma_proportions": sigma_proportions, "fabrication_mode": fabrication_mode, "thresholds": thresholds,
            "max_attributes_per_record": max_attributes_per_record, "column_pairs": column_pairs,
            "pair_selection_proportion": pair_selection_proportion, "extra_column_pairs": extra_column_pairs,
        }  # fmt: skip
        if not dp:
            used = [f"`{name}`" for name, value in given.items() if value is not None]
            if used:
                verb = "applies" if len(used) == 1 else "apply"
                raise PrivacyParameterError(f"{', '.join(used)} only {verb} with `dp` (differential privacy)")
            return None
        if epsilon is None:
            raise PrivacyParameterError("`dp` needs `epsilon` (the privacy budget), e.g. 4")
        for name, value in (("pair_selection_proportion", pair_selection_proportion),
                            ("extra_column_pairs", extra_column_pairs)):  # fmt: skip
            if value is not None and column_pairs != "tree":
                raise PrivacyParameterError(f"`{name}` goes with `column_pairs` tree")
        defaults = cls.__dataclass_fields__
        tree = column_pairs == "tree"
        adaptive = reporting_length == AUTO_LENGTH and not tree  # a tree of pairs is released at length 2
        length = (2 if tree else MAX_AUTO_LENGTH) if reporting_length == AUTO_LENGTH else reporting_length
        return cls(
            epsilon=epsilon,
            reporting_length=length,  # type: ignore[arg-type]
            adaptive_length=adaptive,
            column_pairs=column_pairs or "all",
            pair_selection_proportion=(
                pair_selection_proportion
                if pair_selection_proportion is not None
                else defaults["pair_selection_proportion"].default
            ),
            extra_column_pairs=extra_column_pairs,
            delta=delta,
            percentile_percentage=percentile if percentile is not None else defaults["percentile_percentage"].default,
            adaptive_percentile=percentile is None,
            percentile_epsilon_proportion=(
                percentile_epsilon_proportion
                if percentile_epsilon_proportion is not None
                else defaults["percentile_epsilon_proportion"].default
            ),
            number_of_records_epsilon_proportion=(
                record_count_epsilon_proportion
                if record_count_epsilon_proportion is not None
                else defaults["number_of_records_epsilon_proportion"].default
            ),
            # chosen pairs are few: even noise over lengths 1 and 2 fits better (docs/synthesis.md, issue 27, item 7)
            accuracy_mode=_accuracy_mode(
                accuracy_mode or ("balanced" if tree and sigma_proportions is None else None), sigma_proportions
            ),
            fabrication_mode=_fabrication_mode(fabrication_mode, thresholds),
            max_attributes_per_record=max_attributes_per_record,
        )

    @property
    def resolved_delta(self) -> float:
        """δ as given, else the public default. The reference infers δ = 1/(n ln n) from the record count; a δ
        computed from even the noisy count is a random function of the data, so the guarantee could not be stated
        as one (ε, δ) (docs/deviations.md)."""
        return self.delta if self.delta is not None else DEFAULT_DELTA

    @property
    def sigma_proportions(self) -> tuple[float, ...]:
        return self.accuracy_mode.sigma_proportions(self.reporting_length)

    @property
    def threshold(self) -> Threshold:
        return self.fabrication_mode.threshold(self.reporting_length)

    def _tree_options(self) -> dict[str, Any]:
        return {"pair_selection_proportion": self.pair_selection_proportion,
                "extra_column_pairs": self.extra_column_pairs}  # fmt: skip

    def describe(self) -> dict[str, Any]:
        """The parameters as released in `release_info` (JSON-friendly)."""
        return {
            "epsilon": self.epsilon,
            "reporting_length": self.reporting_length,
            "reporting_length_auto": self.adaptive_length,
            "percentile_percentage": self.percentile_percentage,
            "percentile_auto": self.adaptive_percentile,
            "percentile_epsilon_proportion": self.percentile_epsilon_proportion,
            "number_of_records_epsilon_proportion": self.number_of_records_epsilon_proportion,
            "accuracy_mode": self.accuracy_mode.name,
            "sigma_proportions": list(self.sigma_proportions),
            "fabrication_mode": self.fabrication_mode.name,
            "threshold": self.threshold.to_json(),
            "column_pairs": self.column_pairs,
            **(self._tree_options() if self.column_pairs == "tree" else {}),
        }


COLUMN_PAIRS = ("all", "tree")
ACCURACY_MODES = ("prioritize-long", "prioritize-short", "balanced", "custom")
FABRICATION_MODES = ("uncontrolled", "progressive", "balanced", "minimize", "custom-fixed", "custom-adaptive")


def _accuracy_mode(name: str | None, sigma_proportions: Sequence[float] | None) -> AccuracyMode:
    if sigma_proportions is not None:
        if name not in (None, "custom"):
            raise PrivacyParameterError("`sigma_proportions` goes with `accuracy_mode` custom")
        return AccuracyMode.custom(sigma_proportions)
    if name == "custom":
        raise PrivacyParameterError("`accuracy_mode` custom needs `sigma_proportions`")
    if name not in (None, *ACCURACY_MODES):
        raise PrivacyParameterError(f"`accuracy_mode` must be one of {', '.join(ACCURACY_MODES)}, got {name!r}")
    return AccuracyMode(name or "prioritize-long")


def _fabrication_mode(name: str | None, thresholds: Mapping[int, float] | None) -> FabricationMode:
    custom = name in ("custom-fixed", "custom-adaptive")
    if thresholds and not custom:
        raise PrivacyParameterError("`thresholds` goes with `fabrication_mode` custom-fixed or custom-adaptive")
    if name not in (None, *FABRICATION_MODES):
        choices = ", ".join(FABRICATION_MODES)
        raise PrivacyParameterError(f"`fabrication_mode` must be one of {choices}, got {name!r}")
    if custom:
        return FabricationMode(name, dict(thresholds or {}))  # type: ignore[arg-type]
    return FabricationMode(name or "uncontrolled")
