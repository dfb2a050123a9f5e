"""Progress you can trust: one line per stage with its time when stderr is not a terminal, public totals only,
`--quiet` showing only warnings and errors."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from golden_outputs import seeded_dp_stream
from helpers import STAGE_LINE, invoke

from sdsynth._utils.cache import FIRST_RUN_NOTE, first_compile_pending
from sdsynth.cli._common import RichProgress
from sdsynth.sample_data import generate_ctdc

ROWS = 1537  # an odd number of records, easy to spot if a count of the sensitive data were printed


@pytest.fixture
def seeded() -> object:
    """The test-only DP stream, so that whether a noisy count happens to equal the true one is fixed."""
    undo = seeded_dp_stream()
    yield
    undo()


@pytest.fixture
def cases(tmp_path: Path) -> Path:
    path = tmp_path / "cases.csv"
    generate_ctdc(ROWS, seed=9).write_csv(path)
    return path


def test_outside_a_terminal_each_stage_prints_one_line_with_its_time(capsys: pytest.CaptureFixture[str]) -> None:
    progress = RichProgress(terminal=False)
    with progress.stage("reading", total=ROWS, unit="rows") as bar:
        bar.advance(ROWS)
    with progress.stage("synthesizing", total=2000, unit="records", shown=True) as bar:
        bar.advance(2000)
    progress.note("a remark")
    progress.warn("warning: a privacy matter")
    lines = capsys.readouterr().err.splitlines()
    assert re.fullmatch(r"reading: \d+\.\d s", lines[0]), lines
    assert re.fullmatch(r"synthesizing: 2,000 records, \d+\.\d s", lines[1]), lines
    assert lines[2:] == ["a remark", "warning: a privacy matter"]


def test_quiet_shows_warnings_only(capsys: pytest.CaptureFixture[str]) -> None:
    progress = RichProgress(quiet=True, terminal=False)
    with progress.stage("synthesizing", total=2000, unit="records", shown=True):
        pass
    progress.note("a remark")
    progress.warn("warning: a privacy matter")
    assert capsys.readouterr().err == "warning: a privacy matter\n"


def test_a_terminal_bar_ends_with_a_line_and_never_shows_a_hidden_total(capsys: pytest.CaptureFixture[str]) -> None:
    progress = RichProgress(terminal=True)
    with progress.stage("reading", total=ROWS, unit="rows") as bar:
        bar.advance(ROWS)
    err = capsys.readouterr().err
    assert "✓ reading (" in err and str(ROWS) not in err and f"{ROWS:,}" not in err


def test_a_dp_release_logs_its_stages_and_no_true_count(cases: Path, tmp_path: Path, seeded: object) -> None:
    result = invoke("release", cases, "--schema", "ctdc-victim-perpetrator", "--dp", "--epsilon", "4",
                    "--out", tmp_path / "r", "--private-out", tmp_path / "p", "--seed", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    stages = [ln for ln in result.stderr.splitlines() if STAGE_LINE.match(ln)]
    names = {ln.rsplit(": ", 1)[0] for ln in stages}
    first_batch = "synthesizing (calibrated law, first batch)"
    choice = "choosing the sampling law (reference pilot)"
    assert {
        "DP: record count",
        "fitting the calibrated law",
        first_batch,
        choice,
        "writing the public release",
    } <= names
    shown = {ln.rsplit(": ", 1)[0]: int(re.search(r"([\d,]+) records", ln).group(1).replace(",", ""))  # type: ignore[union-attr]
             for ln in stages if ln.startswith((first_batch, choice))}  # fmt: skip
    released = shown[first_batch]  # the whole output, in one batch: the released (noisy) count
    assert f"and {released:,} synthetic records" in result.stderr
    assert shown[choice] == min(released, max(2_000, math.ceil(0.1 * released)))  # reference_pilot_records
    assert released != ROWS and str(ROWS) not in result.stderr and f"{ROWS:,}" not in result.stderr


def test_quiet_release_prints_only_privacy_warnings(cases: Path, tmp_path: Path, seeded: object) -> None:
    result = invoke("release", cases, "--schema", "ctdc-victim-perpetrator", "--dp", "--epsilon", "4", "-q",
                    "--out", tmp_path / "r", "--private-out", tmp_path / "p")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("note: δ not given"), lines


def test_a_first_run_says_it_compiles_and_later_runs_do_not(
    cases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The note comes from the marker file in Numba's cache folder (the kernels themselves are already loaded in this
    process); a failed run leaves the cache marked as not yet filled."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)
    failed = invoke("aggregate", tmp_path / "missing.csv", "--out", tmp_path / "x")
    assert failed.exit_code == 2
    assert first_compile_pending()
    first = invoke("aggregate", cases, "--out", tmp_path / "a")
    assert first.exit_code == 0, first.output
    assert FIRST_RUN_NOTE in first.stderr.splitlines()
    assert not first_compile_pending()
    again = invoke("aggregate", cases, "--out", tmp_path / "b")
    assert again.exit_code == 0 and FIRST_RUN_NOTE not in again.stderr


def test_verbose_prints_each_stage_time_and_a_release_keeps_them_privately(cases: Path, tmp_path: Path) -> None:
    """`--verbose`: one line per stage (within-stage ones indented) with seconds and share, the slowest marked, and
    the time outside stages; the release writes the same stages to the private folder only."""
    result = invoke("release", cases, "--schema", "ctdc-victim-perpetrator", "-k", "5", "--verbose",
                    "--out", tmp_path / "r", "--private-out", tmp_path / "p")  # fmt: skip
    assert result.exit_code == 0, result.output
    table = result.stderr.split("stage times (whole command ", 1)[1].splitlines()
    lines = [ln for ln in table[1:] if re.fullmatch(r"  +\S.*  +\d+\.\d\d s +\d+\.\d%( +← slowest)?", ln)]
    assert len(lines) == len(table) - 1 - sum(1 for ln in table[1:] if not ln.startswith("  ")), table
    assert sum("← slowest" in ln for ln in lines) == 1
    assert lines[-1].lstrip().startswith("outside stages")
    saved = json.loads((tmp_path / "p" / "stage_times.json").read_text())
    names = [s["stage"] for s in saved["stages"]]
    assert names[0] == "scanning values" and "writing the public release" in names
    assert all(s["seconds"] >= 0 and s["within"] in (0, 1, 2) for s in saved["stages"])
    assert saved["seconds_in_stages"] == pytest.approx(sum(s["seconds"] for s in saved["stages"] if not s["within"]),
                                                       abs=0.01)  # fmt: skip
    assert not (tmp_path / "r" / "stage_times.json").exists()
    quiet = invoke("aggregate", cases, "--out", tmp_path / "a", "-q")
    assert "stage times" not in quiet.stderr
