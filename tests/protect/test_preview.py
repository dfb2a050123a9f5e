"""`release --dry-run --previous-release`: noise and thresholds at a chosen ε from a previous public DP release."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import numpy as np
import pytest
from golden_outputs import seeded_dp_stream
from helpers import assert_clean_error, invoke

from sdsynth.protect.dp.preview import expected_clearing
from sdsynth.sample_data import generate_ctdc

LINE = re.compile(r"length (\d): σ = [\d.]+, with the previous Δ = (\d+): noise SD ([\d.]+), threshold ([\d.]+); "
                  r"about ([\d,]+) of its ([\d,]+) combinations would clear it")  # fmt: skip


@pytest.fixture(scope="module")
def previous(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("previous")
    generate_ctdc(3000, seed=4).write_csv(folder / "cases.csv")
    undo = seeded_dp_stream()
    try:
        done = invoke("aggregate", folder / "cases.csv", "--schema", "ctdc-victim-perpetrator", "--dp",
                      "--epsilon", "2", "--out", folder / "release", "-q")  # fmt: skip
    finally:
        undo()
    assert done.exit_code == 0, done.output
    return folder


def _dry_run(previous: Path, tmp_path: Path, epsilon: str):  # type: ignore[no-untyped-def]
    return invoke("release", previous / "cases.csv", "--schema", "ctdc-victim-perpetrator", "--dp",
                  "--epsilon", epsilon, "--out", tmp_path / "o", "--private-out", tmp_path / "p", "--dry-run",
                  "--previous-release", previous / "release")  # fmt: skip


def test_at_the_previous_epsilon_the_preview_gives_its_noise_and_thresholds(previous: Path, tmp_path: Path) -> None:
    """The oracle: the release's own levels (σ·√Δ and the threshold each length used), from SQL."""
    result = _dry_run(previous, tmp_path, "2")
    assert result.exit_code == 0, result.output
    shown = {int(m[1]): m for m in LINE.finditer(result.output)}
    with duckdb.connect(str(previous / "release" / "release.duckdb"), read_only=True) as con:
        levels = con.sql("SELECT length, sensitivity, noise_sd, threshold FROM release_levels").fetchall()
        counts = dict(con.sql("SELECT length, count(*) FROM aggregates GROUP BY length").fetchall())
    assert sorted(shown) == sorted(k for k, d, _, _ in levels if d)
    for k, delta, sd, threshold in levels:
        if not delta:
            continue
        m = shown[k]
        assert int(m[2]) == delta
        assert float(m[3]) == pytest.approx(sd, rel=1e-3) and float(m[4]) == pytest.approx(
            threshold, rel=1e-3, abs=1e-9
        )
        assert int(m[6].replace(",", "")) == counts[k]


def test_a_smaller_epsilon_means_more_noise_and_fewer_combinations(previous: Path, tmp_path: Path) -> None:
    at = {eps: {int(m[1]): m for m in LINE.finditer(_dry_run(previous, tmp_path, eps).output)} for eps in ("2", "0.5")}
    for k in at["2"]:
        assert float(at["0.5"][k][3]) > 3 * float(at["2"][k][3])  # σ about ∝ 1/ε (zCDP from (ε, δ)), the same Δ
        assert int(at["0.5"][k][5].replace(",", "")) <= int(at["2"][k][5].replace(",", ""))


def test_expected_clearing_is_the_sum_of_each_count_s_chance() -> None:
    assert expected_clearing(np.array([0.0, 0.0]), 1.0, 0.0) == 1  # two coin tosses
    assert expected_clearing(np.array([10.0, 10.0, -10.0]), 1.0, 0.0) == 2
    assert expected_clearing(np.array([5.0]), 5.0, 5.0) == 0  # 0.5 rounds to even
    assert expected_clearing(np.zeros(0), 3.0, 1.0) == 0


def test_the_previous_release_must_be_dp_and_the_run_a_dp_dry_run(previous: Path, tmp_path: Path) -> None:
    kanon = tmp_path / "kanon"
    assert invoke("aggregate", previous / "cases.csv", "-k", "5", "--out", kanon, "-q").exit_code == 0
    result = invoke("release", previous / "cases.csv", "--dp", "--epsilon", "1", "--out", tmp_path / "o",
                    "--private-out", tmp_path / "p", "--dry-run", "--previous-release", kanon)  # fmt: skip
    assert result.exit_code == 1 and "a k-anonymous release has no contribution bounds" in result.output
    not_dry = invoke("release", previous / "cases.csv", "--dp", "--epsilon", "1", "--out", tmp_path / "o",
                     "--private-out", tmp_path / "p", "--previous-release", previous / "release")  # fmt: skip
    assert_clean_error(not_dry, "--previous-release applies to a DP dry run")
