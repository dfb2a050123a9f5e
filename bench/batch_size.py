"""How the aggregate-seeded batch size moves quality, against the sequential law (batch size 1).

    python bench/batch_size.py [--rows 17000] [--seeds 5]

One set of DP aggregates (ε = 4, R = 3) of generated data is fixed; for each batch size, synthesis runs with several
seeds. Reported: mean total variation distance of 1-, 2-, 3-way marginals against the sensitive table (as loaded:
empty cells and multi-value cells are categories), the mean absolute error of synthetic counts against the
released aggregates, and seconds. Welch's t-test p-values compare each batch size with batch size 1.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _util import print_table
from scipy import stats

from sdsynth._utils.context import RunContext
from sdsynth.encode.tables import encode
from sdsynth.engine import DpParameters, IngestOptions, count_combinations, load_schema
from sdsynth.evaluation.marginals import marginal_tvd, mean_tvd_by_order
from sdsynth.protect.dp.marginals import dp_marginals
from sdsynth.sample_data import generate_ctdc
from sdsynth.synth.aggregate_seeded import AggregateSeededParameters, aggregate_seeded
from sdsynth.synth.output import records_to_frame

MULTI_VALUE = {c: ";" for c in ("IP_Relation", "IP_Gender", "IP_ageBroad", "IP_PayMoney")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=17_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64, 256, 1024, 4096])
    args = parser.parse_args()
    frame = generate_ctdc(args.rows, seed=1)
    data = encode(frame, IngestOptions(schema=load_schema("ctdc-victim-perpetrator")))
    aggs = dp_marginals(data, DpParameters(epsilon=4.0, reporting_length=3)).aggregates
    released = aggs.as_dict()
    results: dict[int, list[dict[str, float]]] = {}
    for batch in args.batch_sizes:
        for seed in range(args.seeds):
            start = time.perf_counter()
            records = aggregate_seeded(
                aggs, aggs.record_count, AggregateSeededParameters(batch_size=batch), RunContext(seed=seed)
            )
            seconds = time.perf_counter() - start
            synthetic = records_to_frame(records, order=False)
            tvd = mean_tvd_by_order(marginal_tvd(frame, synthetic, multi_value=MULTI_VALUE))
            syn_counts = count_combinations(records, 3).as_dict()
            mae = float(np.mean([abs(syn_counts.get(k, 0) - v) for k, v in released.items()]))
            results.setdefault(batch, []).append({"tvd1": tvd[1], "tvd2": tvd[2], "tvd3": tvd[3], "mae": mae,
                                                  "seconds": seconds})  # fmt: skip
        print(f"batch {batch}: done", flush=True)
    base = results[args.batch_sizes[0]]
    rows = []
    for batch, runs in results.items():
        row: dict[str, object] = {"batch": batch}
        for metric in ("tvd1", "tvd2", "tvd3", "mae", "seconds"):
            values = [r[metric] for r in runs]
            row[metric] = float(np.mean(values))
            if metric != "seconds" and batch != args.batch_sizes[0]:
                p = stats.ttest_ind(values, [r[metric] for r in base], equal_var=False).pvalue
                row[f"p_{metric}"] = float(p)
        rows.append(row)
    print_table(
        rows,
        [("batch", "batch"), ("tvd1", "TVD 1-way"), ("p_tvd1", "p"), ("tvd2", "TVD 2-way"), ("p_tvd2", "p"),
         ("tvd3", "TVD 3-way"), ("p_tvd3", "p"), ("mae", "MAE vs aggregates"), ("p_mae", "p"),
         ("seconds", "seconds")],
    )  # fmt: skip


if __name__ == "__main__":
    main()
