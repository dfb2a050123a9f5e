"""What a job is asked to do, checked once: the options of `aggregate`, `synthesize` and `release` (and of the Python
API) as one value. Every rule between options lives here; the CLI only parses its flags and maps the parameter names
of these messages (in backticks) to its flags.

>>> JobSettings(out="release", dp=None, resolution=5).method
'row-seeded'
>>> JobSettings(out="release", resolution=5, method="aggregate-seeded", records="budget").records
'budget'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdsynth.errors import ParameterError
from sdsynth.protect.aggregates import Aggregates
from sdsynth.protect.dp.params import DpParameters
from sdsynth.protect.kanon import DEFAULT_RESOLUTION
from sdsynth.protect.ledger import LedgerRequest
from sdsynth.synth.options import METHODS, AggregateSeededParameters

AGGREGATE_SEEDED = "aggregate-seeded"


@dataclass(frozen=True)
class Oversampling:
    """value-seeded synthesis: refuse an attribute that would push a released combination above count × (1 + ratio),
    at most `tries` times per record."""

    ratio: float
    tries: int = 1

    def __post_init__(self) -> None:
        if not self.ratio >= 0:
            raise ParameterError(f"`oversampling_ratio` must be >= 0, got {self.ratio}")
        if self.tries < 1:
            raise ParameterError(f"`oversampling_tries` must be at least 1, got {self.tries}")


@dataclass(frozen=True)
class JobSettings:
    """Outputs, protection and synthesis of one job (each job reads the fields it needs).

    `resolution` is k of k-anonymity (None: 10; with `dp` it only sets the rare threshold of the private
    statistics and may not be given); `method` None means aggregate-seeded with `dp` or `aggregates` (a release to
    synthesize from), else row-seeded; `records` a number, "budget" or None (the released record count);
    `aggregate_seeded` the sampling law's parameters, or `law_options` its options one by one
    (`AggregateSeededParameters.from_options`; None: not given)."""

    out: Path | str | None = None  # None: nothing is written (the Python API's synthesizers)
    private_out: Path | str | None = None
    reporting_length: int = 3
    resolution: int | None = None
    dp: DpParameters | None = None
    method: str | None = None
    records: int | str | None = None
    aggregate_seeded: AggregateSeededParameters | None = None
    law_options: Mapping[str, Any] | None = None  # the sampling law's options as given (None: not given)
    oversampling: Oversampling | None = None
    overwrite: bool = False
    ledger: LedgerRequest | None = None
    aggregates: Path | str | None = None
    title: str = "sdsynth release"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.out is not None:
            set_(self, "out", Path(self.out))
        if self.private_out is not None:
            set_(self, "private_out", Path(self.private_out))
            if self.out is not None and Path(self.out).resolve() == Path(self.private_out).resolve():
                raise ParameterError("`out` and `private_out` must be different folders")
        if isinstance(self.reporting_length, bool) or self.reporting_length < 1:
            raise ParameterError(f"`reporting_length` must be at least 1, got {self.reporting_length}")
        if self.resolution is not None and self.resolution < 1:
            raise ParameterError(f"`resolution` must be at least 1, got {self.resolution}")
        if self.dp is not None and self.resolution is not None:
            raise ParameterError(
                "`resolution` is the k of k-anonymity; a `dp` release is protected by `epsilon` instead: not both"
            )
        set_(self, "method", self._method())
        self._check_synthesis()
        if self.ledger is not None and self.dp is None:
            raise ParameterError("the budget ledger records DP releases; add `dp` with `epsilon`")
        if self.aggregates is not None:
            set_(self, "aggregates", Path(self.aggregates))
            if self.private_out is not None:
                raise ParameterError("`private_out` needs the sensitive input; a release alone has no private figures")
            if self.ledger is not None:
                raise ParameterError("`ledger` records DP runs over sensitive data; a release spends no budget")

    def _method(self) -> str:
        if self.method is None or self.method == "":
            return AGGREGATE_SEEDED if self.dp is not None or self.aggregates is not None else "row-seeded"
        key = str(self.method).strip().lower().replace("_", "-")
        if key not in METHODS:
            raise ParameterError(f"`method` {self.method!r} is not one of {', '.join(METHODS)}")
        if (self.dp is not None or self.aggregates is not None) and key != AGGREGATE_SEEDED:
            raise ParameterError(
                f"`method` {key} synthesizes from the sensitive records under k-anonymity; `dp` and `aggregates` "
                f"synthesize from aggregates ({AGGREGATE_SEEDED})"
            )
        return key

    def _check_synthesis(self) -> None:
        seeded = self.method == AGGREGATE_SEEDED
        given = [f"`{k}`" for k, v in (self.law_options or {}).items() if v not in (None, False)]
        if given and not seeded:
            verb = "applies" if len(given) == 1 else "apply"
            raise ParameterError(
                f"{', '.join(given)} {verb} to aggregate-seeded synthesis (`method` {AGGREGATE_SEEDED})"
            )
        if self.law_options is not None:
            if self.aggregate_seeded is not None:
                raise ParameterError("give the sampling law's parameters or its options, not both")
            object.__setattr__(self, "aggregate_seeded", AggregateSeededParameters.from_options(**self.law_options))
        if self.aggregate_seeded is not None and not seeded:
            raise ParameterError(f"the sampling law's parameters apply to `method` {AGGREGATE_SEEDED}")
        if self.records is not None and self.method not in ("unseeded", AGGREGATE_SEEDED):
            raise ParameterError(f"{self.method} decides the number of records itself; drop `records`")
        if self.records == "budget" and not seeded:
            raise ParameterError(f"`records` 'budget' applies to {AGGREGATE_SEEDED} synthesis")
        if isinstance(self.records, int) and self.records < 0:
            raise ParameterError(f"`records` must be >= 0, got {self.records}")
        if self.oversampling is not None and self.method != "value-seeded":
            raise ParameterError("`oversampling_ratio` applies to `method` value-seeded")
        if seeded:
            self.law.check_target(None if self.records == "budget" else 0)

    @property
    def k(self) -> int:
        """k of k-anonymity (and the rare threshold of the private statistics)."""
        return self.resolution if self.resolution is not None else DEFAULT_RESOLUTION

    @property
    def law(self) -> AggregateSeededParameters:
        return self.aggregate_seeded if self.aggregate_seeded is not None else AggregateSeededParameters()

    @property
    def length(self) -> int:
        """The reporting length asked for (DP: the parameters'; they may be built with another default)."""
        return self.dp.reporting_length if self.dp is not None else self.reporting_length

    def privacy(self, aggs: Aggregates) -> dict[str, Any]:
        """How the release was protected, as the evaluation reports it."""
        if self.dp is not None:
            pairs = aggs.parameters.get("released_column_pairs")
            return {"mode": "dp", "epsilon": self.dp.epsilon, "delta": aggs.parameters.get("delta"),
                    "variance_record_count": aggs.parameters.get("variance_record_count"),
                    **({"released_column_pairs": pairs} if pairs is not None else {})}  # fmt: skip
        return {"mode": "k-anonymity", "resolution": self.k, "synthesis_method": self.method,
                "reporting_length": aggs.reporting_length}  # fmt: skip
