"""Counting, DP marginals and calibrated-law synthesis of a file on a Dask cluster, in one call each: the stages'
own functions run over `DaskEngine.load`'s records (see `backends/dask`).

>>> from sdsynth.backends.dask.engine import DaskEngine                       # doctest: +SKIP
>>> from sdsynth.jobs.distributed import count_combinations_distributed       # doctest: +SKIP
>>> with DaskEngine(workers=2) as engine:                                      # doctest: +SKIP
...     counts = count_combinations_distributed("cases.parquet", options, 3, engine)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sdsynth._utils.context import RunContext
from sdsynth._utils.progress import NullProgress, Progress
from sdsynth.backends.dask.engine import (
    DaskEngine,
)
from sdsynth.count.combinations import CombinationCounts, count_combinations
from sdsynth.encode.records import EncodedData
from sdsynth.protect.dp.marginals import DpResult, dp_marginals
from sdsynth.protect.dp.params import DpParameters
from sdsynth.read.options import IngestOptions


def count_combinations_distributed(
    data: str | Path,
    options: IngestOptions | None,
    reporting_length: int,
    engine: DaskEngine,
    progress: Progress | None = None,
) -> CombinationCounts:
    """Exact counts of every combination of length ≤ R, counted on the cluster: equal to
    `count_combinations(encode(data, options), reporting_length)`."""
    with engine.load(data, options, progress) as records:
        return count_combinations(records, reporting_length, RunContext(progress or NullProgress()))


def dp_marginals_distributed(
    data: str | Path,
    options: IngestOptions | None,
    params: DpParameters,
    engine: DaskEngine,
    progress: Progress | None = None,
) -> DpResult:
    """`dp_marginals` with its passes over the records run on the cluster and every noise draw on the client (W,
    the bound on attributes per record, from the schema's declared parts or `params.max_attributes_per_record`)."""
    options = options or IngestOptions()
    with engine.load(data, options, progress) as records:
        return dp_marginals(records, params, RunContext(progress or NullProgress()))


def synthesize_distributed(aggs: Any, target: int, seed: int | None, engine: DaskEngine) -> EncodedData:
    """Calibrated-law synthetic records drawn on the workers: the same records as
    `synth.calibrated.calibrated(aggs, target, seed)` (see `distributed_synth`)."""
    from sdsynth.synth.distributed import synthesize_distributed as run

    return run(aggs, target, seed, engine)
