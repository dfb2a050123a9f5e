"""Compiling a first run's kernels ahead, in a helper process, on the second core.

A first run compiles the Numba kernels it uses one after the other as it reaches them, on one core, while the other
core mostly waits. Inside `compiling_ahead()` a helper process compiles the same kernels from the last the run will
need back to the first, into Numba's on-disk cache; the run finds there those the helper got to first (Numba looks
in its cache before it compiles), and the helper stops where the two meet: at the first kernel it finds cached
after compiling one itself. On two cores the run then waits for about half of the compilation.

The kernels, in the order a run needs them, and their argument types are listed in `ahead_kernels.py`, recorded
from a cold run of README line 1 (`python -m sdsynth.kernels.ahead --record`; tests/test_numba_cache.py checks the
list against a fresh recording). A kernel missing from the list, or called with other types, is compiled by the run
when it needs it, as without the helper. The helper only fills the cache: no result depends on it.

Two processes caching the same function at once each update its index file (atomically) and write a data file per
signature; the helper numbers its data files apart from Numba's own numbering (`HELPER_DATA_FILES`), so that an
index entry never names a file written for another signature by the other process.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sdsynth._utils.cache import first_compile_pending

# README line 1 runs `sdsynth release` with these arguments (the bundled sample, in the current folder)
FIRST_RUN = ("release", "--dp", "--epsilon", "4", "--out", "release", "--private-out", "private")
HELPER_DATA_FILES = 1_000_000  # the helper's data files are numbered from here; Numba's own from 1
DISABLE = "SDSYNTH_COMPILE_AHEAD"  # "0": never start the helper


@contextlib.contextmanager
def compiling_ahead(first_run: bool | None = None) -> Iterator[bool]:
    """Within the block, a helper process compiles the listed kernels from the last to the first (see the module).
    It starts only on a first run (`first_run`, by default `first_compile_pending()`), with at least two cores, and
    unless the environment sets SDSYNTH_COMPILE_AHEAD=0. Yields whether it started. At the end of the block the
    helper is asked to stop: it finishes the kernel it is compiling (a cache file is never left half written) and
    exits, without the block waiting for it; it also exits by itself when this process ends."""
    from sdsynth.kernels.ahead_kernels import KERNELS

    wanted = first_compile_pending() if first_run is None else first_run
    start = (
        wanted
        and bool(KERNELS)
        and (os.cpu_count() or 1) >= 2
        and os.environ.get(DISABLE, "1") != "0"
        and os.environ.get("NUMBA_DISABLE_JIT", "0") in ("", "0")
    )
    helper = None
    if start:
        helper = subprocess.Popen(
            [sys.executable, "-m", "sdsynth.kernels.ahead", "--helper"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        yield helper is not None
    finally:
        if helper is not None and helper.poll() is None:
            helper.send_signal(signal.SIGTERM)


def argument_types(text: str) -> tuple[Any, ...]:
    """Numba argument types from their `repr` (as `ahead_kernels.py` lists them)."""
    from numba.core import types

    names: dict[str, Any] = {name: getattr(types, name) for name in dir(types) if not name.startswith("_")}
    names["bool"] = types.boolean
    parsed = eval(text, {"__builtins__": {}}, names)  # our own list, written by `record`
    return tuple(parsed)


def compile_listed(kernels: Sequence[tuple[str, str, str]], parent: int | None = None) -> int:
    """The helper's work: compile the kernels from the last to the first into Numba's cache, until one is found
    cached after this helper compiled at least one (the run got there first), until SIGTERM (after the current
    kernel) or until process `parent` is gone. A kernel that cannot be imported or compiled is passed over. Returns
    how many kernels it compiled."""
    if not _number_data_files_apart():
        return 0
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    compiled = 0
    for module, name, types_text in reversed(kernels):
        if stopping or (parent is not None and os.getppid() != parent):
            break
        try:
            dispatcher = getattr(importlib.import_module(module), name)
            signature = argument_types(types_text)
            cached = signature in dispatcher.overloads  # listed twice
            if not cached:
                hits = dispatcher.stats.cache_hits[signature]
                dispatcher.compile(signature)  # loads it when the cache has it
                cached = dispatcher.stats.cache_hits[signature] > hits
        except Exception:  # an optimisation only: the run compiles what the helper could not
            continue
        if not cached:
            compiled += 1
        elif compiled:
            break  # met the run
    return compiled


def _number_data_files_apart() -> bool:
    """Number this process's cache data files from HELPER_DATA_FILES (see the module); False, and the helper does
    nothing, if this Numba does not name them as expected."""
    try:
        from numba.core.caching import IndexDataCacheFile

        numbered = IndexDataCacheFile._data_name
        if numbered.__code__.co_varnames[:2] != ("self", "number"):
            return False
    except (ImportError, AttributeError):
        return False

    def apart(self: Any, number: int) -> str:
        return numbered(self, number + HELPER_DATA_FILES)

    IndexDataCacheFile._data_name = apart  # type: ignore[method-assign]
    return True


_RECORDER = """
import json, sys
from numba.core import event

