"""The privacy budget ledger: a DuckDB file that outlives releases and records every DP release of a dataset.

One accountant for every DP command (aggregate, synthesize, release, the Python API). A run takes part through
`reservation`:

    with ledger.reservation(path, dataset_id, epsilon, budget=total, command="release") as entry:
        ...                     # checks that read no sensitive data
        entry.reading()         # right before the first read of sensitive data
        ...                     # the release
        entry.complete(release_id, output=str(out), **ledger.costs_from_parameters(aggs.parameters))

* Entering reserves: inside one DuckDB transaction, holding the file's lock (DuckDB lets one read-write process
  open a file at a time; this module also serialises its own threads), it sums every entry of the dataset and
  inserts a row with status 'reserved' only if the budget still holds. Two concurrent runs cannot both pass.
* Leaving with an exception (KeyboardInterrupt and SystemExit included) *before* `reading()` withdraws the row:
  no sensitive data was read, nothing was spent. Leaving *after* `reading()` without `complete()` marks it
  'failed': it is kept and still counts, because the data was read. `complete()` marks it 'spent' with the release
  id, the zCDP costs and the output folder. A row left 'reserved' (the process was killed, or is still running)
  counts as well.

Enforced composition rule (`--budget`): **basic sequential composition**. Entries of one dataset with (ε_i, δ_i)
are together (Σε_i, Σδ_i)-DP; a reservation is refused if Σε_i + ε would exceed the budget. Every entry counts:
reserved, spent and failed. This rule is simple, conservative and valid for any sequence of mechanisms.

Reported alongside (never enforced): the **zCDP total**. Each sdsynth DP release is ρ-zCDP (its record count and
marginals) plus δ/2 spent outside zCDP (the data-dependent length-1 domain, docs/privacy.md step 6). Entries of
releases made before the record count moved inside ρ also record ε_N, its pure-DP budget (ε_N²/2-zCDP); ε_N is 0
for the others. Summed over entries, ρ_sum = Σ(ρ_i + ε_N,i²/2)-zCDP implies (ε′, δ′)-DP for any δ′ > 0, with ε′
the least ε that Canonne, Kamath & Steinke's conversion gives (protect/dp/conversion.py; at most Bun & Steinke's
ρ_sum + 2√(ρ_sum·ln(1/δ′))); adding the δ spent outside zCDP, the history is (ε′, δ′ + Σδ_out,i)-DP. It is
available only when every counted entry records ρ, ε_N and δ_out (entries written before these fields existed do
not).

Table `releases` (one row per entry; files written by older versions are migrated on their next write, their
rows count as 'spent' and have no zCDP fields):

    dataset_id VARCHAR NOT NULL, release_id VARCHAR (NULL until completed), created_at TIMESTAMP NOT NULL (UTC),
    epsilon DOUBLE NOT NULL, delta DOUBLE (NULL while unknown: δ inferred at run time), output VARCHAR,
    entry_id VARCHAR, status VARCHAR ('reserved' | 'spent' | 'failed'), command VARCHAR, completed_at TIMESTAMP,
    rho DOUBLE (ρ of the release), epsilon_record_count DOUBLE (ε_N, 0 since the count is inside ρ), delta_outside_zcdp
    DOUBLE
"""

from __future__ import annotations

import datetime as dt
import math
import random
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from sdsynth._utils.duckdb_files import connect_writable
from sdsynth.errors import BudgetExceededError, ParameterError
from sdsynth.protect.dp.conversion import zcdp_epsilon

if TYPE_CHECKING:
    from sdsynth.protect.dp.params import DpParameters


COMPOSITION = "basic sequential composition: releases with (ε_i, δ_i) are together (Σ ε_i, Σ δ_i)-DP"
ENFORCEMENT = (
    "--budget enforces the basic-composition total: a release is refused before it reads any data if Σ ε_i + ε "
    "would exceed the budget (reserved, spent and failed entries all count); the zCDP total is reported, not enforced"
)
DEFAULT_DELTA_PRIME = 1e-6  # δ′ of the zCDP → (ε, δ′)-DP conversion when none is given
LOCK_TIMEOUT = 30.0  # seconds to wait for another process to release the ledger file
STATUSES = ("reserved", "spent", "failed")  # every one of them counts against the budget
_TOLERANCE = 1e-12

