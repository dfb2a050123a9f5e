"""`sdsynth explore --serve`: counts of any selection from the release database, through the locked read-only
connection, on 127.0.0.1 only, with no way to send SQL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import duckdb
import pytest
from explore_sql import ReleaseSql

from sdsynth.bundle.database import open_release_readonly
from sdsynth.explore import page_data
from sdsynth.explore.server import ExplorerServer


def post(server: ExplorerServer, body: Any, host: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", **({"Host": host} if host else {})}
    request = urllib.request.Request(server.url + "api/counts", json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_counts_equal_sql_for_selections_of_any_depth(server: ExplorerServer, dp_release: Path) -> None:
    sql = ReleaseSql(dp_release)
    try:
        gender = sql.frequent("gender", 2)
        parts = sql.frequent("IP_Gender", 2)
        region = sql.frequent("UN_COE_Region", 1)
        selections = [
            {},
            {"gender": gender[:1]},
            {"gender": gender, "UN_COE_Region": region},  # OR within a column
            {"IP_Gender": parts},  # parts of a multi-value column: AND
            {"gender": gender[:1], "IP_Gender": parts[:1], "UN_COE_Region": region,
             "majorityStatus": sql.frequent("majorityStatus", 1)},  # deeper than R = 3
        ]  # fmt: skip
        for selection in selections:
            status, answer = post(server, {"selection": selection})
            assert status == 200, answer
            assert answer["synthetic"] == sql.synthetic_count(selection) == sql.sql_synthetic_count(selection)
            facts = server.counter.facts
            for c, column in enumerate(facts.columns):
                expected = sql.bars(selection, column.name)
                assert dict(zip(column.values, answer["bars"][c], strict=True)) == {
                    v: expected[v] for v in column.values
                }
            attributes = [(c, v) for c, values in selection.items() for v in values]
            if not selection or len(attributes) > 3:
                assert answer["released"] is None
            elif len(selection.get("gender", [])) == 2:  # two combinations, one per gender
                rest = [(c, v) for c, v in attributes if c != "gender"]
                rows = [sql.released([("gender", g), *rest]) for g in gender]
                assert [e and (e["count"], e["margin"]) for e in answer["released"]] == [r and tuple(r) for r in rows]
            else:
                row = sql.released(attributes)
                entry = answer["released"][0]
                assert (entry and (entry["count"], entry["margin"])) == (row and tuple(row))
    finally:
        sql.close()


def test_only_known_columns_and_values_reach_the_database(server: ExplorerServer) -> None:
    for bad, message in [
        ({"selection": {'gender" IS NOT NULL OR 1=1 --': ["x"]}}, "no column"),
        ({"selection": {"gender": ["x' OR '1'='1"]}}, "has no value"),
        ({"selection": {"gender": "Female"}}, "list of strings"),
        ({"selection": ["gender"]}, "must map"),
        ({"sql": "SELECT * FROM synthetic"}, None),  # ignored: an empty selection
    ]:
        status, answer = post(server, bad)
        if message is None:
            assert status == 200 and answer["released"] is None
        else:
            assert status == 400 and message in answer["error"], answer


def test_the_server_answers_its_own_name_on_loopback_only(server: ExplorerServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert server.httpd.server_address[0] == "127.0.0.1"
    status, _ = post(server, {"selection": {}}, host="attacker.example:80")
    assert status == 403
    with urllib.request.urlopen(server.url, timeout=10) as response:
        page = response.read().decode()
    assert page_data(page)["source"] == "server" and "records" not in page_data(page)
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(server.url + "release.duckdb", timeout=10)
    with missing.value as error:
        assert error.code == 404


def test_the_connection_is_the_locked_read_only_one(dp_release: Path) -> None:
    con = open_release_readonly(dp_release)
    try:
        with pytest.raises(duckdb.Error):
            con.execute("CREATE TABLE x AS SELECT 1")
        with pytest.raises(duckdb.Error):
            con.execute("SET enable_external_access = true")
    finally:
        con.close()


def test_serve_command_prints_its_address_and_stops_on_ctrl_c(dp_release: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "sdsynth.cli.main", "explore", str(dp_release), "--serve",
                                "--port", "0"], stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "SDSYNTH_COMPILE_AHEAD": "0"})  # fmt: skip
    try:
        line = process.stderr.readline()  # type: ignore[union-attr]
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        with urllib.request.urlopen(url.group(0), timeout=10) as response:
            assert response.status == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
        assert "stopped" in process.stderr.read()  # type: ignore[union-attr]
    finally:
        process.kill()
        process.wait()
        process.stderr.close()  # type: ignore[union-attr]
