"""Compiled kernels are cached in the per-user cache folder, never inside the installed package (a read-only install
must work, and `pip uninstall` must not leave a folder that shadows a later install); a first run knows it is one
(`first_compile_pending`), compiles only what it uses, and may compile ahead on the second core (`kernels.ahead`)."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from helpers import ROOT
from numba.core.dispatcher import Dispatcher

import sdsynth
from sdsynth._utils import cache
from sdsynth.kernels import ahead
from sdsynth.kernels.ahead_kernels import KERNELS
from sdsynth.kernels.threads import KernelThreads, run_ranges


def _fresh_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env["SDSYNTH_CACHE"] = str(tmp_path)
    return env


def test_kernels_are_cached_in_the_user_cache_not_in_the_package(tmp_path: Path) -> None:
    package = Path(sdsynth.__file__).parent
    start = time.time() - 1
    code = (
        "import os, sdsynth; import numpy as np; from sdsynth.kernels.counting import build_lookup_table;"
        "build_lookup_table(np.array([5], dtype=np.uint64), np.ones(1, dtype=np.int64));"
        "print(os.environ['NUMBA_CACHE_DIR'])"
    )
    env = _fresh_env(tmp_path)
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


def test_a_first_run_is_pending_until_one_is_marked_compiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)
    assert cache.numba_cache_dir() == tmp_path / "numba"
    assert cache.first_compile_pending()
    cache.mark_kernels_compiled()
    assert not cache.first_compile_pending()
    marker = next((tmp_path / "numba").iterdir())  # inside Numba's folder: emptying it starts over
    assert "sdsynth-" in marker.name and "numba-" in marker.name and "python-" in marker.name
    monkeypatch.setattr(cache, "__version__", "999.0")  # another sdsynth: its kernels compile again
    assert cache.first_compile_pending()
    monkeypatch.setenv("NUMBA_DISABLE_JIT", "1")  # nothing is compiled at all
    assert not cache.first_compile_pending()


def test_marking_an_unwritable_cache_folder_is_harmless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(blocker / "numba"))
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)
    cache.mark_kernels_compiled()
    assert cache.first_compile_pending()


def test_the_default_numba_folder_is_the_one_sdsynth_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("SDSYNTH_CACHE", str(tmp_path))
    assert cache.numba_cache_dir() == tmp_path / "sdsynth" / "numba"


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("n", [0, 1, 7, 100])
def test_kernel_threads_cover_each_index_once(threads: int, n: int) -> None:
    seen = np.zeros(n, dtype=np.int64)

    def work(lo: int, hi: int) -> None:
        seen[lo:hi] += 1

    with KernelThreads(threads) as pool:
        pool.run(n, work)
        pool.run(n, work, pieces=3)
    run_ranges(n, work)
    assert (seen == 3).all()


def test_the_listed_kernels_exist_with_their_argument_counts() -> None:
    assert KERNELS, "the list of kernels compiled ahead is empty"
    for module, name, types_text in KERNELS:
        kernel = getattr(importlib.import_module(module), name)
        assert isinstance(kernel, Dispatcher), f"{module}.{name} is not a Numba kernel"
        assert len(ahead.argument_types(types_text)) == kernel.py_func.__code__.co_argcount, f"{module}.{name}"
    assert len(set(KERNELS)) == len(KERNELS)


def test_readme_line_1_is_the_recorded_first_run() -> None:
    line = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[3]
    assert "sdsynth " + " ".join(ahead.FIRST_RUN) in line


_HELPER = """
import json, sys
import numpy as np
from sdsynth.kernels import ahead
from sdsynth.kernels.counting import table_add, table_lookup
from sdsynth.kernels.csr import _gather_rows

if sys.argv[1] == "compile":
    print(ahead.compile_listed([tuple(k) for k in json.loads(sys.argv[2])]))
else:  # a later process calls the kernels: each loaded from the cache if it is there, else compiled
    keys, counts = np.zeros(4, dtype=np.uint64), np.zeros(4, dtype=np.int64)
    table_lookup(keys, counts, keys)
    table_add(keys, counts, 0, keys, counts)
    offsets, ids = np.array([0, 1], dtype=np.int64), np.zeros(1, dtype=np.int32)
    offsets.flags.writeable = ids.flags.writeable = False
    _gather_rows(offsets, ids, np.zeros(1, dtype=np.int64))
    print(json.dumps([sum(k.stats.cache_hits.values()) for k in (_gather_rows, table_lookup, table_add)]))