_COLUMNS: dict[str, str] = {  # name → type, in table order (the first six are the original layout)
    "dataset_id": "VARCHAR NOT NULL",
    "release_id": "VARCHAR",
    "created_at": "TIMESTAMP NOT NULL",
    "epsilon": "DOUBLE NOT NULL",
    "delta": "DOUBLE",
    "output": "VARCHAR",
    "entry_id": "VARCHAR",
    "status": "VARCHAR",
    "command": "VARCHAR",
    "completed_at": "TIMESTAMP",
    "rho": "DOUBLE",
    "epsilon_record_count": "DOUBLE",
    "delta_outside_zcdp": "DOUBLE",
}
_ADDED = [c for c in _COLUMNS if c not in ("dataset_id", "release_id", "created_at", "epsilon", "delta", "output")]

# DuckDB shares one database instance per file inside a process, so its file lock does not separate threads; this
# lock does (every ledger connection of this process is opened, used and closed while holding it)
_process_lock = threading.RLock()


class LedgerBusyError(ParameterError):
    """Another process kept the ledger file open for longer than the lock timeout."""


@dataclass(frozen=True)
class Spent:
    """What a dataset has spent under basic composition (every entry counts: reserved, spent, failed)."""

    releases: int  # entries counted
    epsilon: float  # Σ ε_i
    delta: float  # Σ δ_i over the entries whose δ is recorded
    unknown_delta: int = 0  # entries whose δ is not recorded (inferred at run time, run not completed)


@dataclass(frozen=True)
class LedgerEntry:
    """One row of the ledger."""

    dataset_id: str
    entry_id: str | None
    status: str
    created_at: dt.datetime
    epsilon: float
    delta: float | None
    release_id: str | None = None
    command: str | None = None
    completed_at: dt.datetime | None = None
    rho: float | None = None
    epsilon_record_count: float | None = None
    delta_outside_zcdp: float | None = None
    output: str | None = None

    @property
    def has_zcdp(self) -> bool:
        return None not in (self.rho, self.epsilon_record_count, self.delta_outside_zcdp)

    @property
    def rho_total(self) -> float | None:
        """ρ + ε_N²/2: the entry's whole zCDP cost (ε_N: a record count measured apart, pure ε_N-DP, hence
        ε_N²/2-zCDP; 0 when it is inside ρ)."""
        if self.rho is None or self.epsilon_record_count is None:
            return None
        return self.rho + self.epsilon_record_count**2 / 2.0

    def label(self) -> str:
        name = f"release {self.release_id}" if self.release_id else f"entry {self.entry_id or '?'}"
        return f"{name} ({self.status}, {self.created_at:%Y-%m-%d %H:%M:%S} UTC)"


@dataclass(frozen=True)
class Totals:
    """Both totals of a dataset's history (see `compose`)."""

    dataset_id: str | None
    entries: int
    statuses: dict[str, int]
    epsilon: float  # basic composition: Σ ε_i ...
    delta: float  # ... and Σ δ_i (over entries whose δ is recorded)
    unknown_delta: int  # entries whose δ is not recorded: Σ δ_i leaves them out
    delta_prime: float
    rho: float | None  # zCDP: Σ (ρ_i + ε_N,i²/2), None when not available
    epsilon_zcdp: float | None  # ρ_sum + 2√(ρ_sum·ln(1/δ′))
    delta_zcdp: float | None  # δ′ + Σ δ_out,i
    delta_outside_zcdp: float | None  # Σ δ_out,i
    missing_zcdp: tuple[str, ...] = field(default=())  # entries lacking the zCDP fields (labels)

    @property
    def zcdp_available(self) -> bool:
        return self.rho is not None


# ----------------------------------------------------------------------------------------------- pure functions
def zcdp_to_dp(rho: float, delta_prime: float) -> float:
    """The least ε such that ρ-zCDP implies (ε, δ′)-DP (Canonne, Kamath & Steinke 2020: protect/dp/conversion.py;
    at most Bun & Steinke's ρ + 2√(ρ·ln(1/δ′)))."""
    if not (0 < delta_prime < 1):
        raise ParameterError(f"δ′ must be between 0 and 1 (exclusive), got {delta_prime}")
    if not (rho >= 0 and math.isfinite(rho)):
        raise ParameterError(f"ρ must be ≥ 0 and finite, got {rho}")
    return zcdp_epsilon(rho, delta_prime)


