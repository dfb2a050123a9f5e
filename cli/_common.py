"""What every command shares: error handling (engine messages with the command's flags), the progress display."""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

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
    """Progress bars on stderr for long stages (engine `Progress` protocol); silent when quiet."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet or (not sys.stderr.isatty() and os.environ.get("SDSYNTH_PROGRESS") != "1")
        self.notes_quiet = quiet

    @contextmanager
    def stage(self, name: str, total: float | None = None, unit: str = "") -> Iterator[Any]:
        if self.quiet:
            from sdsynth._utils.progress import NullProgress

            with NullProgress().stage(name) as bar:
                yield bar
            return
        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
        columns += [MofNCompleteColumn()] if total else []
        columns += [TextColumn(unit), TimeElapsedColumn()]
        with Progress(*columns, console=err_console, transient=True) as progress:
            task = progress.add_task(name, total=total)

            class _Bar:
                def advance(self, amount: float = 1) -> None:
                    progress.advance(task, amount)

                def set_total(self, new_total: float | None) -> None:
                    progress.update(task, total=new_total)

            yield _Bar()
        err_console.print(f"[green]✓[/] {name}", markup=True)

    def note(self, message: str) -> None:
        if not self.notes_quiet:
            err_console.print(_escape_markup(flag_names(message)))
