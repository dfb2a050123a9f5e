"""sdsynth's per-user cache folder, and Numba's compiled kernels kept there rather than next to the installed code.

Numba writes its cache beside the source files by default: inside site-packages, where a read-only install cannot
cache at all and where `pip uninstall` leaves the folders behind (a leftover `sdsynth/` folder then shadows a later
editable install). `NUMBA_CACHE_DIR`, when set, still wins.

A first run compiles the kernels it uses (bench/first_run.py measures how long); `first_compile_pending` tells
whether that is still to come for this version of sdsynth, Numba and Python, so that a command can say
"compiling kernels (first run only)", and `mark_kernels_compiled` records it done once a run has succeeded.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sdsynth._version import __version__

# what a first run says before its kernels compile (tests/helpers.py leaves this line out of a command's output)
FIRST_RUN_NOTE = "compiling kernels (first run only; later runs start at once)"


def cache_dir() -> Path:
    """$SDSYNTH_CACHE/sdsynth, else $XDG_CACHE_HOME/sdsynth, else ~/.cache/sdsynth."""
    base = os.environ.get("SDSYNTH_CACHE") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sdsynth"


def use_user_numba_cache() -> None:
    """Point Numba's on-disk cache at the per-user folder unless the user chose one (before Numba reads its config:
    sdsynth calls this on import; if Numba was imported first, its config is read again)."""
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    os.environ["NUMBA_CACHE_DIR"] = str(cache_dir() / "numba")
    numba = sys.modules.get("numba")
    if numba is not None:
        numba.core.config.reload_config()


def numba_cache_dir() -> Path:
    """Where Numba keeps the compiled kernels: `NUMBA_CACHE_DIR`, else the `numba` folder of `cache_dir()` (what
    `use_user_numba_cache` sets)."""
    chosen = os.environ.get("NUMBA_CACHE_DIR")
    return Path(chosen) if chosen else cache_dir() / "numba"


def _compiled_marker() -> Path:
    """The file that says this version's kernels were compiled: one per sdsynth, Numba and Python version (a new one
    of any of them compiles everything again), inside Numba's cache folder (emptying it compiles again too)."""
    try:
        numba_version = version("numba")
    except PackageNotFoundError:  # Numba is a dependency; a broken install still runs
        numba_version = "unknown"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return numba_cache_dir() / f"compiled-sdsynth-{__version__}-numba-{numba_version}-python-{python}"


def first_compile_pending() -> bool:
    """Whether the next run may compile its kernels first: no run of this sdsynth, Numba and Python version has
    completed with this cache folder (`mark_kernels_compiled`). Cheap (one file check, Numba is not imported); False
    when Numba's compilation is disabled (`NUMBA_DISABLE_JIT`). A command shows "compiling kernels (first run only)"
    when this is True, before its first kernel runs."""
    if os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
        return False
    return not _compiled_marker().exists()


def mark_kernels_compiled() -> None:
    """Record that a run completed, so its kernels are in the cache and `first_compile_pending` is False from now on.
    Call it after a run has succeeded; a cache folder that cannot be written is left as it is (nothing is cached
    there either, and every run compiles)."""
    marker = _compiled_marker()
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"sdsynth {__version__}: kernels compiled\n", encoding="utf-8")
    except OSError:
        pass
