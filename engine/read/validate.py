"""Checking a table against a schema (`sdsynth schema validate`): every cell the schema does not allow, and a short
report of them — grouped by column and value with row counts and first rows, the allowed value a typo most likely
meant, and a hint when a column holds joined values the schema does not declare multi-value.

>>> from sdsynth.schema.model import ColumnSpec
>>> nearest_allowed("Asai", ("Africa", "Asia", "Europe"))
'Asia'
>>> nearest_allowed("48+", ("0-29", "48 +")), nearest_allowed("30--38", ("30-38", "39-47"))
('48 +', '30-38')
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sdsynth.read.normalize import Violation, iter_normalized
from sdsynth.read.options import IngestOptions
from sdsynth.read.plan import ColumnPlan, plan_columns
from sdsynth.read.sources import open_table

FIRST_ROWS = 3
JOINED_DELIMITERS = (";", "|")


def validate_table(data: Any, options: IngestOptions) -> Iterator[Violation]:
    """Every cell the schema does not allow, in row order (structural problems raise errors instead)."""
    source = open_table(data, delimiter=options.delimiter)
    plan = plan_columns(source.headers, options, source.name)
    for nb in iter_normalized(source, plan, collect=True):
        yield from nb.violations


def _loose(value: str) -> str:
    """A value compared loosely: case, spaces and repeated dashes do not matter."""
    return re.sub(r"-+", "-", re.sub(r"\s+", "", value.lower()))


def nearest_allowed(value: str, allowed: Iterable[str]) -> str | None:
    """The allowed value a cell most likely meant: the same up to case, spaces and doubled dashes, else the closest
    spelling (difflib ratio ≥ 0.75), else None."""
    allowed = list(allowed)
    loose = {_loose(a): a for a in allowed}
    if _loose(value) in loose:
        return loose[_loose(value)]
    close = difflib.get_close_matches(value, allowed, n=1, cutoff=0.75)
    return close[0] if close else None


@dataclass
class ViolationGroup:
    """One offending value of one column: how many rows hold it, the first of them, a likely intended value."""

    column: str
    value: str
    reason: str
    rows: int = 0
    first_rows: list[int] = field(default_factory=list)
    suggestion: str | None = None

    def __str__(self) -> str:
        first = ", ".join(map(str, self.first_rows)) + (", ..." if self.rows > len(self.first_rows) else "")
        plural = "row" if self.rows == 1 else "rows"
        text = f"column {self.column!r}: {self.reason} {self.value!r} ({self.rows:,} {plural}: {first})"
        return text + (f"; did you mean {self.suggestion!r}?" if self.suggestion else "")


@dataclass
class ValidationReport:
    """Every violation of a table, grouped; `hints` say what to change in the schema."""

    file: str
    violations: int = 0
    groups: list[ViolationGroup] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)


def validation_report(data: Any, options: IngestOptions) -> ValidationReport:
    """The violations of `data` grouped by column and value (largest groups first, columns in input order)."""
    source = open_table(data, delimiter=options.delimiter)
    plan = plan_columns(source.headers, options, source.name)
    groups: dict[tuple[str, str, str], ViolationGroup] = {}
    report = ValidationReport(source.name)
    for nb in iter_normalized(source, plan, collect=True):
        for v in nb.violations:
            report.violations += 1
            group = groups.setdefault((v.column, v.value, v.reason), ViolationGroup(v.column, v.value, v.reason))
            group.rows += 1
            if len(group.first_rows) < FIRST_ROWS:
                group.first_rows.append(v.row)
    order = {c.display_name: i for i, c in enumerate(plan.columns)}
    report.groups = sorted(groups.values(), key=lambda g: (order.get(g.column, 0), -g.rows, g.value))
    for group in report.groups:
        allowed = _allowed(plan, group.column)
        if allowed:
            group.suggestion = nearest_allowed(group.value, allowed)
    report.hints = _joined_value_hints(plan, report.groups)
    return report


def _allowed(plan: ColumnPlan, column: str) -> tuple[str, ...]:
    for col in plan.columns:
        if col.display_name == column and col.spec is not None and col.spec.values is not None:
            return col.spec.values
    return ()


def _joined_value_hints(plan: ColumnPlan, groups: list[ViolationGroup]) -> list[str]:
    """Columns that are not multi-value but whose refused cells join allowed values with `;` or `|`."""
    hints = []
    for col in plan.columns:
        allowed = set(_allowed(plan, col.display_name))
        if col.multi_delimiter is not None or not allowed:
            continue
        mine = [g for g in groups if g.column == col.display_name]
        for delim in JOINED_DELIMITERS:
            joined = [g for g in mine if delim in g.value]
            parts_ok = [g for g in joined if all(nearest_allowed(p.strip(), allowed) for p in g.value.split(delim))]
            rows = sum(g.rows for g in parts_ok)
            if parts_ok:
                hints.append(
                    f"column {col.display_name!r} holds {delim!r}-joined values ({rows:,} row{'s' * (rows != 1)}): "
                    f"declare it `kind: multi_value` with `delimiter: {delim!r}` in the schema"
                )
                break
    return hints
