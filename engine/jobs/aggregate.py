"""`run_aggregate` (`sdsynth aggregate`): count, protect (k-anonymity or DP) and write the released aggregates, with the
private statistics when asked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdsynth._utils.files import atomic_directory
from sdsynth._utils.progress import NullProgress, Progress
from sdsynth.bundle.write import release_date, write_aggregates_release
from sdsynth.count.analysis import SensitiveStatistics, sensitive_statistics
from sdsynth.count.combinations import count_combinations
from sdsynth.protect import ledger
from sdsynth.protect.aggregates import Aggregates
from sdsynth.protect.dp.params import DpParameters
from sdsynth.protect.ledger import LedgerRequest
from sdsynth.read.options import IngestOptions

if TYPE_CHECKING:
    from sdsynth.backends.dask.engine import DaskEngine
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
    warn_default_delta,
    write_dp_private,
    write_private_statistics,
    write_release_errors,
)


@dataclass
class AggregateResult:
    aggregates: Aggregates
    statistics: SensitiveStatistics | None


def run_aggregate(
    data: Any,
    options: IngestOptions,
    out: str | Path,
    reporting_length: int = 3,
    resolution: int = 10,
    private_out: str | Path | None = None,
    overwrite: bool = False,
    n_threads: int | None = None,
    progress: Progress | None = None,
    dp: DpParameters | None = None,
    cluster: DaskEngine | None = None,
    ledger_request: LedgerRequest | None = None,
) -> AggregateResult:
    """Count, protect (k-anonymity, or DP when `dp` is given) and write the release; private statistics when asked.

    In DP mode `reporting_length` and `resolution` are ignored (R comes from `dp`; `resolution` only sets the rare
    threshold of the private statistics). With a `cluster` the passes over the records run on Dask workers. With a
    `ledger_request` (DP only) the run's ε is reserved in the budget ledger before any record is read.
    """
    progress = progress or NullProgress()
    inputs = run_inputs(data, options, ledger_request.path if ledger_request else None)
    created_at, release_id = release_date(), uuid.uuid4().hex
    with ledger.spending(ledger_request, dp, "aggregate", progress.note) as entry:
        check_outputs(out, private_out, overwrite, inputs)
        if dp is not None:
            check_dp_inputs(data, options, dp, progress)
        with (
            atomic_directory(out, overwrite, inputs=inputs) as tmp_out,
            reading(entry),
            counting_records(data, options, cluster, progress) as records,
        ):
            aggs, counts, dp_private = protect(records, options, reporting_length, resolution, dp, n_threads, progress)
            stats = None
            if private_out is not None:
                with atomic_directory(private_out, overwrite, private=True, inputs=inputs) as tmp_private:
                    if counts is None:
                        counts = count_combinations(records, aggs.reporting_length, n_threads, progress)
                        write_release_errors(aggs, counts, Path(tmp_private))
                    write_dp_private(dp_private, Path(tmp_private))
                    local = local_records(records, data, options, progress)
                    stats = sensitive_statistics(local, counts, resolution, n_threads, progress)
                    write_private_statistics(stats, counts, Path(tmp_private))
            with progress.stage("writing release"):
                info = {**input_description(options, cluster), "release_id": release_id}
                write_aggregates_release(aggs, Path(tmp_out), info_extra=info, created_at=created_at)
        complete(entry, release_id, aggs, out)
    warn_default_delta(aggs, dp, progress)
    return AggregateResult(aggs, stats)