def compose(entries: Iterable[LedgerEntry], delta_prime: float = DEFAULT_DELTA_PRIME) -> Totals:
    """Both totals of the given entries (normally all entries of one dataset; every status counts).

    Basic composition: (Σ ε_i, Σ δ_i). zCDP: ρ_sum = Σ (ρ_i + ε_N,i²/2), converted to (ε, δ′)-DP, plus the δ spent
    outside zCDP: (`zcdp_to_dp`(ρ_sum, δ′), δ′ + Σ δ_out,i). The zCDP total is None ("not available") as soon
    as one entry lacks ρ, ε_N or δ_out; `missing_zcdp` names those entries."""
    rows = list(entries)
    ids = {e.dataset_id for e in rows}
    statuses: dict[str, int] = {}
    for e in rows:
        statuses[e.status] = statuses.get(e.status, 0) + 1
    epsilon = math.fsum(e.epsilon for e in rows)
    delta = math.fsum(e.delta for e in rows if e.delta is not None)
    unknown = sum(1 for e in rows if e.delta is None)
    missing = tuple(e.label() for e in rows if not e.has_zcdp)
    rho = eps_z = delta_z = delta_out = None
    if not (0 < delta_prime < 1):
        raise ParameterError(f"δ′ must be between 0 and 1 (exclusive), got {delta_prime}")
    if not missing:
        rho = math.fsum(e.rho_total or 0.0 for e in rows)
        delta_out = math.fsum(e.delta_outside_zcdp or 0.0 for e in rows)
        eps_z = zcdp_to_dp(rho, delta_prime)
        delta_z = delta_prime + delta_out
    return Totals(
        dataset_id=ids.pop() if len(ids) == 1 else None,
        entries=len(rows),
        statuses=statuses,
        epsilon=epsilon,
        delta=delta,
        unknown_delta=unknown,
        delta_prime=delta_prime,
        rho=rho,
        epsilon_zcdp=eps_z,
        delta_zcdp=delta_z,
        delta_outside_zcdp=delta_out,
        missing_zcdp=missing,
    )


def costs_from_parameters(parameters: Mapping[str, Any]) -> dict[str, float]:
    """The ledger fields of a finished DP release, from `Aggregates.parameters` (what `release_info` holds):
    δ, ρ of the release (`rho_zcdp`), ε_N spent apart from it (`epsilon_record_count`, 0 since the record count is
    measured inside ρ) and δ/2 spent outside zCDP.
    Pass them to `Reservation.complete(release_id, **costs, output=...)`."""
    try:
        delta = float(parameters["delta"])
        return {
            "delta": delta,
            "rho": float(parameters["rho_zcdp"]),
            "epsilon_record_count": float(parameters["epsilon_record_count"]),
            "delta_outside_zcdp": float(parameters.get("delta_outside_zcdp", delta / 2.0)),
        }
    except (KeyError, TypeError) as exc:
        raise ParameterError(f"not the parameters of a DP release (missing {exc})") from None


def planned_costs(dp: DpParameters) -> dict[str, float] | None:
    """The same fields before the run, computed from the parameters alone (None when δ is only known at run time).
    They equal what `costs_from_parameters` returns after the run; pass them to `reservation(...)` so that the entry
    of a run that fails after reading the data still has its zCDP costs."""
    delta = getattr(dp, "resolved_delta", dp.delta)  # δ given, or the public default where there is one
    if delta is None:
        return None
    from sdsynth.protect.dp.budget import split_budget

    split = split_budget(dp.epsilon, dp.reporting_length, dp.percentile_epsilon_proportion, dp.sigma_proportions,
                         delta, dp.number_of_records_epsilon_proportion)  # fmt: skip
    return {
        "delta": delta,
        "rho": split.rho,
        "epsilon_record_count": 0.0,  # the record count is measured inside zCDP (part of ρ)
        "delta_outside_zcdp": delta / 2.0,  # the data-dependent length-1 domain (docs/privacy.md)
    }


# ----------------------------------------------------------------------------------------------- the DuckDB file
def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("could not set lock" in text or "conflicting lock" in text)


