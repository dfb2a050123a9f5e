"""The budget ledger: reservations (withdrawn, failed, spent), the budget check across processes and threads, the
migration of old ledger files, both totals (basic composition and zCDP) and `sdsynth budget show`."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from sdsynth._utils.context import RunContext
from sdsynth.cli.main import app
from sdsynth.errors import BudgetExceededError, ParameterError
from sdsynth.protect import ledger
from sdsynth.protect.dp.conversion import zcdp_delta, zcdp_epsilon, zcdp_rho
from sdsynth.protect.ledger import LedgerEntry

COSTS_A = {"rho": 0.1, "epsilon_record_count": 0.02, "delta_outside_zcdp": 5e-7}
COSTS_B = {"rho": 0.2, "epsilon_record_count": 0.04, "delta_outside_zcdp": 1e-6}


def _rows(path: Path) -> list[tuple]:  # type: ignore[type-arg]
    con = duckdb.connect(str(path), read_only=True)
    try:
        sql = "SELECT dataset_id, status, epsilon, release_id FROM releases ORDER BY created_at"
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _release(path: Path, dataset: str, epsilon: float, release_id: str, costs: dict[str, float],
             budget: float | None = None, delta: float = 1e-6) -> None:  # fmt: skip
    with ledger.reservation(path, dataset, epsilon, delta, budget, command="test") as entry:
        entry.reading()
        entry.complete(release_id, output=f"out-{release_id}", **costs)


def test_reserve_complete_spent_and_totals(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    with ledger.reservation(path, "ctdc", 1.5, budget=4, command="release") as entry:
        assert entry.before == ledger.Spent(0, 0.0, 0.0)
        assert _rows(path) == [("ctdc", "reserved", 1.5, None)]  # visible to others at once, counts already
        assert ledger.spent(path, "ctdc").epsilon == 1.5
        entry.reading()
        entry.complete("r1", delta=2e-6, output="pub", **COSTS_A)  # δ inferred at run time, given at the end
    assert entry.state == "spent"
    _release(path, "ctdc", 2.0, "r2", COSTS_B, budget=4)
    _release(path, "other", 9.0, "r3", COSTS_A)
    assert _rows(path) == [("ctdc", "spent", 1.5, "r1"), ("ctdc", "spent", 2.0, "r2"), ("other", "spent", 9.0, "r3")]
    assert ledger.spent(path, "ctdc") == ledger.Spent(2, 3.5, 3e-6, 0)
    first, _ = ledger.entries(path, "ctdc")
    assert (first.delta, first.output, first.command, first.rho) == (2e-6, "pub", "release", 0.1)
    assert first.completed_at is not None and first.completed_at >= first.created_at
    t = ledger.totals(path, "ctdc")
    assert (t.entries, t.statuses, t.epsilon, t.delta) == (2, {"spent": 2}, 3.5, 3e-6)
    assert t.zcdp_available and t.rho == pytest.approx(0.301, rel=1e-12)
    frame = ledger.history(path)
    assert frame["cumulative_epsilon"].to_list() == [1.5, 3.5, 9.0]
    assert frame["status"].to_list() == ["spent"] * 3


def test_budget_refusal_inserts_nothing_and_runs_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    _release(path, "ctdc", 2.0, "r1", COSTS_A, budget=3)
    ran = False
    with (
        pytest.raises(BudgetExceededError, match=r"would bring it to 4, above the budget 3"),
        ledger.reservation(path, "ctdc", 2.0, budget=3),
    ):
        ran = True
    assert not ran
    assert _rows(path) == [("ctdc", "spent", 2.0, "r1")]
    _release(path, "ctdc", 1.0, "r2", COSTS_A, budget=3)  # exactly the budget still fits
    with pytest.raises(BudgetExceededError):
        ledger.check_budget(path, "ctdc", 0.01, 3)  # the read-only check agrees
    _release(path, "elsewhere", 3.0, "r3", COSTS_A, budget=3)  # budgets are per dataset


@pytest.mark.parametrize("interrupt", [RuntimeError, KeyboardInterrupt, SystemExit])
def test_failure_before_reading_withdraws_after_reading_keeps_a_failed_entry(
    tmp_path: Path, interrupt: type[BaseException]
) -> None:
    path = tmp_path / "ledger.duckdb"
    with pytest.raises(interrupt), ledger.reservation(path, "ctdc", 2.0, budget=3) as entry:
        raise interrupt()
    assert entry.state == "withdrawn" and _rows(path) == []
    with pytest.raises(interrupt), ledger.reservation(path, "ctdc", 2.0, budget=3) as entry:
        entry.reading()
        raise interrupt()
    assert entry.state == "failed" and _rows(path) == [("ctdc", "failed", 2.0, None)]
    # the failed run read the data: its ε still counts
    with (
        pytest.raises(BudgetExceededError, match="above the budget 3"),
        ledger.reservation(path, "ctdc", 2.0, budget=3),
    ):
        pass
    assert ledger.spent(path, "ctdc").epsilon == 2.0


def test_leaving_without_complete(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    with ledger.reservation(path, "ctdc", 1.0) as entry:
        pass  # stopped before reading (e.g. a dry run): nothing spent
    assert entry.state == "withdrawn" and _rows(path) == []
    with ledger.reservation(path, "ctdc", 1.0) as entry:
        entry.reading()
    assert entry.state == "failed" and _rows(path) == [("ctdc", "failed", 1.0, None)]
    with pytest.raises(ParameterError, match="already failed"):
        entry.complete("late", **COSTS_A)


def test_planned_costs_of_a_failed_run_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    with pytest.raises(RuntimeError), ledger.reservation(path, "ctdc", 1.0, 1e-6, **COSTS_A) as entry:
        entry.reading()
        raise RuntimeError
    (failed,) = ledger.entries(path)
    assert failed.status == "failed" and failed.has_zcdp
    assert ledger.totals(path, "ctdc").zcdp_available


_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from sdsynth.protect import ledger
    from sdsynth.errors import BudgetExceededError

    path, go = sys.argv[1], Path(sys.argv[2])
    slow = ledger._spent_of

    def slow_spent_of(rows):  # widen the window between the check and the insert
        time.sleep(0.4)
        return slow(rows)

    ledger._spent_of = slow_spent_of
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    try:
        with ledger.reservation(path, "ctdc", 2.0, 1e-6, budget=3) as entry:
            entry.reading()
            entry.complete("r", rho=0.1, epsilon_record_count=0.01, delta_outside_zcdp=5e-7)
    except BudgetExceededError:
        print("refused")
    else:
        print("passed")
    """
)


