"""What every command shares: error handling (engine messages with the command's flags), the progress display."""

from __future__ import annotations

import functools
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sdsynth._utils.progress import TimedProgress

F = TypeVar("F", bound=Callable[..., Any])

try:  # Typer < 0.20 builds on click; later versions vendor it under typer.TyperException
    from click.exceptions import ClickException as _UsageException
except ImportError:  # pragma: no cover - depends on the installed Typer
    _UsageException = typer.TyperException  # type: ignore[attr-defined,misc]

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


def handle_errors(func: F) -> F:
    """Turn sdsynth's own exceptions into one line on stderr and exit code 2; never print a traceback.

    Unexpected exceptions print only their type (their message could quote sensitive data); set SDSYNTH_DEBUG=1
    to see the traceback when reporting a bug.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sdsynth.errors import SdsynthError

        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, _UsageException, KeyboardInterrupt):
            raise
        except SdsynthError as exc:
            fail(_escape_markup(flag_names(str(exc))))
        except MemoryError:
            fail("out of memory; lower the reporting length, use fewer columns or bin high-cardinality columns")
        except OSError as exc:
            fail(_escape_markup(f"{exc.filename or 'file'}: {exc.strerror or exc}"))
        except Exception as exc:
            if os.environ.get("SDSYNTH_DEBUG"):
                raise
            fail(
                f"internal error ({type(exc).__name__}); this is a bug in sdsynth. Rerun with SDSYNTH_DEBUG=1 to see "
                "the traceback (it may show data values: do not share it publicly)",
                code=1,
            )

    return wrapper  # type: ignore[return-value]


# engine parameters whose flag is not `--` + the name with dashes
_FLAG_OF = {"thresholds": "--threshold", "reporting_length": "--reporting-length", "dp": "--dp"}


def flag_names(message: str) -> str:
    """An engine message names parameters in backticks (`max_attributes_per_record`); the command line names flags
    (--max-attributes-per-record), as the current command spells them."""
    flags = dict(_FLAG_OF)
    try:
        import click

        current = click.get_current_context(silent=True)
    except ImportError:  # pragma: no cover - a Typer that vendors click
        current = None
    if current is not None:
        for param in current.command.params:
            longs = [o for o in param.opts if o.startswith("--")]
            if param.name and longs:
                flags[param.name] = longs[0]
    return re.sub(r"`(\w+)`", lambda m: flags.get(m.group(1), "--" + m.group(1).replace("_", "-")), message)


def _escape_markup(text: str) -> str:
    return text.replace("[", r"\[")


class RichProgress:
    """The engine's `Progress` on stderr: on a terminal, a bar per long stage (percentage and time left when the total
    is known; the total itself only when it is public) and a line when it ends; elsewhere (cron, CI logs) one plain
    line per stage with its time. `quiet` shows only warnings (privacy and data) and errors."""

    def __init__(self, quiet: bool = False, terminal: bool | None = None) -> None:
        self.quiet = quiet
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        if os.environ.get("SDSYNTH_PROGRESS") == "1":  # bars even when stderr is not a terminal
            self.terminal = True

    @contextmanager
    def stage(self, name: str, total: float | None = None, unit: str = "", shown: bool = False) -> Iterator[Any]:
        from sdsynth._utils.progress import NullProgress

        started = time.perf_counter()
        if self.quiet or not self.terminal:
            with NullProgress().stage(name) as bar:
                yield bar
            if not self.quiet:
                err_console.print(f"{name}: {_summary(started, total, unit, shown)}", markup=False)
            return
        with Progress(*_columns(total is not None, unit, shown), console=err_console, transient=True) as progress:
            task = progress.add_task(name, total=total)

            class _Bar:
                def advance(self, amount: float = 1) -> None:
                    progress.advance(task, amount)

                def set_total(self, new_total: float | None) -> None:
                    progress.update(task, total=new_total)

            yield _Bar()
        err_console.print(f"[green]✓[/] {_escape_markup(name)} ({_summary(started, total, unit, shown)})", markup=True)

    def note(self, message: str) -> None:
        if not self.quiet:
            err_console.print(_escape_markup(flag_names(message)))

    def warn(self, message: str) -> None:
        err_console.print(_escape_markup(flag_names(message)))


def _columns(has_total: bool, unit: str, shown: bool) -> list[Any]:
    """Spinner and name; with a total a bar, the percentage and the time left, and the counts only when public."""
    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if has_total:
        columns += [BarColumn(), TaskProgressColumn()]
        columns += [MofNCompleteColumn(), TextColumn(unit)] if shown else []
        columns += [TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn()]
    else:
        columns += [TimeElapsedColumn()]
    return columns


def _summary(started: float, total: float | None, unit: str, shown: bool) -> str:
    """`12.3 s`, or `300,000 records, 12.3 s` when the total is public."""
    elapsed = time.perf_counter() - started
    took = f"{elapsed:.1f} s" if elapsed < 120 else f"{elapsed / 60:.1f} min"
    return f"{int(total):,} {unit}, {took}".replace(" ,", ",") if shown and total is not None else took


def print_stage_times(timed: TimedProgress, whole: float) -> None:
    """`--verbose`: each stage's time and share of the whole command (`whole` seconds), stages within stages
    indented, the slowest marked, and the time outside any stage (start-up, imports, setup)."""
    if not timed.times:
        return
    top = [t for _, t, depth in timed.times if depth == 0]
    slowest = max(top)
    rows = [("  " * depth + name, t, depth == 0 and t == slowest) for name, t, depth in timed.times]
    rest = ("outside stages (start-up, imports, setup)", whole - sum(top), False)
    width = max(len(r[0]) for r in [*rows, rest])
    err_console.print(f"stage times (whole command {whole:.1f} s):", markup=False)
    for name, seconds, mark in [*rows, rest]:
        err_console.print(f"  {name:<{width}}  {seconds:7.2f} s  {seconds / whole:6.1%}{'  ← slowest' if mark else ''}",
                          markup=False)  # fmt: skip
