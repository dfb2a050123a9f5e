"""The released bundle: DuckDB tables and views, Parquet, escapes, atomic output, queries."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from sdsynth.engine import IngestOptions, OutputError, ParameterError, run_query
from sdsynth.jobs.aggregate import run_aggregate
from sdsynth.jobs.settings import JobSettings


def _release(tmp_path: Path, frame: pl.DataFrame, options: IngestOptions, k: int = 1, R: int = 3) -> Path:
    out = tmp_path / "rel"
    run_aggregate(frame, options, JobSettings(out, reporting_length=R, resolution=k))
    return out


def test_duckdb_tables_hold_unescaped_values_and_multi_value_view(tmp_path: Path) -> None:
    frame = pl.DataFrame({"A:x": ["a;1", "a;1", "b"], "M": ["p;q", "q", "p"]})
    out = _release(tmp_path, frame, IngestOptions(multi_value={"M": ";"}))
    assert sorted(p.name for p in out.iterdir()) == [
        ".sdsynth-output", "aggregates.parquet", "aggregates.tsv", "release.duckdb"
    ]  # fmt: skip
    con = duckdb.connect(str(out / "release.duckdb"), read_only=True)
    cols = [r[0] for r in con.execute("DESCRIBE aggregates").fetchall()]
    assert cols == ["A:x", "M_p", "M_q", "length", "count"]
    assert con.execute("SELECT count FROM aggregates WHERE \"A:x\" = 'a;1' AND length = 1").fetchone() == (2,)
    rows = con.execute(
        'SELECT M, count FROM aggregates_by_source_column WHERE "A:x" IS NULL AND length = 2 ORDER BY M'
    ).fetchall()
    assert rows == [("p;q", 1)]
    info = dict(con.execute("SELECT key, value FROM release_info").fetchall())
    assert info["mode"] == "k-anonymity" and info["record_count"] == "3" and info["reporting_length"] == "3"
    levels = con.execute("SELECT length, released_combinations, resolution FROM release_levels").fetchall()
    assert levels == [(1, 4, 1), (2, 4, 1), (3, 1, 1)]
    con.close()
    tsv = (out / "aggregates.tsv").read_text().splitlines()
    assert "A<colon>x:a<semicolon>1\t2" in tsv
    assert pl.read_parquet(out / "aggregates.parquet").columns == cols


def test_suppressed_parts_are_not_even_named(tmp_path: Path) -> None:
    frame = pl.DataFrame({"M": ["common"] * 5 + ["rare"]})
    out = _release(tmp_path, frame, IngestOptions(multi_value={"M": ";"}), k=2)
    frame = run_query(out, "SELECT * FROM aggregates")
    assert frame.columns == ["M_common", "length", "count"]
    assert frame.rows() == [("1", 1, 4)]


def test_existing_output_is_refused_and_overwrite_replaces_it(tmp_path: Path) -> None:
    frame = pl.DataFrame({"A": ["a", "a"]})
    out = _release(tmp_path, frame, IngestOptions())
    with pytest.raises(OutputError, match="already exists"):
        run_aggregate(frame, IngestOptions(), JobSettings(out))
    run_aggregate(pl.DataFrame({"A": ["b"] * 4}), IngestOptions(), JobSettings(out, resolution=2, overwrite=True))
    assert run_query(out, "SELECT A, count FROM aggregates").rows() == [("b", 4)]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_failed_run_leaves_no_output(tmp_path: Path) -> None:
    out = tmp_path / "rel"
    with pytest.raises(ParameterError):
        run_aggregate(pl.DataFrame({"A": ["a"]}), IngestOptions(use_columns=["nope"]), JobSettings(out))
    assert list(tmp_path.iterdir()) == []


def test_query_errors_are_clear(tmp_path: Path) -> None:
    out = _release(tmp_path, pl.DataFrame({"A": ["a"]}), IngestOptions())
    with pytest.raises(ParameterError, match="query failed"):
        run_query(out, "SELECT * FROM missing_table")
    with pytest.raises(ParameterError, match="read-only"):
        run_query(out, "DROP TABLE aggregates")


def test_private_statistics_go_to_their_own_folder(tmp_path: Path, example_92: Path) -> None:
    out, private = tmp_path / "rel", tmp_path / "private"
    result = run_aggregate(example_92, IngestOptions(), JobSettings(out, private_out=private, resolution=2))
    assert result.statistics is not None
    assert (private / "records_analysis_protected.tsv").read_text().splitlines() == [
        "combo_length\tsen_rare\tsen_rare_pct\tsen_unique\tsen_unique_pct\tsen_risky\tsen_risky_pct",
        "1\t0\t0\t4\t40\t4\t40",
        "2\t0\t0\t2\t20\t2\t20",
        "3\t0\t0\t0\t0\t0\t0",
    ]
    assert (private / "records_analysis.tsv").read_text().splitlines()[1] == (
        "1\t0\t0\t4\t36.36363636363637\t4\t36.36363636363637"
    )
    # the release holds the protected record count, never the true one
    assert run_query(out, "SELECT value FROM release_info WHERE key = 'record_count'").item() == "10"
    assert "11" not in [v for (v,) in run_query(out, "SELECT value FROM release_info").rows()]


def test_a_value_with_a_line_break_or_tab_keeps_one_combination_per_line(tmp_path: Path) -> None:
    """aggregates.tsv escapes newline, carriage return and tab as it escapes `;` and `:`; Parquet and DuckDB hold
    the value itself."""
    data = tmp_path / "odd.csv"
    data.write_text('A,B\n"multi\nline",x\n"multi\nline",x\n"t\tab\r",y\n', encoding="utf-8")
    out = tmp_path / "rel"
    run_aggregate(data, IngestOptions(), JobSettings(out, reporting_length=2, resolution=1))
    lines = (out / "aggregates.tsv").read_text(encoding="utf-8").split("\n")
    assert "A:multi<newline>line\t2" in lines and "A:t<tab>ab\t1" in lines  # the trailing \r is trimmed
    assert all(len(line.split("\t")) == 2 for line in lines if line)
    assert (
        run_query(out, "SELECT count FROM aggregates WHERE length = 1 AND A = 'multi' || chr(10) || 'line'").item() == 2
    )
    assert pl.read_parquet(out / "aggregates.parquet").get_column("A").drop_nulls().unique().sort().to_list() == [
        "multi\nline", "t\tab",
    ]  # fmt: skip
