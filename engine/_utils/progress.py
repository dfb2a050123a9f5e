"""Progress reporting without tying the engine to a terminal.

Engine functions take an optional `Progress`; the CLI passes one that draws rich progress bars, tests and library
users get `NullProgress`. A stage has a name, an optional total and a unit, and is advanced as work completes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class ProgressBar(Protocol):
    def advance(self, amount: float = 1) -> None: ...

    def set_total(self, total: float | None) -> None: ...


class Progress(Protocol):
    def stage(self, name: str, total: float | None = None, unit: str = "") -> AbstractContextManager[ProgressBar]: ...

    def note(self, message: str) -> None:
        """A one-line remark for the user (never data values or true counts)."""
        ...


class _NullBar:
    def advance(self, amount: float = 1) -> None:
        pass

    def set_total(self, total: float | None) -> None:
        pass


class NullProgress:
    """Reports nothing."""

    @contextmanager
    def stage(self, name: str, total: float | None = None, unit: str = "") -> Iterator[ProgressBar]:
        yield _NullBar()

    def note(self, message: str) -> None:
        pass