"""


def _listed(name: str) -> tuple[str, str, str]:
    return next(k for k in KERNELS if k[1] == name)


def test_the_helper_compiles_from_the_last_kernel_until_it_meets_the_run(tmp_path: Path) -> None:
    """Going from the last listed kernel back, the helper passes over kernels already cached until it has compiled
    one, then stops at the next one it finds cached (the run got there first); later processes load what it
    compiled from the cache. Its data files are numbered apart from Numba's own."""
    env = {**_fresh_env(tmp_path), "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    gather, lookup, add = _listed("_gather_rows"), _listed("table_lookup"), _listed("table_add")

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "-c", _HELPER, *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip().splitlines()[-1]

    assert run("compile", json.dumps([lookup])) == "1"  # as if the run had compiled table_lookup
    # backwards: table_lookup cached before anything was compiled (passed over), _gather_rows compiled, then
    # table_lookup found cached: the helper stops and leaves table_add to the run
    assert run("compile", json.dumps([add, lookup, gather, lookup])) == "1"
    assert json.loads(run("call")) == [1, 1, 0]
    helper_made = {p.name.split("-")[0] for p in (tmp_path / "numba").rglob(f"*.{ahead.HELPER_DATA_FILES + 1}.nbc")}
    assert helper_made == {"csr._gather_rows", "counting.table_lookup"}, helper_made
    assert next((tmp_path / "numba").rglob("*.table_add-*.nbc")).name.endswith(".1.nbc")  # the run's own numbering


class _FakeHelper:
    started: ClassVar[list[_FakeHelper]] = []

    def __init__(self, args: list[str], **kwargs: object) -> None:
        self.args = args
        self.signals: list[int] = []
        _FakeHelper.started.append(self)

    def poll(self) -> None:
        return None

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)


def test_the_helper_runs_only_on_a_first_run_with_two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    _FakeHelper.started = []
    monkeypatch.setattr(ahead.subprocess, "Popen", _FakeHelper)
    monkeypatch.delenv(ahead.DISABLE, raising=False)
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)
    monkeypatch.setattr(ahead.os, "cpu_count", lambda: 2)
    with ahead.compiling_ahead(first_run=False) as started:
        assert not started
    with ahead.compiling_ahead(first_run=True) as started:
        assert started
        (helper,) = _FakeHelper.started
        assert helper.args[1:] == ["-m", "sdsynth.kernels.ahead", "--helper"] and not helper.signals
    assert helper.signals == [signal.SIGTERM]  # asked to stop at the end of the block
    monkeypatch.setenv(ahead.DISABLE, "0")
    with ahead.compiling_ahead(first_run=True) as started:
        assert not started
    monkeypatch.delenv(ahead.DISABLE)
    monkeypatch.setattr(ahead.os, "cpu_count", lambda: 1)
    with ahead.compiling_ahead(first_run=True) as started:
        assert not started
    assert len(_FakeHelper.started) == 1


def test_serial_and_parallel_reference_law_kernels_build_the_same_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference law builds its first PARALLEL_AFTER records with the serial kernel (no parallel loop to
    compile on small runs) and the rest with the parallel one: the records are the same whichever builds them."""
    from sdsynth._utils.context import RunContext
    from sdsynth.encode.tables import encode
    from sdsynth.engine import IngestOptions, count_combinations, load_schema, protect_k_anonymity
    from sdsynth.sample_data import generate_ctdc
    from sdsynth.synth import agg_kernels
    from sdsynth.synth.aggregate_seeded import AggregateSeededParameters, aggregate_seeded

    data = encode(generate_ctdc(600, 3), IngestOptions(schema=load_schema("ctdc-victim-perpetrator")))
    aggs = protect_k_anonymity(count_combinations(data, 3), 3)
    params = AggregateSeededParameters(sampling_law="reference", batch_size=32)
    out = []
    for after in (10**12, 0, 100):
        monkeypatch.setattr(agg_kernels, "PARALLEL_AFTER", after)
        records = aggregate_seeded(aggs, 400, params, RunContext(threads=2, seed=5))
        out.append((records.offsets.tolist(), records.ids.tolist()))
    assert out[0] == out[1] == out[2]
    assert len(out[0][1]) > 400  # records with attributes, not empty ones


@pytest.mark.slow
def test_the_list_of_kernels_is_what_a_first_run_compiles() -> None:
    """`python -m sdsynth.kernels.ahead --record` rewrites the list when this fails (a kernel, its argument types or
    the order of first use changed)."""
    assert ahead.record() == KERNELS
