"""Progress reporting without tying the engine to a terminal.

Engine functions take an optional `Progress`; the CLI passes one that draws progress bars on a terminal and prints
one line per stage otherwise (logs), tests and library users get `NullProgress`. A stage has a name, an optional
total and a unit, and is advanced as work completes. A total may be displayed only when it is public (`shown`:
the released record count, a number of partitions); a count of the sensitive data (its rows, its records) drives a
bar or an ETA but is never printed.

`note` is a remark (quiet runs drop it); `warn` is a privacy or data warning, shown even in quiet runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

logger = logging.getLogger("sdsynth")


class ProgressBar(Protocol):
    def advance(self, amount: float = 1) -> None: ...

    def set_total(self, total: float | None) -> None: ...


class Progress(Protocol):
    def stage(
        self, name: str, total: float | None = None, unit: str = "", shown: bool = False
    ) -> AbstractContextManager[ProgressBar]:
        """A stage of work; `shown=True` lets the display print `total` (only for public totals)."""
        ...

    def note(self, message: str) -> None:
        """A one-line remark for the user (never data values or true counts)."""
        ...

    def warn(self, message: str) -> None:
        """A privacy or data warning the user must see even in a quiet run (never data values or true counts)."""
        ...


class _NullBar:
    def advance(self, amount: float = 1) -> None:
        pass

    def set_total(self, total: float | None) -> None:
        pass


class NullProgress:
    """Shows no progress and no notes; warnings go to the `sdsynth` logger (Python prints warnings of a logger
    nobody configured on stderr)."""

    @contextmanager
    def stage(
        self, name: str, total: float | None = None, unit: str = "", shown: bool = False
    ) -> Iterator[ProgressBar]:
        yield _NullBar()

    def note(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        logger.warning(message)


class TimedProgress:
    """A `Progress` that passes everything on to `inner` and keeps each finished stage's wall time, in the order the
    stages started, with how deep it is within other stages: a release writes them to its private folder
    (`stage_times.json`) and `--verbose` prints them."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner
        self.times: list[tuple[str, float, int]] = []  # (stage, seconds, depth)
        self._depth = 0

    @contextmanager
    def stage(
        self, name: str, total: float | None = None, unit: str = "", shown: bool = False
    ) -> Iterator[ProgressBar]:
        started, slot, depth = time.perf_counter(), len(self.times), self._depth
        self.times.append((name, 0.0, depth))
        self._depth += 1
        try:
            with self.inner.stage(name, total, unit, shown) as bar:
                yield bar
        finally:
            self._depth -= 1
            self.times[slot] = (name, time.perf_counter() - started, depth)

    def note(self, message: str) -> None:
        self.inner.note(message)

    def warn(self, message: str) -> None:
        self.inner.warn(message)

    def summary(self) -> dict[str, object]:
        """The stages' times (seconds, rounded to milliseconds; `within`: how many stages enclose it) and the time
        spent in stages (outermost ones only), for a JSON file."""
        stages = [{"stage": name, "seconds": round(t, 3), "within": depth} for name, t, depth in self.times]
        return {"stages": stages, "seconds_in_stages": round(sum(t for _, t, d in self.times if d == 0), 3)}
