"""`sdsynth query` reads the release and nothing else (issue 22 point 6): no file access (COPY, read_csv, read_parquet,
read_text, ATTACH, EXPORT), no extensions (INSTALL, LOAD), no settings (SET, RESET, PRAGMA), while the release's own
tables and views answer as before."""

from __future__ import annotations

import inspect
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers import DATA, assert_clean_error, invoke
from polars.testing import assert_frame_equal

from sdsynth.bundle import query as query_module
from sdsynth.bundle.database import BLOCKED_MESSAGE, open_release_readonly, relation_arrow
from sdsynth.engine import ParameterError, query_notes, run_query

INPUT = DATA / "spec_9_2_example.csv"
TABLES = ["aggregates", "synthetic", "release_info", "release_levels", "release_columns", "evaluation"]
VIEWS = ["aggregates_by_source_column", "aggregates_with_error"]
BLOCKED = "reads only the release"


@dataclass(frozen=True)
class Released:
    root: Path  # the folder around the release: where a user's other files live
    pub: Path  # the release folder (release.duckdb)
    priv: Path  # the private folder written next to it

    def sql(self, template: str) -> str:
        return template.format(root=self.root, pub=self.pub, priv=self.priv)


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Released:
    root = tmp_path_factory.mktemp("lock")
    pub, priv = root / "pub", root / "priv"
    result = invoke("release", INPUT, "--out", pub, "--private-out", priv, "-r", "2", "-k", "2")
    assert result.exit_code == 0, result.output
    (root / "secret.csv").write_text("name,diagnosis\nAda,flu\n")
    pl.read_csv(INPUT).write_parquet(priv / "cases.parquet")  # a private Parquet file next to the release
    duckdb.connect(str(root / "other.duckdb")).close()
    assert (priv / "sensitive_statistics.json").is_file()
    return Released(root, pub, priv)


@dataclass(frozen=True)
class Blocked:
    sql: str
    absent: tuple[str, ...] = ()  # paths that must not exist afterwards


