"""DuckDB files that outlive the DuckDB that wrote them.

A release and a budget ledger are opened for years, by whatever DuckDB a user's tool bundles. A new DuckDB writes
its newest storage format by default, which older versions refuse ("database file with version number …"); files
created here use the storage format of DuckDB 1.1, which every DuckDB since 1.1 reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

# the oldest DuckDB that reads what sdsynth writes (stated in the README; a test checks the file's header)
STORAGE_COMPATIBILITY = "v1.1.0"
# the storage version number that format writes into the file's header (DuckDB 1.0 to 1.4 read it)
STORAGE_VERSION_NUMBER = 64


def connect_writable(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-write connection; a file it creates is in the storage format of `STORAGE_COMPATIBILITY` (an existing
    file keeps its own)."""
    import duckdb

    return duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_COMPATIBILITY})


def storage_version_number(path: Path) -> int:
    """The storage version number in a DuckDB file's header (bytes 12–19 after the `DUCK` magic at 8–11)."""
    with Path(path).open("rb") as fh:
        header = fh.read(20)
    if header[8:12] != b"DUCK":
        raise ValueError(f"{path}: not a DuckDB database file")
    return int.from_bytes(header[12:20], "little")


def sql_identifier(name: str) -> str:
    """A table or column name quoted for SQL (any text, double quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: str) -> str:
    """A text literal for SQL (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"
