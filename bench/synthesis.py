"""k-anonymity synthesis benchmark: seconds and peak memory per method on generated data (k = 10, R = 3).

    python bench/synthesis.py                               # 17 k, 170 k, 1.7 M rows; all three methods
    python bench/synthesis.py --rows 17000 --methods row-seeded

Each run is a fresh process (its own peak RSS): read + encode the Parquet input, fit (exact short-combination
counts, bitsets), sample (seeded), and a leakage check (every synthetic combination of length ≤ 3 must match at least
k sensitive records). Unseeded at 1.7 M rows is slow by nature (each record needs a random row of a shrinking set
for every column) and can be skipped with --methods.
"""

from __future__ import annotations

import argparse

from _util import generated_input, print_table, run_child

CHILD = """
import time
from sdsynth.engine import IngestOptions, count_combinations, load_schema
from sdsynth.encode.tables import encode
from sdsynth.synth.base import create
start = time.perf_counter()
data = encode({path!r}, IngestOptions(schema=load_schema("ctdc-victim-perpetrator")))
loaded = time.perf_counter()
synth = create({method!r}, resolution=10).fit(data)
fitted = time.perf_counter()
records = synth.sample_records(seed=1)
sampled = time.perf_counter()
true = count_combinations(data, 3)
syn = count_combinations(records, 3)
leaks = int((true.lookup(syn.keys) < 10).sum())
result = dict(method={method!r}, rows=data.n_records, load_s=loaded - start, fit_s=fitted - loaded,
              sample_s=sampled - fitted, total_s=sampled - start, synthetic=records.n_records, leaks=leaks)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[17_000, 170_000, 1_700_000])
    parser.add_argument("--methods", nargs="+", default=["row-seeded", "value-seeded", "unseeded"])
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    results = []
    for rows in args.rows:
        path = generated_input(rows)
        for method in args.methods:
            try:
                r = run_child(CHILD.format(path=str(path), method=method), timeout=args.timeout)
            except Exception as exc:  # timeout
                r = {"error": type(exc).__name__}
            r.setdefault("rows", rows)
            r.setdefault("method", method)
            results.append(r)
            print(f"  {rows:,} rows, {method}: {r.get('total_s', r.get('error'))}", flush=True)
    print()
    print_table(
        results,
        [("rows", "rows"), ("method", "method"), ("fit_s", "fit s"), ("sample_s", "sample s"),
         ("total_s", "load+fit+sample s"), ("peak_rss_mib", "peak RSS MiB"), ("synthetic", "records"),
         ("leaks", "leaked combinations"), ("error", "error")],
    )  # fmt: skip


if __name__ == "__main__":
    main()
