"""The explorer page without a browser: what it embeds equals SQL on the release, it is self-contained and public,
`sdsynth explore` writes it, and `sdsynth release` ships it."""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from explore_sql import ReleaseSql
from helpers import assert_clean_error, invoke

from sdsynth.explore import build_page, explorer_payload, page_data
from sdsynth.explore.combinations import combination_counts
from sdsynth.explore.data import (
    gaussian_record_count_margin,
    record_count_margin,
    release_facts,
    synthetic_profiles,
)
from sdsynth.explore.page import facts_payload

_TYPES = {"u8": "<u1", "u16": "<u2", "u32": "<u4", "f64": "<f8"}


def decode(encoded: dict[str, str]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(encoded["data"]), dtype=_TYPES[encoded["type"]])


def combinations_of(encoded: dict[str, Any]) -> dict[tuple[int, ...], float]:
    ids = decode(encoded["ids"]).reshape(-1, encoded["width"])
    counts = decode(encoded["counts"])
    return {tuple(int(a) for a in row if a != encoded["pad"]): float(n) for row, n in zip(ids, counts, strict=True)}


def attributes(payload: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["name"], v) for c in payload["columns"] for v in c["values"]]


def _payload(release: Path, **kwargs: Any) -> dict[str, Any]:
    con = duckdb.connect(str(release / "release.duckdb"), read_only=True)
    try:
        return explorer_payload(con, **kwargs)
    finally:
        con.close()


def test_embedded_records_are_the_synthetic_records(dp_release: Path) -> None:
    payload = _payload(dp_release)
    assert payload["source"] == "records"
    records = payload["records"]
    weights = decode(records["weights"])
    sql = ReleaseSql(dp_release)
    try:
        assert weights.sum() == len(sql.records) == payload["synthetic_records"]
        for j, column in enumerate(payload["columns"]):
            codes = decode(records["codes"][j])
            counts = dict.fromkeys(column["values"], 0)
            for code, weight in zip(codes, weights, strict=True):
                for v in records["cells"][j][code]:
                    counts[column["values"][v]] += int(weight)
            expected = sql.bars({}, column["name"])
            assert {k: n for k, n in counts.items() if n} == dict(expected), column["name"]
    finally:
        sql.close()


@pytest.mark.parametrize("fixture", ["dp_release", "kanon_release"])
def test_embedded_aggregates_are_the_released_counts(request: pytest.FixtureRequest, fixture: str) -> None:
    release = request.getfixturevalue(fixture)
    payload = _payload(release)
    names = attributes(payload)
    found = combinations_of(payload["aggregates"])
    sql = ReleaseSql(release)
    try:
        n_released = sql.con.execute("SELECT count(*) FROM aggregates").fetchone()[0]
        assert len(found) == n_released
        for key, count in itertools.islice(found.items(), 0, None, 23):
            row = sql.released([names[a] for a in key])
            assert row is not None and row[0] == count, [names[a] for a in key]
        if payload["mode"] == "dp":
            sql_levels = "SELECT DISTINCT length, margin_of_error_95 FROM aggregates_with_error"
        else:
            sql_levels = "SELECT DISTINCT length, upper_bound - lower_bound + 1 FROM aggregates_with_error"
        for length, figure in sql.con.execute(sql_levels).fetchall():
            shown = payload["levels"][str(length)]
            assert (shown["margin"] if payload["mode"] == "dp" else shown["resolution"]) == figure
    finally:
        sql.close()


def test_combination_counts_replace_records_past_the_size_limit(kanon_release: Path) -> None:
    """With a tiny limit the page embeds synthetic counts of combinations; every one equals SQL on `synthetic`, and
    every combination present in the records up to the stated depth is there."""
    payload = _payload(kanon_release, max_bytes=30_000)
    assert payload["source"] == "combinations" and "records" not in payload
    table = payload["combinations"]
    depth = table["depth"]
    assert 1 <= depth <= payload["reporting_length"] + 1
    found = combinations_of(table)
    assert max(len(k) for k in found) == depth
    names = attributes(payload)
    sql = ReleaseSql(kanon_release)
    try:
        for key, count in itertools.islice(found.items(), 0, None, 5):
            selection: dict[str, list[str]] = {}
            for a in key:
                selection.setdefault(names[a][0], []).append(names[a][1])
            if any(len(v) > 1 and c not in sql.delimiter for c, v in selection.items()):
                continue  # two values of one single-value column never meet in a record
            assert count == sql.synthetic_count(selection), selection
        singles = {(c, v): n for c in sql.columns for v, n in sql.bars({}, c).items()}
        assert {names[k[0]]: n for k, n in found.items() if len(k) == 1} == singles
    finally:
        sql.close()


def test_combination_counts_equal_a_count_over_every_synthetic_record(kanon_release: Path) -> None:
    """The oracle: every combination of up to the page's depth, counted record by record in Python from SQL rows
    (multi-value cells split into their parts), equals the page's table, none missing, none extra."""
    with duckdb.connect(str(kanon_release / "release.duckdb"), read_only=True) as con:
        facts = release_facts(con)
        table = combination_counts(facts, synthetic_profiles(con, facts), max_bytes=10**9)
        payload = facts_payload(facts)
    depth = table["depth"]
    index = {name: i for i, name in enumerate(attributes(payload))}
    columns = payload["columns"]
    names = ", ".join(f'"{c["name"]}"' for c in columns)
    with duckdb.connect(str(kanon_release / "release.duckdb"), read_only=True) as con:
        rows = con.execute(f"SELECT {names} FROM synthetic").fetchall()
    expected: Counter[tuple[int, ...]] = Counter()
    for row in rows:
        ids = []
        for column, cell in zip(columns, row, strict=True):
            if cell is None or cell == "":
                continue
            parts = str(cell).split(column["delimiter"]) if column["delimiter"] else [str(cell)]
            ids += [index[(column["name"], p.strip())] for p in parts if (column["name"], p.strip()) in index]
        ids = sorted(set(ids))
        for k in range(1, depth + 1):
            expected.update(itertools.combinations(ids, k))
    assert combinations_of(table) == {k: float(n) for k, n in expected.items()}


