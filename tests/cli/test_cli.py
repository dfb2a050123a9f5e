"""The command line: every command answers --help, runs end to end, and fails with one clear line (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import assert_clean_error, invoke


def test_version_and_help() -> None:
    from sdsynth.engine import __version__

    assert invoke("--version").stdout.strip() == f"sdsynth {__version__}"
    for cmd in (["aggregate"], ["query"], ["sample-data"], ["schema", "infer"], ["schema", "validate"]):
        result = invoke(*cmd, "--help")
        assert result.exit_code == 0 and "Usage" in result.stdout


def test_aggregate_on_the_bundled_sample_then_query(tmp_path: Path) -> None:
    out = tmp_path / "rel"
    result = invoke("aggregate", "--out", out, "--private-out", tmp_path / "priv", "-r", "2", "-k", "5")
    assert result.exit_code == 0, result.output
    assert "bundled" in result.stderr
    q = invoke("query", out, "SELECT key, value FROM release_info WHERE key = 'resolution'", "--format", "json")
    assert json.loads(q.stdout) == [{"key": "resolution", "value": "5"}]
    q = invoke("query", out, "SELECT count(*) AS n FROM aggregates WHERE count % 5 <> 0", "--format", "csv")
    assert q.stdout.splitlines() == ["n", "0"]
    q = invoke("query", out, "SELECT gender, count FROM aggregates WHERE length = 1 AND gender IS NOT NULL")
    assert q.exit_code == 0 and "Female" in q.stdout


def test_aggregate_reference_flag_aliases(tmp_path: Path, example_92: Path) -> None:
    tsv = example_92.read_text().replace(",", "\t")
    (tmp_path / "x.txt").write_text(tsv)
    result = invoke(
        "aggregate",
        tmp_path / "x.txt",
        "--sensitive-delimiter",
        "\\t",
        "--resolution",
        "2",
        "--out",
        tmp_path / "o",
        "--n-threads",
        "1",
        "--multi-value-columns",
        "A,|",
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "aggregates.tsv").read_text().splitlines()[1] == "record_count\t10"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"A,B\n", "header row but no data rows"),
        (b"A,B\na,b\nc\n", "row 2: expected 2 fields like the header, found 1"),
        (b"A,B\na,b\nc,\xff\n", "row 2, column 'B': not UTF-8"),
        (b"A,a \nx,y\n", "duplicate column header"),
        (b'A,B\n"a,b\n', "malformed"),
    ],
)
def test_bad_files_fail_with_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    result = invoke("aggregate", path, "--out", tmp_path / "o")
    assert_clean_error(result, message)
    assert not (tmp_path / "o").exists()


def test_bad_options_fail_with_one_line(tmp_path: Path, example_92: Path) -> None:
    assert_clean_error(invoke("aggregate", example_92, "--use-columns", "A,nope", "--out", tmp_path / "o"), "'nope'")
    assert_clean_error(invoke("aggregate", example_92, "-r", "0", "--out", tmp_path / "o"), "at least 1, got 0")
    assert_clean_error(invoke("aggregate", example_92, "-k", "0", "--out", tmp_path / "o"), "at least 1, got 0")
    assert_clean_error(invoke("aggregate", tmp_path / "missing.csv", "--out", tmp_path / "o"), "no such file")
    (tmp_path / "o").mkdir()
    assert_clean_error(invoke("aggregate", example_92, "--out", tmp_path / "o"), "already exists")


def test_values_outside_the_schema_fail_with_their_location(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("gender,majorityStatus\nFemale,Adult\nUnknown,Adult\n")
    schema = tmp_path / "s.yaml"
    schema.write_text(
        "columns:\n  - {name: gender, values: [Male, Female]}\n  - {name: majorityStatus, values: [Adult, Minor]}\n"
    )
    result = invoke("aggregate", path, "--schema", schema, "--out", tmp_path / "o")
    assert_clean_error(result, "row 2, column 'gender': value not allowed by the schema: 'Unknown'")


def test_unexpected_errors_print_only_their_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sdsynth.jobs.aggregate as pipeline

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret value from a record")

    monkeypatch.setattr(pipeline, "run_aggregate", boom)
    result = invoke("aggregate", "--out", tmp_path / "o", "-q")
    assert result.exit_code == 1
    assert "secret" not in result.output and "RuntimeError" in result.stderr


def test_sample_data_command_writes_csv_and_parquet(tmp_path: Path) -> None:
    import polars as pl

    for name in ("s.csv", "s.parquet"):
        result = invoke("sample-data", "--rows", "250", "--seed", "4", "--out", tmp_path / name)
        assert result.exit_code == 0, result.output
    a = pl.read_csv(tmp_path / "s.csv", infer_schema=False).fill_null("")
    b = pl.read_parquet(tmp_path / "s.parquet")
    assert a.equals(b) and a.height == 250
