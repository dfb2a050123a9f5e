"""The privacy budget ledger: a DuckDB file that outlives releases and records every DP release of a dataset.

Composition rule: basic sequential composition. Releases of the same dataset with (ε_i, δ_i) are together
(Σε_i, Σδ_i)-DP. It is simple and always valid (tighter accountants exist for special mechanisms, but not for a
sequence of arbitrary releases). A release is refused before any data is read if Σε_i + ε would exceed the total
budget.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from .errors import BudgetExceededError, ParameterError
from .release_db import relation_arrow

COMPOSITION = "basic sequential composition: releases with (ε_i, δ_i) are together (Σ ε_i, Σ δ_i)-DP"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS releases (
    dataset_id VARCHAR NOT NULL,
    release_id VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    epsilon DOUBLE NOT NULL,
    delta DOUBLE NOT NULL,
    output VARCHAR
)
"""


@dataclass(frozen=True)
class Spent:
    releases: int
    epsilon: float
    delta: float


def _connect(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    path = Path(path)
    if read_only and not path.exists():
        raise ParameterError(f"{path}: no such ledger")
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise ParameterError(f"{path}: not a readable ledger ({str(exc).splitlines()[0]})") from None
    if not read_only:
        con.execute(_SCHEMA)
    return con


def spent(path: str | Path, dataset_id: str) -> Spent:
    if not Path(path).exists():
        return Spent(0, 0.0, 0.0)
    con = _connect(path, read_only=True)
    try:
        row = con.execute(
            "SELECT count(*), coalesce(sum(epsilon), 0), coalesce(sum(delta), 0) FROM releases WHERE dataset_id = ?",
            [dataset_id],
        ).fetchone()
    except duckdb.CatalogException:
        return Spent(0, 0.0, 0.0)
    finally:
        con.close()
    assert row is not None
    return Spent(int(row[0]), float(row[1]), float(row[2]))


def check_budget(path: str | Path, dataset_id: str, epsilon: float, total: float | None) -> Spent:
    """Refuse a release that would push the dataset's cumulative ε above `total` (before touching any data)."""
    before = spent(path, dataset_id)
    if total is not None and before.epsilon + epsilon > total + 1e-12:
        raise BudgetExceededError(
            f"dataset {dataset_id!r} has spent ε = {before.epsilon:g} in {before.releases} release(s); this release "
            f"(ε = {epsilon:g}) would bring it to {before.epsilon + epsilon:g}, above the budget {total:g}"
        )
    return before


def record(path: str | Path, dataset_id: str, release_id: str, epsilon: float, delta: float, output: str) -> None:
    con = _connect(path)
    try:
        con.execute(
            "INSERT INTO releases VALUES (?, ?, ?, ?, ?, ?)",
            [dataset_id, release_id, dt.datetime.now(dt.UTC).replace(tzinfo=None), epsilon, delta, output],
        )
    finally:
        con.close()


def history(path: str | Path, dataset_id: str | None = None) -> pl.DataFrame:
    con = _connect(path, read_only=True)
    try:
        where = "WHERE dataset_id = ?" if dataset_id else ""
        sql = (
            "SELECT dataset_id, release_id, created_at, epsilon, delta, "
            "sum(epsilon) OVER history AS cumulative_epsilon, sum(delta) OVER history AS cumulative_delta, "
            f"output FROM releases {where} "
            "WINDOW history AS (PARTITION BY dataset_id ORDER BY created_at ROWS UNBOUNDED PRECEDING) "
            "ORDER BY dataset_id, created_at"
        )
        frame = pl.from_arrow(relation_arrow(con.sql(sql, params=[dataset_id] if dataset_id else None)))
    finally:
        con.close()
    assert isinstance(frame, pl.DataFrame)
    return frame
