"""`sdsynth explore`: the release explorer page, or a local server for it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import err_console, fail, handle_errors
from ._options import OverwriteOpt, QuietOpt


@handle_errors
def explore(
    release: Annotated[Path, typer.Argument(help="Release folder (or its release.duckdb file).")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="The page to write. Default: explore.html here.")
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Serve the page on 127.0.0.1 only, counting any selection in the release database (read-only, "
            "as `sdsynth query`); Ctrl-C stops it.",
        ),
    ] = False,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="--serve: the port on 127.0.0.1 (0: any free port).")
    ] = 8765,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Explore a release in the browser: one bar chart per column with the synthetic records' value counts under a
    selection of values, and the selection's released count with its 95 % margin of error (DP) or the interval
    holding the true count (k-anonymity).

    Writes one self-contained HTML file (no network: scripts, styles and data inside). When the synthetic records
    would pass 10 MB in the page, it holds synthetic counts of combinations instead, up to the depth it states;
    --serve answers every selection from the release database. `sdsynth release` writes the page into the release
    as explore.html.
    """
    from sdsynth.bundle.database import open_release_readonly

    if serve:
        if out is not None:
            fail("--serve serves the page and writes none: drop --out")
        _serve(release, port, open_release_readonly)
        return
    from sdsynth._utils.files import atomic_file
    from sdsynth.explore.page import explorer_payload, render_page

    target = out or Path("explore.html")
    with atomic_file(target, overwrite=overwrite) as tmp:
        con = open_release_readonly(release)
        try:
            payload = explorer_payload(con)
        finally:
            con.close()
        tmp.write_text(render_page(payload), encoding="utf-8")
    if not quiet:
        size = target.stat().st_size
        if payload["source"] == "records":
            what = f"{payload['records']['rows']:,} distinct synthetic rows"
        else:
            depth = payload["combinations"]["depth"]
            what = (f"synthetic counts of combinations of up to {depth} attributes (the records would pass 10 MB); "
                    f"`sdsynth explore {release} --serve` answers deeper selections")  # fmt: skip
        err_console.print(f"wrote {target} ({size / 1e6:.1f} MB: {what}); open it in a browser", markup=False)


def _serve(release: Path, port: int, connect: Callable[[Path], Any]) -> None:
    """Serve until Ctrl-C (or SIGTERM), on `connect`'s connection: the locked read-only one of `sdsynth query`."""
    from sdsynth.explore.server import ExplorerServer

    con = connect(release)
    try:
        try:
            server = ExplorerServer(con, port)
        except OSError as exc:
            fail(f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}): choose another --port (0: any free port)")
        err_console.print(f"serving {release} on {server.url} (this computer only; Ctrl-C stops)", markup=False)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            err_console.print("stopped", markup=False)
        finally:
            server.close()
    finally:
        con.close()
