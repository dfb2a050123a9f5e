"""Independent pieces of a kernel's work on several threads: Python threads calling a `nogil` Numba kernel on
disjoint ranges, instead of Numba's `parallel=True`.

A `prange` loop costs seconds of compilation on a first run (Numba types the function twice and compiles the loop
body as a function of its own); a `nogil` kernel over a range of indices compiles once, like any kernel, and runs
unchanged on each thread. The work of each index must be independent of the others' (each writes its own outputs),
so the result depends neither on the number of threads nor on how the range is cut. The number of threads is
Numba's (`numba.set_num_threads`, which `--threads` sets).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

import numba

PIECES_PER_THREAD = 4  # more pieces than threads: a thread that finishes early takes the next one


class KernelThreads:
    """Threads for `run` calls (Numba's number of threads unless given; none of their own when that is one). Keep
    one open for a kernel called step after step, so the threads are not started again each time."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = max(1, threads if threads is not None else numba.get_num_threads())
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="sdsynth-kernel") if self.threads > 1 else None

    def run(self, n: int, work: Callable[[int, int], object], pieces: int | None = None) -> None:
        """`work(lo, hi)` over contiguous ranges that cover 0..n−1 once: `pieces` ranges (default PIECES_PER_THREAD
        per thread, at most n), in this thread alone when there is one thread or one piece."""
        count = min(n, pieces if pieces is not None else self.threads * PIECES_PER_THREAD)
        if self._pool is None or count <= 1:
            if n > 0:
                work(0, n)
            return
        cuts = [n * i // count for i in range(count + 1)]
        for future in [self._pool.submit(work, cuts[i], cuts[i + 1]) for i in range(count)]:
            future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    def __enter__(self) -> KernelThreads:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def run_ranges(n: int, work: Callable[[int, int], object], pieces: int | None = None) -> None:
    """`work(lo, hi)` over contiguous ranges that cover 0..n−1 once, on Numba's number of threads (`KernelThreads`);
    threads are started only when there are several pieces to run."""
    threads = min(numba.get_num_threads(), n, pieces if pieces is not None else n)
    with KernelThreads(max(1, threads)) as pool:
        pool.run(n, work, pieces)
