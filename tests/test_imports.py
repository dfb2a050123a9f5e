"""A local command imports only what it uses: scipy.stats, pandas, Dask, scikit-learn and matplotlib cost seconds of
start-up (bench/fixed_cost.py), so a local `aggregate --dp` must not load them; nor the synthesizers, whose modules
define most of the engine's Numba kernels (0.15 s of imports)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sdsynth.sample_data import generate_ctdc

HEAVY = (
    "scipy.stats",
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
