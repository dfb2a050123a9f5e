"""Helpers shared by the benchmark scripts: generated inputs, child processes with peak-memory readings, tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("SDSYNTH_BENCH_DATA", BENCH_DIR / "data"))


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


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """A Markdown table (also printed), columns given as (key, header)."""
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
    print(text, flush=True)
    return text
