"""What sits around the noisy counts: the bound on attributes per record, drafted schemas, δ, output folders that
are owned and private, and interrupted runs (issue 22)."""

from __future__ import annotations

import itertools
import os
import signal
import stat
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from helpers import assert_clean_error, invoke
from scipy.stats import chisquare

from sdsynth._utils.context import RunContext
from sdsynth._utils.files import MARKER, atomic_directory
from sdsynth.encode.tables import encode
from sdsynth.engine import DpParameters, IngestOptions
from sdsynth.protect.dp.marginals import dp_marginals
from sdsynth.protect.dp.params import DEFAULT_DELTA
from sdsynth.protect.dp.random import DpRandom
from sdsynth.protect.dp.truncate import truncate_rows
from sdsynth.sample_data import generate_ctdc


# ------------------------------------------------------------------------------ the bound on attributes per record
def _csr(records: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(records) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(r) for r in records])
    return offsets, np.array([a for r in records for a in r], dtype=np.int32)


def _key(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 2**32, 8, dtype=np.uint64).astype(np.uint32)


def test_cut_records_keep_a_subset_of_the_limit_in_order_and_short_ones_whole() -> None:
    records = [[1, 4, 9], [0, 2, 3, 5, 7, 8, 11], [6], [], [2, 3, 4, 5]]
    offsets, ids = _csr(records)
    new_offsets, new_ids = truncate_rows(offsets, ids, 0, len(records), 3, _key(1))
    out = [new_ids[new_offsets[r] : new_offsets[r + 1]].tolist() for r in range(len(records))]
    assert out[0] == [1, 4, 9] and out[2] == [6] and out[3] == []
    for cut, whole in ((out[1], records[1]), (out[4], records[4])):
        assert len(cut) == 3 and set(cut) <= set(whole) and cut == sorted(cut)


def test_a_record_is_cut_the_same_way_wherever_it_sits() -> None:
    """Every pass (file read again, another batch split, a Dask partition) must cut a record identically."""
    records = [[0, 1, 2, 3, 4, 5], [1, 3, 5, 7, 9, 11, 13], [0, 1, 2, 3, 4, 5]]
    offsets, ids = _csr(records)
    key = _key(2)
    all_o, all_i = truncate_rows(offsets, ids, 0, 3, 4, key)
    _, one_i = truncate_rows(offsets, ids, 2, 3, 4, key)
    assert one_i.tolist() == all_i[all_o[2] : all_o[3]].tolist() == all_i[all_o[0] : all_o[1]].tolist()


def test_the_kept_subset_is_uniform_over_keys() -> None:
    offsets, ids = _csr([[10, 11, 12, 13, 14, 15]])
    seen = Counter(tuple(truncate_rows(offsets, ids, 0, 1, 3, _key(1000 + i))[1].tolist()) for i in range(4000))
    subsets = list(itertools.combinations(range(10, 16), 3))
    assert set(seen) == set(subsets)
    assert chisquare([seen[s] for s in subsets]).pvalue > 1e-3


def _multi_value_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {"A": ["a", "b", "a", "b"] * 50, "M": ["p;q;r;s;t", "p", "q;r", ""] * 50},
    )


def test_dp_refuses_undeclared_parts_without_a_bound() -> None:
    data = encode(_multi_value_frame(), IngestOptions(multi_value={"M": ";"}))
    with pytest.raises(Exception, match="`max_attributes_per_record`"):
        dp_marginals(data, DpParameters(epsilon=4.0, reporting_length=2), rng=DpRandom._seeded_for_tests(1, 3))


def test_an_explicit_bound_sets_w_and_counts_cut_records_privately() -> None:
    data = encode(_multi_value_frame(), IngestOptions(multi_value={"M": ";"}))
    params = DpParameters(epsilon=4.0, reporting_length=2, max_attributes_per_record=3)
    result = dp_marginals(data, params, RunContext(threads=2), rng=DpRandom._seeded_for_tests(1, 3))
    assert result.aggregates.parameters["max_attributes_per_record"] == 3
    assert result.private == {"records_cut_to_max_attributes": 50}  # "a" + 5 parts: 6 > 3, in 50 records
    levels = {lvl["length"]: lvl for lvl in result.aggregates.levels}
    assert levels[1]["percentile_candidates"] == 3 and levels[2]["percentile_candidates"] == 3
    assert "records_cut" not in str(result.aggregates.parameters)


