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

from sdsynth.read.identifiers import IdentifierLike, identifier_like
from sdsynth.read.sources import open_table
from sdsynth.schema.model import Bins, ColumnSpec, Schema

MAX_LISTED_VALUES = 200
NUMERIC_MIN_DISTINCT = 21  # fewer distinct numbers are kept as categories
DEFAULT_INFERRED_BINS = 10
CODE_MAX_DISTINCT = 64  # integers from 0, 1 or 2 with at most this many values are category codes (sex, race, region)
SPARSE_CODE_MAX_DISTINCT = 200  # integers spread thinly over a wide range (unit ids, call types) are codes too
DOMINANT_SHARE = 0.3  # a number held by this share of cells gets a bin of its own (capital-gain's 0)
COMMON_MISSING_TOKENS = ("?", "N", "NA", "N/A", "n/a", "null", "NULL", "None", "-")
MULTI_VALUE_DELIMITERS = (";", "|")
MULTI_VALUE_MIN_SHARE = 0.001  # joined cells in at least this share of cells (and 3 of them) ...
MULTI_VALUE_PARTS_SEEN = 0.5  # ... and at least half of whose parts the column also holds alone


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
    names = [h.strip() for h in source.headers]
    present = [{v: n for v, n in c.items() if v not in missing and v != ""} for c in counters]
    identifiers = {f.column: f for f in identifier_like({n: len(p) for n, p in zip(names, present, strict=True)}, rows)}
    columns = [_infer_column(name, values, identifiers.get(name)) for name, values in zip(names, present, strict=True)]
    return Schema(
        columns=tuple(columns),
        name=name,
        description="Draft inferred from data by `sdsynth schema infer`: review every column. Value lists and "
        "inferred bins come from the sensitive data; do not publish this draft as is.",
        missing_values=missing,
    )


def _infer_column(name: str, values: dict[str, int], identifier: IdentifierLike | None) -> ColumnSpec:
    """The draft of one column from its present values and their counts."""
    present = sum(values.values())
    distinct = len(values)
    if not values:
        return ColumnSpec(name=name, description="always empty in the data", use=False)
    if set(values) == {"1"}:
        return ColumnSpec(name=name, kind="flag", values=("1",), description="1 or empty: a flag")
    multi = _multi_value(name, values, present)
    if multi is not None:
        return multi
    if identifier is not None:
        return ColumnSpec(
            name=name,
            use=False,
            description=f"looks like an identifier ({distinct} distinct values in {present} cells): not an attribute "
            "(every combination including it would be unique); dropped",
        )
    numbers = _as_numbers(values)
    if numbers is not None and _is_code(numbers):
        return _categorical(name, values, codes=True)
    if numbers is not None and distinct >= NUMERIC_MIN_DISTINCT:
        bins = _quantile_bins(numbers)
        if len(bins.labels) >= 2:
            return ColumnSpec(name=name, kind="numeric", bins=bins, description="bins inferred from data",
                              sensitive_zeros="0" in values)  # fmt: skip
    return _categorical(name, values, codes=numbers is not None)


def _categorical(name: str, values: dict[str, int], codes: bool) -> ColumnSpec:
    """Values listed (drafted) when there are few enough; a `0` that is a code is declared a value, not absent."""
    distinct = len(values)
    listed = tuple(sorted(values, key=_code_order if codes else str)) if distinct <= MAX_LISTED_VALUES else None
    notes = [] if listed else [f"{distinct} distinct values (too many to list; consider binning or dropping)"]
    zero = "0" in values
    if codes:
        notes.append("integer category codes" + ("; 0 is a code, not 'absent' (sensitive_zeros)" if zero else ""))
    return ColumnSpec(name=name, kind="categorical", values=listed, description="; ".join(notes),
                      drafted=listed is not None, sensitive_zeros=zero)  # fmt: skip


def _code_order(value: str) -> tuple[float, str]:
    return float(value), value


