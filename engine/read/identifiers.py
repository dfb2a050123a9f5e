"""Identifier-like columns: a case number, an address, a date-time or an exact amount has a distinct value in a
large share of the rows, or far more values than the table's other columns. As an attribute it makes every
combination that includes it unique (nothing survives k-anonymity, DP noise swamps it) and multiplies the memory
counting needs: it should be dropped or binned before anything else. One rule for `schema infer`, the dry run and
the check before counting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from statistics import median

MIN_DISTINCT = 50  # fewer values than this is a category, whatever the number of rows
UNIQUE_SHARE = 0.5  # distinct values in half of the rows or more
OUTLIER_DISTINCT = 1000  # or at least this many values ...
OUTLIER_FACTOR = 20  # ... and this many times the median column's


@dataclass(frozen=True)
class IdentifierLike:
    """A column that looks like an identifier, and why (distinct values are rounded: this is printed)."""

    column: str
    distinct: int
    share: float  # distinct values / rows
    times_median: float  # distinct values / the median column's

    def describe(self) -> str:
        why = (f"{about(self.share * 100)} % of the rows" if self.share >= UNIQUE_SHARE
               else f"{about(self.times_median)}× the median column")  # fmt: skip
        return f"{self.column} (about {about(self.distinct):,} distinct values, {why})"


def identifier_like(distinct: Mapping[str, int], n_rows: int) -> list[IdentifierLike]:
    """The columns (name → number of distinct values) that look like identifiers in a table of `n_rows` rows: a
    distinct value in half of the rows, or over 1,000 values and 20 times the median column's."""
    if n_rows < MIN_DISTINCT or not distinct:
        return []
    out = []
    for name, count in distinct.items():
        others = [c for n, c in distinct.items() if n != name]
        typical = max(median(others), 1) if others else 1
        share, times = count / n_rows, count / typical
        if count >= MIN_DISTINCT and (share >= UNIQUE_SHARE or (count >= OUTLIER_DISTINCT and times >= OUTLIER_FACTOR)):
            out.append(IdentifierLike(name, count, share, times))
    return out


def identifier_warning(found: list[IdentifierLike]) -> str:
    """One warning naming every identifier-like column, with what to do."""
    names = "; ".join(f.describe() for f in found)
    verb = "looks like an identifier, not an attribute" if len(found) == 1 else "look like identifiers, not attributes"
    columns = ",".join(f.column for f in found)
    return (f"warning: {names} {verb}: every combination including one is unique. Drop "
            f"(`drop_columns` {columns}) or bin in the schema")  # fmt: skip


def about(x: float) -> int:
    """Two significant digits: enough to judge, not an exact count of the data."""
    if x < 100:
        return round(x)
    return int(round(x, 2 - len(str(int(x)))))
