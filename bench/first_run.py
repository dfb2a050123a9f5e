"""The first run's extra cost (issue 24): README line 1's `sdsynth` command, cold (empty caches) against warm.

    python bench/first_run.py                    # README line 1 (the DP release), 3 cold + 3 warm runs
    python bench/first_run.py --repeats 5 --kanon

Each run is a fresh process of the command README line 1 runs after `pip install` (pip excluded), into a temporary
output folder, with its own empty cache folder (XDG_CACHE_HOME set to a new temporary folder, NUMBA_CACHE_DIR and
SDSYNTH_CACHE unset) for a cold run; the warm runs reuse the cache the last cold run filled. "cold, sample present"
starts from an empty Numba cache but with the bundled sample already generated, so cold − that is the sample's
generation and that − warm is the kernels' compilation. Kernels compiled: Numba index files (*.nbi, one per
compiled function) and compiled signatures (*.nbc) the cold run left in the cache.

Timings are the minimum over the repeats (other processes on the machine only ever add time); the load average
before each run is printed with it so a noisy measurement is visible. Prints a table, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import REPO, print_table, tree_state


def readme_command() -> list[str]:
    """The `sdsynth ...` part of README line 1 (line 4 of README.md), without the venv and pip steps."""
    line = (REPO / "README.md").read_text(encoding="utf-8").splitlines()[3]
    parts = [p.strip() for p in line.split("&&")]
    command = next(p for p in parts if p.startswith("sdsynth "))
    return shlex.split(command)


def sdsynth_executable() -> list[str]:
    """The installed `sdsynth` script next to this Python (what the README runs), else `python -m`."""
    script = Path(sys.executable).parent / "sdsynth"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sdsynth.cli.main"]


def clean_env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "SDSYNTH_CACHE", "NUMBA_DEBUG_CACHE")}
    env["XDG_CACHE_HOME"] = str(cache)
    return env


def run_once(argv: list[str], cache: Path, work: Path) -> dict[str, float | str]:
    """One run of the command in a fresh process, in a new folder (its relative output paths land there); its seconds
    and the load average just before it."""
    out = Path(tempfile.mkdtemp(dir=work, prefix="run-"))
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run(
        [*sdsynth_executable(), *argv[1:]], env=clean_env(cache), cwd=out, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    shutil.rmtree(out, ignore_errors=True)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        raise SystemExit(f"{shlex.join(argv)} failed (exit {proc.returncode}):\n" + "\n".join(tail))
    return {"seconds": seconds, "load": load}


def kernel_counts(cache: Path) -> tuple[int, int]:
    numba = cache / "sdsynth" / "numba"
    return len(list(numba.rglob("*.nbi"))), len(list(numba.rglob("*.nbc")))


def measure(argv: list[str], repeats: int, work: Path) -> dict[str, object]:
    cold, cold_sample, warm, loads = [], [], [], []
    functions = signatures = 0
    for i in range(repeats):
        cache = Path(tempfile.mkdtemp(dir=work, prefix="cache-"))
        r = run_once(argv, cache, work)
        cold.append(r["seconds"])
        loads.append(r["load"])
        functions, signatures = kernel_counts(cache)
        print(f"  cold {i + 1}: {r['seconds']:.2f} s (load {r['load']:.2f}), {functions} functions", flush=True)
        # the same cache without Numba's kernels: the sample stays, the kernels compile again
        shutil.rmtree(cache / "sdsynth" / "numba")
        r = run_once(argv, cache, work)
        cold_sample.append(r["seconds"])
        loads.append(r["load"])
        print(f"  cold, sample present {i + 1}: {r['seconds']:.2f} s (load {r['load']:.2f})", flush=True)
        r = run_once(argv, cache, work)
        warm.append(r["seconds"])
        loads.append(r["load"])
        print(f"  warm {i + 1}: {r['seconds']:.2f} s (load {r['load']:.2f})", flush=True)
        shutil.rmtree(cache, ignore_errors=True)
    return {
        "command": shlex.join(argv),
        "runs": repeats,
        "cold": min(cold),
        "cold_sample": min(cold_sample),
        "warm": min(warm),
        "extra": min(cold) - min(warm),
        "kernels": min(cold_sample) - min(warm),
        "sample": min(cold) - min(cold_sample),
        "functions": functions,
        "signatures": signatures,
        "load": f"{min(loads):.2f}–{max(loads):.2f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="cold and warm runs per command (minimum reported)")
    parser.add_argument("--kanon", action="store_true", help="also the same release without --dp (k-anonymity)")
    args = parser.parse_args()
    commands = [readme_command()]
    if args.kanon:
        argv = list(commands[0])
        if "--dp" in argv:
            i = argv.index("--dp")
            argv[i : i + 1] = []
            if "--epsilon" in argv:
                j = argv.index("--epsilon")
                argv[j : j + 2] = []
        commands.append(argv)
    print(f"cores: {os.cpu_count()}, Python {sys.version.split()[0]}, tree {tree_state()}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="sdsynth-first-run-") as work:
        for argv in commands:
            print(shlex.join(argv), flush=True)
            results.append(measure(argv, args.repeats, Path(work)))
    print()
    print_table(
        results,
        [("command", "command"), ("runs", "runs"), ("cold", "cold s"), ("cold_sample", "cold, sample present s"),
         ("warm", "warm s"), ("extra", "cold − warm s"), ("kernels", "of which kernels s"),
         ("sample", "of which sample s"), ("functions", "functions compiled (*.nbi)"),
         ("signatures", "signatures (*.nbc)"), ("load", "load average")],
    )  # fmt: skip
    print(f"\ncores: {os.cpu_count()}; minimum over {args.repeats} runs each; pip excluded")


if __name__ == "__main__":
    main()
