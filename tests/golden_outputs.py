"""Digests of everything a release writes, normalised so that only what may legitimately change between two runs
of the same code is left out: `release_id`, the date, hashes and sizes that cover them, the ids of chart elements.

`python tests/golden_outputs.py` rewrites `tests/golden/bundled_sample.json` (run it only when a change of output is
intended, and say so in the commit); `tests/test_golden.py` compares a fresh run against it.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "golden" / "bundled_sample.json"
VOLATILE_KEYS = {"release_id", "created_at", "synthesized_from_release", "input"}  # "input": the local sample path
RUNS: dict[str, list[str]] = {
    "k-anonymity": ["--resolution", "10", "--seed", "7"],
    "dp": ["--dp", "--epsilon", "4", "--seed", "7"],
}


def _digest(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()[:16]


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _json(v) for k, v in sorted(value.items()) if k not in VOLATILE_KEYS and k not in ("sha256", "bytes")
        }
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def _table_text(frame: Any) -> str:
    buffer = io.StringIO()
    frame.sort(frame.columns, nulls_last=True).write_csv(buffer)
    return buffer.getvalue()


def file_digests(folder: Path) -> dict[str, str]:
    """name → digest of the normalised content, for every file of a release folder."""
    import duckdb
    import polars as pl

    out: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name == "stage_times.json":  # the stages, not their seconds (which differ at every run)
            stages = json.loads(path.read_text(encoding="utf-8"))["stages"]
            out[name] = _digest(json.dumps([(s["stage"], s["within"]) for s in stages]))
        elif path.suffix == ".parquet":
            out[name] = _digest(_table_text(pl.read_parquet(path)))
        elif path.suffix == ".duckdb":
            con = duckdb.connect(str(path), read_only=True)
            try:
                tables = [
                    r[0] for r in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()
                ]
                for table in tables:
                    quoted = '"' + table.replace('"', '""') + '"'
                    frame = pl.from_arrow(con.sql(f"SELECT * FROM {quoted}").to_arrow_table())
                    if table == "release_info":
                        frame = frame.filter(~pl.col("key").is_in(sorted(VOLATILE_KEYS)))
                    elif table == "release_parameters":
                        frame = frame.drop(*(c for c in frame.columns if c in VOLATILE_KEYS))
                    out[f"{name}:{table}"] = _digest(_table_text(frame))
            finally:
                con.close()
        elif path.suffix == ".json":
            out[name] = _digest(json.dumps(_json(json.loads(path.read_text())), sort_keys=True))
        elif path.suffix == ".html":
            text = re.sub(r'\b(id|xlink:href|clip-path)="[^"]*"', "", path.read_text())
            out[name] = _digest(re.sub(r"\d{4}-\d{2}-\d{2}", "DATE", text))
        else:
            out[name] = _digest(path.read_bytes())
    return out


def release_digests(tmp: Path, run: str) -> dict[str, dict[str, str]]:
    """Release the bundled sample (DP noise from the test-only seeded stream) and digest both folders."""
    from typer.testing import CliRunner

    from sdsynth.cli.main import app

    pub, priv = tmp / f"{run}-pub", tmp / f"{run}-priv"
    result = CliRunner().invoke(app, ["release", "--out", str(pub), "--private-out", str(priv), "-q", *RUNS[run]])
    if result.exit_code != 0:
        raise RuntimeError(result.output)
    return {"public": file_digests(pub), "private": file_digests(priv)}


def seeded_dp_stream() -> Any:
    """TEST ONLY: patch the DP random source with a seeded stream; returns the undo function."""
    from sdsynth.protect.dp.random import DpRandom

    original = DpRandom.__dict__["from_os_entropy"]
    DpRandom.from_os_entropy = classmethod(lambda cls, streams=1: cls._seeded_for_tests(11, streams))  # type: ignore[method-assign]

    def undo() -> None:
        DpRandom.from_os_entropy = original  # type: ignore[method-assign]

    return undo


def main() -> None:
    import tempfile

    undo = seeded_dp_stream()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            digests = {run: release_digests(Path(tmp), run) for run in RUNS}
    finally:
        undo()
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}", file=sys.stderr)


if __name__ == "__main__":
    main()
