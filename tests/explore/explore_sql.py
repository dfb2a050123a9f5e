"""The oracle of the explorer's tests: counts asked in SQL of a release's `release.duckdb`, written independently of
the explorer's code (multi-value cells split in Python, released counts from `aggregates_with_error`)."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb

Selection = dict[str, list[str]]


class ReleaseSql:
    def __init__(self, release: Path) -> None:
        # a copy: DuckDB refuses a second connection to a file with another configuration in one process, and the
        # explorer's server holds the locked one
        self.folder = Path(tempfile.mkdtemp(prefix="explore-oracle-"))
        shutil.copy(release / "release.duckdb", self.folder / "release.duckdb")
        self.con = duckdb.connect(str(self.folder / "release.duckdb"), read_only=True)
        rows = self.con.execute('SELECT "column", source_column, part, delimiter FROM release_columns').fetchall()
        self.delimiter = {source: d for _, source, _, d in rows if d}
        self.part_column = {(source, part): column for column, source, part, _ in rows if part is not None}
        self.R = int(self.con.execute("SELECT reporting_length FROM release_parameters").fetchone()[0])
        self.mode = self.con.execute("SELECT mode FROM release_parameters").fetchone()[0]
        names = self.con.execute("SELECT * FROM synthetic LIMIT 0").description
        self.columns = [d[0] for d in names]
        self.records = self.con.execute("SELECT * FROM synthetic").fetchall()

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _holds(self, record: tuple[Any, ...], column: str, values: list[str]) -> bool:
        cell = record[self.columns.index(column)]
        if cell is None:
            return False
        if column in self.delimiter:
            return set(values) <= set(cell.split(self.delimiter[column]))
        return cell in values

    def synthetic_count(self, selection: Selection) -> int:
        """Synthetic records matching the selection: AND across columns, OR within a single-value column, AND of the
        parts of a multi-value column."""
        return sum(all(self._holds(r, c, v) for c, v in selection.items() if v) for r in self.records)

    def sql_synthetic_count(self, selection: Selection) -> int:
        """The same count as one SQL query (the second opinion)."""
        tests, params = [], []
        for column, values in selection.items():
            if column in self.delimiter:
                for value in values:
                    tests.append(f'list_contains(string_split("{column}", ?), ?)')
                    params += [self.delimiter[column], value]
            else:
                tests.append(f'"{column}" IN ({", ".join("?" for _ in values)})')
                params += values
        where = " WHERE " + " AND ".join(tests) if tests else ""
        return int(self.con.execute(f"SELECT count(*) FROM synthetic{where}", params).fetchone()[0])

    def bars(self, selection: Selection, column: str) -> Counter[str]:
        """Per value of `column`: synthetic records holding it among those matching the rest of the selection (for a
        single-value column, its own selected values set aside)."""
        rest = {c: v for c, v in selection.items() if c != column or column in self.delimiter}
        found: Counter[str] = Counter()
        for record in self.records:
            cell = record[self.columns.index(column)]
            if cell is None or not all(self._holds(record, c, v) for c, v in rest.items() if v):
                continue
            for value in cell.split(self.delimiter[column]) if column in self.delimiter else [cell]:
                found[value] += 1
        return found

    def released(self, attributes: list[tuple[str, str]]) -> tuple[Any, ...] | None:
        """(count, error columns...) of one combination in `aggregates_with_error`, None when not released; a
        multi-value part is asked by its own column (`IP_Gender_Male = '1'`)."""
        tests, params = [], []
        for column, value in attributes:
            if column in self.delimiter:
                part_column = self.part_column.get((column, value))
                if part_column is None:
                    return None
                tests.append(f'"{part_column}" = ?')
                params.append("1")
            else:
                tests.append(f'"{column}" = ?')
                params.append(value)
        error = "margin_of_error_95" if self.mode == "dp" else "lower_bound, upper_bound"
        return self.con.execute(f"SELECT count, {error} FROM aggregates_with_error WHERE length = ? AND "
                                + " AND ".join(tests), [len(attributes), *params]).fetchone()  # fmt: skip

    def frequent(self, column: str, n: int = 2) -> list[str]:
        """The `n` most frequent values (parts) of a column among the synthetic records."""
        return [v for v, _ in self.bars({}, column).most_common(n)]
