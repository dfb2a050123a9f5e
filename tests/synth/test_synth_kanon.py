"""Spec §4.4–4.8, §4.11, §9.10: the k-anonymity synthesizers' invariants (property tests with a brute-force oracle),
their sampling laws (against exact enumeration), reproducibility, and output formatting."""

from __future__ import annotations

import itertools
from collections import Counter
from fractions import Fraction

import numpy as np
import polars as pl
import pytest
from helpers import DATA
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sdsynth.encode.tables import encode
from sdsynth.engine import IngestOptions, count_combinations, protect_k_anonymity
from sdsynth.kernels.chacha import stream_key, stream_state
from sdsynth.kernels.rowsets import build_bitsets, clustered_order
from sdsynth.synth.base import RowSeeded, Unseeded, ValueSeeded, create
from sdsynth.synth.kanon import SeededModel, _consolidate, row_seeded, row_seeded_phase1, unseeded
from sdsynth.synth.output import records_to_frame, write_csv
from sdsynth.testing import categorical_tables


def _sets(data) -> list[frozenset[int]]:  # type: ignore[no-untyped-def]
    return [frozenset(data.record(r).tolist()) for r in range(data.n_records)]


def _support(sensitive: list[frozenset[int]], combo: frozenset[int]) -> int:
    return sum(1 for rec in sensitive if combo <= rec)