CASES = {
    "copy_to_file": Blocked("COPY (SELECT 1 AS x) TO '{root}/x.csv'", ("{root}/x.csv",)),
    "copy_into_release": Blocked("COPY aggregates TO '{pub}/leak.csv'", ("{pub}/leak.csv",)),
    "copy_from_file": Blocked("CREATE TEMP TABLE t (name VARCHAR, diagnosis VARCHAR); COPY t FROM '{root}/secret.csv'"),
    "read_csv": Blocked("SELECT * FROM read_csv('{root}/secret.csv')"),
    "file_as_table": Blocked("SELECT * FROM '{root}/secret.csv'"),
    "read_parquet_private": Blocked("SELECT * FROM read_parquet('{priv}/cases.parquet')"),
    "read_text_private": Blocked("SELECT content FROM read_text('{priv}/sensitive_statistics.json')"),
    "read_blob_private": Blocked("SELECT content FROM read_blob('{priv}/report.html')"),
    "read_release_folder_file": Blocked("SELECT * FROM read_csv('{pub}/synthetic.csv')"),
    "glob": Blocked("SELECT * FROM glob('{priv}/*')"),
    "attach": Blocked("ATTACH '{root}/other.duckdb' AS other"),
    "attach_new": Blocked("ATTACH '{root}/new.duckdb' AS new", ("{root}/new.duckdb",)),
    "export": Blocked("EXPORT DATABASE '{root}/export'", ("{root}/export",)),
    "install": Blocked("INSTALL httpfs"),
    "load": Blocked("LOAD httpfs"),
    "set_access": Blocked("SET enable_external_access = true"),
    "set_global_access": Blocked("SET GLOBAL enable_external_access = true"),
    "reset_access": Blocked("RESET enable_external_access"),
    "pragma_access": Blocked("PRAGMA enable_external_access = true"),
    "unlock": Blocked("SET lock_configuration = false"),
    "set_then_read": Blocked("SET enable_external_access = true; SELECT * FROM read_csv('{root}/secret.csv')"),
    "log_to_file": Blocked("SET log_query_path = '{root}/log.txt'", ("{root}/log.txt",)),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_run_query_refuses_anything_outside_the_release(released: Released, case: Blocked) -> None:
    with pytest.raises(ParameterError) as err:
        run_query(released.pub, released.sql(case.sql))
    message = str(err.value)
    assert message.startswith(BLOCKED_MESSAGE + " (") and "\n" not in message
    assert "Error" in message  # DuckDB's own first line follows, e.g. "Permission Error: Cannot access file ..."
    for path in case.absent:
        assert not Path(released.sql(path)).exists()
    assert not (released.pub / "release.duckdb.tmp").exists()


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_query_command_refuses_with_exit_code_2(released: Released, case: Blocked) -> None:
    result = invoke("query", released.pub, released.sql(case.sql))
    assert_clean_error(result, BLOCKED)
    assert result.stdout == ""
    for path in case.absent:
        assert not Path(released.sql(path)).exists()


def test_refused_reads_print_no_file_content(released: Released) -> None:
    result = invoke("query", released.pub, released.sql("SELECT * FROM read_csv('{root}/secret.csv')"), "-f", "csv")
    assert result.exit_code == 2
    assert "Ada" not in result.output and "flu" not in result.output


def test_settings_stay_locked(released: Released) -> None:
    names = ["enable_external_access", "lock_configuration", "autoinstall_known_extensions",
             "autoload_known_extensions", "allow_community_extensions", "python_enable_replacements"]  # fmt: skip
    for sql in ("SET enable_external_access = true", "RESET lock_configuration", "SET autoload_known_extensions = 1"):
        with pytest.raises(ParameterError, match=BLOCKED):
            run_query(released.pub, sql)
    frame = run_query(released.pub, f"SELECT name, value FROM duckdb_settings() WHERE name IN {tuple(names)}")
    assert dict(frame.iter_rows()) == {
        "enable_external_access": "false",
        "lock_configuration": "true",
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "allow_community_extensions": "false",
        "python_enable_replacements": "false",
    }


def test_spilling_goes_to_a_private_folder_not_the_release(released: Released) -> None:
    """DuckDB always allows its temporary directory; it must not be the release folder (DuckDB's default for a
    read-only file is release.duckdb.tmp next to it) nor anywhere a user's files are."""
    tmp = Path(run_query(released.pub, "SELECT current_setting('temp_directory') AS tmp").item())
    assert tmp.name and tmp.parent.name.startswith("sdsynth-query-")
    assert not tmp.is_relative_to(released.root) and not released.root.is_relative_to(tmp)
    if run_query(released.pub, "SELECT * FROM duckdb_settings() WHERE name = 'allowed_directories'").height:
        # DuckDB ≥ 1.3 lists what it allows despite the lock: only the spill folder (before, it allowed no folder)
        allowed = run_query(released.pub, "SELECT current_setting('allowed_directories') AS dirs").item().to_list()
        assert allowed and all(Path(d).is_relative_to(tmp) for d in allowed)


def test_python_objects_are_not_tables(released: Released) -> None:
    """Replacement scans would read any DataFrame on the caller's stack (e.g. the explorer's own data)."""
    secret_frame = pl.DataFrame({"diagnosis": ["flu"]})  # noqa: F841  (reachable only through a replacement scan)
    con = open_release_readonly(released.pub)
    try:
        with pytest.raises(duckdb.Error):
            con.sql("SELECT * FROM secret_frame").fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("name", TABLES + VIEWS)
def test_the_release_tables_and_views_still_answer(released: Released, name: str) -> None:
    got = run_query(released.pub, f'SELECT * FROM "{name}" ORDER BY ALL')
    con = duckdb.connect(str(released.pub / "release.duckdb"), read_only=True)  # plain, after run_query closed its own
    try:
        want = pl.from_arrow(relation_arrow(con.sql(f'SELECT * FROM "{name}" ORDER BY ALL')))
    finally:
        con.close()
    assert got.height > 0
    assert_frame_equal(got, want)  # type: ignore[arg-type]


def test_the_query_command_answers_on_the_release(released: Released) -> None:
    q = invoke("query", released.pub, "SELECT key, value FROM release_info WHERE key = 'resolution'", "-f", "json")
    assert q.exit_code == 0, q.output
    assert json.loads(q.stdout) == [{"key": "resolution", "value": "2"}]
    sql = (
        "SELECT (SELECT count(*) FROM synthetic) = (SELECT value::INT FROM release_info "
        "WHERE key = 'synthetic_records') AS same, (SELECT count(*) FROM aggregates_with_error "
        "WHERE count BETWEEN lower_bound AND upper_bound) = (SELECT count(*) FROM aggregates) AS bounded"
    )
    q = invoke("query", released.pub, sql, "-f", "csv")
    assert q.exit_code == 0, q.output
    assert q.stdout.splitlines() == ["same,bounded", "true,true"]
    q = invoke("query", released.pub / "release.duckdb", "SELECT count(*) AS n FROM aggregates WHERE length = 3")
    assert q.exit_code == 0 and "reporting length 2" in q.stderr  # the notes read release_info through the lock


def test_notes_read_the_release_through_the_lock(released: Released) -> None:
    sql = "SELECT * FROM aggregates WHERE length = 3"
    assert query_notes(released.pub, sql, run_query(released.pub, sql))


def test_other_sql_errors_keep_query_failed(released: Released) -> None:
    for sql in ("SELECT nope FROM aggregates", "CREATE TABLE t AS SELECT 1", "SELEC 1"):
        with pytest.raises(ParameterError, match=r"^query failed: ") as err:
            run_query(released.pub, sql)
        assert BLOCKED not in str(err.value)
    assert_clean_error(invoke("query", released.pub, "SELECT nope FROM aggregates"), "query failed: Binder Error")


def test_query_opens_releases_only_through_the_lock() -> None:
    source = inspect.getsource(query_module)
    assert "duckdb.connect" not in source
    assert inspect.getsource(query_module.run_query).count("open_release_readonly(") == 1
    assert inspect.getsource(query_module.query_notes).count("open_release_readonly(") == 1


def test_release_db_stays_light() -> None:
    code = (
        "import sys, sdsynth.bundle.database as m; m.open_release_readonly; "
        "print(sorted(x for x in ('numba', 'polars', 'numpy', 'pyarrow') if x in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_copied_release_still_opens(released: Released, tmp_path: Path) -> None:
    """The lock allows the database file wherever it is (DuckDB adds it to allowed_paths itself)."""
    copy = tmp_path / "copy"
    shutil.copytree(released.pub, copy)
    assert run_query(copy, "SELECT count(*) AS n FROM release_levels").item() == 2
