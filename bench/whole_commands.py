"""Whole commands against pac-synth (issue 25): what a user waits for, in fresh processes, warm kernel cache.

    pip install -e '.[bench]'          # pac-synth, the reference's Python wheel
    python bench/whole_commands.py     # aggregate --dp on 200 k rows; synthesize --dp on 17 k and 21 k rows

Inputs: `sdsynth sample-data --rows N --seed 7` (CTDC-like; its multi-value columns declared through the shipped
schema `ctdc-victim-perpetrator` on our side and `multi_value_columns` on pac-synth's). Ours: the whole
`sdsynth aggregate|synthesize FILE --schema ctdc-victim-perpetrator --dp --epsilon 4` process (start-up, reading,
DP, synthesis, writing). pac-synth: its `fit` (aggregate) or `fit` + `sample` (synthesize), timed inside its
process, reading excluded, as the issue measured it; its whole process is shown too. Best of --repeats runs.
Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import BYTECODE_CACHE_OFF, print_table, tree_state

PAC = """
import json, sys, time
import polars as pl
import pacsynth as ps
path, sample = sys.argv[1], sys.argv[2] == "1"
mv = [c for c in pl.read_csv(path, n_rows=1, infer_schema_length=0).columns if c in {multi}]
pdf = pl.read_csv(path, infer_schema_length=0).fill_null("").to_pandas()
ds = ps.Dataset.from_data_frame(pdf, multi_value_columns={{c: ";" for c in mv}})
params = ps.DpAggregateSeededParametersBuilder().reporting_length(3).epsilon(4.0).build()
syn = ps.DpAggregateSeededSynthesizer(params)
t = time.perf_counter()
syn.fit(ds)
if sample:
    syn.sample(syn.get_dp_number_of_records(), join_multi_value_columns=True)
print(json.dumps({{"seconds": time.perf_counter() - t}}))
"""


def multi_value_columns() -> list[str]:
    from sdsynth.engine import load_schema

    return [c.name for c in load_schema("ctdc-victim-perpetrator").columns if c.delimiter]


def best(argv: list[str], repeats: int, cwd: Path) -> tuple[float, str]:
    """Fastest whole-process seconds and the last stdout."""
    times, out = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env={**os.environ})
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:4])} failed:\n{done.stderr[-1500:]}")
        out = done.stdout
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", nargs="*", default=["aggregate:200000", "synthesize:17000", "synthesize:21000"])
    args = parser.parse_args()
    print(
        f"cores: {os.cpu_count()}, Python {sys.version.split()[0]}, tree {tree_state()}"
        + (", PYTHONDONTWRITEBYTECODE dropped (timed with the bytecode cache)" if BYTECODE_CACHE_OFF else ""),
        flush=True,
    )
    pac_code = PAC.format(multi=multi_value_columns())
    rows = []
    with tempfile.TemporaryDirectory(prefix="sdsynth-whole-") as tmp:
        work = Path(tmp)
        sdsynth = [sys.executable, "-m", "sdsynth.cli.main"]
        for case in args.cases:
            command, n = case.split(":")
            path = work / f"cases_{n}.csv"
            if not path.exists():
                subprocess.run([*sdsynth, "sample-data", "--rows", n, "--seed", "7", "--out", str(path), "-q"],
                               check=True)  # fmt: skip
            ours_argv = [*sdsynth, command, str(path), "--schema", "ctdc-victim-perpetrator", "--dp", "--epsilon", "4",
                         "--out", str(work / "out"), "--overwrite", "-q"]  # fmt: skip
            if command == "synthesize":
                ours_argv += ["--seed", "1"]
            best(ours_argv, 1, work)  # warm-up: kernels cached
            ours, _ = best(ours_argv, args.repeats, work)
            pac_whole, out = best([sys.executable, "-c", pac_code, str(path), "1" if command == "synthesize" else "0"],
                                  args.repeats, work)  # fmt: skip
            pac = json.loads(out.strip().splitlines()[-1])["seconds"]
            goal = 25 if command == "aggregate" else 15
            rows.append({"case": f"{command} --dp, {int(n):,} rows", "ours": f"{ours:.2f}",
                         "pac": f"{pac:.2f}", "pac_whole": f"{pac_whole:.2f}", "ratio": f"{pac / ours:.1f}×",
                         "goal": f"≥ {goal}×"})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    print()
    print_table(rows, [("case", "case"), ("ours", "sdsynth whole command s"),
                       ("pac", "pac-synth fit (+ sample) s"), ("pac_whole", "pac-synth whole process s"),
                       ("ratio", "ratio"), ("goal", "goal")])  # fmt: skip
    print(f"\nbest of {args.repeats}; ε 4, R 3; load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
