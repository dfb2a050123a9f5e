"""`sdsynth synthesize` with the k-anonymity methods: outputs, reproducibility, no leakage, clear errors."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers import assert_clean_error
from typer.testing import CliRunner

from sdsynth.cli.main import app
from sdsynth.encode.tables import encode
from sdsynth.engine import IngestOptions, count_combinations, load_schema
from sdsynth.sample_data import generate_ctdc

runner = CliRunner()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("in") / "cases.csv"
    generate_ctdc(3000, seed=8).write_csv(path)
    return path


def _run(*args: object):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("method", ["unseeded", "row-seeded", "value_seeded"])
def test_synthesize_writes_a_release_without_leakage(tmp_path: Path, sample: Path, method: str) -> None:
    out = tmp_path / "out"
    args = ["synthesize", sample, "--schema", "ctdc-victim-perpetrator", "--method", method, "-k", "5", "-r", "3"]
    result = _run(*args, "--seed", "4", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        ".sdsynth-output", "aggregates.parquet", "aggregates.tsv", "explore.html", "release.duckdb", "synthetic.csv",
        "synthetic.parquet",
    ]  # fmt: skip
    csv = pl.read_csv(out / "synthetic.csv", infer_schema=False)
    con = duckdb.connect(str(out / "release.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM synthetic").fetchone() == (csv.height,)
    assert con.execute("SELECT value FROM release_info WHERE key = 'synthesis_method'").fetchone() == (
        method.replace("_", "-"),
    )
    con.close()
    assert csv.columns[:3] == ["yearRegister", "gender", "majorityStatus"]
    assert csv["IP_Gender"].drop_nulls().str.contains(";").any() or method == "unseeded"
    # every synthetic combination (length ≤ 3) matches at least k sensitive records
    options = IngestOptions(schema=load_schema("ctdc-victim-perpetrator"))
    true = count_combinations(encode(sample, options), 3).as_dict()
    synthetic = count_combinations(encode(out / "synthetic.csv", options), 3).as_dict()
    assert all(true.get(key, 0) >= 5 for key in synthetic)
    # the same seed gives the same file
    again = _run(*args, "--seed", "4", "--out", tmp_path / "again", "-q")
    assert again.exit_code == 0
    assert (tmp_path / "again" / "synthetic.csv").read_bytes() == (out / "synthetic.csv").read_bytes()


def test_invalid_synthesis_options(tmp_path: Path, sample: Path) -> None:
    assert_clean_error(
        _run("synthesize", sample, "--oversampling-ratio", "0.1", "--out", tmp_path / "o"), "applies to --method"
    )
    assert_clean_error(_run("synthesize", sample, "-k", "0", "--out", tmp_path / "o"), "at least 1")
    assert _run("synthesize", sample, "--method", "bogus", "--out", tmp_path / "o").exit_code == 2
    assert not (tmp_path / "o").exists()