def _is_code(numbers: tuple[np.ndarray, np.ndarray]) -> bool:
    """Integer category codes rather than a measure: few values counted from 0, 1 or 2 (sex, race, region), or
    values spread thinly over a wide range with none dominant (unit ids, call types)."""
    values, counts = numbers
    if not np.all(values == np.round(values)):
        return False
    distinct, low, span = len(values), values.min(), values.max() - values.min() + 1
    if distinct <= CODE_MAX_DISTINCT and low in (0, 1, 2) and distinct >= 0.5 * span:
        return True
    return (
        distinct <= SPARSE_CODE_MAX_DISTINCT
        and distinct <= 0.25 * span
        and counts.max() < DOMINANT_SHARE * counts.sum()
    )


def _multi_value(name: str, values: dict[str, int], present: int) -> ColumnSpec | None:
    """A column of cells joined by `;` or `|`, when enough cells are joined and their parts are values the column
    also holds alone (so `Smith; John` in a free-text column is not taken for two values)."""
    for delim in MULTI_VALUE_DELIMITERS:
        joined = {v: n for v, n in values.items() if delim in v}
        cells = sum(joined.values())
        if cells < max(3, MULTI_VALUE_MIN_SHARE * present):
            continue
        parts: Counter[str] = Counter()
        for v, n in values.items():
            for part in v.split(delim):
                if part.strip():
                    parts[part.strip()] += n
        joined_parts = {part.strip() for v in joined for part in v.split(delim) if part.strip()}
        seen_alone = sum(1 for part in joined_parts if part in values)
        if len(parts) <= MAX_LISTED_VALUES and seen_alone >= MULTI_VALUE_PARTS_SEEN * len(joined_parts):
            return ColumnSpec(
                name=name,
                kind="multi_value",
                delimiter=delim,
                values=tuple(sorted(parts)),
                description=f"{cells} of {present} cells hold several values joined by {delim!r}",
                drafted=True,
            )
    return None


def _as_numbers(values: dict[str, int]) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        nums = np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return None
    if not np.isfinite(nums).all():
        return None
    return nums, np.array(list(values.values()), dtype=np.float64)


def _quantile_bins(numbers: tuple[np.ndarray, np.ndarray], n_bins: int = DEFAULT_INFERRED_BINS) -> Bins:
    """Equal-frequency edges from the data (weighted by counts), marked as inferred; a value held by a large share
    of the cells (capital-gain's 0) gets a bin of its own instead of swallowing the others."""
    values, weights = numbers
    order = np.argsort(values)
    values, weights = values[order], weights[order]
    integral = bool(np.all(values == np.round(values)))
    top = int(np.argmax(weights))
    if weights[top] >= DOMINANT_SHARE * weights.sum() and len(values) > 2:
        own = [float(values[top]), float(values[top] + 1 if integral else np.nextafter(values[top], np.inf))]
        rest = np.ones(len(values), dtype=bool)
        rest[top] = False
        edges = {*own, *_equal_frequency_edges(values[rest], weights[rest], n_bins - 1)}
        edges = {e for e in edges if not own[0] < e < own[1]}
    else:
        edges = set(_equal_frequency_edges(values, weights, n_bins))
    ordered = sorted(edges)
    if integral:
        ordered[-1] = max(ordered[-1], float(values[-1]) + 1)  # the top value inside the last integer label range
    if len(ordered) < 2:
        ordered = [ordered[0], ordered[0] + 1]
    return Bins(edges=tuple(ordered), labels=Bins.default_labels(ordered), inferred=True)


def _equal_frequency_edges(values: np.ndarray, weights: np.ndarray, n_bins: int) -> list[float]:
    cum = np.cumsum(weights) / weights.sum()
    qs = np.linspace(0, 1, max(n_bins, 1) + 1)[1:-1]
    inner = [values[min(int(np.searchsorted(cum, q)), len(values) - 1)] for q in qs]
    return [float(values[0]), *map(float, inner), float(values[-1])]
