"""Spec §4.9–4.10, §9.10: aggregate-seeded synthesis — invariants against the released aggregates, the sampling law
against exact enumeration, record counts, and the CLI paths (--aggregates, --dp, --records)."""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from helpers import assert_clean_error
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from typer.testing import CliRunner

from sdsynth._utils.context import RunContext
from sdsynth.cli.main import app
from sdsynth.encode.tables import encode
from sdsynth.engine import IngestOptions, ParameterError, count_combinations, load_release, protect_k_anonymity
from sdsynth.protect.dp.percentile import r8_quantile
from sdsynth.synth.aggregate_seeded import AggregateSeededParameters, aggregate_seeded
from sdsynth.synth.calibrated import _regroup
from sdsynth.testing import categorical_tables

runner = CliRunner()


def _released(aggs) -> dict[frozenset[int], int]:  # type: ignore[no-untyped-def]
    ids = aggs.ids()
    return {frozenset(int(x) for x in row if x >= 0): int(c) for row, c in zip(ids, aggs.counts, strict=True)}


@settings(max_examples=40)
@given(
    table=categorical_tables(max_rows=40, max_columns=5, max_values=3),
    R=st.integers(1, 3),
    k=st.integers(1, 3),
    target=st.one_of(st.none(), st.integers(1, 30)),
    synthetic_counts=st.booleans(),
    scale=st.sampled_from([None, 1.5]),
    batch=st.sampled_from([1, 4, 256]),
)
def test_invariants(
    table: tuple[pl.DataFrame, dict[str, str]], R: int, k: int, target: int | None, synthetic_counts: bool,
    scale: float | None, batch: int,
) -> None:  # fmt: skip
    frame, multi = table
    data = encode(frame, IngestOptions(multi_value=multi))
    aggs = protect_k_anonymity(count_combinations(data, R), k)
    released = _released(aggs)
    if not any(len(key) == 1 for key in released):
        return
    params = AggregateSeededParameters(synthetic_counts, 95, scale, batch, sampling_law="reference")
    out = aggregate_seeded(aggs, target, params, RunContext(threads=2, seed=3))
    records = [frozenset(out.record(r).tolist()) for r in range(out.n_records)]
    assert all(records), "never an empty record"
    R_agg = aggs.reporting_length
    for rec in records:
        columns = [int(aggs.attributes.column_of[a]) for a in rec]
        assert len(columns) == len(set(columns))
        for length in range(1, min(R_agg, len(rec)) + 1):
            for sub in _subsets(rec, length):
                assert sub in released, "a combination absent from the aggregates"
    if target is None:
        produced = Counter(a for rec in records for a in rec)
        budget = {
            next(iter(key)): (math.ceil(c * scale) if scale else c) for key, c in released.items() if len(key) == 1
        }
        assert dict(produced) == budget
    else:
        assert out.n_records == target


def _subsets(rec: frozenset[int], length: int) -> list[frozenset[int]]:
    import itertools

    return [frozenset(s) for s in itertools.combinations(sorted(rec), length)]


def _first_record_law(aggs, q: float) -> dict[frozenset[int], Fraction]:  # type: ignore[no-untyped-def]
    """Exact distribution of the first record built from a fresh budget (spec §4.9, no synthetic counts)."""
    released = _released(aggs)
    R = aggs.reporting_length
    column_of = aggs.attributes.column_of
    singles = [next(iter(key)) for key in released if len(key) == 1]
    out: dict[frozenset[int], Fraction] = {}

    def weight(cur: frozenset[int], a: int) -> int | None:
        if len(cur) <= R:
            return released.get(cur)
        values = []
        for length in range(1, R + 1):
            for sub in _subsets(cur, length):
                if a in sub:
                    if sub not in released:
                        return None
                    values.append(released[sub])
        return math.floor(r8_quantile(sorted(values), q) + 0.5)

    def grow(rec: frozenset[int], p: Fraction) -> None:
        used = {int(column_of[x]) for x in rec}
        weights = {}
        for a in singles:
            if a in rec or int(column_of[a]) in used:
                continue
            w = weight(rec | {a}, a)
            if w is not None and w > 0:
                weights[a] = w
        total = sum(weights.values())
        if total == 0:
            out[rec] = out.get(rec, Fraction(0)) + p
            return
        for a, w in weights.items():
            grow(rec | {a}, p * Fraction(w, total))

    grow(frozenset(), Fraction(1))
    return out