def _open(path: Path, read_only: bool, timeout: float) -> duckdb.DuckDBPyConnection:
    """Open the file, retrying while another process holds its lock (short jittered backoff, up to `timeout` s)."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            return duckdb.connect(str(path), read_only=True) if read_only else connect_writable(path)
        except duckdb.Error as exc:
            if not _is_lock_error(exc):
                raise ParameterError(f"{path}: not a usable ledger ({str(exc).splitlines()[0]})") from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise LedgerBusyError(
                    f"{path}: the ledger is locked by another process (DuckDB lets one process at a time open it for "
                    f"writing); gave up after {timeout:g} s. Close any DuckDB session on it, or retry when the other "
                    "sdsynth run has recorded its entry"
                ) from None
            time.sleep(min(left, pause * random.uniform(0.5, 1.5)))
            pause = min(pause * 2, 0.25)


@contextmanager
def _connection(path: str | Path, read_only: bool = False, timeout: float = LOCK_TIMEOUT) -> Iterator[Any]:
    """A connection held only for the block, with this process's ledger lock held too; a write connection creates
    the table or migrates an older file first."""
    path = Path(path)
    if read_only and not path.exists():
        raise ParameterError(f"{path}: no such ledger")
    if not read_only and not path.parent.is_dir():
        raise ParameterError(f"{path}: the folder of the ledger does not exist")
    with _process_lock:
        con = _open(path, read_only, timeout)
        try:
            if not read_only:
                _migrate(con, path)
            yield con
        finally:
            con.close()


def _existing_columns(con: Any) -> dict[str, bool] | None:
    """Column name → nullable of table `releases`, or None when there is no such table."""
    rows = con.execute(
        "SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = 'releases' "
        "AND table_schema = 'main' AND table_catalog = current_database()"
    ).fetchall()
    return {str(name): nullable == "YES" for name, nullable in rows} or None


def _migrate(con: Any, path: Path) -> None:
    columns = _existing_columns(con)
    if columns is None:
        con.execute("CREATE TABLE IF NOT EXISTS releases (" + ", ".join(f"{c} {t}" for c, t in _COLUMNS.items()) + ")")
        return
    missing = [c for c in _ADDED if c not in columns]
    relax = [c for c in ("release_id", "delta") if c in columns and not columns[c]]
    if not missing and not relax:
        return
    for required in ("dataset_id", "created_at", "epsilon"):
        if required not in columns:
            raise ParameterError(f"{path}: table 'releases' lacks column {required!r}; not an sdsynth ledger")
    con.execute("BEGIN TRANSACTION")
    try:
        for c in missing:
            con.execute(f"ALTER TABLE releases ADD COLUMN {c} {_COLUMNS[c]}")
        for c in relax:  # a reservation has no release id yet, and δ may only be known at the end of the run
            con.execute(f"ALTER TABLE releases ALTER COLUMN {c} DROP NOT NULL")
        con.execute("UPDATE releases SET status = 'spent' WHERE status IS NULL")  # rows of older versions
        con.execute("UPDATE releases SET entry_id = CAST(uuid() AS VARCHAR) WHERE entry_id IS NULL")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _select(con: Any, dataset_id: str | None) -> list[LedgerEntry]:
    """Every entry (of one dataset), oldest first; reads files of older versions without migrating them."""
    columns = _existing_columns(con)
    if columns is None:
        return []
    exprs = [c if c in columns else f"NULL AS {c}" for c in _COLUMNS]
    status = "coalesce(status, 'spent')" if "status" in columns else "'spent'"
    exprs[list(_COLUMNS).index("status")] = f"{status} AS status"
    where = "WHERE dataset_id = ?" if dataset_id is not None else ""
    rows = con.execute(
        f"SELECT {', '.join(exprs)} FROM releases {where} ORDER BY dataset_id, created_at",
        [dataset_id] if dataset_id is not None else [],
    ).fetchall()
    out = []
    for row in rows:
        r = dict(zip(_COLUMNS, row, strict=True))
        out.append(LedgerEntry(**r))
    return out


def _spent_of(rows: list[LedgerEntry]) -> Spent:
    return Spent(
        len(rows),
        math.fsum(e.epsilon for e in rows),
        math.fsum(e.delta for e in rows if e.delta is not None),
        sum(1 for e in rows if e.delta is None),
    )


def _check_number(name: str, value: float | None, upper: float = math.inf) -> None:
    if value is not None and not (0 <= value < upper and math.isfinite(value)):
        raise ParameterError(f"ledger: {name} must be ≥ 0{' and < 1' if upper == 1 else ''}, got {value}")


def _refusal(dataset_id: str, before: Spent, epsilon: float, total: float) -> BudgetExceededError:
    return BudgetExceededError(
        f"dataset {dataset_id!r} has spent ε = {before.epsilon:g} in {before.releases} release(s); this release "
        f"(ε = {epsilon:g}) would bring it to {before.epsilon + epsilon:g}, above the budget {total:g} "
        "(basic composition; reserved, spent and failed entries all count)"
    )


# ----------------------------------------------------------------------------------------------- the public API
def entries(
    path: str | Path, dataset_id: str | None = None, *, lock_timeout: float = LOCK_TIMEOUT
) -> list[LedgerEntry]:
    """Every entry of the ledger (of one dataset), oldest first. An absent file has none."""
    if not Path(path).exists():
        return []
    with _connection(path, read_only=True, timeout=lock_timeout) as con:
        return _select(con, dataset_id)


def totals(
    path: str | Path, dataset_id: str, delta_prime: float = DEFAULT_DELTA_PRIME, *, lock_timeout: float = LOCK_TIMEOUT
) -> Totals:
    """`compose` over every entry of the dataset in the ledger."""
    return compose(entries(path, dataset_id, lock_timeout=lock_timeout), delta_prime)


def spent(path: str | Path, dataset_id: str, *, lock_timeout: float = LOCK_TIMEOUT) -> Spent:
    """What the dataset has spent so far under basic composition (every entry counts). Read-only: for reports and
    --dry-run; a run must reserve with `reservation`, which checks and records atomically."""
    return _spent_of(entries(path, dataset_id, lock_timeout=lock_timeout))


def check_budget(path: str | Path, dataset_id: str, epsilon: float, total: float | None) -> Spent:
    """Refuse a release that would push the dataset's cumulative ε above `total` (basic composition).

    Deprecated for runs: checking here and recording later is not atomic (two runs can both pass); use
    `reservation`. Kept for read-only previews."""
    before = spent(path, dataset_id)
    if total is not None and before.epsilon + epsilon > total + _TOLERANCE:
        raise _refusal(dataset_id, before, epsilon, total)
    return before


def record(
    path: str | Path,
    dataset_id: str,
    release_id: str,
    epsilon: float,
    delta: float,
    output: str,
    *,
    rho: float | None = None,
    epsilon_record_count: float | None = None,
    delta_outside_zcdp: float | None = None,
    command: str | None = None,
) -> None:
    """Append a finished release as 'spent' (no budget check). Deprecated for runs: use `reservation`."""
    now = _now()
    with _connection(path) as con:
        con.execute(
            f"INSERT INTO releases ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
            [dataset_id, release_id, now, epsilon, delta, output, uuid.uuid4().hex, "spent", command, now, rho,
             epsilon_record_count, delta_outside_zcdp],
        )  # fmt: skip


class Reservation:
    """An entry reserved in the ledger for one run; see `reservation`."""

    def __init__(self, path: Path, entry_id: str, dataset_id: str, epsilon: float, delta: float | None,
                 budget: float | None, before: Spent, lock_timeout: float) -> None:  # fmt: skip
        self.path = path
        self.entry_id = entry_id
        self.dataset_id = dataset_id
        self.epsilon = epsilon
        self.delta = delta
        self.budget = budget
        self.before = before  # what the dataset had spent before this entry (basic composition)
        self.state = "reserved"  # → 'reading' → 'spent' | 'failed'; or 'withdrawn'
        self._timeout = lock_timeout

    @property
    def data_read(self) -> bool:
        return self.state in ("reading", "spent", "failed")

    def reading(self) -> None:
        """Call right before the first read of sensitive data: from now on the entry is spent even if the run fails.
        Writes nothing (it cannot fail or wait)."""
        if self.state == "reserved":
            self.state = "reading"

    def complete(
        self,
        release_id: str,
        *,
        rho: float | None,
        epsilon_record_count: float | None,
        delta_outside_zcdp: float | None,
        delta: float | None = None,
        output: str | None = None,
    ) -> None:
        """Mark the entry 'spent': the release id, ρ of the marginals, ε_N of the record count, the δ spent outside
        zCDP, the δ actually used (when it was inferred at run time) and the output folder. `costs_from_parameters`
        gives rho, epsilon_record_count, delta_outside_zcdp and delta from the release's parameters."""
        if self.state in ("spent", "failed", "withdrawn"):
            raise ParameterError(f"ledger entry {self.entry_id} is already {self.state}")
        for name, value, upper in (("ρ", rho, math.inf), ("ε_N", epsilon_record_count, math.inf),
                                   ("δ outside zCDP", delta_outside_zcdp, 1.0), ("δ", delta, 1.0)):  # fmt: skip
            _check_number(name, value, upper)
        self.state = "reading"  # completing implies the data was read: a failure below keeps the entry
        with _connection(self.path, timeout=self._timeout) as con:
            found = con.execute(
                "UPDATE releases SET status = 'spent', release_id = ?, completed_at = ?, rho = ?, "
                "epsilon_record_count = ?, delta_outside_zcdp = ?, delta = coalesce(?, delta), "
                "output = coalesce(?, output) WHERE entry_id = ?",
                [release_id, _now(), rho, epsilon_record_count, delta_outside_zcdp, delta, output, self.entry_id],
            ).fetchone()
            if not found or not found[0]:  # the row was deleted by hand: the spend must still be on record
                now = _now()
                con.execute(
                    f"INSERT INTO releases ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                    [self.dataset_id, release_id, now, self.epsilon, delta if delta is not None else self.delta,
                     output, self.entry_id, "spent", None, now, rho, epsilon_record_count, delta_outside_zcdp],
                )  # fmt: skip
        self.state = "spent"
        if delta is not None:
            self.delta = delta

    def _close(self) -> None:
        """Leaving the `with` block: withdraw (no data read) or mark failed (data read, not completed)."""
        if self.state in ("spent", "failed", "withdrawn"):
            return
        with _connection(self.path, timeout=self._timeout) as con:
            if self.state == "reserved":
                con.execute("DELETE FROM releases WHERE entry_id = ? AND status = 'reserved'", [self.entry_id])
                self.state = "withdrawn"
            else:
                con.execute("UPDATE releases SET status = 'failed', completed_at = ? WHERE entry_id = ?",
                            [_now(), self.entry_id])  # fmt: skip
                self.state = "failed"


