"""How close records are to a release: the mean total variation distance of their 1-way and 2-way distributions over
expanded columns (empty cells included) to the tables the calibrated law derives from the released counts (step 1);
2-way over the pairs the release holds (all, or those of a released tree of column pairs).

It is computed from public information only, so the law may use it to choose between candidates: the pilot chooses
the column order by it (step 4), and the `auto` sampling law chooses between the calibrated and the reference law.
"""

from __future__ import annotations

import itertools

import numpy as np

from sdsynth.encode.records import EncodedData
from sdsynth.protect.aggregates import Aggregates
from sdsynth.synth.calibrated.model import ReleaseModel, release_model


def release_fit(aggs: Aggregates, records: EncodedData, model: ReleaseModel | None = None) -> tuple[float, float]:
    """Mean total variation distance between the records' 1-way and 2-way distributions over expanded columns (empty
    cells included) and the released ones (the calibrated law's own tables of one and two columns, those of `model`
    when given, a `release_model` of `aggs`): how well a law reproduces the release, computed from public
    information only."""
    return model_fit(model or release_model(aggs), records)


def model_fit(model: ReleaseModel, records: EncodedData) -> tuple[float, float]:
    """`release_fit` against the tables of `model` (cached across calls)."""
    n = records.n_records
    released = model.released
    n_columns = released.n_columns
    if n == 0 or n_columns == 0:
        return 0.0, 0.0
    where = np.full(records.attributes.n_attributes, -1, dtype=np.int64)
    column = np.full(records.attributes.n_attributes, -1, dtype=np.int64)
    for c, ids in enumerate(released.value_ids):
        where[ids] = np.arange(1, len(ids) + 1)
        column[ids] = c
    cats = np.zeros((n_columns, n), dtype=np.int64)
    row = np.repeat(np.arange(n), np.diff(records.offsets))
    keep = where[records.ids] > 0
    cats[column[records.ids[keep]], row[keep]] = where[records.ids[keep]]

    def tvd(cols: list[int]) -> float:
        expected = model.table(cols).ravel()
        if expected.sum() <= 0:
            return 0.0
        flat = cats[cols[0]] if len(cols) == 1 else cats[cols[0]] * int(released.n_categories[cols[1]]) + cats[cols[1]]
        seen = np.bincount(flat, minlength=len(expected)) / n
        return 0.5 * float(np.abs(seen - expected / expected.sum()).sum())

    one = np.mean([tvd([c]) for c in range(n_columns)])
    pairs = [tvd([a, b]) for a, b in itertools.combinations(range(n_columns), 2) if released.pair_released(a, b)]
    return float(one), float(np.mean(pairs)) if pairs else 0.0
