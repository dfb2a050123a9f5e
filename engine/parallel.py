"""Running a Numba kernel over record batches on every core.

Kernels release the GIL (`nogil=True`), so plain threads run them in parallel. Each batch is split into one
contiguous row range per thread with about the same number of attributes; thread `t` always gets range `t`, so a
kernel may keep per-thread state (tables, accumulators) without locks. The next batch is read and encoded while
the current one is processed.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

Batch = tuple[np.ndarray, np.ndarray]
Work = Callable[[int, np.ndarray, np.ndarray, int, int], None]


def default_threads() -> int:
    return max(1, os.cpu_count() or 1)


def split_rows(offsets: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Contiguous row ranges with about the same number of attributes each."""
    n = len(offsets) - 1
    if n == 0:
        return []
    targets = np.linspace(0, offsets[-1], parts + 1)[1:-1]
    cuts = [0, *np.searchsorted(offsets, targets).tolist(), n]
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


def run_batches(
    batches: Iterator[Batch], n_threads: int, work: Work, on_batch: Callable[[int], None] | None = None
) -> int:
    """Call `work(thread, offsets, ids, row_start, row_stop)` over every batch; return the number of records."""
    n_records = 0
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        pending: list[Future[None]] = []
        for offsets, ids in batches:
            for f in pending:
                f.result()
            ranges = split_rows(offsets, n_threads)
            pending = [pool.submit(work, t, offsets, ids, lo, hi) for t, (lo, hi) in enumerate(ranges)]
            n_records += len(offsets) - 1
            if on_batch is not None:
                on_batch(len(offsets) - 1)
        for f in pending:
            f.result()
    return n_records