@contextmanager
def reservation(
    path: str | Path,
    dataset_id: str,
    epsilon: float,
    delta: float | None = None,
    budget: float | None = None,
    *,
    command: str | None = None,
    rho: float | None = None,
    epsilon_record_count: float | None = None,
    delta_outside_zcdp: float | None = None,
    lock_timeout: float = LOCK_TIMEOUT,
) -> Iterator[Reservation]:
    """Reserve (ε, δ) of `dataset_id` for one run, atomically against every other run (see the module docstring).

    `budget` is a total ε under **basic composition**: refused (BudgetExceededError, nothing inserted) if the
    ε of every entry of the dataset (reserved, spent and failed) plus `epsilon` would exceed it. `delta` may be
    None when it is inferred at run time (then give it to `complete`). `rho`, `epsilon_record_count` and
    `delta_outside_zcdp` may be given here when known in advance (`planned_costs`), so that a failed run keeps
    its zCDP costs. Raises LedgerBusyError when the file stays locked by another process for `lock_timeout` s.

    Before `reading()`, leaving by an exception withdraws the entry; after it, the entry is marked 'failed' and
    still counts. Leaving normally without `complete()` is treated the same way. The exception propagates."""
    if not dataset_id:
        raise ParameterError("the ledger needs a dataset id (which dataset the budget is spent on)")
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise ParameterError(f"ledger: ε must be > 0, got {epsilon}")
    if budget is not None and not (budget > 0 and math.isfinite(budget)):
        raise ParameterError(f"`budget` must be a total ε > 0, got {budget}")
    for name, value, upper in (("δ", delta, 1.0), ("ρ", rho, math.inf), ("ε_N", epsilon_record_count, math.inf),
                               ("δ outside zCDP", delta_outside_zcdp, 1.0)):  # fmt: skip
        _check_number(name, value, upper)
    path = Path(path)
    entry_id = uuid.uuid4().hex
    with _connection(path, timeout=lock_timeout) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            before = _spent_of(_select(con, dataset_id))
            if budget is not None and before.epsilon + epsilon > budget + _TOLERANCE:
                raise _refusal(dataset_id, before, epsilon, budget)
            con.execute(
                f"INSERT INTO releases ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                [dataset_id, None, _now(), epsilon, delta, None, entry_id, "reserved", command, None, rho,
                 epsilon_record_count, delta_outside_zcdp],
            )  # fmt: skip
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    entry = Reservation(path, entry_id, dataset_id, epsilon, delta, budget, before, lock_timeout)
    try:
        yield entry
    except BaseException:  # KeyboardInterrupt and SystemExit are failures too
        # keep the run's own error if the ledger cannot be updated: the row then stays 'reserved', which counts
        with suppress(Exception):
            entry._close()
        raise
    entry._close()