def test_two_processes_cannot_both_pass_the_budget(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    ledger.record(path, "ctdc", "old", 0.5, 1e-6, "x")  # the file exists, so both children race on opening it
    go = tmp_path / "go"
    children = [
        subprocess.Popen([sys.executable, "-c", _CHILD, str(path), str(go)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for child in children:  # both have imported sdsynth: start them together
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    go.touch()
    outputs = sorted(child.communicate(timeout=60)[0].strip() for child in children)
    assert outputs == ["passed", "refused"]
    assert sorted(r[1] for r in _rows(path)) == ["spent", "spent"]
    assert ledger.spent(path, "ctdc").epsilon == 2.5


def test_two_threads_cannot_both_pass_the_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ledger.duckdb"
    original = ledger._spent_of

    def slow(rows: list[LedgerEntry]) -> ledger.Spent:
        time.sleep(0.2)
        return original(rows)

    monkeypatch.setattr(ledger, "_spent_of", slow)
    results: list[str] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            with ledger.reservation(path, "ctdc", 2.0, budget=3) as entry:
                entry.reading()  # kept, not withdrawn, whatever the other thread does
                results.append("passed")
        except BudgetExceededError:
            results.append("refused")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == ["passed", "refused"]


def test_a_locked_file_is_retried_then_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    ledger.record(path, "ctdc", "old", 0.5, 1e-6, "x")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
         "time.sleep(1.5); c.close()", str(path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    began = time.monotonic()
    with (
        pytest.raises(ledger.LedgerBusyError, match=rf"{path.name}: the ledger is locked by another process"),
        ledger.reservation(path, "ctdc", 1.0, lock_timeout=0.3),
    ):
        pass
    assert time.monotonic() - began < 1.2
    with ledger.reservation(path, "ctdc", 1.0, lock_timeout=20) as entry:  # waits for the holder, then passes
        entry.reading()
        entry.complete("r", **COSTS_A)
    holder.communicate(timeout=20)
    assert ledger.spent(path, "ctdc").releases == 2


def _old_ledger(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE releases (dataset_id VARCHAR NOT NULL, release_id VARCHAR NOT NULL, created_at TIMESTAMP NOT "
        "NULL, epsilon DOUBLE NOT NULL, delta DOUBLE NOT NULL, output VARCHAR)"
    )
    con.execute(
        "INSERT INTO releases VALUES ('ctdc', 'old1', TIMESTAMP '2025-01-01 10:00:00', 1.0, 1e-6, 'o1'), "
        "('ctdc', 'old2', TIMESTAMP '2025-02-01 10:00:00', 0.5, 2e-6, 'o2')"
    )
    con.close()


def test_migration_of_an_old_ledger(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _old_ledger(path)
    before = ledger.entries(path)  # read-only: works on the old layout without migrating it
    assert [(e.status, e.release_id, e.rho) for e in before] == [("spent", "old1", None), ("spent", "old2", None)]
    assert ledger.spent(path, "ctdc") == ledger.Spent(2, 1.5, 3e-6, 0)
    with (
        pytest.raises(BudgetExceededError, match=r"would bring it to 3\.5, above the budget 3"),
        ledger.reservation(path, "ctdc", 2.0, budget=3),
    ):
        pass
    with ledger.reservation(path, "ctdc", 1.5, budget=3) as entry:  # δ unknown until the end
        assert _rows(path)[-1] == ("ctdc", "reserved", 1.5, None)  # release_id and δ are nullable now
        entry.reading()
        entry.complete("new", delta=1e-6, **COSTS_A)
    rows = ledger.entries(path, "ctdc")
    assert [(e.release_id, e.status, e.has_zcdp) for e in rows] == [
        ("old1", "spent", False), ("old2", "spent", False), ("new", "spent", True)
    ]  # fmt: skip
    assert all(e.entry_id for e in rows) and len({e.entry_id for e in rows}) == 3
    assert rows[0].created_at == dt.datetime(2025, 1, 1, 10)
    con = duckdb.connect(str(path), read_only=True)
    columns = [r[0] for r in con.execute("DESCRIBE releases").fetchall()]
    con.close()
    assert columns[:6] == ["dataset_id", "release_id", "created_at", "epsilon", "delta", "output"]
    assert {"status", "entry_id", "rho", "epsilon_record_count", "delta_outside_zcdp"} <= set(columns)
    t = ledger.totals(path, "ctdc")
    assert t.epsilon == 3.0 and not t.zcdp_available and t.rho is None and t.epsilon_zcdp is None
    assert len(t.missing_zcdp) == 2 and "release old1 (spent" in t.missing_zcdp[0]


def test_zcdp_total_matches_a_hand_computation() -> None:
    when = dt.datetime(2026, 1, 1)
    a = LedgerEntry("d", "a", "spent", when, 1.0, 1e-6, "ra", **COSTS_A)
    b = LedgerEntry("d", "b", "failed", when, 2.0, 2e-6, None, **COSTS_B)
    t = ledger.compose([a, b], delta_prime=1e-6)
    # ρ_sum = 0.1 + 0.02²/2 + 0.2 + 0.04²/2 = 0.301; ε: the least whose CKS bound is δ′ (Bun–Steinke: 4.3795)
    assert t.rho == pytest.approx(0.301, rel=1e-12)
    assert t.epsilon_zcdp == pytest.approx(zcdp_epsilon(0.301, 1e-6), rel=1e-12)
    assert zcdp_delta(0.301, t.epsilon_zcdp) == pytest.approx(1e-6, rel=1e-6)
    assert t.epsilon_zcdp < 0.301 + 2 * math.sqrt(0.301 * math.log(1e6)) == pytest.approx(4.379464749362066)
    assert t.delta_zcdp == pytest.approx(1e-6 + 5e-7 + 1e-6, rel=1e-12)
    assert t.delta_outside_zcdp == pytest.approx(1.5e-6, rel=1e-12)
    assert (t.epsilon, t.delta, t.statuses) == (3.0, pytest.approx(3e-6), {"spent": 1, "failed": 1})
    looser = ledger.compose([a, b], delta_prime=1e-9)
    assert t.epsilon_zcdp < looser.epsilon_zcdp < 0.301 + 2 * math.sqrt(0.301 * math.log(1e9))
    assert ledger.zcdp_to_dp(0.5, 1e-5) == pytest.approx(zcdp_epsilon(0.5, 1e-5))
    with pytest.raises(ParameterError, match="δ′"):
        ledger.compose([a], delta_prime=0)


def test_zcdp_total_not_available_when_an_entry_lacks_fields() -> None:
    when = dt.datetime(2026, 1, 1)
    full = LedgerEntry("d", "a", "spent", when, 1.0, 1e-6, "ra", **COSTS_A)
    old = LedgerEntry("d", "b", "spent", when, 1.0, 1e-6, "rb")
    partial = LedgerEntry("d", "c", "spent", when, 1.0, 1e-6, "rc", rho=0.1, epsilon_record_count=0.01)
    for rows in ([full, old], [full, partial], [old]):
        t = ledger.compose(rows)
        assert not t.zcdp_available
        assert (t.rho, t.epsilon_zcdp, t.delta_zcdp) == (None, None, None)
        assert t.epsilon == float(len(rows))  # the basic total is always there
    assert ledger.compose([full, old]).missing_zcdp == ("release rb (spent, 2026-01-01 00:00:00 UTC)",)


@pytest.mark.parametrize("delta", [1e-5, None])
def test_costs_of_a_real_dp_release_match_the_planned_costs(delta: float | None) -> None:
    from sdsynth.encode.tables import encode
    from sdsynth.protect.dp.marginals import dp_marginals
    from sdsynth.protect.dp.params import DpParameters
    from sdsynth.protect.dp.random import DpRandom

    params = DpParameters(epsilon=1.3, reporting_length=2, delta=delta)
    planned = ledger.planned_costs(params)
    if planned is None:  # δ inferred from the noisy record count: known only after the run
        assert delta is None and not hasattr(params, "resolved_delta")
    rng = np.random.default_rng(1)
    data = encode(pl.DataFrame({c: rng.choice(["x", "y", "z"], size=300).tolist() for c in "ABC"}))
    aggs = dp_marginals(data, params, RunContext(threads=1), rng=DpRandom._seeded_for_tests(3, 2)).aggregates
    costs = ledger.costs_from_parameters(aggs.parameters)
    if planned is not None:
        assert costs == pytest.approx(planned, rel=1e-15)
    assert costs["delta_outside_zcdp"] == costs["delta"] / 2
    assert costs["epsilon_record_count"] == 0.0  # the record count is measured inside ρ
    assert aggs.parameters["rho_record_count"] == pytest.approx(0.005 * costs["rho"], rel=1e-15)
    if delta is not None:
        assert costs["delta"] == delta
    with pytest.raises(ParameterError, match="not the parameters of a DP release"):
        ledger.costs_from_parameters({"mode": "k-anonymity"})


def test_legacy_record_and_check_budget_still_work(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    assert ledger.check_budget(path, "ctdc", 2.0, 3) == ledger.Spent(0, 0.0, 0.0)  # no file yet
    ledger.record(path, "ctdc", "r1", 2.0, 1e-6, "pub")
    assert ledger.check_budget(path, "ctdc", 1.0, 3).epsilon == 2.0
    with pytest.raises(BudgetExceededError, match="would bring it to 4, above the budget 3"):
        ledger.check_budget(path, "ctdc", 2.0, 3)
    assert _rows(path) == [("ctdc", "spent", 2.0, "r1")]


def _show(*args: str | Path) -> str:
    result = CliRunner().invoke(app, ["budget", "show", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.output


def test_budget_show_prints_both_totals_and_what_budget_enforces(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    _release(path, "ctdc", 1.0, "ra", COSTS_A)
    _release(path, "ctdc", 2.0, "rb", COSTS_B, delta=2e-6)
    text = _show("--ledger", path)
    assert "basic-composition total (enforced by --budget): ε = Σ ε_i = 3, δ = Σ δ_i = 3e-06" in text
    assert "ρ = Σ (ρ_i + ε_N,i²/2) = 0.301" in text
    assert (
        f"ε = {zcdp_epsilon(0.301, 1e-6):.6g} at δ′ = 1e-06 (Canonne–Kamath–Steinke), δ = δ′ + Σ δ_out,i = 2.5e-06"
        in text
    )
    assert "--budget enforces the basic-composition total" in text and "Σ ε_i" in text
    assert "ra" in text and "spent" in text
    other = _show("--ledger", path, "--delta-prime", "1e-9")
    assert f"ε = {zcdp_epsilon(0.301, 1e-9):.6g} at δ′ = 1e-09" in other
    assert "no entries" in _show("--ledger", path, "--dataset-id", "nothing")
    bad = CliRunner().invoke(app, ["budget", "show", "--ledger", str(path), "--delta-prime", "1.5"])
    assert bad.exit_code == 2 and "δ′ must be between 0 and 1" in bad.output
    missing = CliRunner().invoke(app, ["budget", "show", "--ledger", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 2 and "no such ledger" in missing.output


def test_budget_show_says_why_the_zcdp_total_is_not_available(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _old_ledger(path)
    _release(path, "ctdc", 1.0, "new", COSTS_A)
    _release(path, "fresh", 1.0, "f1", COSTS_A)
    text = _show("--ledger", path)
    assert "ε = Σ ε_i = 2.5" in text
    assert "zCDP total: not available — 2 entries lack ρ, ε_N or δ_out" in text
    assert "release old1 (spent, 2025-01-01 10:00:00 UTC): recorded without ρ, ε_N and δ_out" in text
    # the other dataset has every field: its zCDP total is given
    fresh = text[text.index("dataset 'fresh'") :]
    assert "zCDP total (reported, not enforced): ρ = Σ (ρ_i + ε_N,i²/2) = 0.1002" in fresh
    assert "not available" not in fresh


# ------------------------------------------------------------------------------- every DP command, through the CLI
def _cases(folder: Path, bad_last_row: bool = False) -> Path:
    from sdsynth.sample_data import generate_ctdc

    frame = generate_ctdc(1500, seed=4)
    if bad_last_row:  # a value the schema refuses, met only after reading has started
        frame = frame.with_row_index("i").with_columns(
            pl.when(pl.col("i") == frame.height - 1).then(pl.lit("Atlantis")).otherwise(pl.col("UN_COE_Region"))
            .alias("UN_COE_Region")
        ).drop("i")  # fmt: skip
    path = folder / ("bad.csv" if bad_last_row else "cases.csv")
    frame.write_csv(path)
    return path


@pytest.mark.parametrize("command", ["aggregate", "synthesize"])
def test_dp_commands_record_their_spending_with_zcdp_costs(tmp_path: Path, command: str) -> None:
    book = tmp_path / "budget.duckdb"
    args = [command, str(_cases(tmp_path)), "--schema", "ctdc-victim-perpetrator", "--dp", "--epsilon", "1.5",
            "-r", "2", "--ledger", str(book), "--dataset-id", "ctdc", "--out", str(tmp_path / "o")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (entry,) = ledger.entries(book)
    assert (entry.command, entry.status, entry.epsilon) == (command, "spent", 1.5)
    assert entry.rho == pytest.approx(zcdp_rho(1.5, 1e-6 / 2))
    assert entry.epsilon_record_count == 0.0
    assert entry.delta_outside_zcdp == pytest.approx(entry.delta / 2)
    refused = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "o2"), "--budget", "2"])
    assert refused.exit_code == 2 and "budget" in refused.output and not (tmp_path / "o2").exists()
    assert len(ledger.entries(book)) == 1


def test_a_run_that_fails_after_reading_keeps_a_failed_entry_and_before_reading_none(tmp_path: Path) -> None:
    book = tmp_path / "budget.duckdb"
    base = ["aggregate", "--schema", "ctdc-victim-perpetrator", "--dp", "--epsilon", "1", "--ledger", str(book),
            "--dataset-id", "ctdc"]  # fmt: skip
    failed = CliRunner().invoke(app, [*base, str(_cases(tmp_path, bad_last_row=True)), "--out", str(tmp_path / "a")])
    assert failed.exit_code == 2 and "Atlantis" in failed.output
    assert [(e.status, e.epsilon) for e in ledger.entries(book)] == [("failed", 1.0)]
    (tmp_path / "b").mkdir()  # refused before any data is read: nothing reserved
    refused = CliRunner().invoke(app, [*base, str(_cases(tmp_path)), "--out", str(tmp_path / "b")])
    assert refused.exit_code == 2 and "already exists" in refused.output
    assert [e.status for e in ledger.entries(book)] == ["failed"]


def test_without_a_ledger_the_command_says_nothing_is_recorded(tmp_path: Path) -> None:
    args = ["aggregate", str(_cases(tmp_path)), "--schema", "ctdc-victim-perpetrator", "--dp", "--epsilon", "1",
            "-r", "1", "--out", str(tmp_path / "o")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0 and result.output.count("not recorded in a budget ledger") == 1