def test_cli_refuses_undeclared_parts_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    pl.concat([_multi_value_frame()] * 40).write_csv(path)  # 2,000 records: the noisy count stays far above zero
    result = invoke("aggregate", path, "--multi-value", "M=;", "--dp", "--epsilon", "2", "--out", tmp_path / "o")
    assert_clean_error(result, "--max-attributes-per-record")
    assert not (tmp_path / "o").exists()
    ok = invoke("aggregate", path, "--multi-value", "M=;", "--dp", "--epsilon", "4", "--out", tmp_path / "o",
                "--max-attributes-per-record", "4", "--private-out", tmp_path / "p", "-r", "2")  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "p" / "dp_private.json").is_file()


# ------------------------------------------------------------------------------------------------- drafted schemas
def test_a_drafted_value_never_reaches_the_public_codebook(tmp_path: Path) -> None:
    frame = (
        generate_ctdc(400, seed=3)
        .with_row_index("i")
        .with_columns(
            pl.when(pl.col("i") == 7)
            .then(pl.lit("Antarctica"))
            .otherwise(pl.col("UN_COO_Region"))
            .alias("UN_COO_Region")
        )
        .drop("i")
    )
    data, draft = tmp_path / "cases.csv", tmp_path / "draft.yaml"
    frame.write_csv(data)
    assert invoke("schema", "infer", data, "--out", draft).exit_code == 0
    drafted = {c["name"]: c for c in yaml.safe_load(draft.read_text())["columns"]}
    assert drafted["UN_COO_Region"]["drafted"] is True and "Antarctica" in drafted["UN_COO_Region"]["values"]
    for mode in (["--resolution", "5"], ["--dp", "--epsilon", "4", "--max-attributes-per-record", "20"]):
        out = tmp_path / f"pub{len(mode)}"
        result = invoke("release", data, "--schema", draft, "--out", out, "--private-out", tmp_path / f"p{len(mode)}",
                        "-r", "2", *mode)  # fmt: skip
        assert result.exit_code == 0, result.output
        codebook = (out / "codebook.yaml").read_text()
        assert "Antarctica" not in codebook and "drafted" not in codebook
        assert "draft.yaml" not in (out / "manifest.json").read_text()


# ------------------------------------------------------------------------------------------------------------- δ
def test_delta_is_a_public_input(tmp_path: Path) -> None:
    data = tmp_path / "c.csv"
    generate_ctdc(2000, seed=1).write_csv(data)  # the noisy count (noise SD 20 at ε 4) stays positive
    base = ["aggregate", data, "--schema", "ctdc-victim-perpetrator", "--dp", "--epsilon", "4", "-r", "2"]
    result = invoke(*base, "--out", tmp_path / "a")
    assert result.exit_code == 0 and f"δ = {DEFAULT_DELTA:g}" in result.output
    given = invoke(*base, "--out", tmp_path / "b", "--delta", "1e-8")
    assert given.exit_code == 0
    import duckdb

    for folder, delta, default in (("a", DEFAULT_DELTA, "true"), ("b", 1e-8, "false")):
        con = duckdb.connect(str(tmp_path / folder / "release.duckdb"), read_only=True)
        info = dict(con.execute("SELECT key, value FROM release_info").fetchall())
        con.close()
        assert float(info["delta"]) == delta and info["delta_default"] == default
        assert float(info["delta_outside_zcdp"]) == delta / 2


# -------------------------------------------------------------------------------------------------- output folders
def _small_csv(folder: Path) -> Path:
    path = folder / "input.csv"
    pl.DataFrame({"A": ["a", "b"] * 20, "B": ["x", "y", "z", "x"] * 10}).write_csv(path)
    return path


