"""What every command shares: error handling, progress display, and the options that describe the input."""

from __future__ import annotations

import enum
import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

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
            fail(_escape_markup(str(exc)))
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
            err_console.print(_escape_markup(message))


def split_names(values: list[str] | None) -> list[str] | None:
    """Repeatable options that also accept comma-separated lists."""
    if not values:
        return None
    out: list[str] = []
    for v in values:
        out.extend(p for p in (x.strip() for x in v.split(",")) if p)
    return out


def parse_multi_value(values: list[str] | None, legacy: list[str] | None) -> dict[str, str] | None:
    """`--multi-value COL=DELIM` (and the reference's `--multi-value-columns COL,DELIM`)."""
    out: dict[str, str] = {}
    for v in values or []:
        if "=" not in v:
            fail(f"--multi-value expects COLUMN=DELIMITER, got {v!r}")
        name, delim = v.split("=", 1)
        out[name] = delim
    for v in legacy or []:
        if "," not in v:
            fail(f"--multi-value-columns expects COLUMN,DELIMITER, got {v!r}")
        name, delim = v.split(",", 1)
        out[name] = delim
    return out or None


# --------------------------------------------------------------------------------------------- shared option types
InputArg = Annotated[
    Path | None,
    typer.Argument(
        help="Sensitive table: CSV, TSV or Parquet. Omit it to use the bundled CTDC-like sample (17,000 rows).",
        show_default=False,
    ),
]
SchemaOpt = Annotated[
    str | None,
    typer.Option(
        "--schema",
        help="Schema file (YAML/JSON) or the name of a shipped schema (ctdc-victim-perpetrator, adult-uci). "
        "Explicit options below override it.",
    ),
]
UseColumnsOpt = Annotated[
    list[str] | None,
    typer.Option("--use-columns", help="Columns to use (repeat or comma-separate); default: all.", show_default=False),
]
SensitiveZerosOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--sensitive-zeros", help="Columns where '0' is a value rather than 'absent' (repeat or comma-separate)."
    ),
]
MultiValueOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--multi-value", help="Multi-value column and its delimiter, COL=DELIM (repeatable), e.g. IP_Gender=;"
    ),
]
MultiValueLegacyOpt = Annotated[
    list[str] | None,
    typer.Option("--multi-value-columns", help="Reference CLI spelling: COL,DELIM (repeatable).", hidden=True),
]
SubjectIdOpt = Annotated[
    str | None,
    typer.Option("--subject-id", help="Column identifying the subject: rows with the same id are joined into one."),
]
RecordLimitOpt = Annotated[int, typer.Option("--record-limit", min=0, help="Use only the first N data rows (0 = all).")]
MissingOpt = Annotated[
    list[str] | None,
    typer.Option("--missing-values", help="Tokens meaning 'missing', e.g. N or ? (repeatable); default from schema."),
]
DelimiterOpt = Annotated[
    str | None,
    typer.Option(
        "--delimiter", "--sensitive-delimiter", help="Field delimiter of a text input (default: ',' or TAB for .tsv)."
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display or summary.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
ThreadsOpt = Annotated[
    int | None, typer.Option("--threads", "--n-threads", min=1, help="Worker threads (default: one per core).")
]


class Engine(str, enum.Enum):
    local = "local"
    dask = "dask"


EngineOpt = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="Where the passes over the records run: local (this machine's threads) or dask (a Dask cluster: "
        "--scheduler ADDRESS, or a local cluster of --workers N processes; pip install 'sdsynth[distributed]').",
        show_default=True,
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (--engine dask)."),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="--engine dask without --scheduler: worker processes of the local cluster [default: one per core].",
    ),
]


def resolve_input(path: Path | None, quiet: bool) -> Path:
    if path is not None:
        return path
    from sdsynth.sample_data import SAMPLE_ROWS, embedded_sample_path

    sample = embedded_sample_path()
    if not quiet:
        err_console.print(f"no input given: using the bundled CTDC-like sample ({SAMPLE_ROWS:,} rows, {sample})")
    return sample


def ingest_options(
    schema: str | None,
    use_columns: list[str] | None,
    sensitive_zeros: list[str] | None,
    multi_value: list[str] | None,
    multi_value_legacy: list[str] | None,
    subject_id: str | None,
    record_limit: int,
    missing_values: list[str] | None,
    delimiter: str | None,
    input_path: Path | None = None,
) -> Any:
    from sdsynth.engine import IngestOptions, load_schema

    if delimiter is not None:
        delimiter = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(delimiter, delimiter)
        if len(delimiter) != 1:
            fail(f"--delimiter must be one character, got {delimiter!r}")
    loaded = load_schema(schema) if schema else None
    if loaded is None and input_path is None:
        loaded = load_schema("ctdc-victim-perpetrator")  # the bundled sample follows this schema
    return IngestOptions(
        schema=loaded,
        use_columns=split_names(use_columns),
        sensitive_zeros=split_names(sensitive_zeros),
        multi_value=parse_multi_value(multi_value, multi_value_legacy),
        subject_id=subject_id,
        record_limit=record_limit,
        missing_values=missing_values,
        delimiter=delimiter,
    )
