"""The Python API: the command line's jobs for notebooks and scripts, on the same code path (streaming, Dask, the
sampling law's choice, the budget ledger).

Tables go in as a file path, a Polars or pandas DataFrame or an Arrow table; pandas in gives pandas out, anything
else gives Polars.

>>> import polars as pl
>>> import sdsynth
>>> data = pl.DataFrame({"A": ["a1", "a1", "a2"] * 20, "B": ["b1", "b2", "b2"] * 20})
>>> synth = sdsynth.create("aggregate-seeded", resolution=5).fit(data)
>>> synth.sample(seed=1).shape
(60, 2)
"""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl

from sdsynth._utils.context import RunContext
from sdsynth.bundle.query import run_query
from sdsynth.bundle.read import load_release as _load_aggregates
from sdsynth.bundle.write import aggregates_wide_frame
from sdsynth.encode.records import EncodedData
from sdsynth.errors import ParameterError
from sdsynth.jobs.common import check_dp_inputs, complete, reading, spending
from sdsynth.jobs.evaluate import EvaluateResult, run_evaluate
from sdsynth.jobs.release import ReleaseResult, run_release
from sdsynth.jobs.settings import JobSettings
from sdsynth.jobs.synthesize import fit_records, synthesize
from sdsynth.protect.aggregates import Aggregates
from sdsynth.protect.dp.params import DpParameters, reporting_length_option
from sdsynth.protect.ledger import LedgerRequest
from sdsynth.read.options import IngestOptions
from sdsynth.schema.files import load_schema
from sdsynth.schema.model import Schema
from sdsynth.synth.aggregate_seeded import concat_records
from sdsynth.synth.output import records_to_frame

_DP_OPTIONS = (
    "delta", "percentile", "percentile_epsilon_proportion", "record_count_epsilon_proportion", "accuracy_mode",
    "sigma_proportions", "fabrication_mode", "thresholds", "max_attributes_per_record", "column_pairs",
    "pair_selection_proportion", "extra_column_pairs",
)  # fmt: skip
_READ_OPTIONS = ("use_columns", "drop_columns", "sensitive_zeros", "multi_value", "subject_id", "record_limit",
                 "missing_values", "delimiter")  # fmt: skip


