"""Tables shaped like the public ones new users bring, through `release` in both modes, without a schema and with
the schema `schema infer` drafts: binary survey items, integer codes where 0 is a code, a wide table with two
identifier-like columns, `;`-joined columns."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from helpers import invoke

from sdsynth.schema.files import load_schema

N = 1500


def binary_items(rng: np.random.Generator) -> pl.DataFrame:
    """A survey of yes/no items coded 1/0, some unanswered."""
    items = {f"q{i}": np.where(rng.random(N) < 0.05, "", rng.choice(["0", "1"], N, p=[0.6 - i / 40, 0.4 + i / 40]))
             for i in range(8)}  # fmt: skip
    return pl.DataFrame({**items, "region": rng.choice(["north", "south", "east"], N)})


def integer_codes(rng: np.random.Generator) -> pl.DataFrame:
    """A census extract coded as integers: race code 0 holds most rows, sex 0/1, age in years."""
    return pl.DataFrame({
        "race": rng.choice(5, N, p=[0.85, 0.05, 0.04, 0.03, 0.03]).astype(str),
        "sex": rng.choice(2, N).astype(str),
        "education": rng.integers(1, 17, N).astype(str),
        "age": rng.integers(17, 91, N).astype(str),
    })  # fmt: skip


def wide_with_identifiers(rng: np.random.Generator) -> pl.DataFrame:
    """Calls: a dozen categorical columns, an incident number and an address."""
    columns = {f"c{i}": rng.choice([f"v{j}" for j in range(2 + i % 5)], N) for i in range(12)}
    return pl.DataFrame({
        "incident": [f"I{100000 + i}" for i in range(N)],
        **columns,
        "address": [f"{rng.integers(1, 900)} Street {rng.integers(1, 60)}" for _ in range(N)],
    })  # fmt: skip


def joined_values(rng: np.random.Generator) -> pl.DataFrame:
    """A victim table whose perpetrator columns join several values with `;`, rarely."""
    bands = ["0--29", "30--38", "39--47", "48+"]
    age = rng.choice(bands, N).astype(object)
    age[rng.random(N) < 0.03] = "30--38;39--47"
    regions = rng.choice(["Africa", "Asia", "Europe"], N).astype(object)
    regions[rng.random(N) < 0.03] = "Africa;Asia"
    return pl.DataFrame({"gender": rng.choice(["Female", "Male"], N), "IP_ageBroad": age.tolist(),
                         "IP_citizen_UNRegion": regions.tolist()})  # fmt: skip


SHAPES: dict[str, Callable[[np.random.Generator], pl.DataFrame]] = {
    "binary": binary_items, "codes": integer_codes, "identifiers": wide_with_identifiers, "joined": joined_values,
}  # fmt: skip


def _input(tmp_path: Path, shape: str) -> Path:
    path = tmp_path / f"{shape}.csv"
    SHAPES[shape](np.random.default_rng(3)).write_csv(path)
    return path


def _release(path: Path, out: Path, mode: str, *extra: str | Path):  # type: ignore[no-untyped-def]
    privacy = ["--dp", "--epsilon", "4"] if mode == "dp" else ["--resolution", "5"]
    return invoke("release", path, *privacy, "-r", "2", "--seed", "1", "--out", out / "pub",
                  "--private-out", out / "priv", *extra)  # fmt: skip


def _released_columns(out: Path) -> set[str]:
    with duckdb.connect(str(out / "pub" / "release.duckdb"), read_only=True) as con:
        return {r[0] for r in con.execute("SELECT source_column FROM release_columns").fetchall()}


def _values(out: Path, column: str) -> set[str]:
    with duckdb.connect(str(out / "pub" / "release.duckdb"), read_only=True) as con:
        rows = con.execute(f'SELECT DISTINCT "{column}" FROM aggregates WHERE length = 1').fetchall()
    return {r[0] for r in rows if r[0] is not None}


@pytest.mark.parametrize("mode", ["k-anonymity", "dp"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_without_a_schema(tmp_path: Path, shape: str, mode: str) -> None:
    path = _input(tmp_path, shape)
    extra = ["--max-attributes-per-record", "12"] if mode == "dp" else []
    if shape == "joined":
        extra += ["--multi-value", "IP_ageBroad=;", "--multi-value", "IP_citizen_UNRegion=;"]
    result = _release(path, tmp_path, mode, *extra)
    assert result.exit_code == 0, result.output
    if shape == "binary":
        assert "q0, q1, q2, q3, q4, q5, q6, q7 hold only 0 and 1: read as flags" in result.stderr
    if shape == "codes":
        assert "column 'race' uses 0 and its values are integer codes" in result.stderr
        assert "0" not in _values(tmp_path, "race")  # the reference's rule, as warned
    if shape == "identifiers":
        assert "incident (about 1,500 distinct values, 100 % of the rows)" in result.stderr
        assert "address (about" in result.stderr and "`drop_columns` incident,address" in result.stderr.replace(
            "--drop-columns", "`drop_columns`"
        )
    if shape == "joined":
        assert {"Africa", "Asia"} <= {c.removeprefix("IP_citizen_UNRegion_") for c in _part_columns(tmp_path)}


def _part_columns(out: Path) -> set[str]:
    with duckdb.connect(str(out / "pub" / "release.duckdb"), read_only=True) as con:
        return {r[0] for r in con.execute('SELECT "column" FROM release_columns WHERE part IS NOT NULL').fetchall()}


@pytest.mark.parametrize("mode", ["k-anonymity", "dp"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_with_the_drafted_schema(tmp_path: Path, shape: str, mode: str) -> None:
    path = _input(tmp_path, shape)
    draft = tmp_path / "draft.yaml"
    assert invoke("schema", "infer", path, "--out", draft).exit_code == 0
    schema = load_schema(draft)
    extra = ["--schema", draft]
    if mode == "dp":
        extra += ["--max-attributes-per-record", "12"]  # drafted parts are not a public bound
    result = _release(path, tmp_path, mode, *extra)
    assert result.exit_code == 0, result.output
    if mode == "dp":
        assert "were drafted from the data" in result.stderr  # a DP release warns about drafted value lists
    if shape == "codes":
        assert schema.column("race").sensitive_zeros and schema.column("race").kind == "categorical"  # type: ignore[union-attr]
        assert schema.column("age").kind == "numeric"  # type: ignore[union-attr]
        assert "0" in _values(tmp_path, "race")  # code 0 is released as a category
        assert "uses 0" not in result.stderr
    if shape == "identifiers":
        assert _released_columns(tmp_path).isdisjoint({"incident", "address"})  # the draft drops them
        assert "looks like an identifier" not in result.stderr and "look like identifiers" not in result.stderr
    if shape == "joined":
        assert schema.column("IP_ageBroad").kind == "multi_value"  # type: ignore[union-attr]
        assert schema.column("IP_citizen_UNRegion").kind == "multi_value"  # type: ignore[union-attr]
    if shape == "binary":
        assert all(schema.column(f"q{i}").sensitive_zeros for i in range(8))  # type: ignore[union-attr]
        assert "hold only 0 and 1" not in result.stderr  # declared: 0 is the answer "no"
