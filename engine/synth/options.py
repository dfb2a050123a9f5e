"""The options of aggregate-seeded synthesis (the sampling law and the reference law's own options) and the names
of the synthesis methods: what jobs check before any synthesis runs. Kept apart from `aggregate_seeded`, which
loads the laws' Numba kernels, so that a command that synthesises nothing (`aggregate`) does not import them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sdsynth.errors import ParameterError

METHODS = ("unseeded", "row-seeded", "value-seeded", "aggregate-seeded")  # synth.base.SYNTHESIZERS, by name
DEFAULT_BATCH_SIZE = 256

SAMPLING_LAWS = ("auto", "calibrated", "reference")
DEFAULT_SAMPLING_LAW = "auto"
AUTO_PILOT_RECORDS = 20_000  # the reference law's pilot for `auto`: at most this many records,
AUTO_PILOT_SHARE = 0.1  # about this share of the output,
AUTO_MIN_PILOT_RECORDS = 2_000  # and at least this many (`reference_pilot_records`)


@dataclass(frozen=True)
class AggregateSeededParameters:
    """The sampling law (`calibrated`, see the `calibrated` package; pac-synth's `reference` law of docs/method.md,
    "Aggregate-seeded"; or `auto`, the one of the two that fits the released single-column distributions better, see
    `choose_sampling_law`) and pac-synth's options of the reference law (docs/method.md, "Aggregate-seeded") plus its
    batch size. `chosen_by` says how an `auto` law was resolved (for the release's records); `coverage`, the calibrated
    law's share of records that may be seeded with released combinations a batch lacks (None:
    calibrated.COVER_SHARE)."""

    use_synthetic_counts: bool = False
    weight_selection_percentile: int = 95
    aggregate_counts_scale_factor: float | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    sampling_law: str = DEFAULT_SAMPLING_LAW
    chosen_by: str | None = None
    coverage: float | None = None  # calibrated law: share of records seeded with missing combinations (None: 15 %)

    def __post_init__(self) -> None:
        if self.sampling_law not in SAMPLING_LAWS:
            raise ParameterError(f"unknown sampling law {self.sampling_law!r}; choose {', '.join(SAMPLING_LAWS)}")
        if self.sampling_law != "reference" and (
            self.use_synthetic_counts or self.aggregate_counts_scale_factor is not None
        ):
            raise ParameterError(
                "`use_synthetic_counts` and `aggregate_counts_scale_factor` belong to `sampling_law` reference"
            )
        if self.coverage is not None:
            if self.sampling_law == "reference":
                raise ParameterError("`coverage` belongs to the calibrated law (`sampling_law` calibrated or auto)")
            if not (0.0 <= self.coverage <= 1.0):
                raise ParameterError(f"coverage must be a share of the records between 0 and 1, got {self.coverage}")
        if not (0 <= self.weight_selection_percentile <= 100):
            raise ParameterError(
                f"weight selection percentile must be between 0 and 100, got {self.weight_selection_percentile}"
            )
        f = self.aggregate_counts_scale_factor
        if f is not None and not (f > 0 and math.isfinite(f)):
            raise ParameterError(f"aggregate counts scale factor must be > 0, got {f}")
        if self.batch_size < 1:
            raise ParameterError(f"batch size must be at least 1, got {self.batch_size}")

    @classmethod
    def from_options(
        cls,
        sampling_law: str | None = None,
        coverage: float | None = None,
        use_synthetic_counts: bool | None = None,
        weight_selection_percentile: int | None = None,
        aggregate_counts_scale_factor: float | None = None,
        batch_size: int | None = None,
    ) -> AggregateSeededParameters | None:
        """The parameters from options given one by one (None: not given), or None when none is given; the reference
        law's own options are refused with another law."""
        law = sampling_law if sampling_law is not None else DEFAULT_SAMPLING_LAW
        reference_only = {
            "use_synthetic_counts": use_synthetic_counts or None, "batch_size": batch_size,
            "weight_selection_percentile": weight_selection_percentile,
            "aggregate_counts_scale_factor": aggregate_counts_scale_factor,
        }  # fmt: skip
        used = [f"`{k}`" for k, v in reference_only.items() if v is not None]
        if law != "reference" and used:
            raise ParameterError(
                f"{', '.join(used)} belong to `sampling_law` reference (the {law} law has no such option)"
            )
        if sampling_law is None and coverage is None and not used:
            return None
        return cls(
            use_synthetic_counts=bool(use_synthetic_counts),
            weight_selection_percentile=95 if weight_selection_percentile is None else weight_selection_percentile,
            aggregate_counts_scale_factor=aggregate_counts_scale_factor,
            sampling_law=law,
            coverage=coverage,
            **({"batch_size": batch_size} if batch_size is not None else {}),
        )

    def check_target(self, target: int | None) -> None:
        """A number of records this law can make (None: spend the single-attribute budget, the reference law's)."""
        if target is not None and target < 0:
            raise ParameterError(f"the number of records must be >= 0, got {target}")
        if target is None and self.sampling_law == "calibrated":
            raise ParameterError(
                "`records` 'budget' spends the single-attribute budget, which only `sampling_law` reference has"
            )