def history(path: str | Path, dataset_id: str | None = None) -> pl.DataFrame:
    """Every entry (of one dataset) with the cumulative ε and δ of basic composition, oldest first."""
    rows = entries(path, dataset_id) if Path(path).exists() else None
    if rows is None:
        raise ParameterError(f"{path}: no such ledger")
    frame = pl.DataFrame(
        [{c: getattr(e, c) for c in _COLUMNS} for e in rows],
        schema={
            "dataset_id": pl.Utf8, "release_id": pl.Utf8, "created_at": pl.Datetime("us"), "epsilon": pl.Float64,
            "delta": pl.Float64, "output": pl.Utf8, "entry_id": pl.Utf8, "status": pl.Utf8, "command": pl.Utf8,
            "completed_at": pl.Datetime("us"), "rho": pl.Float64, "epsilon_record_count": pl.Float64,
            "delta_outside_zcdp": pl.Float64,
        },
    )  # fmt: skip
    frame = frame.with_columns(
        pl.col("epsilon").cum_sum().over("dataset_id").alias("cumulative_epsilon"),
        pl.col("delta").fill_null(0.0).cum_sum().over("dataset_id").alias("cumulative_delta"),
    )
    return frame.select(
        "dataset_id", "created_at", "status", "release_id", "command", "epsilon", "delta", "cumulative_epsilon",
        "cumulative_delta", "rho", "epsilon_record_count", "delta_outside_zcdp", "output", "entry_id", "completed_at",
    )  # fmt: skip


