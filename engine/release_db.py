"""The release database's file name and the DuckDB calls that differ between versions (a light module: the SQL
command imports it without the counting engine)."""

from __future__ import annotations

from typing import Any

RELEASE_DB = "release.duckdb"


def relation_arrow(relation: Any) -> Any:
    """A DuckDB relation as an Arrow table (the method's name changed in DuckDB 2)."""
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch()
