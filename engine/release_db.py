"""The release database's file name and the DuckDB calls that differ between versions (a light module: the SQL
command imports it without the counting engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import InputError

RELEASE_DB = "release.duckdb"


def release_database(release: str | Path) -> Path:
    """The database file of a release folder (or the file itself), or a clear error."""
    db = Path(release)
    if db.is_dir():
        db = db / RELEASE_DB
    if not db.is_file():
        raise InputError(f"{db}: no release database here (expected a folder written by `sdsynth aggregate`)")
    return db


def relation_arrow(relation: Any) -> Any:
    """A DuckDB relation as an Arrow table (the method's name changed in DuckDB 2)."""
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch()
