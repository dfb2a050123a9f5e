"""`sdsynth aggregate --dp`: end to end, what the release records, and one-line errors for invalid options."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from helpers import assert_clean_error
from typer.testing import CliRunner

from sdsynth.cli.main import app

runner = CliRunner()


def _run(*args: object):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args])


def test_dp_release_records_every_parameter(tmp_path: Path) -> None:
    out = tmp_path / "dp"
    result = _run("aggregate", "--dp", "--epsilon", "2", "-r", "3", "--fabrication-mode", "progressive", "--out", out)
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(out / "release.duckdb"), read_only=True)
    info = dict(con.execute("SELECT key, value FROM release_info").fetchall())
    assert info["mode"] == "dp" and json.loads(info["epsilon"]) == 2.0
    for key in (
        "delta",
        "rho_zcdp",
        "epsilon_percentile_each",
        "epsilon_record_count",
        "rho_record_count",
        "variance_record_count",
        "record_count_noise",
        "sigma_proportions",
        "threshold",
        "unit_of_privacy",
        "record_count",
    ):
        assert key in info
    assert json.loads(info["threshold"]) == {"type": "Adaptive", "valuesByLen": {"2": 0.1, "3": 1.0}}
    levels = con.execute("SELECT length, sigma, sensitivity, noise_sd, threshold FROM release_levels").fetchall()
    assert [row[0] for row in levels] == [1, 2, 3]
    assert all(row[2] >= 1 and row[3] > 0 for row in levels)
    header = (out / "aggregates.tsv").read_text().splitlines()[:2]
    assert header[0] == "selections\tprotected_count" and header[1] == f"record_count\t{info['record_count']}"
    con.close()


def test_dp_noise_is_not_reproducible(tmp_path: Path) -> None:
    a = _run("aggregate", "--dp", "--epsilon", "1", "--out", tmp_path / "a", "-q")
    b = _run("aggregate", "--dp", "--epsilon", "1", "--out", tmp_path / "b", "-q")
    assert a.exit_code == b.exit_code == 0
    assert (tmp_path / "a" / "aggregates.tsv").read_text() != (tmp_path / "b" / "aggregates.tsv").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dp"], "--dp needs --epsilon"),
        (["--epsilon", "1"], "--epsilon only applies with --dp"),
        (["--dp", "--epsilon", "1", "-k", "5"], "--resolution is the k of k-anonymity"),
        (["--dp", "--epsilon", "0"], "--epsilon must be > 0"),
        (["--dp", "--epsilon", "1", "--delta", "2"], "--delta must be between 0 and 1"),
        (["--dp", "--epsilon", "1", "--sigma-proportions", "1,2"], "should match the reporting length"),
        (["--dp", "--epsilon", "1", "--accuracy-mode", "custom"], "needs --sigma-proportions"),
        (["--dp", "--epsilon", "1", "--threshold", "2=1"], "goes with --fabrication-mode custom"),
        (["--dp", "--epsilon", "1", "--fabrication-mode", "custom-fixed", "--threshold", "7=1"], "between 2 and"),
        (["--dp", "--epsilon", "1", "--fabrication-mode", "custom-adaptive", "--threshold", "2=3"], "(0, 1]"),
        (["--dp", "--epsilon", "1", "--percentile", "120"], "--percentile must be an integer between 0 and 100"),
        (["--dp", "--epsilon", "1", "--record-count-epsilon-proportion", "1"], "--record-count-epsilon-proportion"),
        (["-r", "auto"], "--reporting-length auto chooses the length from the DP noise"),
        (["--dp", "--epsilon", "1", "-r", "three"], "--reporting-length must be a whole number or auto"),
    ],
)
def test_invalid_dp_options_fail_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    assert_clean_error(_run("aggregate", *args, "--out", tmp_path / "o"), message)
    assert not (tmp_path / "o").exists()


def test_reference_flag_spellings(tmp_path: Path) -> None:
    result = _run(
        "aggregate",
        "--dp",
        "--noise-epsilon",
        "3",
        "--noise-delta",
        "0.0001",
        "--sensitivities-percentile",
        "95",
        "--noise-threshold-type",
        "fixed",
        "--noise-threshold-values",
        "5,10",
        "--out",
        tmp_path / "o",
        "-q",
    )
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(tmp_path / "o" / "release.duckdb"), read_only=True)
    info = dict(con.execute("SELECT key, value FROM release_info").fetchall())
    assert json.loads(info["threshold"]) == {"type": "Fixed", "valuesByLen": {"2": 5.0, "3": 10.0}}
    assert json.loads(info["delta"]) == 0.0001 and json.loads(info["percentile_percentage"]) == 95
    thresholds = dict(con.execute("SELECT length, threshold FROM release_levels").fetchall())
    assert thresholds[2] == 5.0 and thresholds[3] == 10.0
    con.close()


def test_dry_run_prints_the_record_count_that_releases_length_3(tmp_path: Path) -> None:
    """The default with --dp is -r auto: the dry run says from which released record count length 3 is released,
    and fewer records need a larger ε."""
    needed = {}
    for epsilon in ("1", "4"):
        result = _run("release", "--dp", "--epsilon", epsilon, "--dry-run", "--out", tmp_path / "o",
                      "--private-out", tmp_path / "p")  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "reporting length: auto (at most 3" in result.output
        line = next(ln for ln in result.output.splitlines() if "length 3: released when" in ln)
        needed[epsilon] = int(line.rsplit(" ", 1)[1].replace(",", ""))
    assert needed["4"] < needed["1"]
    assert not (tmp_path / "o").exists()
