"""sdsynth's per-user cache folder, and Numba's compiled kernels kept there rather than next to the installed code.

Numba writes its cache beside the source files by default: inside site-packages, where a read-only install cannot
cache at all and where `pip uninstall` leaves the folders behind (a leftover `sdsynth/` folder then shadows a later
editable install). `NUMBA_CACHE_DIR`, when set, still wins.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


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
