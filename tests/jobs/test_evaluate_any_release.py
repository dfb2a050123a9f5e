"""`sdsynth evaluate` on any release: the columns both tables hold are compared (the others named), a synthetic
table of raw numbers is binned as the schema bins the sensitive one, and nothing crashes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from helpers import invoke

N = 1500


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(7)
    frame = pl.DataFrame({
        "case": [f"K{i:05d}" for i in range(N)],
        "age": rng.integers(17, 91, N).astype(str),
        "sex": rng.choice(["F", "M"], N),
        "region": rng.choice(["north", "south", "east", "west"], N, p=[0.4, 0.3, 0.2, 0.1]),
        "weight": rng.integers(1, 3000, N).astype(str),
    })  # fmt: skip
    path = tmp_path_factory.mktemp("t") / "people.csv"
    frame.write_csv(path)
    return path


@pytest.fixture(scope="module")
def schema(table: Path) -> Path:
    path = table.parent / "people.yaml"
    path.write_text(yaml.safe_dump({"columns": [
        {"name": "case", "use": False},
        {"name": "age", "kind": "numeric", "bins": {"edges": [0, 18, 30, 45, 65, 120]}},
        {"name": "sex", "values": ["F", "M"]},
        {"name": "region", "values": ["north", "south", "east", "west"]},
        {"name": "weight", "use": False},
    ]}))  # fmt: skip
    return path


def _release(table: Path, out: Path, *options: str | Path) -> Path:
    result = invoke("release", table, "--resolution", "5", "-r", "2", "--seed", "3", "-q", "--out", out / "pub",
                    "--private-out", out / "priv", *options)  # fmt: skip
    assert result.exit_code == 0, result.output
    return out / "pub" / "synthetic.csv"


def _evaluate(table: Path, synthetic: Path, out: Path, *options: str | Path) -> tuple[dict, str]:
    result = invoke("evaluate", "--sensitive", table, "--synthetic", synthetic, "-r", "2", "--out", out, *options)
    assert result.exit_code == 0, result.output
    return json.loads((out / "evaluation.json").read_text()), result.output


def test_a_release_with_dropped_columns_is_compared_on_the_columns_it_holds(table: Path, tmp_path: Path) -> None:
    synthetic = _release(table, tmp_path, "--drop-columns", "case,weight")
    evaluation, output = _evaluate(table, synthetic, tmp_path / "ev")
    note = "compared the 3 columns both tables hold; not compared (not in the synthetic table): case, weight"
    assert note in evaluation["warnings"] and note in output
    assert 0 < evaluation["summary"]["k_marginal"] <= 1000


def test_raw_numbers_are_binned_as_the_schema_bins_the_sensitive_table(
    table: Path, schema: Path, tmp_path: Path
) -> None:
    synthetic = _release(table, tmp_path, "--drop-columns", "case,weight")  # no schema: age holds numbers
    assert pl.read_csv(synthetic, infer_schema=False)["age"].str.contains("-").sum() == 0
    evaluation, _ = _evaluate(table, synthetic, tmp_path / "ev", "--schema", schema)
    assert not any("not compared" in w for w in evaluation["warnings"])  # case and weight are not used anyway
    assert evaluation["summary"]["original_records"] == N


def test_a_release_made_with_the_schema_is_read_as_its_labels(table: Path, schema: Path, tmp_path: Path) -> None:
    synthetic = _release(table, tmp_path, "--schema", schema)
    ages = set(pl.read_csv(synthetic, infer_schema=False)["age"].drop_nulls())
    assert ages <= {"0-17", "18-29", "30-44", "45-64", "65-120"}
    evaluation, _ = _evaluate(table, synthetic, tmp_path / "ev", "--schema", schema)
    assert evaluation["summary"]["fabricated_combinations"] == 0  # row-seeded recombines the data's own values


def test_no_shared_column_is_a_clear_error(table: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    pl.DataFrame({"x": ["1", "2"]}).write_csv(other)
    result = invoke("evaluate", "--sensitive", table, "--synthetic", other, "--out", tmp_path / "ev")
    assert result.exit_code == 2 and "holds none of the sensitive table's columns" in result.output
