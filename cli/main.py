"""The `sdsynth` command line: a thin layer over `sdsynth.engine`.

Heavy imports happen inside commands, so `sdsynth --help` answers at once.
"""

from __future__ import annotations

import gc
import signal
from typing import Annotated

import typer

from . import (
    aggregate_cmd,
    budget_cmd,
    evaluate_cmd,
    explore_cmd,
    prepare_cmd,
    query_cmd,
    release_cmd,
    sample_cmd,
    schema_cmd,
    synthesize_cmd,
)

app = typer.Typer(
    name="sdsynth",
    help="Publish safe aggregate counts and synthetic records from sensitive case data "
    "(k-anonymity or differential privacy).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a traceback must never print a record
    add_completion=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from sdsynth._version import __version__

        typer.echo(f"sdsynth {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """sdsynth: safe-to-share aggregates and synthetic data (see `sdsynth COMMAND --help`)."""


app.command("aggregate")(aggregate_cmd.aggregate)
app.command("release")(release_cmd.release)
app.command("synthesize")(synthesize_cmd.synthesize)
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("query")(query_cmd.query)
app.command("explore")(explore_cmd.explore)
app.command("sample-data")(sample_cmd.sample_data)
app.add_typer(schema_cmd.app, name="schema")
app.add_typer(budget_cmd.budget_app, name="budget")
app.add_typer(prepare_cmd.app, name="prepare")


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM ends the run as Ctrl-C does: every temporary output (scratch of encoded sensitive records, partial
    folders) is removed on the way out."""
    del frame
    raise SystemExit(128 + signum)


def run() -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGTERM, _terminate)
    # A command makes few, long-lived Python objects (its data lives in arrays), but importing and loading Numba's
    # kernels makes many: at the default thresholds the collector runs 400 times (0.17 s of a small command).
    gc.set_threshold(20_000, 50, 50)
    try:
        app()
    finally:
        # The interpreter's last collections at exit would walk every object the run made (Numba's compiler
        # state above all: 0.3 s of a 1.6 s small command); frozen objects are skipped, and nothing is left to
        # finalise by then (outputs are closed and renamed inside the command).
        gc.freeze()


if __name__ == "__main__":
    run()
