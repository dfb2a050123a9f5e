"""From parsed option values (`_options.with_options`'s `values`) to the engine's values: the input and how to read
it, the job's settings, the run context. Parsing flag syntax (COL=DELIM, LENGTH=VALUE, comma lists) happens here;
every rule between options lives in the engine (`DpParameters.from_options`, `JobSettings`, ...)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from ._common import RichProgress, err_console, print_stage_times


def split_names(values: list[str] | None) -> list[str] | None:
    """Repeatable options that also accept comma-separated lists."""
    if not values:
        return None
    out: list[str] = []
    for v in values:
        out.extend(p for p in (x.strip() for x in v.split(",")) if p)
    return out


def _pairs(items: list[str] | None, sep: str, flag: str, form: str) -> list[tuple[str, str]]:
    out = []
    for item in items or []:
        if sep not in item:
            raise typer.BadParameter(f"{flag} expects {form}, got {item!r}")
        out.append(tuple(item.split(sep, 1)))
    return out  # type: ignore[return-value]


def _floats(text: str, flag: str) -> list[float]:
    try:
        return [float(x) for x in text.replace(" ", ",").split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"{flag} must be numbers separated by commas, got {text!r}") from None


def ingest_options(values: dict[str, Any]) -> Any:
    """How to read the input: the schema (a file or a shipped name) and the explicit options."""
    from sdsynth.read.options import IngestOptions
    from sdsynth.schema.files import load_schema

    delimiter = values.get("delimiter")
    if delimiter is not None:
        delimiter = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(delimiter, delimiter)
        if len(delimiter) != 1:
            raise typer.BadParameter(f"--delimiter must be one character, got {delimiter!r}")
    multi = dict(_pairs(values.get("multi_value"), "=", "--multi-value", "COLUMN=DELIMITER"))
    multi.update(_pairs(values.get("multi_value_columns"), ",", "--multi-value-columns", "COLUMN,DELIMITER"))
    schema = values.get("schema")
    return IngestOptions(
        schema=load_schema(schema) if schema else None,
        use_columns=split_names(values.get("use_columns")),
        drop_columns=split_names(values.get("drop_columns")),
        sensitive_zeros=split_names(values.get("sensitive_zeros")),
        multi_value=multi or None,
        subject_id=values.get("subject_id"),
        record_limit=values.get("record_limit") or 0,
        missing_values=values.get("missing_values"),
        delimiter=delimiter,
    )


def the_input(path: Any, values: dict[str, Any]) -> tuple[Any, Any]:
    """The input and how to read it; without a path, the bundled sample (and, unless --schema, its schema)."""
    from sdsynth.jobs.common import bundled_input

    data, options = bundled_input(path, ingest_options(values))
    if path is None and not values.get("quiet"):
        err_console.print(f"no input given: using the bundled CTDC-like sample ({data})", markup=False)
    return data, options


def released_length(values: dict[str, Any], counted: bool = False) -> Any:
    """--reporting-length as the engine takes it: a number or "auto" (the default with --dp); `counted`: the most
    that may be counted (auto's maximum)."""
    from sdsynth.protect.dp.params import MAX_AUTO_LENGTH, reporting_length_option

    length = reporting_length_option(values.get("reporting_length"), bool(values.get("dp")))
    return MAX_AUTO_LENGTH if counted and isinstance(length, str) else length


def dp_parameters(values: dict[str, Any]) -> Any:
    """DpParameters from the DP options (None without --dp); the reference CLI's threshold spellings mapped."""
    from sdsynth.protect.dp.params import DpParameters

    fabrication = values.get("fabrication_mode")
    fabrication = fabrication.value if fabrication is not None else None
    thresholds = {int(k): float(v) for k, v in _pairs(values.get("threshold"), "=", "--threshold", "LENGTH=VALUE")
                  if _is_number(k, v, "--threshold")} or None  # fmt: skip
    reference_values = values.get("noise_threshold_values")
    if reference_values is not None:
        kind = values.get("noise_threshold_type")
        if kind not in (None, "fixed", "adaptive"):
            raise typer.BadParameter("--noise-threshold-type must be fixed or adaptive")
        implied = "custom-adaptive" if kind == "adaptive" else "custom-fixed"
        if fabrication not in (None, implied):
            raise typer.BadParameter("--noise-threshold-values conflicts with --fabrication-mode")
        fabrication = implied
        listed = {i + 2: v for i, v in enumerate(_floats(reference_values, "--noise-threshold-values"))}
        thresholds = {**listed, **(thresholds or {})}
    sigma = values.get("sigma_proportions")
    accuracy = values.get("accuracy_mode")
    return DpParameters.from_options(
        dp=bool(values.get("dp")),
        epsilon=values.get("epsilon"),
        delta=values.get("delta"),
        reporting_length=released_length(values),
        percentile=values.get("percentile"),
        percentile_epsilon_proportion=values.get("percentile_epsilon_proportion"),
        record_count_epsilon_proportion=values.get("record_count_epsilon_proportion"),
        accuracy_mode=accuracy.value if accuracy is not None else None,
        sigma_proportions=_floats(sigma, "--sigma-proportions") if sigma is not None else None,
        fabrication_mode=fabrication,
        thresholds=thresholds,
        max_attributes_per_record=values.get("max_attributes_per_record"),
        column_pairs=pairs.value if (pairs := values.get("column_pairs")) is not None else None,
        pair_selection_proportion=values.get("pair_selection_proportion"),
        extra_column_pairs=values.get("extra_column_pairs"),
    )


def _is_number(length: str, value: str, flag: str) -> bool:
    try:
        int(length), float(value)
    except ValueError:
        raise typer.BadParameter(f"{flag} expects LENGTH=VALUE with numbers, got {length}={value}") from None
    return True


def settings(values: dict[str, Any]) -> Any:
    """The job's settings: outputs, protection, synthesis, the ledger."""
    from sdsynth.jobs.settings import JobSettings, Oversampling
    from sdsynth.protect.ledger import LedgerRequest

    law = values.get("sampling_law")
    ratio = values.get("oversampling_ratio")
    return JobSettings(
        out=values["out"],
        private_out=values.get("private_out"),
        reporting_length=released_length(values, counted=True),
        resolution=values.get("resolution"),
        dp=dp_parameters(values),
        method=values.get("method"),
        records=values.get("records"),
        law_options={
            "sampling_law": law.value if law is not None else None,
            "coverage": values.get("coverage"),
            "use_synthetic_counts": values.get("use_synthetic_counts"),
            "weight_selection_percentile": values.get("weight_selection_percentile"),
            "aggregate_counts_scale_factor": values.get("aggregate_counts_scale_factor"),
            "batch_size": values.get("batch_size"),
        },
        oversampling=Oversampling(ratio, values.get("oversampling_tries", 1)) if ratio is not None else None,
        overwrite=bool(values.get("overwrite")),
        ledger=LedgerRequest.from_options(values.get("ledger"), values.get("dataset_id"), values.get("budget")),
        aggregates=values.get("aggregates"),
        title=values.get("title", "sdsynth release"),
    )


@contextmanager
def run_context(values: dict[str, Any]) -> Iterator[Any]:
    """The run context: progress on stderr, threads, the Dask engine (started here, closed on exit), the seed. On a
    first run (an empty kernel cache) it says that kernels are being compiled, compiles ahead on the second core
    (`kernels.ahead`), and records once the run succeeded that the cache is filled."""
    from sdsynth._utils.cache import FIRST_RUN_NOTE, first_compile_pending, mark_kernels_compiled
    from sdsynth._utils.context import RunContext
    from sdsynth._utils.progress import TimedProgress
    from sdsynth.backends.dask.engine import compute_engine
    from sdsynth.kernels.ahead import compiling_ahead

    progress = TimedProgress(RichProgress(bool(values.get("quiet"))))
    first_run = first_compile_pending()
    if first_run:
        progress.note(FIRST_RUN_NOTE)
    engine = values.get("engine")
    with compute_engine(engine.value if engine is not None else "local", values.get("scheduler"),
                        values.get("workers")) as cluster, compiling_ahead(first_run):  # fmt: skip
        yield RunContext(progress, values.get("threads"), cluster, values.get("seed"))
    if first_run:
        mark_kernels_compiled()
    if values.get("verbose"):
        import psutil

        print_stage_times(progress, time.time() - psutil.Process().create_time())  # since the process started
