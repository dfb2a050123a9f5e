"""CTDC's Global Victim-Perpetrator file as CTDC publishes it: age bands spelled `0--29`, `48+`, several bands and
several citizenship regions joined with `;`. The shipped schema reads it in one command, through its aliases, and
the release holds the codebook's spellings only."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers import invoke

from sdsynth.sample_data import generate_ctdc

PUBLISHED_AGE = {"0-29": "0--29", "30-38": "30--38", "39-47": "39--47", "48 +": "48+"}
CANONICAL_AGE = set(PUBLISHED_AGE)
REGIONS = {"Africa", "Americas/Oceania", "Asia", "Europe", "Oceania"}


def _published(n: int, seed: int) -> pl.DataFrame:
    """A CTDC-like table in the published spellings, with joined regions in one row out of eight."""
    frame = generate_ctdc(n, seed=seed).with_row_index("i")
    age = pl.col("IP_ageBroad")
    for canonical, published in PUBLISHED_AGE.items():
        age = age.str.replace_all(canonical, published, literal=True)
    joined = {0: "Africa;Asia", 1: "Asia;Europe", 2: "Americas/Oceania;Asia", 3: "Europe; Africa"}
    region = pl.col("IP_citizen_UNRegion")
    for k, value in joined.items():
        region = pl.when(pl.col("i") % 32 == 8 * k).then(pl.lit(value)).otherwise(region)
    return frame.with_columns(age.alias("IP_ageBroad"), region.alias("IP_citizen_UNRegion")).drop("i")


def test_the_hand_made_file_uses_the_published_spellings() -> None:
    frame = _published(400, seed=3)
    parts = set(frame["IP_ageBroad"].str.split(";").explode().str.strip_chars().drop_nulls()) - {""}
    assert parts <= {"0--29", "30--38", "39--47", "48+"} and "48+" in parts
    assert frame["IP_ageBroad"].str.contains(";").any()
    assert frame["IP_citizen_UNRegion"].str.contains("Africa;Asia", literal=True).any()


@pytest.mark.parametrize("mode", ["dp", "k-anonymity"])
def test_one_command_releases_the_published_file(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "ctdc.csv"
    _published(3000, seed=11).write_csv(path)
    privacy = ["--dp", "--epsilon", "4"] if mode == "dp" else ["--resolution", "5"]
    out = tmp_path / "release"
    result = invoke("release", path, "--schema", "ctdc-victim-perpetrator", *privacy, "--out", out,
                    "--private-out", tmp_path / "private", "--seed", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(out / "release.duckdb"), read_only=True) as con:
        columns = con.sql("SELECT source_column, part FROM release_columns WHERE source_column IN "
                          "('IP_ageBroad', 'IP_citizen_UNRegion')").pl()  # fmt: skip
        synthetic = con.sql('SELECT "IP_ageBroad", "IP_citizen_UNRegion" FROM synthetic').pl()
    declared = set(columns.iter_rows())
    assert {("IP_ageBroad", v) for v in CANONICAL_AGE} | {("IP_citizen_UNRegion", v) for v in REGIONS} >= declared
    assert ("IP_citizen_UNRegion", "Asia") in declared and ("IP_ageBroad", "48 +") in declared

    def parts(column: str) -> set[str]:
        return set(synthetic[column].drop_nulls().str.split(";").explode()) - {""}

    assert parts("IP_ageBroad") <= CANONICAL_AGE and parts("IP_citizen_UNRegion") <= REGIONS
    assert synthetic["IP_citizen_UNRegion"].str.contains(";").any()  # joined regions come back as joined cells
    for name in ("aggregates.tsv", "synthetic.csv", "codebook.yaml"):
        text = (out / name).read_text(encoding="utf-8")
        assert "--29" not in text and "48+" not in text, name


def test_validate_accepts_the_published_spellings(tmp_path: Path) -> None:
    path = tmp_path / "ctdc.csv"
    _published(400, seed=3).write_csv(path)
    result = invoke("schema", "validate", path, "--schema", "ctdc-victim-perpetrator")
    assert result.exit_code == 0, result.output
