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

from sdsynth.encode.records import EncodedData


def record_labels(data: EncodedData) -> list[list[str]]:
    """Each record as its list of human-form attributes (`header:value`), canonical order."""
    labels = data.attributes.labels
    return [[labels[i] for i in data.record(r)] for r in range(data.n_records)]


def brute_force_counts(records: Iterable[Sequence[str]], reporting_length: int) -> dict[str, int]:
    """docs/method.md, "Counting" literally: every l-subset (l = 1..R) of every record's canonically sorted
    attributes."""
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
    """docs/method.md, "Records analysis" steps 1–3 with explicit record sets: (unique by shortest length, rare-only by
    shortest length)."""
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


# ------------------------------------------------------------------------------------- neighbouring-dataset audit
# Release fields that may differ between two neighbouring inputs because they are noisy outputs (DP) or rows and
# figures computed from the released rows; everything else a release holds must be identical.
DP_NOISY_INFO = frozenset({
    "record_count", "released_combinations", "synthetic_records", "release_id", "synthesis_streamed",
    "sampling_law", "sampling_law_chosen_by", "reporting_length_signals", "released_column_pairs",
})  # fmt: skip
DP_NOISY_LEVEL_COLUMNS = frozenset({"sensitivity", "noise_sd", "threshold", "candidates", "released_combinations"})
KANON_ROW_INFO = frozenset({
    "released_combinations", "synthetic_records", "release_id", "synthesis_streamed", "sampling_law",
    "sampling_law_chosen_by",
})  # fmt: skip
KANON_ROW_LEVEL_COLUMNS = frozenset({"released_combinations"})
_ROW_TABLES = frozenset({"aggregates", "synthetic", "evaluation"})  # rows may differ, their columns may not


def public_differences(
    a: Any, b: Any, noisy_info: frozenset[str] = DP_NOISY_INFO, noisy_levels: frozenset[str] = DP_NOISY_LEVEL_COLUMNS
) -> list[str]:
    """Every field of two public release folders that differs although it is not a noisy output.

    The neighbouring-dataset audit: release two inputs that differ in one record; a public field that differs
    between them and is not noise (or derived only from released rows) reveals that record. Aggregate and synthetic
    rows, file hashes and sizes, and the keys in `noisy_info` (release_info, manifest) and `noisy_levels`
    (release_levels columns) may differ; file lists, column lists and positions, codebooks, bounds, names and every
    other parameter may not. The report is compared with its numbers and the drawing of its charts masked."""
    import json
    from pathlib import Path

    import duckdb
    import pyarrow.parquet as pq

    a, b = Path(a), Path(b)
    found: list[str] = []
    names_a = sorted(p.relative_to(a).as_posix() for p in a.rglob("*"))
    names_b = sorted(p.relative_to(b).as_posix() for p in b.rglob("*"))
    if names_a != names_b:
        found.append(f"file lists differ: {sorted(set(names_a) ^ set(names_b))}")
    for name in sorted(set(names_a) & set(names_b)):
        fa, fb = a / name, b / name
        if fa.is_dir():
            continue
        if name.endswith(".parquet"):
            if pq.read_schema(fa) != pq.read_schema(fb):
                found.append(f"{name}: columns differ")
        elif name in ("aggregates.tsv", "synthetic.csv"):
            if fa.read_text().split("\n", 1)[0] != fb.read_text().split("\n", 1)[0]:
                found.append(f"{name}: header differs")
        elif name == "manifest.json":
            found += _manifest_differences(json.loads(fa.read_text()), json.loads(fb.read_text()), noisy_info)
        elif name == "explore.html":
            found += _explorer_differences(fa.read_text(), fb.read_text(), noisy_info, noisy_levels)
        elif name.endswith(".html"):
            if _masked_html(fa.read_text()) != _masked_html(fb.read_text()):
                found.append(f"{name}: differs beyond its numbers")
        elif name.endswith(".duckdb"):
            found += _database_differences(duckdb, fa, fb, noisy_info, noisy_levels)
        elif fa.read_bytes() != fb.read_bytes():
            found.append(f"{name}: differs")
    return found


def _masked_html(text: str) -> str:
    """A report with its numbers masked and each chart reduced to its place: charts are drawn from the released
    (noisy) counts, so which bars they show and in what order follows the noise."""
    import re

    text = re.sub(r"<svg\b.*?</svg>", "<svg/>", text, flags=re.DOTALL)
    return re.sub(r"-?\d[\d,.]*(e-?\d+)?", "#", text)


