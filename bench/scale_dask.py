"""Local engine against the Dask engine (a LocalCluster of 2 worker processes): seconds and peak memory.

    python bench/scale_dask.py                          # 1 M and 10 M rows, R = 3, non-DP and DP (ε = 4)
    python bench/scale_dask.py --rows 1000000 --modes counts --persist both

Each measurement runs in a fresh process. Local runs stream the Parquet input as the CLI does (`stream_encoded`,
then `count_combinations` or `dp_marginals` on all cores). Dask runs start a LocalCluster (startup timed apart),
load the file over the workers (dictionary pass, then encoded partitions kept in the workers' memory, or read again
at every pass with `--persist no`) and run the same function. Peak memory: the client process's peak RSS (it also
hosts the scheduler), and each worker process's own peak RSS, read on the workers at the end. Non-DP runs print a
digest of (keys, counts), so the table shows that both engines counted the same thing.
"""

from __future__ import annotations

import argparse
import os
import subprocess

from _util import generated_input, print_table, run_child

SETUP = """
import hashlib, time
import numpy as np
from sdsynth.engine import IngestOptions, load_schema
from sdsynth.protect.dp.params import DpParameters
options = IngestOptions(schema=load_schema("ctdc-victim-perpetrator"))
params = DpParameters(epsilon=4.0, reporting_length={R})

def digest(counts):
    return hashlib.sha256(counts.keys.tobytes() + counts.counts.tobytes()).hexdigest()[:12]
"""

LOCAL = (
    SETUP
    + """
from sdsynth.engine import count_combinations, dp_marginals, stream_encoded
start = time.perf_counter()
records = stream_encoded({path!r}, options)
if {dp}:
    aggs = dp_marginals(records, params).aggregates
    check, released = "", len(aggs.keys)
else:
    counts = count_combinations(records, {R})
    check, released = digest(counts), counts.n_combinations
result = dict(run_s=time.perf_counter() - start, startup_s=0.0, check=check, combinations=released)
"""
)

DASK = (
    SETUP
    + """
import resource
from sdsynth.backends.dask.engine import DaskEngine
from sdsynth.jobs.distributed import count_combinations_distributed, dp_marginals_distributed
start = time.perf_counter()
with DaskEngine(workers=2, persist={persist}) as engine:
    started = time.perf_counter()
    if {dp}:
        aggs = dp_marginals_distributed({path!r}, options, params, engine).aggregates
        check, released = "", len(aggs.keys)
    else:
        counts = count_combinations_distributed({path!r}, options, {R}, engine)
        check, released = digest(counts), counts.n_combinations
    done = time.perf_counter()
    peaks = engine.client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
result = dict(run_s=done - started, startup_s=started - start, check=check, combinations=released,
              worker_peak_mib=max(peaks.values()), workers_total_mib=sum(peaks.values()))
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--modes", nargs="+", default=["counts", "dp"], choices=["counts", "dp"])
    parser.add_argument("--persist", default="yes", choices=["yes", "no", "both"])
    parser.add_argument("-R", type=int, default=3)
    args = parser.parse_args()
    print("load before the runs:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"{os.cpu_count()} cores\n")
    persist = {"yes": [True], "no": [False], "both": [True, False]}[args.persist]
    rows_out = []
    for rows in args.rows:
        path = str(generated_input(rows))
        for mode in args.modes:
            dp = mode == "dp"
            runs = [("local", LOCAL.format(path=path, R=args.R, dp=dp))]
            runs += [
                (f"dask 2 workers{'' if p else ', streamed'}", DASK.format(path=path, R=args.R, dp=dp, persist=p))
                for p in persist
            ]
            for engine, code in runs:
                out = run_child(code)
                label = "DP ε=4" if dp else "exact counts"
                rows_out.append({"rows": rows, "mode": label, "engine": engine, **out})
                print(f"{rows:,} {label} {engine}: {out}", flush=True)
    print()
    print_table(
        rows_out,
        [
            ("rows", "rows"),
            ("mode", "mode"),
            ("engine", "engine"),
            ("startup_s", "cluster start s"),
            ("run_s", "run s"),
            ("peak_rss_mib", "client peak MiB"),
            ("worker_peak_mib", "worker peak MiB (max)"),
            ("workers_total_mib", "workers total MiB"),
            ("combinations", "combinations"),
            ("check", "digest"),
        ],
    )
    print("\nload after the runs:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