def test_the_record_count_margin_is_the_95_percent_tail_of_the_discrete_laplace() -> None:
    for epsilon in (0.02, 0.1, 1.0):
        q = math.exp(-epsilon)
        margin = record_count_margin(epsilon)

        def tail(m: int, q: float = q) -> float:  # P(|X| > m)
            return 2 * q ** (m + 1) / (1 + q)

        exact = sum((1 - q) / (1 + q) * q ** abs(x) for x in range(-margin, margin + 1))
        assert tail(margin) <= 0.05 < tail(margin - 1)
        assert exact == pytest.approx(1 - tail(margin))


def test_the_gaussian_record_count_margin_is_the_95_percent_tail_of_the_discrete_gaussian() -> None:
    """Against the discrete Gaussian's probabilities summed directly (every x with |x| ≤ 40σ)."""
    for variance in (0.5, 30.0, 2.5e4):
        margin = gaussian_record_count_margin(variance)
        x = np.arange(-math.ceil(40 * math.sqrt(variance)), math.ceil(40 * math.sqrt(variance)) + 1)
        weight = np.exp(-(x.astype(float) ** 2) / (2 * variance))
        p = weight / weight.sum()

        def outside(m: int, x: np.ndarray = x, p: np.ndarray = p) -> float:  # P(|X| > m)
            return float(p[np.abs(x) > m].sum())

        assert outside(margin) <= 0.05 < (outside(margin - 1) if margin > 0 else 1.0)
    assert gaussian_record_count_margin(2.5e4) == pytest.approx(1.96 * 158.1, abs=1.5)


def test_the_page_is_self_contained_and_holds_only_public_figures(dp_release: Path) -> None:
    html = (dp_release / "explore.html").read_text(encoding="utf-8")
    assert "default-src 'none'" in html  # the page's CSP: nothing is fetched, from anywhere
    assert not re.search(r"<(script|img|iframe)[^>]+src=|<link[^>]+stylesheet|https?://|//cdn", html, re.I)
    assert re.search(r"<script type=\"application/json\" id=\"release-data\">", html)
    info = dict(duckdb.connect(str(dp_release / "release.duckdb"), read_only=True).execute(
        "SELECT key, value FROM release_info").fetchall())  # fmt: skip
    assert info["release_id"] not in html and info["created_at"] not in html  # nothing that identifies a run
    data = page_data(html)
    assert data["mode"] == "dp" and data["parameters"]["epsilon"] == 4.0
    assert info["record_count_noise"] == "discrete Gaussian"
    assert data["record_count_error"]["margin"] == gaussian_record_count_margin(float(info["variance_record_count"]))
    assert [c["name"] for c in data["columns"]][:3] == ["yearRegister", "gender", "majorityStatus"]
    assert [c["delimiter"] for c in data["columns"] if c["name"] == "IP_Gender"] == [";"]


def test_the_release_lists_the_page_in_its_manifest(kanon_release: Path) -> None:
    manifest = json.loads((kanon_release / "manifest.json").read_text())
    assert "explore.html" in manifest["files"]
    con = duckdb.connect(str(kanon_release / "release.duckdb"), read_only=True)
    try:
        assert (kanon_release / "explore.html").read_text(encoding="utf-8") == build_page(con)  # deterministic
    finally:
        con.close()


def test_explore_command_writes_a_page(tmp_path: Path, kanon_release: Path) -> None:
    out = tmp_path / "page.html"
    result = invoke("explore", kanon_release, "--out", out)
    assert result.exit_code == 0, result.output
    assert "distinct synthetic rows" in result.output
    assert page_data(out.read_text(encoding="utf-8"))["source"] == "records"
    again = invoke("explore", kanon_release, "--out", out)
    assert_clean_error(again, "already exists")
    assert invoke("explore", kanon_release, "--out", out, "--overwrite", "--quiet").exit_code == 0
    assert not list(tmp_path.glob(".*partial"))


def test_explore_command_errors_are_one_line(tmp_path: Path, kanon_release: Path) -> None:
    assert_clean_error(invoke("explore", tmp_path / "nowhere"), "no release database")
    assert_clean_error(invoke("explore", kanon_release, "--serve", "--out", tmp_path / "x.html"), "--serve")
    data = tmp_path / "small.csv"
    data.write_text("a,b\n" + "x,y\n" * 20 + "z,y\n" * 20)
    made = invoke("aggregate", data, "--out", tmp_path / "agg", "--private-out", tmp_path / "priv", "-k", "5")
    assert made.exit_code == 0, made.output
    assert_clean_error(invoke("explore", tmp_path / "agg", "--out", tmp_path / "x.html"), "no synthetic records")
    assert not (tmp_path / "x.html").exists()
