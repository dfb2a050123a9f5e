"""Drafting a schema from data (`sdsynth schema infer`).

A drafted schema lists values seen in the data, rare ones included (marked `drafted: true`), and numeric bins
computed from the data (marked `inferred: true`): it is a private working file for the data owner to review, not
something to publish. Releases never copy a drafted list or inferred edges into their public codebook.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import polars as pl

from sdsynth.read.sources import open_table
from sdsynth.schema.model import Bins, ColumnSpec, Schema

MAX_LISTED_VALUES = 200
NUMERIC_MIN_DISTINCT = 21  # fewer distinct numbers are kept as categories
DEFAULT_INFERRED_BINS = 10
IDENTIFIER_UNIQUE_SHARE = 0.9
COMMON_MISSING_TOKENS = ("?", "N", "NA", "N/A", "n/a", "null", "NULL", "None", "-")
MULTI_VALUE_DELIMITERS = (";", "|")


def infer_schema(data: Any, name: str = "", delimiter: str | None = None, max_rows: int = 1_000_000) -> Schema:
    """Draft a schema from (the first `max_rows` rows of) a table."""
    source = open_table(data, delimiter=delimiter)
    counters: list[Counter[str]] = [Counter() for _ in source.headers]
    rows = 0
    for batch in source.iter_batches():
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        if rows + frame.height > max_rows:
            frame = frame.head(max_rows - rows)
        for i, col in enumerate(frame.columns):
            vc = frame.get_column(col).str.strip_chars().value_counts()
            counters[i].update(dict(vc.iter_rows()))
        rows += frame.height
        if rows >= max_rows:
            break
    token_columns = Counter(t for c in counters for t in COMMON_MISSING_TOKENS if t in c)
    missing = tuple(sorted(t for t, n in token_columns.items() if n >= 2))
    columns = [_infer_column(h.strip(), counters[i], rows, set(missing)) for i, h in enumerate(source.headers)]
    return Schema(
        columns=tuple(columns),
        name=name,
        description="Draft inferred from data by `sdsynth schema infer`: review every column. Value lists and "
        "inferred bins come from the sensitive data; do not publish this draft as is.",
        missing_values=missing,
    )


def _infer_column(name: str, counts: Counter[str], rows: int, missing: set[str]) -> ColumnSpec:
    values = {v: n for v, n in counts.items() if v not in missing and v != ""}
    present = sum(values.values())
    distinct = len(values)
    if not values:
        return ColumnSpec(name=name, description="always empty in the data", use=False)
    if set(values) <= {"0", "1"}:
        return ColumnSpec(name=name, kind="flag", values=("1",))
    for delim in MULTI_VALUE_DELIMITERS:
        joined = sum(n for v, n in values.items() if delim in v)
        if joined >= 0.02 * present:
            parts = Counter()
            for v, n in values.items():
                for p in v.split(delim):
                    if p.strip():
                        parts[p.strip()] += n
            if len(parts) <= MAX_LISTED_VALUES:
                return ColumnSpec(
                    name=name,
                    kind="multi_value",
                    delimiter=delim,
                    values=tuple(sorted(parts)),
                    description=f"{joined} of {present} cells hold several values joined by {delim!r}",
                    drafted=True,
                )
    numbers = _as_numbers(values)
    if numbers is not None and distinct >= NUMERIC_MIN_DISTINCT:
        return ColumnSpec(
            name=name, kind="numeric", bins=_quantile_bins(numbers), description="bins inferred from data"
        )
    if distinct >= 50 and distinct >= IDENTIFIER_UNIQUE_SHARE * present:
        return ColumnSpec(
            name=name,
            use=False,
            description="looks like an identifier (nearly every value is unique); not used as an attribute",
        )
    listed = tuple(sorted(values)) if distinct <= MAX_LISTED_VALUES else None
    note = "" if listed else f"{distinct} distinct values (too many to list; consider binning or dropping)"
    return ColumnSpec(name=name, kind="categorical", values=listed, description=note, drafted=listed is not None)


def _as_numbers(values: dict[str, int]) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        nums = np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return None
    if not np.isfinite(nums).all():
        return None
    return nums, np.array(list(values.values()), dtype=np.float64)


def _quantile_bins(numbers: tuple[np.ndarray, np.ndarray], n_bins: int = DEFAULT_INFERRED_BINS) -> Bins:
    """Equal-frequency edges from the data (weighted by counts), marked as inferred."""
    values, weights = numbers
    order = np.argsort(values)
    values, weights = values[order], weights[order]
    cum = np.cumsum(weights) / weights.sum()
    qs = np.linspace(0, 1, n_bins + 1)[1:-1]
    inner = [values[min(np.searchsorted(cum, q), len(values) - 1)] for q in qs]
    edges = sorted({float(values[0]), *map(float, inner), float(values[-1])})
    if len(edges) < 2:
        edges = [edges[0], edges[0] + 1]
    if all(float(e).is_integer() for e in edges):
        edges[-1] = edges[-1] + 1  # so the top value is inside the half-open integer label range
    return Bins(edges=tuple(edges), labels=Bins.default_labels(edges), inferred=True)
