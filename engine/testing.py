"""Testing helpers shipped with sdsynth: brute-force oracles and Hypothesis strategies for random tables.

The oracles follow the specification literally (itertools over human-form attribute strings), so they are slow and
obviously right; the engine's kernels are checked against them. `hypothesis` is only needed for the strategies.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from .encode import EncodedData


def record_labels(data: EncodedData) -> list[list[str]]:
    """Each record as its list of human-form attributes (`header:value`), canonical order."""
    labels = data.attributes.labels
    return [[labels[i] for i in data.record(r)] for r in range(data.n_records)]


def brute_force_counts(records: Iterable[Sequence[str]], reporting_length: int) -> dict[str, int]:
    """Spec §2.1 literally: every l-subset (l = 1..R) of every record's canonically sorted attributes."""
    counts: Counter[str] = Counter()
    for rec in records:
        attrs = sorted(rec)
        for length in range(1, reporting_length + 1):
            for combo in itertools.combinations(attrs, length):
                counts[";".join(combo)] += 1
    return dict(counts)


def brute_force_records_analysis(
    records: Sequence[Sequence[str]], reporting_length: int, resolution: int
) -> tuple[list[int], list[int]]:
    """Spec §2.5 steps 1–3 with explicit record sets: (unique by shortest length, rare-only by shortest length)."""
    counts = brute_force_counts(records, reporting_length)
    unique_at = [set() for _ in range(reporting_length + 1)]
    rare_at = [set() for _ in range(reporting_length + 1)]
    for j, rec in enumerate(records):
        attrs = sorted(rec)
        for length in range(1, reporting_length + 1):
            for combo in itertools.combinations(attrs, length):
                c = counts[";".join(combo)]
                if c == 1:
                    unique_at[length].add(j)
                if c < resolution:
                    rare_at[length].add(j)
    seen_u: set[int] = set()
    seen_r: set[int] = set()
    for length in range(1, reporting_length + 1):
        unique_at[length] -= seen_u
        seen_u |= unique_at[length]
        rare_at[length] -= seen_r
        seen_r |= rare_at[length]
    all_unique = set().union(*unique_at)
    return (
        [len(unique_at[length]) for length in range(1, reporting_length + 1)],
        [len(rare_at[length] - all_unique) for length in range(1, reporting_length + 1)],
    )


def categorical_tables(
    max_rows: int = 40,
    max_columns: int = 5,
    max_values: int = 4,
    multi_value: bool = True,
    empty_share: bool = True,
) -> Any:
    """Hypothesis strategy: (polars frame of strings, {multi-value column: delimiter}).

    Values are short tokens so collisions (and thus repeated combinations) are frequent; cells may be empty or "0";
    multi-value cells join parts with ";" (sometimes with spaces around).
    """
    from hypothesis import strategies as st

    @st.composite
    def build(draw: Any) -> tuple[pl.DataFrame, dict[str, str]]:
        n_cols = draw(st.integers(1, max_columns))
        n_rows = draw(st.integers(1, max_rows))
        columns: dict[str, list[str]] = {}
        multi: dict[str, str] = {}
        for c in range(n_cols):
            name = f"c{c}"
            n_vals = draw(st.integers(1, max_values))
            values = [f"v{k}" for k in range(n_vals)]
            choices = values + ([""] if empty_share else []) + (["0"] if empty_share else [])
            is_multi = multi_value and draw(st.booleans())
            cells = []
            for _ in range(n_rows):
                if is_multi:
                    parts = draw(st.lists(st.sampled_from([*values, ""]), max_size=3))
                    sep = draw(st.sampled_from([";", "; ", " ;"]))
                    cells.append(sep.join(parts))
                else:
                    cells.append(draw(st.sampled_from(choices)))
            columns[name] = cells
            if is_multi:
                multi[name] = ";"
        return pl.DataFrame(columns, schema={k: pl.String for k in columns}), multi

    return build()
