"""Helpers shared by the benchmark scripts: generated inputs, child processes with peak-memory readings, tables."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DATA_DIR = Path(os.environ.get("SDSYNTH_BENCH_DATA", BENCH_DIR / "data"))
TICK = os.sysconf("SC_CLK_TCK")

# Commands are timed as a user's Python runs them: caching compiled bytecode (__pycache__). A shell that sets
# PYTHONDONTWRITEBYTECODE (some containers do) makes every process compile sdsynth's sources again: 0.2 s a command.
BYTECODE_CACHE_OFF = os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None


def generated_input(rows: int, suffix: str = ".parquet", seed: int = 1) -> Path:
    """A CTDC-like input of `rows` rows made by the project's own generator (cached under bench/data/)."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"ctdc_{rows}_{seed}{suffix}"
    if not path.exists():
        # in a child process: a child forked from a large parent inherits its peak RSS reading (ru_maxrss)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "sdsynth.cli.main",
                "sample-data",
                "--rows",
                str(rows),
                "--seed",
                str(seed),
                "--out",
                str(path),
                "--quiet",
            ],
            check=True,
        )
    return path


def run_child(code: str, env: dict[str, str] | None = None, timeout: float | None = None) -> dict[str, Any]:
    """Run Python code in a fresh process; it must print one JSON object last. Adds its peak RSS (MiB).

    Keep the calling process small: Linux carries a parent's peak RSS over into its children's ru_maxrss.
    """
    wrapper = (
        "import json, resource, sys\n"
        + code
        + "\nresult['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps(result))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]], show: bool = True) -> str:
    """A Markdown table (also printed unless `show` is False), columns given as (key, header)."""
    header = "| " + " | ".join(h for _, h in columns) + " |"
    rule = "|" + "|".join("---:" for _ in columns) + "|"
    lines = [header, rule]
    for row in rows:
        cells = []
        for key, _ in columns:
            v = row.get(key, "")
            cells.append(f"{v:,.2f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    if show:
        print(text, flush=True)
    return text


def busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (user, nice, system, irq, softirq)."""
    with Path("/proc/stat").open() as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / TICK


def children_cpu() -> float:
    """CPU seconds of this process's finished children."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def process_rss_mib(pid: int) -> tuple[float, float]:
    """Current and peak resident MiB of a process (0 when it is gone)."""
    try:
        with Path(f"/proc/{pid}/status").open() as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        return 0.0, 0.0


def tree_state() -> str:
    """Short hash of the engine's and CLI's uncommitted changes (edits made while a benchmark runs), or "clean"."""
    diff = subprocess.run(["git", "diff", "HEAD", "--", "engine", "cli"], cwd=REPO, capture_output=True, text=True)
    status = subprocess.run(
        ["git", "status", "--short", "--", "engine", "cli"], cwd=REPO, capture_output=True, text=True
    )
    text = diff.stdout + status.stdout
    return hashlib.sha1(text.encode()).hexdigest()[:10] if text else "clean"


def mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def mean_lists(lists: list[list[float | None]]) -> list[float | None]:
    """Element-wise means of equally long lists, ignoring missing values."""
    out = []
    for vals in zip(*lists, strict=True):
        present = [v for v in vals if v is not None]
        out.append(statistics.fmean(present) if present else None)
    return out


def fmt_list(values: list[float | None] | None, digits: int) -> str:
    if not values:
        return ""
    return " / ".join("–" if v is None else f"{v:,.{digits}f}" for v in values)