@dataclass(frozen=True)
class LedgerRequest:
    """Where a DP run records its spending: `--ledger FILE --dataset-id ID [--budget E]`."""

    path: Path
    dataset_id: str
    budget: float | None = None

    @classmethod
    def from_options(
        cls, path: str | Path | None, dataset_id: str | None, budget: float | None
    ) -> LedgerRequest | None:
        """The request, or None without --ledger; one clear error for an incomplete combination."""
        if path is None:
            if budget is not None or dataset_id:
                raise ParameterError("`budget` and `dataset_id` need `ledger`")
            return None
        if not dataset_id:
            raise ParameterError("`ledger` needs `dataset_id` (which dataset the budget is spent on)")
        return cls(Path(path), dataset_id, budget)


@contextmanager
def spending(
    request: LedgerRequest | None, dp: DpParameters | None, command: str, note: Any
) -> Iterator[Reservation | None]:
    """The ledger entry of one run (None when nothing is recorded), reserved before any data is read. `note`
    prints one line for the person running the command (without a ledger: once the run has succeeded)."""
    if dp is None:
        if request is not None:
            raise ParameterError("the budget ledger records DP releases; add `dp` with `epsilon`")
        yield None
        return
    if request is None:
        yield None
        note("note: no `ledger`: this run's ε is not recorded in a budget ledger (see `ledger`, `dataset_id`)")
        return
    with reservation(request.path, request.dataset_id, dp.epsilon, budget=request.budget, command=command,
                     **(planned_costs(dp) or {})) as entry:  # fmt: skip
        before = entry.before
        entries_word = "entry" if before.releases == 1 else "entries"
        note(f"ledger: dataset {request.dataset_id!r} has spent ε = {before.epsilon:g} in {before.releases} "
             f"{entries_word}; this run adds ε = {dp.epsilon:g} ({COMPOSITION})")  # fmt: skip
        yield entry
