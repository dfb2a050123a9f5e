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