@pytest.mark.parametrize("R", [2, 3])
def test_first_record_follows_the_reference_law(R: int) -> None:
    rng = np.random.default_rng(2)
    n = 80
    a = rng.choice(["a1", "a2"], size=n, p=[0.7, 0.3])
    b = np.where(a == "a1", rng.choice(["b1", "b2", ""], size=n), "b2")
    c = rng.choice(["c1", "c2", ""], size=n, p=[0.5, 0.3, 0.2])
    d = rng.choice(["d1", ""], size=n)
    data = encode(pl.DataFrame({"A": a.tolist(), "B": b.tolist(), "C": c.tolist(), "D": d.tolist()}))
    aggs = protect_k_anonymity(count_combinations(data, R), 2)
    law = _first_record_law(aggs, 0.95)
    runs = 3000
    REFERENCE_ONE = AggregateSeededParameters(batch_size=1, sampling_law="reference")
    observed = Counter(
        frozenset(aggregate_seeded(aggs, 1, REFERENCE_ONE, RunContext(threads=1, seed=s)).ids.tolist())
        for s in range(runs)
    )
    keys = list(law)
    assert set(observed) <= set(keys)
    p = stats.chisquare([observed.get(key, 0) for key in keys], [float(law[key]) * runs for key in keys]).pvalue
    assert p > 1e-3


def test_parameter_checks() -> None:
    with pytest.raises(ParameterError, match="scale factor must be > 0"):
        AggregateSeededParameters(aggregate_counts_scale_factor=0, sampling_law="reference")
    with pytest.raises(ParameterError, match="between 0 and 100"):
        AggregateSeededParameters(weight_selection_percentile=101)
    with pytest.raises(ParameterError, match="batch size"):
        AggregateSeededParameters(batch_size=0)


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sdsynth.sample_data import generate_ctdc

    path = tmp_path_factory.mktemp("in") / "cases.csv"
    generate_ctdc(2000, seed=4).write_csv(path)
    return path


def _run(*args: object):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(x) for x in args])


def _info(folder: Path) -> dict[str, str]:
    con = duckdb.connect(str(folder / "release.duckdb"), read_only=True)
    try:
        return dict(con.execute("SELECT key, value FROM release_info").fetchall())
    finally:
        con.close()


def _levels(folder: Path) -> list[dict[str, object]]:
    con = duckdb.connect(str(folder / "release.duckdb"), read_only=True)
    try:
        return con.sql("SELECT * FROM release_levels ORDER BY length").pl().to_dicts()
    finally:
        con.close()


def test_dp_synthesis_then_synthesis_from_the_release(tmp_path: Path, cases: Path) -> None:
    dp = tmp_path / "dp"
    result = _run("synthesize", cases, "--schema", "ctdc-victim-perpetrator", "--dp", "--epsilon", "3", "--seed", "1",
                  "-r", "3", "--out", dp, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    info = _info(dp)
    assert info["mode"] == "dp" and info["synthesis_method"] == "aggregate-seeded"
    synthetic = pl.read_csv(dp / "synthetic.csv", infer_schema=False)
    assert synthetic.height == int(info["record_count"])  # defaults to the released (noisy) record count
    # from the release alone: budget mode spends exactly the single-attribute counts
    again = tmp_path / "again"
    result = _run("synthesize", "--aggregates", dp, "--records", "budget", "--sampling-law", "reference", "--seed", "2",
                  "--out", again, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(again / "release.duckdb"), read_only=True)
    singles = dict(
        con.execute("SELECT gender, count FROM aggregates WHERE length = 1 AND gender IS NOT NULL").fetchall()
    )
    produced = dict(
        con.execute("SELECT gender, count(*) FROM synthetic WHERE gender IS NOT NULL GROUP BY 1").fetchall()
    )
    con.close()
    assert produced == singles
    assert _info(again)["synthesized_from_release"] == info["release_id"]  # its id, never a local folder name
    # the release read back keeps what each length used: the new release states it again, and the calibrated law
    # reads the same bounds on unreleased combinations as when synthesizing in-process
    levels = [_levels(folder) for folder in (dp, again)]
    assert levels[0] == levels[1] and [row["length"] for row in levels[0]] == [1, 2, 3]
    bounds = _regroup(load_release(dp), load_release(dp).counts.astype(float)).unreleased_bound
    released = tuple(max(row["threshold"], 0.0) + row["noise_sd"] for row in levels[0])
    assert bounds == (*released, math.inf) and min(bounds) > 0  # one length beyond: unbounded
    fixed = _run("synthesize", "--aggregates", dp, "--records", "123", "--out", tmp_path / "n", "-q")
    assert fixed.exit_code == 0 and pl.read_csv(tmp_path / "n" / "synthetic.csv").height == 123


def test_invalid_combinations(tmp_path: Path, cases: Path) -> None:
    assert_clean_error(_run("synthesize", cases, "--dp", "--epsilon", "1", "--method", "row-seeded", "--out",
                            tmp_path / "o"), "aggregate-seeded")  # fmt: skip
    assert_clean_error(_run("synthesize", cases, "--use-synthetic-counts", "--out", tmp_path / "o"),
                       "--use-synthetic-counts applies to aggregate-seeded")  # fmt: skip
    assert_clean_error(_run("synthesize", cases, "--records", "10", "--out", tmp_path / "o"), "drop --records")
    assert_clean_error(_run("synthesize", cases, "--aggregates", tmp_path, "--out", tmp_path / "o"), "not both")
    assert_clean_error(_run("synthesize", "--aggregates", tmp_path, "--out", tmp_path / "o"), "no release database")
    assert not (tmp_path / "o").exists()
