"""Calibrated-law synthesis split over Dask workers: the same records as `synth.calibrated.calibrated_batches`.

`synth.calibrated.CalibratedSampler` makes output batch i a function of (seed, i) only: its pool of candidates comes
from ChaCha20 record streams of its own, its selection from a generator keyed by (seed, i), and the calibration
weights are fitted once, when the sampler is built (on the client). So the sampler is shipped to every worker once,
each batch is one task, and the batches, gathered in order, are record for record those of a local run with the
same seed. There is no feedback from one batch to the next in this law, so splitting changes nothing in quality.

Nothing here sees sensitive data: it is post-processing of released aggregates, and the seed is the
post-processing seed (without one, the key comes from OS entropy on the client and is shared by all batches).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numba
import numpy as np

from sdsynth.encode.records import EncodedData, _concat_csr
from sdsynth.protect.aggregates import Aggregates
from sdsynth.synth.calibrated import CalibratedSampler


def _batch(sampler: CalibratedSampler, index: int, size: int, threads: int) -> EncodedData:
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    return sampler.batch(index, size)


def iter_synthesize_distributed(
    aggs: Aggregates, target: int, seed: int | None, engine: Any, coverage: float | None = None
) -> Iterator[EncodedData]:
    """The synthetic records in output order, one batch at a time (every batch is computed on the workers
    concurrently; at most the batches not yet consumed wait in the workers' memory)."""
    sampler = CalibratedSampler(aggs, target, seed, coverage=coverage)
    sizes = sampler.batch_sizes()
    if not sizes:
        return
    client = engine.client
    [sampler_future] = client.scatter([sampler], broadcast=True, hash=False)
    futures = [
        client.submit(_batch, sampler_future, index, size, engine.threads_per_task, pure=False)
        for index, size in enumerate(sizes)
    ]
    for future in futures:
        batch = future.result()
        future.release()
        yield batch


def synthesize_distributed(
    aggs: Aggregates, target: int, seed: int | None, engine: Any, coverage: float | None = None
) -> EncodedData:
    """`target` calibrated-law records drawn on the cluster; with the same seed, equal to the concatenation of
    `calibrated_batches(aggs, target, seed, coverage)`."""
    parts = [(b.offsets, b.ids) for b in iter_synthesize_distributed(aggs, target, seed, engine, coverage)]
    if not parts:
        return EncodedData(aggs.attributes, np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32), "synthetic")
    offsets, ids = _concat_csr(parts)
    return EncodedData(aggs.attributes, offsets, ids, "synthetic")