def _is_pandas(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "pandas"


def _table(data: Any) -> Any:
    """A path as it is; a pandas DataFrame or an Arrow table as Polars (the engine reads Polars frames)."""
    if isinstance(data, str | Path | pl.DataFrame) or data is None:
        return data
    if _is_pandas(data):
        return pl.from_pandas(data.astype("string"))
    frame = pl.from_arrow(data)
    if not isinstance(frame, pl.DataFrame):
        raise ParameterError(f"expected a table (path, Polars/pandas DataFrame or Arrow table), got {type(data)}")
    return frame


def _out(frame: pl.DataFrame, like_pandas: bool) -> Any:
    return frame.to_pandas() if like_pandas else frame


def _read_options(schema: str | Path | Schema | None, options: dict[str, Any]) -> IngestOptions:
    unknown = set(options) - set(_READ_OPTIONS)
    if unknown:
        known = ", ".join(_READ_OPTIONS)
        raise ParameterError(f"unknown option(s) {', '.join(sorted(unknown))}; reading takes {known}")
    loaded = load_schema(schema) if isinstance(schema, str | Path) else schema
    return IngestOptions(schema=loaded, **options)


def _settings(out: Any, epsilon: float | None, options: dict[str, Any], **fields: Any) -> JobSettings:
    """JobSettings from keyword options (`dp` implied by `epsilon`)."""
    dp_options = {k: options.pop(k) for k in list(options) if k in _DP_OPTIONS}
    law = {k: options.pop(k) for k in ("sampling_law", "coverage") if k in options}
    ledger = LedgerRequest.from_options(options.pop("ledger", None), options.pop("dataset_id", None),
                                        options.pop("budget", None))  # fmt: skip
    is_dp = epsilon is not None or bool(dp_options)
    length = reporting_length_option(fields.pop("reporting_length", None), is_dp)
    dp = DpParameters.from_options(is_dp, epsilon, reporting_length=length, **dp_options)
    if options:
        raise ParameterError(f"unknown option(s) {', '.join(sorted(options))}")
    counted = dp.reporting_length if dp is not None else int(length)
    return JobSettings(out=out, reporting_length=counted, dp=dp, law_options=law or None, ledger=ledger, **fields)


class Synthesizer:
    """One synthesis method on the path of `sdsynth synthesize`: `fit` reads the sensitive table once and releases
    its aggregates (k-anonymous, or DP when `epsilon` is given; the budget ledger records a DP fit); `sample` draws
    synthetic records from what `fit` kept (post-processing, reproducible with a seed)."""

    def __init__(self, settings: JobSettings, ctx: RunContext) -> None:
        self.settings = settings
        self.ctx = ctx
        self._aggregates: Aggregates | None = None
        self._records: Any = None
        self._pandas = False

    def fit(self, data: Any, schema: str | Path | Schema | None = None, **read_options: Any) -> Synthesizer:
        """Read `data` (a path, a Polars/pandas DataFrame or an Arrow table) with `schema` (a file, a shipped name or
        a Schema) and the reading options of the command line (`multi_value={"IP_Gender": ";"}`, `subject_id`,
        ...), and keep its released aggregates (and, for the k-anonymity methods, the records)."""
        self._pandas = _is_pandas(data)
        table, options = _table(data), _read_options(schema, read_options)
        s, ctx = self.settings, self.ctx
        with spending(s, "api", ctx) as entry, ExitStack() as stack:
            if s.dp is not None:
                check_dp_inputs(table, options, s.dp, ctx)
            stack.enter_context(reading(entry))
            records, protected = fit_records(stack, table, options, s, ctx)
            self._aggregates = protected.aggregates
            self._records = records if isinstance(records, EncodedData) else None
            complete(entry, uuid.uuid4().hex, protected.aggregates, "(Python API, in memory)")
        return self

    @property
    def aggregates(self) -> Any:
        """The released aggregates as a table: one column per data column (empty = not in the combination), the
        combination's length and its released count."""
        return _out(aggregates_wide_frame(self._fitted()), self._pandas)

    def _fitted(self) -> Aggregates:
        if self._aggregates is None:
            raise ParameterError("call fit() before sample() or aggregates")
        return self._aggregates

    def sample(self, n: int | str | None = None, seed: int | None = None) -> Any:
        """Synthetic records: `n` of them (aggregate-seeded and unseeded; default: the released record count;
        "budget": spend the single-attribute budget), reproducible with `seed`."""
        aggs = self._fitted()
        settings = replace(self.settings, records=n)
        drawn, _ = synthesize(aggs, self._records, None, IngestOptions(), settings, self.ctx.with_seed(seed))
        records = drawn if isinstance(drawn, EncodedData) else concat_records(aggs.attributes, drawn)
        return _out(records_to_frame(records), self._pandas)


def create(
    method: str = "aggregate-seeded",
    *,
    epsilon: float | None = None,
    resolution: int | None = None,
    reporting_length: int | str | None = None,
    threads: int | None = None,
    engine: Any = None,
    **options: Any,
) -> Synthesizer:
    """A synthesizer by name: `aggregate-seeded` (the default; the only one with `epsilon`), `row-seeded`,
    `unseeded` or `value-seeded`. `epsilon` makes it differentially private; `resolution` is k of k-anonymity.
    `reporting_length`: a number, or "auto" (the default with `epsilon`: at most 3, chosen from public quantities,
    `protect.dp.length_rule`); 3 without.
    Further options as on the command line, by parameter name: `delta`, `max_attributes_per_record`,
    `column_pairs` ("tree": a DP-chosen tree of column pairs at length 2), `sampling_law`, `coverage`, `ledger` with
    `dataset_id` and `budget`, ... `engine` is a started
    `backends.dask.engine.DaskEngine`.

    >>> create("row-seeded", resolution=5).settings.method
    'row-seeded'
    """
    settings = _settings(None, epsilon, dict(options), resolution=resolution,
                         reporting_length=reporting_length, method=method)  # fmt: skip
    return Synthesizer(settings, RunContext(threads=threads, cluster=engine))


def release(
    data: Any = None,
    out: str | Path = "release",
    private_out: str | Path = "private",
    *,
    epsilon: float | None = None,
    resolution: int | None = None,
    reporting_length: int | str | None = None,
    schema: str | Path | Schema | None = None,
    seed: int | None = None,
    overwrite: bool = False,
    threads: int | None = None,
    engine: Any = None,
    **options: Any,
) -> ReleaseResult:
    """The whole release, as `sdsynth release`: aggregates, synthetic records, evaluations and reports written into
    `out` (publish it) and `private_out` (keep it). Without `data`, the bundled CTDC-like sample. Options by
    parameter name, as `create`'s, plus `method`, `records`, `title` and the reading options (`multi_value`, ...).
    """
    from sdsynth.jobs.common import bundled_input

    read = {k: options.pop(k) for k in list(options) if k in _READ_OPTIONS}
    fields = {k: options.pop(k) for k in ("method", "records", "title") if k in options}
    settings = _settings(out, epsilon, options, private_out=private_out, resolution=resolution,
                         reporting_length=reporting_length, overwrite=overwrite, **fields)  # fmt: skip
    table, read_options = bundled_input(_table(data), _read_options(schema, read))
    return run_release(table, read_options, settings, RunContext(threads=threads, cluster=engine, seed=seed))


def evaluate(
    sensitive: Any,
    synthetic: Any,
    out: str | Path,
    *,
    schema: str | Path | Schema | None = None,
    aggregates: str | Path | None = None,
    reporting_length: int = 3,
    resolution: int | None = None,
    overwrite: bool = False,
    **read_options: Any,
) -> EvaluateResult:
    """Synthetic against sensitive data, as `sdsynth evaluate`: every metric, written into `out` (private). Returns
    the evaluations; `.private.summary` holds the headline numbers."""
    return run_evaluate(_table(sensitive), _table(synthetic), _read_options(schema, read_options), out,
                        reporting_length, resolution, aggregates, overwrite)  # fmt: skip


@dataclass
class Release:
    """A published release folder, read as SQL users read it (the locked read-only connection)."""

    folder: Path

    def query(self, sql: str) -> pl.DataFrame:
        return run_query(self.folder, sql)

    @property
    def info(self) -> dict[str, str]:
        """Every parameter of the release, as text (the `release_info` table)."""
        return dict(self.query("SELECT key, value FROM release_info").iter_rows())

    @property
    def parameters(self) -> dict[str, Any]:
        """Every parameter of the release, typed (the `release_parameters` view; releases written before it existed:
        `info`)."""
        return self.query("SELECT * FROM release_parameters").row(0, named=True)

    @property
    def aggregates(self) -> pl.DataFrame:
        return self.query("SELECT * FROM aggregates")

    @property
    def synthetic(self) -> pl.DataFrame:
        return self.query("SELECT * FROM synthetic")

    def synthesizer(self, **options: Any) -> Synthesizer:
        """Aggregate-seeded synthesis from this release alone (no sensitive data)."""
        settings = _settings(None, None, dict(options), method="aggregate-seeded")
        synth = Synthesizer(settings, RunContext())
        synth._aggregates = _load_aggregates(self.folder)
        return synth


def load_release(folder: str | Path) -> Release:
    """A release folder written by `sdsynth release`, `aggregate` or `synthesize`."""
    _load_aggregates(folder)  # a clear error now if it is not a release
    return Release(Path(folder))
