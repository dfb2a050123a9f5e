"""Private evaluation benchmark: `evaluate_private` of a synthetic table against a sensitive one, same size.

    python bench/evaluation.py                      # 170 k and 1.7 M rows, R = 3
    python bench/evaluation.py --rows 1700000

The "synthetic" table is another draw of the generator (seed 2) so the comparison does real work (different
combinations, unique records, marginals). Each size runs in a fresh process; the time covers reading both tables,
SDS combination metrics, marginal TVDs, k-marginal with its subsample baseline, propensity MSE and unique exact
matches (goal: 1.7 M vs 1.7 M at R = 3 well under a minute).
"""

from __future__ import annotations

import argparse

from _util import generated_input, print_table, run_child

CHILD = """
import time
from sdsynth.engine import IngestOptions, load_schema
from sdsynth.evaluation.evaluate import evaluate_private
options = IngestOptions(schema=load_schema("ctdc-victim-perpetrator"))
evaluate_private({real!r}, {real!r}, options)  # warm-up: Numba cache, imports
start = time.perf_counter()
ev = evaluate_private({real!r}, {synthetic!r}, options, reporting_length=3)
result = dict(rows={rows}, seconds=time.perf_counter() - start, k_marginal=ev.summary["k_marginal"],
              combinations=ev.summary["original_combinations"])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[170_000, 1_700_000])
    args = parser.parse_args()
    results = []
    for rows in args.rows:
        real, synthetic = generated_input(rows), generated_input(rows, seed=2)
        r = run_child(CHILD.format(real=str(real), synthetic=str(synthetic), rows=rows))
        results.append(r)
    print_table(results, [("rows", "rows"), ("seconds", "seconds"), ("peak_rss_mib", "peak MiB"),
                          ("combinations", "sensitive combinations"), ("k_marginal", "k-marginal")])  # fmt: skip


if __name__ == "__main__":
    main()