kernels, depth = [], [0]


class Listener(event.Listener):
    def on_start(self, ev):
        depth[0] += 1

    def on_end(self, ev):
        depth[0] -= 1
        function = ev.data["dispatcher"].py_func
        if depth[0] == 0 and function.__module__.startswith("sdsynth."):
            kernels.append([function.__module__, function.__qualname__, repr(tuple(ev.data["args"]))])


event.register("numba:compile", Listener())
sys.argv = ["sdsynth", *json.loads(sys.argv[1])]
from sdsynth.cli.main import run

try:
    run()
except SystemExit as stop:
    if stop.code:
        raise
print("\\nKERNELS " + json.dumps(kernels))
"""


def record(command: Sequence[str] = FIRST_RUN) -> list[tuple[str, str, str]]:
    """The kernels a cold run of `sdsynth <command>` compiles, in the order it first needs them, as (module, kernel,
    argument types): the command runs in a child process, in a temporary folder, with empty caches (the helper
    off). Kernels compiled only as part of another are left out: the helper compiles those with their caller."""
    with tempfile.TemporaryDirectory(prefix="sdsynth-record-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "SDSYNTH_CACHE")}
        env.update(XDG_CACHE_HOME=str(Path(tmp) / "cache"), **{DISABLE: "0"})
        done = subprocess.run(
            [sys.executable, "-c", _RECORDER, json.dumps(list(command))],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"sdsynth {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    line = next(x for x in reversed(done.stdout.splitlines()) if x.startswith("KERNELS "))
    seen: set[tuple[str, str, str]] = set()
    kernels = []
    for module, name, types_text in json.loads(line.removeprefix("KERNELS ")):
        if (module, name, types_text) not in seen:
            seen.add((module, name, types_text))
            kernels.append((module, name, types_text))
    return kernels


def write_list(kernels: Sequence[tuple[str, str, str]], path: Path | None = None) -> Path:
    """Write `ahead_kernels.py` (the list `compiling_ahead` reads)."""
    path = path or Path(__file__).with_name("ahead_kernels.py")
    lines = [
        '"""The kernels a first run compiles, in the order it needs them, with their argument types: recorded from a',
        "cold run of README line 1 by `python -m sdsynth.kernels.ahead --record` (do not edit by hand; the module",
        '`ahead` says how the list is used)."""',
        "",
        "# ruff: noqa: E501",
        "",
        "KERNELS: list[tuple[str, str, str]] = [",
        *(
            f"    (\n        {json.dumps(m)},\n        {json.dumps(n)},\n        {json.dumps(t)},\n    ),"
            for m, n, t in kernels
        ),
        "]",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--helper"]:
        from sdsynth.kernels.ahead_kernels import KERNELS

        compile_listed(KERNELS, parent=os.getppid())
    elif args == ["--record"]:
        kernels = record()
        print(f"{write_list(kernels)}: {len(kernels)} kernels", file=sys.stderr)
    else:
        raise SystemExit("usage: python -m sdsynth.kernels.ahead --record (writes ahead_kernels.py) | --helper")


if __name__ == "__main__":
    main()