def test_overwrite_replaces_only_sdsynth_outputs_and_never_an_input(tmp_path: Path) -> None:
    data = _small_csv(tmp_path)
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("mine")
    result = invoke("aggregate", data, "--out", mine, "--overwrite", "-k", "2")
    assert_clean_error(result, "was not written by sdsynth")
    assert (mine / "todo.txt").read_text() == "mine"

    result = invoke("aggregate", data, "--out", tmp_path, "--overwrite", "-k", "2")  # the folder holding the input
    assert_clean_error(result, "holds an input")
    assert data.is_file()

    out = tmp_path / "rel"
    assert invoke("aggregate", data, "--out", out, "-k", "2").exit_code == 0
    assert (out / MARKER).is_file()
    inside = out / "input.csv"
    inside.write_bytes(data.read_bytes())
    assert_clean_error(invoke("aggregate", inside, "--out", out, "--overwrite", "-k", "2"), "holds an input")
    inside.unlink()
    assert invoke("aggregate", data, "--out", out, "--overwrite", "-k", "2").exit_code == 0


def test_a_stale_partial_folder_of_a_dead_run_is_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".rel.{dead_pid}.abcd.partial"
    (stale / ".scratch").mkdir(parents=True)
    (stale / ".scratch" / "ids-000000.npy").write_bytes(b"sensitive")
    alive = tmp_path / f".rel.{os.getppid()}.efgh.partial"  # a run still going on: left alone
    alive.mkdir()
    with atomic_directory(tmp_path / "rel") as tmp:
        (tmp / "x").write_text("x")
    assert not stale.exists() and alive.exists() and (tmp_path / "rel" / "x").is_file()


def test_private_outputs_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    data = _small_csv(tmp_path)
    old = os.umask(0o022)
    try:
        result = invoke("release", data, "--out", tmp_path / "pub", "--private-out", tmp_path / "priv", "-k", "2",
                        "-r", "2")  # fmt: skip
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    priv = tmp_path / "priv"
    assert stat.S_IMODE(priv.stat().st_mode) == 0o700
    entries = list(priv.rglob("*"))
    assert entries
    for path in entries:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    assert stat.S_IMODE((tmp_path / "pub" / "aggregates.tsv").stat().st_mode) == 0o644


@pytest.mark.slow
def test_sigterm_removes_the_partial_folders(tmp_path: Path) -> None:
    data = tmp_path / "big.csv"
    generate_ctdc(300_000, seed=2).write_csv(data)
    cmd = [
        sys.executable,
        "-m",
        "sdsynth.cli.main",
        "release",
        str(data),
        "--schema",
        "ctdc-victim-perpetrator",
        "--dp",
        "--epsilon",
        "4",
        "--out",
        str(tmp_path / "pub"),
        "--private-out",
        str(tmp_path / "priv"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".priv.*.partial")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert list(tmp_path.glob(".priv.*.partial")), "the run never started writing"
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM
    assert not list(tmp_path.glob(".*partial")) and not (tmp_path / "priv").exists()


def test_unseeded_synthesis_makes_the_released_record_count_not_the_true_one(tmp_path: Path) -> None:
    data = tmp_path / "c.csv"
    pl.DataFrame({"A": ["a", "b", "c"] * 7 + ["a", "b"], "B": ["x", "y"] * 11 + ["x"]}).write_csv(data)  # 23 rows
    result = invoke("synthesize", data, "--method", "unseeded", "-k", "10", "--seed", "1", "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert pl.read_csv(tmp_path / "o" / "synthetic.csv").height == 20  # round_down(23, 10), never 23


def test_release_info_states_the_length_released_and_the_one_asked_for(tmp_path: Path) -> None:
    data = tmp_path / "c.csv"
    generate_ctdc(2000, seed=3).select("gender", "majorityStatus").write_csv(data)  # W = 2 attributes per record
    result = invoke("aggregate", data, "--dp", "--epsilon", "4", "-r", "3", "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    import duckdb

    con = duckdb.connect(str(tmp_path / "o" / "release.duckdb"), read_only=True)
    info = dict(con.execute("SELECT key, value FROM release_info").fetchall())
    con.close()
    assert (info["reporting_length"], info["reporting_length_requested"]) == ("2", "3")
