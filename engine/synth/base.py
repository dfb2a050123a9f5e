"""The synthesizers' shared contract and registry.

>>> import polars as pl
>>> from sdsynth.synth.base import create
>>> data = pl.DataFrame({"A": ["a"] * 6 + ["b"] * 6, "B": ["x", "y"] * 6})
>>> synthetic = create("row-seeded", resolution=3).fit(data).sample(seed=1)
>>> synthetic.height
12
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self

import polars as pl

from sdsynth._utils.context import RunContext
from sdsynth.count.combinations import count_combinations
from sdsynth.encode.records import EncodedData
from sdsynth.encode.tables import encode
from sdsynth.errors import ParameterError
from sdsynth.protect.aggregates import Aggregates
from sdsynth.protect.dp.marginals import dp_marginals
from sdsynth.protect.dp.params import DpParameters
from sdsynth.protect.kanon import protect_k_anonymity
from sdsynth.read.options import IngestOptions
from sdsynth.synth.aggregate_seeded import concat_records, synthesize_from_aggregates
from sdsynth.synth.kanon import SeededModel, row_seeded, unseeded, value_seeded
from sdsynth.synth.options import AggregateSeededParameters
from sdsynth.synth.output import records_to_frame


class Synthesizer(Protocol):
    """fit() reads the sensitive data (or released aggregates); sample() is post-processing of what fit kept."""

    name: ClassVar[str]

    def fit(self, data: Any, options: IngestOptions | None = None) -> Self: ...

    def sample_records(self, n: int | None = None, seed: int | None = None) -> EncodedData: ...

    def sample(self, n: int | None = None, seed: int | None = None) -> pl.DataFrame: ...


def _as_encoded(data: Any, options: IngestOptions | None) -> EncodedData:
    return data if isinstance(data, EncodedData) else encode(data, options)


@dataclass
class _KAnonymous:
    """Shared parts of the k-anonymity synthesizers (they keep the sensitive data in memory between fit/sample)."""

    resolution: int = 10
    n_threads: int | None = None
    _model: SeededModel | None = field(default=None, init=False, repr=False)

    def fit(self, data: Any, options: IngestOptions | None = None) -> Self:
        self._model = SeededModel.fit(_as_encoded(data, options), self.resolution, self.n_threads)
        return self

    @property
    def model(self) -> SeededModel:
        if self._model is None:
            raise ParameterError("call fit() before sample()")
        return self._model

    def sample(self, n: int | None = None, seed: int | None = None) -> pl.DataFrame:
        """The synthetic records as a table (multi-value cells re-joined, reference row order)."""
        return records_to_frame(self.sample_records(n, seed))

    def sample_records(self, n: int | None = None, seed: int | None = None) -> EncodedData:
        raise NotImplementedError  # each synthesizer below defines it


@dataclass
class Unseeded(_KAnonymous):
    """docs/method.md, "Unseeded": N records (or n), each drawn column by column; may contain empty records."""

    name: ClassVar[str] = "unseeded"

    def sample_records(self, n: int | None = None, seed: int | None = None) -> EncodedData:
        return unseeded(self.model, n, seed)


@dataclass
class RowSeeded(_KAnonymous):
    """docs/method.md, "Row-seeded": a record grown from each sensitive record, then consolidation and suppression."""

    name: ClassVar[str] = "row-seeded"

    def sample_records(self, n: int | None = None, seed: int | None = None) -> EncodedData:
        _no_count(self.name, n)
        return row_seeded(self.model, seed)


@dataclass
class ValueSeeded(_KAnonymous):
    """docs/method.md, "Value-seeded": records built from the attribute budget, optionally with oversampling control
    against released aggregates (`oversampling_aggregates`, `oversampling_ratio`, `oversampling_tries`)."""

    name: ClassVar[str] = "value-seeded"
    oversampling_ratio: float | None = None
    oversampling_tries: int = 1
    oversampling_aggregates: Aggregates | None = None

    def sample_records(self, n: int | None = None, seed: int | None = None) -> EncodedData:
        _no_count(self.name, n)
        oversampling = None
        if self.oversampling_ratio is not None:
            if self.oversampling_aggregates is None:
                raise ParameterError("oversampling control needs the released aggregates (oversampling_aggregates)")
            oversampling = (self.oversampling_aggregates, float(self.oversampling_ratio), self.oversampling_tries)
        return value_seeded(self.model, seed, oversampling)


def _no_count(name: str, n: int | None) -> None:
    if n is not None:
        raise ParameterError(
            f"{name} decides the number of records itself (docs/method.md, 'Synthetic output'); do not ask for a "
            "number of records"
        )


@dataclass
class AggregateSeeded:
    """docs/method.md, "Aggregate-seeded": records built from released aggregates only (k-anonymous, or DP when `dp` is
    given).

    fit() computes the aggregates from sensitive data (k-anonymity with `resolution`, or DP marginals with `dp`);
    `from_aggregates` starts from a release instead. sample(n) is post-processing: n records (default: the
    released record count; pass `n="budget"` to spend the single-attribute budget instead, the reference's
    no-target mode).
    """

    name: ClassVar[str] = "aggregate-seeded"
    resolution: int = 10
    reporting_length: int = 3
    dp: DpParameters | None = None
    params: AggregateSeededParameters = field(default_factory=AggregateSeededParameters)
    ctx: RunContext = field(default_factory=RunContext)  # progress, threads, cluster; sample() sets the seed
    aggregates: Aggregates | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_aggregates(
        cls, aggregates: Aggregates, params: AggregateSeededParameters | None = None, ctx: RunContext | None = None
    ) -> AggregateSeeded:
        synth = cls(params=params or AggregateSeededParameters(), ctx=ctx or RunContext())
        synth.aggregates = aggregates
        return synth

    def fit(self, data: Any, options: IngestOptions | None = None) -> Self:
        records = _as_encoded(data, options)
        if self.dp is not None:
            self.aggregates = dp_marginals(records, self.dp, self.ctx).aggregates
        else:
            counts = count_combinations(records, self.reporting_length, self.ctx)
            self.aggregates = protect_k_anonymity(counts, self.resolution)
        return self

    def sample_records(self, n: int | str | None = None, seed: int | None = None) -> EncodedData:
        if self.aggregates is None:
            raise ParameterError("call fit() (or build with from_aggregates) before sample()")
        records, _ = synthesize_from_aggregates(self.aggregates, n, self.params, self.ctx.with_seed(seed))
        return records if isinstance(records, EncodedData) else concat_records(self.aggregates.attributes, records)

    def sample(self, n: int | str | None = None, seed: int | None = None) -> pl.DataFrame:
        return records_to_frame(self.sample_records(n, seed))


SYNTHESIZERS: dict[str, type[Any]] = {cls.name: cls for cls in (Unseeded, RowSeeded, ValueSeeded, AggregateSeeded)}


def create(name: str, **kwargs: Any) -> Any:
    """A synthesizer by name (`unseeded`, `row-seeded`, `value-seeded`, ...), as the CLI's --method names them."""
    key = name.replace("_", "-").lower()
    if key not in SYNTHESIZERS:
        raise ParameterError(f"unknown synthesis method {name!r}; choose one of {', '.join(SYNTHESIZERS)}")
    return SYNTHESIZERS[key](**kwargs)
