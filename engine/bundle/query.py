"""SQL over a release: read-only queries, and notes when a question asks for more than a release holds.

Both open the release through `open_release_readonly`: the SQL reads the release's tables and views and nothing else
(no files, extensions or settings)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from sdsynth.bundle.database import open_release_readonly, query_error, relation_arrow
from sdsynth.errors import ParameterError

_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_LENGTH_TEST = re.compile(r"\blength\s*(=|==|>=|>|\bin\b)\s*\(?\s*([\d\s,]+)", re.IGNORECASE)


def run_query(release: str | Path, sql: str) -> pl.DataFrame:
    """Run SQL on a release folder's DuckDB file (read-only, nothing outside the release: `open_release_readonly`).

    Raises ParameterError with one line: the lock's message for file access, extensions or settings, else
    `query failed: …` with DuckDB's first line (and, for a multi-value column asked of `aggregates`, how to ask)."""
    con = open_release_readonly(release)
    try:
        try:
            relation = con.sql(sql)
            if relation is None:  # a statement without a result
                return pl.DataFrame()
            table = relation_arrow(relation)
        except duckdb.Error as exc:
            error = query_error(exc)
            hint = _exploded_column_hint(str(exc), _facts(con))
            raise (ParameterError(f"{error}; {hint}") if hint else error) from None
        return pl.from_arrow(table)  # type: ignore[return-value]
    finally:
        con.close()


@dataclass(frozen=True)
class _Facts:
    """What the notes need to know of a release: its parameters, tables and how its columns map to the data's."""

    info: dict[str, str]
    tables: set[str]
    columns: list[tuple[str | None, str, str | None, str | None]]  # column, source_column, part, delimiter

    def parts(self, source: str) -> list[str]:
        return [part for _, s, part, _ in self.columns if s == source and part is not None]

    def delimiter(self, source: str) -> str | None:
        return next((d for _, s, _, d in self.columns if s == source and d), None)


def _facts(con: duckdb.DuckDBPyConnection) -> _Facts:
    try:
        info = dict(con.execute("SELECT key, value FROM release_info").fetchall())
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        columns = (
            con.execute(
                'SELECT "column", source_column, part, delimiter FROM release_columns ORDER BY position'
            ).fetchall()
            if "release_columns" in tables
            else []
        )
    except duckdb.Error:
        return _Facts({}, set(), [])
    return _Facts(info, tables, columns)


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
    """Plain-language notes for SQL users: a query asks for combinations longer than the release holds, asks the
    sampled `synthetic` table what the released aggregates answer directly, or compares a multi-value column with
    parts joined in an order the release never writes."""
    con = open_release_readonly(release)
    try:
        facts = _facts(con)
    finally:
        con.close()
    if "reporting_length" not in facts.info:
        return []
    R = int(facts.info["reporting_length"])
    code = _STRING_LITERAL.sub("''", sql)  # values may contain anything; only look at the SQL itself
    notes = _joined_parts_notes(sql, facts)
    if "aggregates" not in code.lower():
        sources = sorted({source for _, source, _, _ in facts.columns if source})
        synthetic = _synthetic_note(code, sources, R, facts.info.get("mode")) if "synthetic" in facts.tables else []
        return notes + synthetic
    columns = [column for column, _, _, _ in facts.columns if column]
    longer = (
        f"the aggregates hold combinations of at most {R} attributes (reporting length {R}); longer combinations "
        "are not released. Count them in the `synthetic` table instead (an estimate, not a released count)."
    )
    if _asks_longer_than(code, R):
        return [*notes, longer]
    pinned = _constrained_columns(code, columns)
    if len(pinned) > R and result.height == 0:
        return [*notes, f"this query fixes {len(pinned)} columns; " + longer]
    return notes


_COMPARED_LITERAL = re.compile(r"""(?:"((?:[^"]|"")+)"|\b(\w+))\s*=\s*'((?:[^']|'')*)'""")


def _joined_parts_notes(sql: str, facts: _Facts) -> list[str]:
    """`IP_Gender = 'Male;Female'`: the release joins a multi-value cell's parts in one order (release_columns'),
    so parts in another order never match."""
    notes = []
    for quoted, bare, literal in _COMPARED_LITERAL.findall(sql):
        source = (quoted or bare).replace('""', '"')
        delimiter = facts.delimiter(source)
        value = literal.replace("''", "'")
        if delimiter is None or delimiter not in value:
            continue
        asked = [part.strip() for part in value.split(delimiter)]
        order = facts.parts(source)
        canonical = [part for part in order if part in asked]
        if asked != canonical and len(canonical) == len(asked):
            joined = delimiter.join(canonical)
            notes.append(
                f"{source} holds its parts joined in one order, so {value!r} never matches: ask {source} = {joined!r}; "
                f"for records holding these parts and maybe others, list_has_all(string_split({source}, "
                f"'{delimiter}'), {canonical})"
            )
    return notes


def _exploded_column_hint(error: str, facts: _Facts) -> str:
    """For `aggregates` asked about a multi-value column by its data name: each part is its own column there."""
    match = re.search(r'column "([^"]+)" not found', error)
    if match is None:
        return ""
    source = match.group(1)
    parts = [(column, part) for column, s, part, _ in facts.columns if s == source and column and part]
    if not parts:
        return ""
    shown = ", ".join(f"{column} = '1'" for column, _ in parts[:3])
    return (f"{source} is a multi-value column: in aggregates each part is its own column ({shown}, ...: '1' when "
            f"the part is in the combination); aggregates_by_source_column and synthetic hold {source} with its parts "
            "joined")  # fmt: skip


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
