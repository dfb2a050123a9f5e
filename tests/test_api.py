"""The Python API (`import sdsynth`): the command line's jobs on the same code path, pandas in → pandas out,
Polars or Arrow in → Polars out, the k-anonymity and DP guarantees and the budget ledger as on the command line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest

import sdsynth
from sdsynth.errors import BudgetExceededError, InputError, ParameterError
from sdsynth.protect import ledger
from sdsynth.sample_data import generate_ctdc

SCHEMA = "ctdc-victim-perpetrator"


@pytest.fixture(scope="module")
def cases() -> pl.DataFrame:
    return generate_ctdc(1500, seed=4)


def test_the_top_level_names() -> None:
    assert isinstance(sdsynth.__version__, str) and sdsynth.__version__
    assert {"create", "release", "evaluate", "load_release"} <= set(dir(sdsynth))


@pytest.mark.parametrize("kind", ["polars", "pandas", "arrow"])
def test_table_kinds_in_and_out(cases: pl.DataFrame, kind: str) -> None:
    data = {"polars": cases, "pandas": cases.to_pandas(), "arrow": cases.to_arrow()}[kind]
    synth = sdsynth.create("row-seeded", resolution=5, reporting_length=2).fit(data, schema=SCHEMA)
    synthetic, aggregates = synth.sample(seed=3), synth.aggregates
    expected = pd.DataFrame if kind == "pandas" else pl.DataFrame
    assert isinstance(synthetic, expected) and isinstance(aggregates, expected)
    assert list(synthetic.columns) == cases.columns
    assert len(synthetic) > 0 and len(aggregates) > 0


def test_k_anonymous_fit_never_releases_a_combination_below_k(cases: pl.DataFrame) -> None:
    aggregates = sdsynth.create("aggregate-seeded", resolution=10).fit(cases, schema=SCHEMA).aggregates
    assert aggregates["count"].min() >= 10
    assert aggregates["length"].max() == 3


def test_aggregate_seeded_makes_the_released_record_count(cases: pl.DataFrame) -> None:
    synth = sdsynth.create("aggregate-seeded", resolution=7).fit(cases, schema=SCHEMA)
    assert synth._fitted().record_count == 1500 // 7 * 7  # k-anonymity releases N rounded down to k
    assert synth.sample(seed=1).height == 1500 // 7 * 7


def test_sampling_is_reproducible_with_a_seed_only(cases: pl.DataFrame) -> None:
    synth = sdsynth.create("aggregate-seeded", resolution=5).fit(cases, schema=SCHEMA)
    assert synth.sample(seed=7).equals(synth.sample(seed=7))
    assert not synth.sample(seed=7).equals(synth.sample(seed=8))
    assert synth.sample(n=100, seed=1).height == 100


def test_dp_fit_is_recorded_in_the_ledger_and_refused_over_budget(cases: pl.DataFrame, tmp_path: Path) -> None:
    book = tmp_path / "budget.duckdb"
    options = {"reporting_length": 2, "ledger": book, "dataset_id": "ctdc", "budget": 2.0}
    synth = sdsynth.create("aggregate-seeded", epsilon=1.5, **options).fit(cases, schema=SCHEMA)
    (entry,) = ledger.entries(book)
    assert (entry.command, entry.status, entry.epsilon) == ("api", "spent", 1.5)
    assert entry.rho is not None
    assert synth._fitted().parameters["epsilon"] == 1.5
    with pytest.raises(BudgetExceededError, match="above the budget 2"):
        sdsynth.create("aggregate-seeded", epsilon=1.0, **options).fit(cases, schema=SCHEMA)
    assert len(ledger.entries(book)) == 1


def test_dp_fit_releases_only_a_noisy_record_count(cases: pl.DataFrame) -> None:
    synth = sdsynth.create("aggregate-seeded", epsilon=2.0, reporting_length=2).fit(cases, schema=SCHEMA)
    released = synth._fitted()
    assert released.parameters["record_count_noise"] == "discrete Gaussian"
    assert released.parameters["variance_record_count"] > 0 and released.parameters["rho_record_count"] > 0
    assert synth.sample(seed=1).height == released.record_count


def test_release_load_and_resynthesize(cases: pl.DataFrame, tmp_path: Path) -> None:
    result = sdsynth.release(cases, tmp_path / "release", tmp_path / "private", resolution=5, schema=SCHEMA, seed=2,
                             reporting_length=2)  # fmt: skip
    published = sdsynth.load_release(tmp_path / "release")
    assert published.info["mode"] == "k-anonymity"
    assert published.aggregates["count"].min() >= 5
    assert published.synthetic.height > 0
    again = published.synthesizer().sample(seed=5)
    assert again.equals(published.synthesizer().sample(seed=5))
    assert published.info["release_id"] == result.release_id
    assert (tmp_path / "private").is_dir() and result.private_summary


def test_evaluate_returns_the_headline_numbers(cases: pl.DataFrame, tmp_path: Path) -> None:
    synthetic = sdsynth.create("row-seeded", resolution=5).fit(cases, schema=SCHEMA).sample(seed=1)
    result = sdsynth.evaluate(cases, synthetic, tmp_path / "eval", schema=SCHEMA, resolution=5)
    summary = result.private.summary
    assert (summary["original_records"], summary["synthetic_records"]) == (1500, synthetic.height)
    assert summary["fabricated_combinations"] == 0 == summary["leaked_combinations"]  # row-seeded only recombines
    assert (tmp_path / "eval" / "report.html").is_file()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sdsynth.create("aggregate-seeded", colour="red"), "unknown option"),
        (lambda: sdsynth.create("no-such-method"), "no-such-method"),
        (lambda: sdsynth.load_release("/nonexistent/release"), "no release database here"),
    ],
)
def test_clear_errors(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises((ParameterError, InputError), match=message):
        call()
