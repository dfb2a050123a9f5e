"""Synthesis from a release of a tree of column pairs (`column_pairs` tree): the tree's pairs hold released
combinations only, the other pairs are free and modelled as independent, and the reference law is refused."""

from __future__ import annotations

import itertools
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from helpers import assert_clean_error, invoke

from sdsynth._utils.context import RunContext
from sdsynth.encode.tables import encode
from sdsynth.errors import ParameterError
from sdsynth.protect.dp.marginals import dp_marginals
from sdsynth.protect.dp.params import DpParameters
from sdsynth.protect.dp.random import DpRandom
from sdsynth.sample_data import generate_ctdc
from sdsynth.synth.aggregate_seeded import AggregateSeededParameters, aggregate_seeded, concat_records
from sdsynth.synth.calibrated import calibrated_batches, release_model


@pytest.fixture(scope="module")
def tree_release():  # type: ignore[no-untyped-def]
    data = encode(generate_ctdc(4000, seed=3))
    params = DpParameters(epsilon=4.0, reporting_length=2, column_pairs="tree")
    return dp_marginals(data, params, rng=DpRandom._seeded_for_tests(2, 3)).aggregates


def test_tree_pairs_hold_released_combinations_and_the_other_pairs_are_free(tree_release) -> None:  # type: ignore[no-untyped-def]
    aggs = tree_release
    out = concat_records(aggs.attributes, calibrated_batches(aggs, 3000, 1))
    assert out.n_records == 3000
    released = {frozenset(int(x) for x in row if x >= 0) for row in aggs.ids()}
    pairs = aggs.column_pairs()
    column_of = aggs.attributes.column_of
    outside = 0
    for r in range(out.n_records):
        rec = sorted(out.record(r).tolist())
        assert all(frozenset([a]) in released for a in rec)
        for a, b in itertools.combinations(rec, 2):
            ca, cb = sorted((int(column_of[a]), int(column_of[b])))
            if (ca, cb) in pairs:
                assert frozenset((a, b)) in released
            else:
                outside += 1
    assert outside > 0  # values of columns the tree does not join do meet


def test_pairs_outside_the_tree_are_modelled_along_its_path() -> None:
    """A chain A → B → C (each copies the previous column with probability 0.9): the tree A–B–C is chosen (no extra
    pair), and the model's table of A and C, never released, is the chain's (C = A in 82 % of records), where
    independence would say 50 %."""
    rng = np.random.default_rng(7)
    a = rng.integers(0, 2, 20_000)
    b = np.where(rng.random(len(a)) < 0.9, a, 1 - a)
    c = np.where(rng.random(len(a)) < 0.9, b, 1 - b)
    frame = pl.DataFrame({name: [f"v{x}" for x in col] for name, col in (("A", a), ("B", b), ("C", c))})
    params = DpParameters(epsilon=50.0, reporting_length=2, column_pairs="tree", extra_column_pairs=0)
    aggs = dp_marginals(encode(frame), params, rng=DpRandom._seeded_for_tests(3, 3)).aggregates
    assert aggs.column_pairs() == {(0, 1), (1, 2)}
    joint = release_model(aggs).table([0, 2])[1:, 1:]  # values only (no record is empty)
    assert np.trace(joint) / joint.sum() == pytest.approx(float((a == c).mean()), abs=0.01)


def test_the_reference_law_is_refused_and_auto_takes_the_calibrated_law(tree_release) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParameterError, match="chosen column pairs"):
        aggregate_seeded(tree_release, 100, AggregateSeededParameters(sampling_law="reference"), RunContext(seed=1))
    with pytest.raises(ParameterError, match="record count"):
        aggregate_seeded(tree_release, None, AggregateSeededParameters(), RunContext(seed=1))
    records = aggregate_seeded(tree_release, 200, AggregateSeededParameters(), RunContext(seed=1))
    assert records.n_records == 200


def test_a_tree_release_from_the_command_line(tmp_path: Path) -> None:
    """--column-pairs tree: release_info names the tree, read back from disk it is the same, and a synthesis from
    the release on disk keeps to it; the dry run says what the tree will spend."""
    out, private = tmp_path / "pub", tmp_path / "priv"
    dry = invoke("release", "--dp", "--epsilon", "1", "--column-pairs", "tree", "--extra-column-pairs", "5", "--out",
                 out, "--private-out", private, "--dry-run", "--quiet")  # fmt: skip
    assert dry.exit_code == 0, dry.output
    # the bundled sample: 27 expanded columns, 21 pairs of parts, a tree of 15 more, then the 5 extra pairs
    assert "column pairs: 41 of the 351 pairs" in dry.output and "then 5 more pairs" in dry.output
    assert "Δ₂ ≤ 41" in dry.output
    result = invoke("release", "--dp", "--epsilon", "1", "--column-pairs", "tree", "--records", "500", "--out", out,
                    "--private-out", private, "--seed", "2", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(out / "release.duckdb"), read_only=True)
    try:
        info = dict(con.execute("SELECT key, value FROM release_info").fetchall())
        levels = dict(con.execute("SELECT length, sensitivity FROM release_levels").fetchall())
        evaluation = dict(con.execute("SELECT metric, value FROM evaluation").fetchall())
    finally:
        con.close()
    assert info["column_pairs"] == '"tree"' or info["column_pairs"] == "tree"
    assert info["reporting_length"] == "2" and info["accuracy_mode"] in ('"balanced"', "balanced")
    assert "released_column_pairs" in info and "rho_column_pairs" in info
    assert set(levels) == {1, 2}
    # against the release, pairs of columns outside the tree are neither missing nor made up: none is fabricated
    assert evaluation["fabricated_combinations"] == 0 and evaluation["target_combinations"] > 0
    report = (out / "report.html").read_text()
    assert f"published for {len(info['released_column_pairs'].split('], ['))} chosen pairs of columns" in report
    again = invoke("synthesize", "--aggregates", out, "--records", "300", "--out", tmp_path / "again", "--seed", "1",
                   "--quiet")  # fmt: skip
    assert again.exit_code == 0, again.output


def test_a_tree_needs_length_two(tmp_path: Path) -> None:
    result = invoke("aggregate", "--dp", "--epsilon", "1", "--column-pairs", "tree", "-r", "3", "--out", tmp_path / "o")
    assert_clean_error(result, "reporting")
    result = invoke(
        "aggregate", "--dp", "--epsilon", "1", "--pair-selection-proportion", "0.2", "--out", tmp_path / "o"
    )
    assert_clean_error(result, "column-pairs")


def test_the_python_api_takes_the_tree_option() -> None:
    import sdsynth

    synth = sdsynth.create(epsilon=1.0, column_pairs="tree").fit(generate_ctdc(800, seed=1))
    assert synth.aggregates["length"].max() == 2
    assert len(synth.sample(50, seed=1)) == 50
    with pytest.raises(ParameterError, match="reporting_length"):
        sdsynth.create(epsilon=1.0, column_pairs="tree", reporting_length=3)