def _explorer_differences(a: str, b: str, noisy_info: frozenset[str], noisy_levels: frozenset[str]) -> list[str]:
    """The explorer page: its code must be identical; of its data, what comes from released rows (values, counts,
    synthetic rows, which of them are embedded) may differ, the columns and the non-noisy parameters may not."""
    from sdsynth.explore import page_data

    found = []
    da, db = page_data(a), page_data(b)
    if _without_data(a) != _without_data(b):
        found.append("explore.html: the page differs beyond its data")
    level_keys = {"sd": "noise_sd", "margin": "noise_sd", "resolution": "resolution"}

    def public(d: dict[str, Any]) -> dict[str, Any]:
        return {
            "format": d.get("format"),
            "mode": d.get("mode"),
            "reporting_length": d.get("reporting_length"),
            "record_count": None if "record_count" in noisy_info else d.get("record_count"),
            "record_count_error": d.get("record_count_error"),
            "levels": {n: {k: v for k, v in level.items() if level_keys.get(k, k) not in noisy_levels}
                       for n, level in d.get("levels", {}).items()},
            "parameters": {k: v for k, v in d.get("parameters", {}).items() if k not in noisy_info},
            "columns": [(c["name"], c["description"], c["delimiter"]) for c in d.get("columns", [])],
        }  # fmt: skip

    pa, pb = public(da), public(db)
    found += [f"explore.html: {k} differs" for k in sorted(pa) if pa[k] != pb[k]]
    return found


def _without_data(text: str) -> str:
    import re

    return re.sub(r'(<script type="application/json" id="release-data">).*?(</script>)', r"\1\2", text, flags=re.S)


def _manifest_differences(ma: dict[str, Any], mb: dict[str, Any], noisy: frozenset[str]) -> list[str]:
    def public(m: dict[str, Any]) -> dict[str, Any]:
        m = dict(m)
        m["files"] = sorted(m.get("files", {}))  # sizes and hashes follow the noisy contents
        m["parameters"] = {k: v for k, v in m.get("parameters", {}).items() if k not in noisy}
        m["synthesis"] = {k: v for k, v in m.get("synthesis", {}).items() if k not in ("records", *noisy)}
        return {k: v for k, v in m.items() if k not in noisy}

    pa, pb = public(ma), public(mb)
    return [f"manifest.json: {k} differs" for k in sorted(set(pa) | set(pb)) if pa.get(k) != pb.get(k)]


def _database_differences(
    duckdb: Any, fa: Any, fb: Any, noisy_info: frozenset[str], noisy_levels: frozenset[str]
) -> list[str]:
    found: list[str] = []
    con_a = duckdb.connect(str(fa), read_only=True)
    con_b = duckdb.connect(str(fb), read_only=True)
    try:

        def both(sql: str) -> tuple[list[Any], list[Any]]:
            return con_a.execute(sql).fetchall(), con_b.execute(sql).fetchall()

        tables_a, tables_b = both("SELECT table_name, table_type FROM information_schema.tables ORDER BY 1")
        if tables_a != tables_b:
            return [f"{fa.name}: tables differ"]
        comments = (
            "SELECT table_name, comment FROM duckdb_tables() UNION ALL SELECT view_name, comment FROM duckdb_views() "
            "WHERE NOT internal UNION ALL SELECT table_name || '.' || column_name, comment FROM duckdb_columns() "
            "WHERE NOT internal ORDER BY ALL"
        )
        comments_a, comments_b = both(comments)
        if comments_a != comments_b:
            found.append(f"{fa.name}: comments differ")
        for table, _ in tables_a:
            quoted = '"' + table.replace('"', '""') + '"'
            cols_a, cols_b = both(f"SELECT column_name, data_type FROM information_schema.columns "
                                  f"WHERE table_name = '{table}' ORDER BY ordinal_position")  # fmt: skip
            if cols_a != cols_b:
                found.append(f"{fa.name}: columns of {table} differ")
                continue
            if table in _ROW_TABLES or table.startswith("aggregates"):
                continue
            if table in ("release_info", "release_parameters"):
                sql = "SELECT key, value FROM release_info" if table == "release_info" else "SELECT * FROM " + quoted
                if table == "release_info":
                    info_a, info_b = (dict(rows) for rows in both(sql))
                else:
                    names = [c for c, _ in cols_a]
                    info_a, info_b = (dict(zip(names, rows[0], strict=True)) for rows in both(sql))
                for key in sorted(set(info_a) | set(info_b)):
                    if key not in noisy_info and info_a.get(key) != info_b.get(key):
                        found.append(f"{fa.name}: {table}.{key} differs")
                continue
            keep = [c for c, _ in cols_a if not (table == "release_levels" and c in noisy_levels)]
            select = ", ".join('"' + c.replace('"', '""') + '"' for c in keep)
            rows_a, rows_b = both(f"SELECT {select} FROM {quoted} ORDER BY ALL")
            if rows_a != rows_b:
                found.append(f"{fa.name}: {table} differs")
    finally:
        con_a.close()
        con_b.close()
    return found
