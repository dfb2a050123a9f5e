"""`sdsynth budget show`: the privacy budget ledger, its history and both totals."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import handle_errors, out_console

budget_app = typer.Typer(help="The privacy budget ledger.", no_args_is_help=True)


@budget_app.command("show")
@handle_errors
def show(
    ledger: Annotated[Path, typer.Option("--ledger", help="The ledger file.")],
    dataset_id: Annotated[str | None, typer.Option("--dataset-id", help="Only this dataset.")] = None,
    delta_prime: Annotated[
        float,
        typer.Option(
            "--delta-prime",
            help="δ′ at which the zCDP total is converted to (ε, δ′)-DP [default: 1e-06].",
            show_default=False,
        ),
    ] = 1e-6,
) -> None:
    """Print every entry of the ledger (status reserved, spent or failed: all count) and, per dataset, two totals.

    Basic composition: (Σ ε_i, Σ δ_i)-DP; this is the total --budget enforces. zCDP: Σ (ρ_i + ε_N,i²/2) converted to
    (ε, δ′)-DP, plus the δ spent outside zCDP; reported only when every entry of the dataset records ρ, ε_N and
    δ_out (entries from older versions do not).
    """

    from sdsynth.protect.ledger import COMPOSITION, ENFORCEMENT, compose, entries

    if not ledger.exists():
        from sdsynth.errors import ParameterError

        raise ParameterError(f"{ledger}: no such ledger")
    rows = entries(ledger, dataset_id)
    compose([], delta_prime)  # validates δ′ even when there is nothing to total

    out_console.print(f"ledger {ledger}", markup=False, highlight=False)
    datasets = sorted({e.dataset_id for e in rows} | ({dataset_id} if dataset_id else set()))
    if not datasets:
        out_console.print("no entries", markup=False)
    for ds in datasets:
        mine = [e for e in rows if e.dataset_id == ds]
        if not mine:
            out_console.print(f"dataset {ds!r}: no entries", markup=False)
            continue
        _print_dataset(ds, mine, delta_prime)
    out_console.print(f"Composition: {COMPOSITION}. {ENFORCEMENT}.", markup=False, highlight=False)


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.6g}"


def _print_dataset(ds: str, mine: list[Any], delta_prime: float) -> None:
    """One dataset's entries as a table, then its basic-composition and zCDP totals."""
    from rich import box
    from rich.table import Table

    from sdsynth.protect.ledger import compose

    t = compose(mine, delta_prime)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(t.statuses.items()))
    title = f"dataset {ds!r}: {t.entries} entr{'y' if t.entries == 1 else 'ies'} ({counts})"
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for h in ("created (UTC)", "status", "release", "ε", "δ", "Σ ε", "ρ", "ε_N", "δ_out", "output"):
        folded = h in ("release", "output")
        table.add_column(h, overflow="fold", no_wrap=not folded, min_width=8 if folded else None)
    cumulative = 0.0
    for e in mine:
        cumulative += e.epsilon
        table.add_row(f"{e.created_at:%Y-%m-%d %H:%M:%S}", e.status, e.release_id or "", _num(e.epsilon),
                      _num(e.delta), _num(cumulative), _num(e.rho), _num(e.epsilon_record_count),
                      _num(e.delta_outside_zcdp), e.output or "")  # fmt: skip
    out_console.print(table)
    lines = []
    unknown = ""
    if t.unknown_delta:
        n = f"{t.unknown_delta} entr{'y' if t.unknown_delta == 1 else 'ies'}"
        unknown = f"; {n} without a recorded δ (runs not completed, δ inferred at run time) not in Σ δ_i"
    lines.append(f"  basic-composition total (enforced by --budget): ε = Σ ε_i = {t.epsilon:.6g}, "
                 f"δ = Σ δ_i = {t.delta:.6g}{unknown}")  # fmt: skip
    if t.zcdp_available:
        assert t.rho is not None and t.epsilon_zcdp is not None and t.delta_zcdp is not None
        lines.append(f"  zCDP total (reported, not enforced): ρ = Σ (ρ_i + ε_N,i²/2) = {t.rho:.6g} → "
                     f"ε = {t.epsilon_zcdp:.6g} at δ′ = {t.delta_prime:g} (Canonne–Kamath–Steinke), "
                     f"δ = δ′ + Σ δ_out,i = {t.delta_zcdp:.6g}")  # fmt: skip
    else:
        why = []
        for e in mine:
            if e.has_zcdp:
                continue
            if e.status == "spent":
                reason = "recorded without ρ, ε_N and δ_out (by an older sdsynth version)"
            elif e.status == "failed":
                reason = "the run failed after reading the data, before its zCDP costs were known"
            else:
                reason = "the run has not completed (still running, or killed) and its zCDP costs are not known yet"
            why.append(f"{e.label()}: {reason}")
        lacks = "entry lacks" if len(why) == 1 else "entries lack"
        lines.append(f"  zCDP total: not available — {len(why)} {lacks} ρ, ε_N or δ_out, and a zCDP total "
                     "is stated only when every entry of the dataset has them:")  # fmt: skip
        lines.extend(f"    {w}" for w in why)
    for line in lines:
        out_console.print(line, markup=False, highlight=False)
