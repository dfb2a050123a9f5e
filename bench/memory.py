"""Memory: the estimate `--dry-run` prints for each stage against the peak measured in that stage (issue 28).

    python bench/memory.py                       # the shared datasets without a schema, the bundled sample, 200 k rows
    python bench/memory.py --only adult nist-national --epsilon 1

Each case runs `sdsynth release --dry-run` (its estimate per stage, in MiB) and then the release itself in a fresh
process, sampling the resident memory of the process every 50 ms while reading its stage lines (stderr is not a
terminal, so each stage prints one line with its time when it ends: a stage spans [end − time, end]). Peak per
stage: the largest sample inside that span; whole run: the process's `ru_maxrss`. Prints a table and the ratio
estimate / peak per stage; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from _util import REPO, generated_input, print_table, tree_state

SHARED = REPO.parent / "shared" / "data"
STAGE_LINE = re.compile(r"^(?P<name>.+): (\d[\d,]* [\w-]+, )?(?P<took>\d+\.\d) (?P<unit>s|min)$")
# the dry run's estimate per stage: "  counting: 1,234 MiB"
ESTIMATE_LINE = re.compile(r"^\s+(?P<stage>reading|counting|synthesis|evaluation): (?P<mib>[\d,.]+) MiB$")

CASES: dict[str, list[str]] = {
    "bundled sample": [],
    "ctdc 200 k": ["@generated:200000"],
    "adult": [str(SHARED / "adult_uci_strings.csv")],
    "nist-national": [str(SHARED / "nist_national2019.csv")],
    "nist-national schema": [str(SHARED / "nist_national2019.csv"), "--schema", "nist-diverse-communities"],
    "nist-ma": [str(SHARED / "nist_ma2019.csv")],
}


def stage_of(name: str) -> str:
    """The estimate's stage for a stage line of the run."""
    if name.startswith(("reading", "scanning", "encoding")):
        return "reading"
    if name.startswith(("counting", "DP:", "protecting")):
        return "counting"
    if name.startswith(("choosing", "synthesizing", "writing synthetic")):
        return "synthesis"
    if name.startswith("evaluating"):
        return "evaluation"
    return "writing"


def sampled_run(argv: list[str], cwd: Path) -> tuple[dict[str, float], float, float]:
    """Run `sdsynth argv`; peak MiB per estimate stage, the whole run's peak MiB and its seconds."""
    env = {**os.environ, "SDSYNTH_COMPILE_AHEAD": "0"}
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "sdsynth.cli.main", *argv], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    samples: list[tuple[float, float]] = []
    handle = psutil.Process(proc.pid)

    def sample() -> None:
        while proc.poll() is None:
            try:
                samples.append((time.monotonic(), handle.memory_info().rss / 2**20))
            except psutil.Error:
                break
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    spans: list[tuple[str, float, float]] = []
    tail: list[str] = []
    assert proc.stderr is not None
    for line in proc.stderr:
        now = time.monotonic()
        tail = [*tail[-5:], line.rstrip()]
        match = STAGE_LINE.match(line.rstrip())
        if match:
            took = float(match["took"]) * (60 if match["unit"] == "min" else 1)
            spans.append((stage_of(match["name"]), now - took - 0.05, now))
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - start
    sampler.join()
    if status != 0:
        raise SystemExit(f"sdsynth {' '.join(argv)} failed:\n" + "\n".join(tail))
    peaks: dict[str, float] = {}
    for stage, lo, hi in spans:
        inside = [rss for t, rss in samples if lo <= t <= hi]
        if inside:
            peaks[stage] = max(peaks.get(stage, 0.0), *inside)
    whole = usage.ru_maxrss / 1024
    return peaks, whole, seconds


def estimates(argv: list[str], cwd: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-m", "sdsynth.cli.main", *argv, "--dry-run"], cwd=cwd,
                          capture_output=True, text=True)  # fmt: skip
    out: dict[str, float] = {}
    for line in done.stderr.splitlines() + done.stdout.splitlines():
        match = ESTIMATE_LINE.match(line)
        if match:
            out[match["stage"].strip()] = float(match["mib"].replace(",", ""))
    return out


STAGES = ("reading", "counting", "synthesis", "evaluation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help=f"cases to run (of {', '.join(CASES)})")
    parser.add_argument("--epsilon", type=float, default=4.0)
    parser.add_argument("--kanon", action="store_true", help="k-anonymity (-k 10) instead of DP")
    args = parser.parse_args()
    mode = ["-k", "10"] if args.kanon else ["--dp", "--epsilon", str(args.epsilon)]
    print(f"cores: {os.cpu_count()}, memory {psutil.virtual_memory().total / 2**30:.1f} GiB, tree {tree_state()}",
          flush=True)  # fmt: skip
    rows = []
    for name, case in CASES.items():
        if args.only and name not in args.only:
            continue
        inputs = [str(generated_input(int(x.split(":")[1]))) if x.startswith("@generated:") else x for x in case]
        if inputs and not Path(inputs[0]).exists():
            print(f"{name}: {inputs[0]} not found, skipped", flush=True)
            continue
        with tempfile.TemporaryDirectory(prefix="sdsynth-memory-") as work:
            argv = ["release", *inputs, *mode, "--out", "r", "--private-out", "p", "--seed", "1"]
            estimate = estimates(argv, Path(work))
            peaks, whole, seconds = sampled_run(argv, Path(work))
        row: dict[str, object] = {"case": name, "seconds": f"{seconds:.1f}"}
        for stage in STAGES:
            e, p = estimate.get(stage), peaks.get(stage)
            row[stage] = (f"{e:,.0f} / {p:,.0f}" if e is not None else f"– / {p:,.0f}") if p is not None else "–"
            row[stage + " ratio"] = f"{e / p:.2f}" if e and p else "–"
        total = max(estimate.values(), default=None)
        row["peak"] = f"{total:,.0f} / {whole:,.0f}" if total else f"– / {whole:,.0f}"
        row["peak ratio"] = f"{total / whole:.2f}" if total else "–"
        rows.append(row)
        print(json.dumps(row), flush=True)
    columns = [("case", "case"), ("seconds", "s")]
    for stage in (*STAGES, "peak"):
        columns += [(stage, f"{stage}: estimate / peak MiB"), (stage + " ratio", "ratio")]
    print()
    print_table(rows, columns)
    print(f"\n{' '.join(mode)}, R 3; ratio = estimate / measured peak (goal: within 1.5×, never far below 1)")


if __name__ == "__main__":
    main()
