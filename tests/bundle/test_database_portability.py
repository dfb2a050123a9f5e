"""release.duckdb for SQL users of any DuckDB since 1.1: the storage format, comments on every table and column, and
the parameters typed in `release_parameters`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb
import polars as pl
import pytest

import sdsynth
from sdsynth._utils.duckdb_files import STORAGE_VERSION_NUMBER, storage_version_number
from sdsynth.jobs.aggregate import run_aggregate
from sdsynth.jobs.settings import JobSettings
from sdsynth.protect import ledger
from sdsynth.read.options import IngestOptions
from sdsynth.sample_data import generate_ctdc
from sdsynth.schema.model import ColumnSpec, Schema

SCHEMA = "ctdc-victim-perpetrator"


@pytest.fixture(scope="module")
def dp_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dp")
    sdsynth.release(generate_ctdc(2000, seed=5), folder / "release", folder / "private", epsilon=4.0, schema=SCHEMA,
                    reporting_length=2, seed=1)  # fmt: skip
    return folder / "release"


def test_the_release_and_a_new_ledger_use_the_storage_format_of_duckdb_1_1(dp_release: Path, tmp_path: Path) -> None:
    assert duckdb.__version__ >= "1.1"
    assert storage_version_number(dp_release / "release.duckdb") == STORAGE_VERSION_NUMBER == 64
    book = tmp_path / "budget.duckdb"
    ledger.record(book, "ctdc", "r1", 1.0, 1e-6, "release-2026")
    assert storage_version_number(book) == 64


def test_release_parameters_are_typed_and_agree_with_release_info(dp_release: Path) -> None:
    with duckdb.connect(str(dp_release / "release.duckdb"), read_only=True) as con:
        types = dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                                 "WHERE table_name = 'release_parameters'").fetchall())  # fmt: skip
        typed = con.sql("SELECT * FROM release_parameters").pl().row(0, named=True)
        text = dict(con.execute("SELECT key, value FROM release_info").fetchall())
    assert list(typed) == list(text)
    assert (types["epsilon"], types["delta"], types["record_count"]) == ("DOUBLE", "DOUBLE", "BIGINT")
    assert (types["delta_default"], types["mode"], types["sigma_proportions"]) == ("BOOLEAN", "VARCHAR", "VARCHAR")
    assert typed["epsilon"] == 4.0 and typed["delta_default"] is True
    assert typed["record_count"] == int(text["record_count"])
    assert json.loads(typed["sigma_proportions"]) == json.loads(text["sigma_proportions"])
    assert sdsynth.load_release(dp_release).parameters == typed


def test_every_table_view_and_column_is_commented(dp_release: Path) -> None:
    with duckdb.connect(str(dp_release / "release.duckdb"), read_only=True) as con:
        relations = con.execute(
            "SELECT table_name, comment FROM duckdb_tables() UNION ALL "
            "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
        columns = con.execute("SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal "
                              "AND table_name <> 'release_parameters'").fetchall()  # fmt: skip
    assert {name for name, _ in relations} >= {"aggregates", "synthetic", "release_info", "release_parameters",
                                               "release_levels", "release_columns", "evaluation",
                                               "aggregates_with_error", "aggregates_by_source_column"}  # fmt: skip
    assert all(comment for _, comment in relations), relations
    missing = [(t, c) for t, c, comment in columns if not comment]
    assert not missing
    comments = {(t, c): comment for t, c, comment in columns}
    assert comments[("synthetic", "gender")].startswith("Gender of the victim")
    assert comments[("aggregates", "IP_Gender_Female")].startswith("Part 'Female' of the multi-value column IP_Gender")
    assert comments[("aggregates", "count")].startswith("Released count")


def test_a_drafted_description_is_not_a_comment(tmp_path: Path) -> None:
    schema = Schema(columns=(ColumnSpec("A", values=("a", "b"), drafted=True, description="seen: a, b (rare: c)"),
                             ColumnSpec("B", description="The B column")))  # fmt: skip
    frame = pl.DataFrame({"A": ["a", "b"] * 10, "B": ["x", "y"] * 10})
    run_aggregate(frame, IngestOptions(schema=schema), JobSettings(tmp_path / "r", reporting_length=2, resolution=2))
    with duckdb.connect(str(tmp_path / "r" / "release.duckdb"), read_only=True) as con:
        comments = dict(con.execute("SELECT column_name, comment FROM duckdb_columns() "
                                    "WHERE table_name = 'aggregates'").fetchall())  # fmt: skip
    assert comments["B"] == "The B column" and comments["A"] is None


@pytest.mark.skipif(not os.environ.get("SDSYNTH_OLD_DUCKDB_PYTHON"), reason="set SDSYNTH_OLD_DUCKDB_PYTHON to a "
                    "python with an older duckdb (e.g. 1.1.3) to open the release with it")  # fmt: skip
def test_an_older_duckdb_opens_the_release(dp_release: Path) -> None:
    script = ("import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
              "print(c.sql('SELECT epsilon FROM release_parameters').fetchone()[0], "
              "c.sql('SELECT count(*) FROM aggregates_with_error').fetchone()[0] > 0)")  # fmt: skip
    out = subprocess.run([os.environ["SDSYNTH_OLD_DUCKDB_PYTHON"], "-c", script, str(dp_release / "release.duckdb")],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.split() == ["4.0", "True"]
