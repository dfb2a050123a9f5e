"""A local command imports only what it uses: scipy.stats, scipy.linalg, pandas, Dask, scikit-learn and matplotlib
cost seconds of start-up (bench/fixed_cost.py), so a local `aggregate --dp` must not load them; nor the
synthesizers, whose modules define most of the engine's Numba kernels (0.15 s of imports)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sdsynth.sample_data import generate_ctdc

HEAVY = (
    "scipy.stats",
    "scipy.linalg",  # Numba's start-up probe for BLAS (sdsynth._utils.blas_probe)
    "pandas",
    "dask",
    "distributed",
    "sklearn",
    "matplotlib",
    "sdsynth.synth.base",
    "sdsynth.synth.aggregate_seeded",
    "sdsynth.synth.calibrated",
    "sdsynth.synth.kanon",
)

_RUN = """
import json, sys
heavy = json.loads(sys.argv[2])
sys.argv = ["sdsynth", *json.loads(sys.argv[1])]
from sdsynth.cli.main import app
try:
    app()
except SystemExit as stop:
    if stop.code:
        raise
print("LOADED " + json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def test_a_local_dp_aggregate_loads_no_heavy_library(tmp_path: Path) -> None:
    generate_ctdc(300, seed=3).write_csv(tmp_path / "cases.csv")
    args = ["aggregate", "cases.csv", "--dp", "--epsilon", "8", "--out", "agg", "-q"]
    done = subprocess.run([sys.executable, "-c", _RUN, json.dumps(args), json.dumps(HEAVY)], cwd=tmp_path,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.rsplit("LOADED ", 1)[1])
    assert loaded == [], loaded


def test_the_method_names_jobs_check_are_the_registered_synthesizers() -> None:
    """`synth.options.METHODS` lists the names without loading the synthesizers; it must not drift from them."""
    from sdsynth.synth.base import SYNTHESIZERS
    from sdsynth.synth.options import METHODS

    assert tuple(SYNTHESIZERS) == METHODS


_AFTER_THE_PROBE = """
import sys
import numpy as np
import sdsynth
from sdsynth.kernels.counting import build_lookup_table
build_lookup_table(np.array([5], dtype=np.uint64), np.ones(1, dtype=np.int64))
print("linalg at start:", "scipy.linalg" in sys.modules)
import numba, scipy.linalg
print("finder left:", any("SkipBlasProbe" in type(f).__name__ for f in sys.meta_path))
print("dot:", numba.njit(lambda a, b: np.dot(a, b))(np.eye(2), np.full((2, 2), 3.0)).tolist())
"""


def test_numbas_blas_probe_is_skipped_and_scipy_still_imports() -> None:
    """Numba's target set-up does not import scipy.linalg (0.1 s); afterwards scipy.linalg imports as usual, the
    finder is gone, and a Numba kernel that calls BLAS still compiles and runs."""
    done = subprocess.run([sys.executable, "-c", _AFTER_THE_PROBE], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "linalg at start: False",
        "finder left: False",
        "dot: [[3.0, 3.0], [3.0, 3.0]]",
    ]
