"""The release database's file name, the one way SQL users' queries open it, and the DuckDB calls that differ between
versions (a light module: the SQL command imports it without the counting engine)."""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdsynth.errors import InputError, ParameterError

if TYPE_CHECKING:
    import duckdb


RELEASE_DB = "release.duckdb"

# What a query on a release may not do, whatever its SQL says. DuckDB applies these before the database opens, and
# `lock_configuration` rejects every later SET / RESET / PRAGMA of any option (access cannot be turned back on).
LOCKED_CONFIG: dict[str, Any] = {
    # no file, network or replacement-scan access outside the database: COPY … TO/FROM, read_csv / read_parquet /
    # read_text / read_blob / glob, ATTACH, EXPORT/IMPORT DATABASE, INSTALL, LOAD of anything not built in, secrets
    "enable_external_access": False,
    # no extension is fetched or loaded behind the user's back (e.g. httpfs for an https:// path)
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_persistent_secrets": False,
    # the Python objects on the caller's stack are not tables (external access off already blocks them)
    "python_enable_replacements": False,
    "lock_configuration": True,
}

BLOCKED_MESSAGE = (
    "sdsynth query reads only the release: file access (COPY, read_csv, ATTACH), extensions and settings are disabled"
)

_spill_lock = threading.Lock()
_spill_root: Path | None = None


def release_database(release: str | Path) -> Path:
    """The database file of a release folder (or the file itself), or a clear error."""
    db = Path(release)
    if db.is_dir():
        db = db / RELEASE_DB
    if not db.is_file():
        raise InputError(f"{db}: no release database here (expected a folder written by `sdsynth aggregate`)")
    return db


def _spill_directory(db: Path) -> str:
    """Where DuckDB spills large sorts and joins: a folder of a private (0700) temporary directory of this process,
    removed at exit, instead of DuckDB's default `release.duckdb.tmp` inside the release folder.

    DuckDB always allows access to its temporary directory, even with external access off, so a query could COPY
    into it; here that reaches only a private folder that disappears with the process. The name is the same for
    every connection to one file in this process: DuckDB shares one database instance per file and refuses a second
    connection with a different configuration."""
    global _spill_root
    with _spill_lock:
        if _spill_root is None:
            _spill_root = Path(tempfile.mkdtemp(prefix="sdsynth-query-"))
            atexit.register(shutil.rmtree, _spill_root, ignore_errors=True)
        root = _spill_root
    key = hashlib.sha256(str(db.absolute()).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return str(root / key)


def open_release_readonly(release: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-only DuckDB connection to a release (folder or `release.duckdb` file) that can read the release's own
    tables and views and nothing else: external access off and configuration locked (`LOCKED_CONFIG`).

    Every SQL typed by a user (`sdsynth query`, its notes, the explorer) opens the release through this function.
    The caller closes the connection. Blocked operations raise `duckdb.Error`s that `query_error` recognises."""
    import duckdb

    db = release_database(release)
    config = {**LOCKED_CONFIG, "temp_directory": _spill_directory(db)}
    try:
        return duckdb.connect(str(db), read_only=True, config=config)
    except duckdb.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{db}: cannot open the release database ({message})") from None


def is_blocked(exc: BaseException) -> bool:
    """Whether a DuckDB error comes from the lock of `open_release_readonly` (file access, extensions, settings)."""
    import duckdb

    permission = getattr(duckdb, "PermissionException", None)
    if permission is not None and isinstance(exc, permission):
        return True
    text = str(exc)
    return isinstance(exc, duckdb.Error) and (
        "configuration has been locked" in text or "disabled by configuration" in text
    )


def query_error(exc: BaseException) -> ParameterError:
    """One clear line for a failed query: the lock's own message for blocked operations, else `query failed`."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if is_blocked(exc):
        return ParameterError(f"{BLOCKED_MESSAGE} ({first})")
    return ParameterError(f"query failed: {first}")


def relation_arrow(relation: Any) -> Any:
    """A DuckDB relation as an Arrow table (the method's name changed in DuckDB 2)."""
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch()
