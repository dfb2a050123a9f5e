"""Compiled kernels are cached in the per-user cache folder, never inside the installed package (a read-only install
must work, and `pip uninstall` must not leave a folder that shadows a later install)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import sdsynth


def test_kernels_are_cached_in_the_user_cache_not_in_the_package(tmp_path: Path) -> None:
    package = Path(sdsynth.__file__).parent
    start = time.time() - 1
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env["SDSYNTH_CACHE"] = str(tmp_path)
    code = (
        "import os, sdsynth; from sdsynth.kernels.keys import KeyLayout; import numpy as np;"
        "KeyLayout(8, 8).lengths(np.zeros(3, dtype=np.uint64)); print(os.environ['NUMBA_CACHE_DIR'])"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert Path(out.strip()) == tmp_path / "sdsynth" / "numba"
    assert list((tmp_path / "sdsynth" / "numba").rglob("*.nbi")), "nothing was cached in the user cache"
    written = [p for p in package.rglob("*.nb[ic]") if p.stat().st_mtime >= start]
    assert not written, written[:3]


def test_a_chosen_numba_cache_dir_wins(tmp_path: Path) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "mine")}
    code = "import os, sdsynth; print(os.environ['NUMBA_CACHE_DIR'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(tmp_path / "mine")
