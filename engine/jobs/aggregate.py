"""`run_aggregate` (`sdsynth aggregate`): count, protect (k-anonymity or DP) and write the released aggregates, with
the private statistics when asked."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdsynth._utils.context import RunContext, context
from sdsynth._utils.files import atomic_directory
from sdsynth.bundle.write import release_date, write_aggregates_release
from sdsynth.count.analysis import SensitiveStatistics
from sdsynth.jobs.common import (
    check_dp_inputs,
    check_outputs,
    complete,
    counting_records,
    input_description,
    local_records,
    protect,
    reading,
    run_inputs,
    spending,
    warn_default_delta,
    write_private_figures,
)
from sdsynth.jobs.settings import JobSettings
from sdsynth.protect.aggregates import Aggregates
from sdsynth.read.options import IngestOptions


@dataclass
class AggregateResult:
    aggregates: Aggregates
    statistics: SensitiveStatistics | None
    release_id: str


def run_aggregate(
    data: Any, options: IngestOptions, settings: JobSettings, ctx: RunContext | None = None
) -> AggregateResult:
    """Count every combination of up to R attributes, protect the counts (k-anonymity, or DP with `settings.dp`) and
    write them as a release into `settings.out`; the private statistics into `settings.private_out` when given.

    With `ctx.cluster` the passes over the records run on Dask workers; with `settings.ledger` (DP only) the run's ε
    is reserved in the budget ledger before any record is read."""
    ctx = context(ctx)
    inputs = run_inputs(data, options, settings)
    created_at, release_id = release_date(), uuid.uuid4().hex
    with spending(settings, "aggregate", ctx) as entry:
        check_outputs(settings, inputs)
        if settings.dp is not None:
            check_dp_inputs(data, options, settings.dp, ctx)
        with (
            atomic_directory(settings.out, settings.overwrite, inputs=inputs) as tmp_out,
            reading(entry),
            counting_records(data, options, ctx) as records,
        ):
            protected = protect(records, settings, ctx)
            stats = None
            if settings.private_out is not None:
                with atomic_directory(settings.private_out, settings.overwrite, private=True, inputs=inputs) as tmp:
                    local = local_records(records, data, options, ctx)
                    stats, _ = write_private_figures(records, local, protected, settings, Path(tmp), ctx)
            with ctx.progress.stage("writing release"):
                info = {**input_description(options, ctx), "release_id": release_id}
                write_aggregates_release(
                    protected.aggregates, Path(tmp_out), info_extra=info, created_at=created_at, schema=options.schema
                )
        complete(entry, release_id, protected.aggregates, settings.out)
    warn_default_delta(protected.aggregates, settings.dp, ctx)
    return AggregateResult(protected.aggregates, stats, release_id)
