"""What a sampling law that only draws released combinations can reach, on one DP release per dataset (ε = 4,
R = 3, noise from OS entropy: each run is a new release):

1. **TVD floor.** For every set of 1, 2 and 3 columns (expanded columns, empty a category), the real share of the
   cells no such law can produce: cells whose non-empty values, or some of their sub-combinations, were not
   released. TVD = Σ max(0, p − q) over cells ≥ Σ p over those cells, so the mean over column sets bounds the mean
   TVD of *any* law that keeps the guarantee, cell by cell.
2. **Records.** The share of real records with every sub-combination of length ≤ R released (records such a law
   could reproduce whole), and how many cells a greedy projection empties to make a real record producible (the
   cell in the most unreleased combinations first), on a sample of SAMPLE_RECORDS real records.
3. **Coverage against TVD.** A share λ of the output drawn with the reference law (which seeds records from rare
   released combinations and stops when blocked), the rest with the calibrated law, its selection weights fitted to
   the single-column shares that complement the reference part's; mean 1- and 2-way TVD against the real table and
   the suppressed / fabricated shares of combinations of length ≤ R (as `bench/sampling_law.py`).

    python bench/law_limits.py                                  # nist-national, adult, ctdc-17k
    python bench/law_limits.py --datasets adult --mix 0 0.5 1

The measurements behind "Limits" in docs/synthesis.md. Prints one table per part.
"""

from __future__ import annotations

import argparse
import itertools
import os
from pathlib import Path

import numpy as np
from _util import REPO, generated_input, print_table

from sdsynth._utils.context import RunContext
from sdsynth.encode.records import EncodedData
from sdsynth.encode.tables import encode
from sdsynth.engine import IngestOptions, count_combinations, load_schema
from sdsynth.evaluation.marginals import marginal_tvd, mean_tvd_by_order
from sdsynth.evaluation.metrics import compare_combinations
from sdsynth.protect.dp.marginals import dp_marginals
from sdsynth.protect.dp.params import DpParameters
from sdsynth.synth import calibrated as cal
from sdsynth.synth.aggregate_seeded import AggregateSeededParameters, aggregate_seeded, concat_records
from sdsynth.synth.output import records_to_frame

SHARED_DATA = Path(os.environ.get("SDSYNTH_SHARED_DATA", REPO.parent / "shared" / "data"))
DATASETS: dict[str, tuple[str, str | int]] = {
    "nist-national": ("nist-diverse-communities", "nist_national2019.csv"),
    "adult": ("adult-uci", "adult_uci_strings.csv"),
    "ctdc-17k": ("ctdc-victim-perpetrator", 17_000),
}
EPSILON = 4.0
R = 3
SAMPLE_RECORDS = 2000


def released_set(aggs) -> set[tuple[int, ...]]:  # type: ignore[no-untyped-def]
    ids = aggs.layout.unpack(aggs.keys, aggs.reporting_length).astype(np.int64)
    return {tuple(sorted(row[:length])) for row, length in zip(ids.tolist(), aggs.lengths.tolist(), strict=True)}


def producible(values: tuple[int, ...], released: set[tuple[int, ...]]) -> bool:
    """Whether every sub-combination (length ≤ R) of these attribute ids was released."""
    ordered = sorted(values)
    return all(
        sub in released for k in range(1, min(R, len(ordered)) + 1) for sub in itertools.combinations(ordered, k)
    )


def attribute_matrix(data: EncodedData) -> np.ndarray:
    """Records × expanded columns: the attribute id in each cell, −1 where empty."""
    attrs = data.attributes
    matrix = np.full((data.n_records, len(attrs.columns)), -1, dtype=np.int64)
    rows = np.repeat(np.arange(data.n_records), np.diff(data.offsets))
    matrix[rows, attrs.column_of[data.ids]] = data.ids
    return matrix


def tvd_floor(matrix: np.ndarray, released: set[tuple[int, ...]]) -> dict[int, float]:
    n, n_columns = matrix.shape
    floor = {}
    for order in (1, 2, 3):
        lost = []
        for cols in itertools.combinations(range(n_columns), order):
            cells, counts = np.unique(matrix[:, cols], axis=0, return_counts=True)
            bad = [not producible(tuple(v for v in cell if v >= 0), released) for cell in cells.tolist()]
            lost.append(float(counts[np.array(bad, dtype=bool)].sum()) / n)
        floor[order] = float(np.mean(lost))
    return floor