@settings(max_examples=40)
@given(
    table=categorical_tables(max_rows=40, max_columns=5, max_values=3),
    resolution=st.integers(1, 4),
    method=st.sampled_from(["unseeded", "row-seeded", "value-seeded"]),
    seed=st.integers(0, 2**32),
)
def test_invariants_against_brute_force(
    table: tuple[pl.DataFrame, dict[str, str]], resolution: int, method: str, seed: int
) -> None:
    frame, multi = table
    data = encode(frame, IngestOptions(multi_value=multi))
    sensitive = _sets(data)
    synth = create(method, resolution=resolution, n_threads=2).fit(data)
    out = synth.sample_records(seed=seed)
    records = _sets(out)
    # every synthetic record, hence every combination of any length in it, matches ≥ k sensitive records
    for rec in records:
        if rec:
            assert _support(sensitive, rec) >= resolution
    # at most one attribute per column
    for rec in records:
        columns = [int(data.attributes.column_of[a]) for a in rec]
        assert len(columns) == len(set(columns))
    single = Counter(a for rec in sensitive for a in rec)
    produced = Counter(a for rec in records for a in rec)
    if method == "unseeded":
        assert out.n_records == data.n_records
    else:
        assert all(records), "no empty records"
        expected = {a: n // resolution * resolution for a, n in single.items() if n >= resolution}
        assert dict(produced) == {a: c for a, c in expected.items() if c > 0}


def _walk_law(
    candidates: list[int], sensitive: list[frozenset[int]], k: int, column_of: np.ndarray
) -> dict[frozenset[int], Fraction]:
    """Exact distribution of a record grown from `candidates` (spec §4.3): at each step an attribute of an unused
    column, weighted by the rows matching the record with it, among those matched by at least k rows."""
    out: dict[frozenset[int], Fraction] = {}

    def grow(current: frozenset[int], p: Fraction) -> None:
        used = {column_of[a] for a in current}
        weights = {a: _support(sensitive, current | {a}) for a in candidates if column_of[a] not in used}
        weights = {a: w for a, w in weights.items() if w >= k}
        total = sum(weights.values())
        if total == 0:
            out[current] = out.get(current, Fraction(0)) + p
            return
        for a, w in weights.items():
            grow(current | {a}, p * Fraction(w, total))

    grow(frozenset(), Fraction(1))
    return out


def _chi2(observed: Counter, law: dict, n: int) -> float:  # type: ignore[type-arg]
    keys = list(law)
    assert set(observed) <= set(keys), "an outcome outside the law's support"
    expected = np.array([float(law[key]) * n for key in keys])
    counts = np.array([observed.get(key, 0) for key in keys], dtype=float)
    if len(keys) == 1:
        return 1.0
    return float(stats.chisquare(counts, expected).pvalue)


def _small_table() -> pl.DataFrame:
    rng = np.random.default_rng(5)
    rows = 60
    a = rng.choice(["a1", "a2", ""], size=rows, p=[0.5, 0.3, 0.2])
    b = np.where(a == "a1", rng.choice(["b1", "b2"], size=rows, p=[0.8, 0.2]), rng.choice(["b1", "b2", ""], size=rows))
    c = rng.choice(["c1", "c2", "c3"], size=rows, p=[0.6, 0.3, 0.1])
    d = rng.choice(["1", ""], size=rows)
    return pl.DataFrame({"A": a.tolist(), "B": b.tolist(), "C": c.tolist(), "D": d.tolist()})


# table_length 1: every step after the first by rejection over the rows (`_draw_by_rows`), else exact counts first
@pytest.mark.parametrize(("seed_index", "table_length"), [(0, None), (7, None), (21, None), (38, 1), (31, 1)])
def test_row_seeded_phase1_follows_the_reference_law(seed_index: int, table_length: int | None) -> None:
    data = encode(_small_table())
    k = 3
    model = SeededModel.fit(data, k, n_threads=1)
    model.table_length = table_length or model.table_length
    sensitive = _sets(data)
    law = _walk_law(sorted(data.record(seed_index).tolist()), sensitive, k, data.attributes.column_of)
    observed: Counter[frozenset[int]] = Counter()
    runs = 2000
    for s in range(runs):
        offsets, ids = row_seeded_phase1(model, seed=s)
        observed[frozenset(ids[offsets[seed_index] : offsets[seed_index + 1]].tolist())] += 1
    assert _chi2(observed, law, runs) > 1e-3


@pytest.mark.parametrize("table_length", [None, 1])
def test_consolidation_follows_the_reference_law(table_length: int | None) -> None:
    data = encode(_small_table())
    k = 3
    model = SeededModel.fit(data, k, n_threads=1)
    model.table_length = table_length or model.table_length
    budget = model.targets().astype(np.int64)
    law = _walk_law(np.flatnonzero(budget).tolist(), _sets(data), k, data.attributes.column_of)
    observed: Counter[frozenset[int]] = Counter()
    runs = 3000
    for s in range(runs):
        offsets, ids = _consolidate(model, budget.copy(), stream_state(stream_key(s), 0))
        observed[frozenset(ids[offsets[0] : offsets[1]].tolist())] += 1
    assert _chi2(observed, law, runs) > 1e-3


def _unseeded_law(data, k: int) -> dict[frozenset[int], Fraction]:  # type: ignore[no-untyped-def]
    """Exact distribution of one unseeded record (spec §4.4): random column order, values weighted by rows, rare
    values folded into empty."""
    sensitive = _sets(data)
    n_columns = len(data.attributes.columns)
    column_of = data.attributes.column_of
    out: dict[frozenset[int], Fraction] = {}
    orders = list(itertools.permutations(range(n_columns)))
    for order in orders:

        def step(i: int, rows: list[int], chosen: frozenset[int], p: Fraction, order: tuple[int, ...] = order) -> None:
            if i == len(order) or not rows:
                out[chosen] = out.get(chosen, Fraction(0)) + p
                return
            c = order[i]
            groups: dict[int, list[int]] = {}
            for r in rows:
                vals = [a for a in sensitive[r] if column_of[a] == c]
                groups.setdefault(vals[0] if vals else -1, []).append(r)
            empty_weight = sum(len(g) for v, g in groups.items() if v == -1 or len(g) < k)
            total = len(rows)
            for v, g in groups.items():
                if v != -1 and len(g) >= k:
                    step(i + 1, g, chosen | {v}, p * Fraction(len(g), total))
            if empty_weight:
                step(i + 1, groups.get(-1, []), chosen, p * Fraction(empty_weight, total))

        step(0, list(range(data.n_records)), frozenset(), Fraction(1, len(orders)))
    return out


def test_unseeded_follows_the_reference_law() -> None:
    data = encode(_small_table().select("A", "B", "C"))
    k = 4
    law = _unseeded_law(data, k)
    model = SeededModel.fit(data, k, n_threads=2)
    out = unseeded(model, 20_000, seed=3)
    observed = Counter(frozenset(out.record(r).tolist()) for r in range(out.n_records))
    assert _chi2(observed, law, out.n_records) > 1e-3


def test_record_numbers_follow_the_spec() -> None:
    data = encode(_small_table())
    model = SeededModel.fit(data, 3, n_threads=2)
    assert unseeded(model, None, seed=1).n_records == data.n_records
    assert unseeded(model, 17, seed=1).n_records == 17
    diagnostics: dict[str, int] = {}
    result = row_seeded(model, seed=1, diagnostics=diagnostics)
    assert diagnostics["seeded"] == data.n_records
    assert result.n_records == diagnostics["kept"] <= diagnostics["seeded"] + diagnostics["consolidated"]
    with pytest.raises(Exception, match="decides the number of records"):
        RowSeeded(resolution=3).fit(data).sample_records(n=5)


def test_seed_makes_synthesis_reproducible_whatever_the_threads() -> None:
    data = encode(_small_table())
    for cls in (Unseeded, RowSeeded, ValueSeeded):
        a = cls(resolution=3, n_threads=1).fit(data).sample(seed=11)
        b = cls(resolution=3, n_threads=2).fit(data).sample(seed=11)
        assert a.equals(b)
    x = RowSeeded(resolution=2).fit(data)
    assert not all(x.sample().equals(x.sample()) for _ in range(3))


def test_value_seeded_oversampling_control_respects_the_ratio() -> None:
    data = encode(_small_table())
    aggregates = protect_k_anonymity(count_combinations(data, 2), 3)
    synth = ValueSeeded(resolution=3, oversampling_ratio=0.1, oversampling_tries=5, oversampling_aggregates=aggregates)
    out = synth.fit(data).sample_records(seed=2)
    released = aggregates.as_dict()
    produced = count_combinations(out, 2).as_dict()
    for key, count in produced.items():
        if key in released:
            assert count <= released[key] * 1.1
    with pytest.raises(Exception, match="needs the released aggregates"):
        ValueSeeded(resolution=3, oversampling_ratio=0.1).fit(data).sample_records(seed=1)


def test_output_order_and_multi_value_joining() -> None:
    # spec §9.9: rows with more filled cells first, ties in cell order
    data = encode(pl.DataFrame({"A": ["a1", "", "a1", ""], "B": ["b1", "b2", "", ""], "C": ["", "", "c1", ""]}))
    frame = records_to_frame(data)
    assert frame.rows() == [("a1", "", "c1"), ("a1", "b1", ""), ("", "b2", ""), ("", "", "")]
    # spec §1.11: joined records re-joined, parts in column order
    options = IngestOptions(
        subject_id="ID",
        use_columns=["ID", "A", "B", "C", "F", "G", "D"],
        multi_value={"A": ";", "B": ";", "C": ";", "D": "|"},
    )
    joined = encode(DATA / "duplicated_id_valid.csv", options)
    text = write_csv(records_to_frame(joined, order=False))
    assert text.splitlines() == [
        "ID,A,B,C,F,G,D",
        "1,a1,b1;b3;b4,c1;c2;c3,,,d1|d3",
        "2,a1,b1;b2;b3,c2,1,,d2",
        "3,a2,b1,c2,,,d2",
        "4,a2,b2;b3,c1,1,,d1|d4",
        "5,a2,b2,c2,,,d3",
        "6,a2,b2,c1;c3;c4,,,d2",
        "7,a2,,c2,,,d2",
        "8,a3,b2,c2,,,d2",
        "9,a1;a2;b2,b1;b2,c2,,1,d1|d10|d3|d7",
    ]


@settings(max_examples=30)
@given(
    n_attributes=st.sampled_from([5, 70, 130]),  # one and several 64-bit key words
    n_records=st.integers(0, 60),
    seed=st.integers(0, 2**32 - 1),
)
def test_bitset_rows_are_the_records_in_clustered_order(n_attributes: int, n_records: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    records = [
        np.sort(rng.choice(n_attributes, size=rng.integers(0, min(8, n_attributes)), replace=False))
        for _ in range(n_records)
    ]
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in records])]).astype(np.int64)
    ids = np.concatenate([np.zeros(0, np.int64), *records]).astype(np.int32)
    order = clustered_order(offsets, ids, n_attributes)
    assert sorted(order.tolist()) == list(range(n_records))
    # sorted by presence, the most frequent attribute first (ties: lower id first)
    frequency = np.bincount(ids, minlength=n_attributes)
    ranked = np.argsort(-frequency, kind="stable")
    presence = [tuple(int(a in set(records[r].tolist())) for a in ranked) for r in order]
    assert presence == sorted(presence)
    bits, colbits = build_bitsets(offsets, ids, np.arange(n_attributes), n_attributes, n_attributes, order)
    for i, r in enumerate(order):
        held = {a for a in range(n_attributes) if (int(bits[a, i >> 6]) >> (i & 63)) & 1}
        assert held == set(records[r].tolist())
    assert np.array_equal(bits, colbits)
