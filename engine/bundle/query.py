"""SQL over a release: read-only queries, and notes when a question asks for more than a release holds.

Both open the release through `open_release_readonly`: the SQL reads the release's tables and views and nothing else
(no files, extensions or settings)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl

from sdsynth.bundle.database import open_release_readonly, query_error, relation_arrow

_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_LENGTH_TEST = re.compile(r"\blength\s*(=|==|>=|>|\bin\b)\s*\(?\s*([\d\s,]+)", re.IGNORECASE)


def run_query(release: str | Path, sql: str) -> pl.DataFrame:
    """Run SQL on a release folder's DuckDB file (read-only, nothing outside the release: `open_release_readonly`).

    Raises ParameterError with one line: the lock's message for file access, extensions or settings, else
    `query failed: …` with DuckDB's first line."""
    con = open_release_readonly(release)
    try:
        try:
            relation = con.sql(sql)
            if relation is None:  # a statement without a result
                return pl.DataFrame()
            table = relation_arrow(relation)
        except duckdb.Error as exc:
            raise query_error(exc) from None
        return pl.from_arrow(table)  # type: ignore[return-value]
    finally:
        con.close()


def _asks_longer_than(sql: str, R: int) -> bool:
    """Whether a `length = n`, `length >= n`, `length > n` or `length IN (...)` test reaches past R."""
    for op, numbers in _LENGTH_TEST.findall(sql):
        values = [int(v) for v in re.findall(r"\d+", numbers)]
        op = op.lower()
        if op == "in" and any(v > R for v in values):
            return True
        if values and ((op in ("=", "==", ">=") and values[0] > R) or (op == ">" and values[0] >= R)):
            return True
    return False


def _constrained_columns(sql: str, columns: list[str]) -> set[str]:
    """Aggregate columns the query pins to a value (`col = ...`, `col IN (...)`, `col IS NOT NULL`)."""
    found = set()
    for name in columns:
        pattern = rf'(?:"{re.escape(name)}"|\b{re.escape(name)}\b)\s*(?:=|\bin\b|\bis\s+not\s+null\b)'
        if re.search(pattern, sql, re.IGNORECASE):
            found.add(name)
    return found


_READS_SYNTHETIC = re.compile(r'\b(?:from|join)\s+(?:"synthetic"|synthetic)\b', re.IGNORECASE)


def query_notes(release: str | Path, sql: str, result: pl.DataFrame) -> list[str]:
    """Plain-language notes for SQL users: a query asks for combinations longer than the release holds, or asks the
    sampled `synthetic` table what the released aggregates answer directly."""
    con = open_release_readonly(release)
    try:
        info = dict(con.execute("SELECT key, value FROM release_info").fetchall())
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        mapped = (
            con.execute('SELECT DISTINCT "column", source_column FROM release_columns').fetchall()
            if "release_columns" in tables
            else []
        )
    except duckdb.Error:
        return []
    finally:
        con.close()
    if "reporting_length" not in info:
        return []
    R = int(info["reporting_length"])
    code = _STRING_LITERAL.sub("''", sql)  # values may contain anything; only look at the SQL itself
    if "aggregates" not in code.lower():
        sources = sorted({source for _, source in mapped if source})
        return _synthetic_note(code, sources, R, info.get("mode")) if "synthetic" in tables else []
    columns = [column for column, _ in mapped if column]
    longer = (
        f"the aggregates hold combinations of at most {R} attributes (reporting length {R}); longer combinations "
        "are not released. Count them in the `synthetic` table instead (an estimate, not a released count)."
    )
    if _asks_longer_than(code, R):
        return [longer]
    pinned = _constrained_columns(code, columns)
    if len(pinned) > R and result.height == 0:
        return [f"this query fixes {len(pinned)} columns; " + longer]
    return []


def _synthetic_note(code: str, sources: list[str], R: int, mode: str | None) -> list[str]:
    """A question of 1 to R columns asked of `synthetic`: the aggregates release its answer (with a margin of error
    under DP); the synthetic records only sample it."""
    if not _READS_SYNTHETIC.search(code):
        return []
    asked = [name for name in sources if _mentions(code, name)]
    if not 1 <= len(asked) <= R:
        return []
    error = "its margin of error" if mode == "dp" else "the interval holding the true count"
    return [
        f"this question involves {len(asked)} column(s), no more than the reporting length {R}: the released counts in "
        f"`aggregates` answer it directly (`aggregates_with_error` adds {error}); `synthetic` gives a sampled "
        "estimate that can differ from them by more than that"
    ]


def _mentions(code: str, name: str) -> bool:
    return re.search(rf'(?:"{re.escape(name)}"|\b{re.escape(name)}\b)', code, re.IGNORECASE) is not None
