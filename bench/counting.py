"""Counting benchmark: seconds and peak memory to count all combinations of length ≤ R on generated data.

    python bench/counting.py                         # 17 k, 1.7 M and 17 M rows, R = 3 and 4
    python bench/counting.py --rows 17000 170000 --lengths 3

Each measurement runs in a fresh process (so peak RSS is its own) that streams the Parquet input in batches:
a first pass builds the attribute dictionary, a second encodes and counts. Numba kernels come from the on-disk
cache; the first-call compile time (empty cache) is measured separately.
"""

from __future__ import annotations

import argparse
import tempfile

from _util import generated_input, print_table, run_child

CHILD = """
import time
import numpy as np
from sdsynth.engine import IngestOptions, count_combinations, load_schema, stream_encoded
start = time.perf_counter()
records = stream_encoded({path!r}, IngestOptions(schema=load_schema("ctdc-victim-perpetrator")))
scanned = time.perf_counter()
counts = count_combinations(records, {R})
done = time.perf_counter()
fill = float(np.mean([np.diff(o).mean() for o, _ in records.batches()])) if {measure_fill} else None
result = dict(rows=counts.n_records, R={R}, fill=fill, scan_s=scanned - start, count_s=done - scanned,
              total_s=done - start, combinations=counts.n_combinations)
"""

COMPILE = """
import time
t = time.perf_counter()
import polars as pl
from sdsynth.engine import count_combinations
from sdsynth.encode.tables import encode
t0 = time.perf_counter()
count_combinations(encode(pl.DataFrame({"A": ["a", "b"], "B": ["c", "d"]})), 3)
result = dict(first_call_s=time.perf_counter() - t0, import_s=t0 - t)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[17_000, 1_700_000, 17_000_000])
    parser.add_argument("--lengths", type=int, nargs="+", default=[3, 4])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as cache:
        cold = run_child(COMPILE, env={"NUMBA_CACHE_DIR": cache})
        warm = run_child(COMPILE, env={"NUMBA_CACHE_DIR": cache})
    print(
        f"first call with an empty Numba cache: {cold.get('first_call_s', 0):.2f} s; "
        f"with the on-disk cache: {warm.get('first_call_s', 0):.2f} s (import {warm.get('import_s', 0):.2f} s)\n"
    )

    results = []
    for rows in args.rows:
        path = generated_input(rows)
        for R in args.lengths:
            r = run_child(CHILD.format(path=str(path), R=R, measure_fill=rows <= 2_000_000))
            r.setdefault("rows", rows)
            r.setdefault("R", R)
            if r.get("fill") is None:
                r["fill"] = "≈11"
            results.append(r)
            print(f"  {rows:,} rows, R = {R}: {r.get('total_s', r.get('error'))}", flush=True)
    print()
    print_table(
        results,
        [
            ("rows", "rows"),
            ("R", "R"),
            ("fill", "filled attributes / row"),
            ("scan_s", "dictionary pass s"),
            ("count_s", "encode+count s"),
            ("total_s", "total s"),
            ("peak_rss_mib", "peak RSS MiB"),
            ("combinations", "combinations"),
        ],
    )


if __name__ == "__main__":
    main()
