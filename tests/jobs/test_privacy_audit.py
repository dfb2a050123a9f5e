"""The neighbouring-dataset audit over every public file: two inputs that differ in one record must give public
outputs that differ only in noisy numbers (DP) or in released rows (k-anonymity, a record below k).

DP runs of both neighbours read the same test-only random stream and the same synthesis seed, so what is left to
differ is what the one record changes; `testing.public_differences` lists every public field that differs without
being a noisy output. The release date is frozen so that a run crossing midnight cannot fail the test."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers import invoke

from sdsynth.bundle import write as release_module
from sdsynth.protect.dp.random import DpRandom
from sdsynth.sample_data import generate_ctdc
from sdsynth.testing import KANON_ROW_INFO, KANON_ROW_LEVEL_COLUMNS, public_differences

ROWS = 1500
MULTI_VALUE = ["IP_Relation", "IP_Gender", "IP_ageBroad", "IP_PayMoney"]

# one person nobody else resembles: multi-value parts held by no other record, and rare single values
OUTLIER = {
    "yearRegister": "2019", "gender": "Male", "majorityStatus": "Minor", "isForcedLabour": "1", "isSexualExploit": "1",
    "UN_COO_Region": "Americas/Oceania", "UN_COE_Region": "Africa", "IP_RecruiterBroker": "1",
    "IP_TransactionProcess": "1", "IP_ControlAbuseKidnap": "1", "IP_Exploiter": "1",
    "IP_Relation": "FamilyIntimatePartner;FriendAcquaintance;StrangerUnknownOther", "IP_Gender": "Female;Male",
    "IP_ageBroad": "0-29;30-38;39-47;48 +", "IP_citizen_UNRegion": "Oceania", "IP_PayMoney": "Yes;No",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _frozen_date(monkeypatch: pytest.MonkeyPatch) -> None:
    """TEST ONLY: one release date for both neighbours."""
    for module in ("sdsynth.jobs.aggregate", "sdsynth.jobs.synthesize", "sdsynth.jobs.release"):
        monkeypatch.setattr(f"{module}.release_date", lambda: "2026-01-01")
    monkeypatch.setattr(release_module, "release_date", lambda: "2026-01-01")


@pytest.fixture
def same_dp_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """TEST ONLY: both neighbours draw from the same seeded DP stream."""
    monkeypatch.setattr(
        DpRandom, "from_os_entropy", classmethod(lambda cls, streams=1: cls._seeded_for_tests(17, streams))
    )


def _neighbours(tmp_path: Path, outlier: dict[str, str], rows: int = ROWS) -> tuple[Path, Path]:
    base = generate_ctdc(rows, seed=5)
    extra = pl.DataFrame([outlier], schema={c: pl.String for c in base.columns})
    without, with_ = tmp_path / "kx7-neighbour-a.csv", tmp_path / "kx7-neighbour-b.csv"
    base.write_csv(without)
    pl.concat([base, extra]).write_csv(with_)
    return without, with_


def _release_both(tmp_path: Path, inputs: tuple[Path, Path], *options: str, length: str = "2") -> tuple[Path, Path]:
    outs = []
    for i, data in enumerate(inputs):
        out = tmp_path / f"pub{i}"
        result = invoke("release", data, "--out", out, "--private-out", tmp_path / f"priv{i}", "-r", length,
                        "--seed", "3", "--quiet", *options)  # fmt: skip
        assert result.exit_code == 0, result.output
        assert_no_local_names(out, data)
        outs.append(out)
    return outs[0], outs[1]


def assert_no_local_names(out: Path, data: Path) -> None:
    """No public file names the input file or any local folder (release_info is read back, as DuckDB may store
    strings compressed), and none carries a time of day."""
    needles = {data.name, data.stem, str(data.parent)}
    for path in out.rglob("*"):
        if path.is_file() and path.suffix != ".duckdb":
            text = path.read_bytes().decode("utf-8", errors="replace")
            assert not any(n in text for n in needles), (path.name, [n for n in needles if n in text])
            if path.suffix in (".html", ".json", ".yaml"):  # one coarse date, never a time of day
                assert not re.search(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", text), path.name
    con = duckdb.connect(str(out / "release.duckdb"), read_only=True)
    try:
        values = " ".join(str(v) for row in con.execute("SELECT key, value FROM release_info").fetchall() for v in row)
    finally:
        con.close()
    assert not any(n in values for n in needles), values


def test_dp_release_with_the_shipped_schema_reveals_nothing_but_noise(tmp_path: Path, same_dp_stream: None) -> None:
    inputs = _neighbours(tmp_path, OUTLIER)
    a, b = _release_both(tmp_path, inputs, "--schema", "ctdc-victim-perpetrator", "--dp", "--epsilon", "4")
    assert public_differences(a, b) == []


def test_dp_release_with_the_reporting_length_chosen_by_rule(tmp_path: Path, same_dp_stream: None) -> None:
    """-r auto reads the noisy record count: both neighbours get the same length (the signals, noisy, differ)."""
    inputs = _neighbours(tmp_path, OUTLIER)
    a, b = _release_both(tmp_path, inputs, "--schema", "ctdc-victim-perpetrator", "--dp", "--epsilon", "4",
                         length="auto")  # fmt: skip
    assert public_differences(a, b) == []
    con = duckdb.connect(str(a / "release.duckdb"), read_only=True)
    try:
        info = dict(con.execute("SELECT key, value FROM release_info").fetchall())
    finally:
        con.close()
    assert info["reporting_length_auto"] == "true" and info["reporting_length"] == "2"  # 1,500 records: too few


def test_dp_release_of_a_tree_of_column_pairs(tmp_path: Path, same_dp_stream: None) -> None:
    """--column-pairs tree: the tree is a noisy output (the exponential mechanism's choice), the rest is not."""
    inputs = _neighbours(tmp_path, OUTLIER)
    a, b = _release_both(tmp_path, inputs, "--schema", "ctdc-victim-perpetrator", "--dp", "--epsilon", "1",
                         "--column-pairs", "tree")  # fmt: skip
    assert public_differences(a, b) == []


def test_dp_release_with_undeclared_parts_and_an_explicit_bound(tmp_path: Path, same_dp_stream: None) -> None:
    outlier = dict(OUTLIER, IP_Relation="Sibling;Neighbour", IP_ageBroad="90 +", gender="Other")
    inputs = _neighbours(tmp_path, outlier)
    multi = [f"--multi-value={c}=;" for c in MULTI_VALUE]
    a, b = _release_both(tmp_path, inputs, *multi, "--max-attributes-per-record", "20", "--dp", "--epsilon", "4")
    assert public_differences(a, b) == []


def test_k_anonymous_release_of_a_record_below_k(tmp_path: Path) -> None:
    outlier = dict(OUTLIER, IP_Relation="Sibling", IP_ageBroad="90 +")
    inputs = _neighbours(tmp_path, outlier, rows=ROWS + 1)  # 1501 and 1502 records: the same multiple of k = 10
    multi = [f"--multi-value={c}=;" for c in MULTI_VALUE]
    a, b = _release_both(tmp_path, inputs, *multi, "--resolution", "10", "--method", "aggregate-seeded")
    assert public_differences(a, b, KANON_ROW_INFO, KANON_ROW_LEVEL_COLUMNS) == []


def test_the_audit_catches_a_shifted_column(tmp_path: Path) -> None:
    """The audit itself can fail: k = 1 releases the outlier's parts, which adds columns."""
    outlier = dict(OUTLIER, IP_Relation="Sibling")
    inputs = _neighbours(tmp_path, outlier)
    multi = [f"--multi-value={c}=;" for c in MULTI_VALUE]
    a, b = _release_both(tmp_path, inputs, *multi, "--resolution", "1", "--method", "aggregate-seeded")
    found = public_differences(a, b, KANON_ROW_INFO, KANON_ROW_LEVEL_COLUMNS)
    assert any("release_columns" in f for f in found) and any("codebook.yaml" in f for f in found), found