def projection(data: EncodedData, released: set[tuple[int, ...]], rng: np.random.Generator) -> tuple[float, float]:
    """(share of sampled real records already producible, mean cells emptied by the greedy projection)."""
    rows = rng.choice(data.n_records, min(SAMPLE_RECORDS, data.n_records), replace=False)
    emptied = []
    for r in rows:
        record = sorted(data.record(int(r)).tolist())
        k = 0
        while True:
            blame: dict[int, int] = {}
            for length in range(1, R + 1):
                for sub in itertools.combinations(record, length):
                    if sub not in released:
                        for a in sub:
                            blame[a] = blame.get(a, 0) + 1
            if not blame:
                break
            record.remove(max(blame, key=lambda a: (blame[a], -a)))
            k += 1
        emptied.append(k)
    emptied_arr = np.array(emptied)
    return float((emptied_arr == 0).mean()), float(emptied_arr.mean())


def mixtures(aggs, data: EncodedData, shares: list[float], multi_value: dict[str, str]) -> list[dict]:  # type: ignore[no-untyped-def]
    n = data.n_records
    real = records_to_frame(data, order=False)
    real_counts = count_combinations(data, R)
    reference = aggregate_seeded(aggs, n, AggregateSeededParameters(sampling_law="reference"), RunContext(seed=1))
    sampler = cal.CalibratedSampler(aggs, n, seed=1)
    network = sampler.network
    assert network is not None
    pool = sampler._draw(network, 0, cal.POOL_FACTOR * n)
    category = np.zeros(aggs.attributes.n_attributes, dtype=np.int64)
    for c in range(len(network.n_categories)):
        start = network.value_offset[c]
        category[network.value_ids[start : start + network.n_categories[c] - 1]] = np.arange(1, network.n_categories[c])
    ref_matrix = attribute_matrix(reference)
    rows = []
    for share in shares:
        m = round(share * n)
        targets = []
        for c, target in enumerate(network.targets):
            cells = ref_matrix[:m, c]
            ref_share = np.bincount(np.where(cells >= 0, category[np.maximum(cells, 0)], 0), minlength=len(target))
            rest = np.clip(target - share * ref_share / max(m, 1), 0.0, None)
            targets.append(rest / rest.sum() if rest.sum() > 0 else target)
        parts = []
        if m < n:
            factors = cal._calibration_weights([pool], targets)[0]
            parts.append(cal._to_records(aggs, network, pool[sampler._select(pool, factors, 0, n - m, balance=False)]))
        if m:
            parts.append(reference.take(np.arange(m)))
        out = concat_records(aggs.attributes, parts)
        tvd = mean_tvd_by_order(
            marginal_tvd(real, records_to_frame(out, order=False), orders=(1, 2), multi_value=multi_value or None)
        )
        metrics = compare_combinations(real_counts, count_combinations(out, R), 1, n, out.n_records).metrics
        rows.append(
            {
                "reference share λ": share,
                "TVD 1-way": tvd[1],
                "TVD 2-way": tvd[2],
                "suppressed %": metrics["suppressed_pct"],
                "fabricated %": metrics["fabricated_pct"],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--mix", nargs="+", type=float, default=[0.0, 0.1, 0.25, 0.5, 1.0], help="shares λ")
    args = parser.parse_args()
    floors, records, mixes = [], [], []
    for name in args.datasets:
        schema_name, source = DATASETS[name]
        path = generated_input(source) if isinstance(source, int) else SHARED_DATA / source
        schema = load_schema(schema_name)
        data = encode(path, IngestOptions(schema=schema))
        aggs = dp_marginals(data, DpParameters(epsilon=EPSILON, reporting_length=R)).aggregates
        released = released_set(aggs)
        floor = tvd_floor(attribute_matrix(data), released)
        floors.append({"dataset": name, **{f"TVD floor {k}-way": v for k, v in floor.items()}})
        whole, emptied = projection(data, released, np.random.default_rng(0))
        records.append({"dataset": name, "real records producible %": 100 * whole, "cells emptied per record": emptied})
        multi_value = {c.name: c.delimiter for c in schema.columns if c.use and c.kind == "multi_value"}
        mixes += [{"dataset": name, **row} for row in mixtures(aggs, data, args.mix, multi_value)]
        print(f"{name}: done", flush=True)
    for title, rows in (("TVD floor (expanded columns)", floors), ("real records", records), ("mixtures", mixes)):
        print(f"\n{title}")
        print_table([{k: f"{v:.4g}" if isinstance(v, float) else v for k, v in row.items()} for row in rows],
                    [(k, k) for k in rows[0]])  # fmt: skip


if __name__ == "__main__":
    main()
