"""The run context: how a run runs, not what it computes, passed as one value instead of four parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sdsynth._utils.progress import NullProgress, Progress


@dataclass(frozen=True)
class RunContext:
    """The progress display, the threads of this machine (None: one per core), the Dask engine the passes over the
    records run on (None: this machine) and the seed of post-processing.

    The seed makes synthesis reproducible: synthesis only post-processes released aggregates (or, under
    k-anonymity, the model it fitted). DP randomness never reads it: the DP mechanisms draw from OS entropy at every
    run (protect/dp/random.py), and nothing in protect/ takes a seed.

    >>> RunContext(threads=2).with_seed(7).seed
    7
    """

    progress: Progress = field(default_factory=NullProgress)
    threads: int | None = None
    cluster: Any = None  # a backends.dask.engine.DaskEngine, started
    seed: int | None = None

    @property
    def engine(self) -> str:
        return "local" if self.cluster is None else "dask"

    def with_seed(self, seed: int | None) -> RunContext:
        return RunContext(self.progress, self.threads, self.cluster, seed)


def context(ctx: RunContext | None) -> RunContext:
    """`ctx`, or the default one (no progress display, every core, this machine, no seed)."""
    return ctx if ctx is not None else RunContext()
