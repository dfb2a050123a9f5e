"""`sdsynth release --dry-run`: check the inputs and say what a release would spend and need, computing nothing.

It reads the input once to validate it and to learn each column's distinct values (for the memory estimate). It
prints no count taken from the data: the budget split is shown for the δ that will be used (given, or inferred at
run time from the noisy record count).
"""

from __future__ import annotations

from typing import Any

from . import ledger
from .dp.budget import split_budget
from .encode import collect_uniques
from .estimate import estimate_combinations, human_bytes, identifier_like, memory_estimate_bytes
from .ingest import iter_normalized, open_and_plan
from .table_source import DEFAULT_BATCH_ROWS

ILLUSTRATIVE_DELTA = 1e-6


def describe_release(data: Any, settings: Any) -> str:
    s = settings
    lines = [f"dry run: nothing is computed or written (outputs would go to {s.out}/ and {s.private_out}/)"]
    source, plan = open_and_plan(data, s.options)
    violations = 0
    n_records = 0
    filled = 0
    batches = []
    for nb in iter_normalized(source, plan, collect=True):
        violations += len(nb.violations)
        n_records += nb.height
        batches.append(nb)
        for column in nb.columns:
            values = column.values
            filled += sum(1 for i in column.indices.tolist() if values[i] not in (None, []))  # rough, per column
    uniques = collect_uniques(iter(batches), plan)
    if violations:
        lines.append(f"input: {violations} cell(s) violate the schema — run `sdsynth schema validate` to list them")
    else:
        lines.append(f"input: {source.name} reads cleanly ({len(plan.columns)} columns used)")
    cardinalities = {
        col.display_name: (len(uniques[i]) if col.multi_delimiter is None else 1) for i, col in enumerate(plan.columns)
    }
    per_column = []
    for i, col in enumerate(plan.columns):
        if col.multi_delimiter is None:
            per_column.append(len(uniques[i]))
        else:
            per_column.extend([1] * len(uniques[i]))
    mean_attributes = filled / n_records if n_records else 0.0
    R = s.dp.reporting_length if s.dp is not None else s.reporting_length
    combos = estimate_combinations(per_column, R, n_records, mean_attributes)
    memory = memory_estimate_bytes(combos, DEFAULT_BATCH_ROWS, mean_attributes)
    lines.append(f"memory: up to ~{combos:,} distinct combinations of length ≤ {R}; counting needs about "
                 f"{human_bytes(memory)}")  # fmt: skip
    for name in identifier_like(cardinalities, n_records):
        lines.append(f"warning: column {name!r} looks like an identifier (nearly every value is unique); drop it")
    if s.dp is not None:
        p = s.dp
        eps_records = p.number_of_records_epsilon_proportion * p.epsilon
        delta = p.delta if p.delta is not None else ILLUSTRATIVE_DELTA
        b = split_budget(p.epsilon, p.reporting_length, p.percentile_epsilon_proportion, p.sigma_proportions, delta,
                         eps_records)  # fmt: skip
        note = (
            ""
            if p.delta is not None
            else (
                f" (δ will be inferred at run time as 1/(ln n · n) from the noisy record count; figures below use δ = "
                f"{ILLUSTRATIVE_DELTA:g} for illustration)"
            )
        )
        lines.append(f"privacy: (ε = {p.epsilon:g}, δ)-DP{note}")
        lines.append(f"  record count: ε_N = {b.epsilon_records:g} (discrete Laplace)")
        lines.append(f"  marginals: ε_M = {b.epsilon_marginals:g} → ρ = {b.rho:.6g} zCDP; each of the {R} contribution "
                     f"bounds ε_Q = {b.epsilon_percentile:.6g}")  # fmt: skip
        lines.append("  noise scale per length σ_k (× √Δ_k, Δ_k chosen at run time): "
                     + ", ".join(f"{k + 1}: {sig:.4g}" for k, sig in enumerate(b.sigmas)))  # fmt: skip
        lines.append(f"  fabrication thresholds: {p.threshold.to_json()}")
        if s.options.schema is not None and s.options.schema.inferred_bin_columns:
            lines.append("warning: bins inferred from the data leak in DP mode: "
                         + ", ".join(s.options.schema.inferred_bin_columns))  # fmt: skip
    else:
        lines.append(f"privacy: k-anonymity with k = {s.resolution}, combinations up to length {R}")
    if s.ledger_path is not None and s.dp is not None:
        before = ledger.spent(s.ledger_path, s.dataset_id)
        after = before.epsilon + s.dp.epsilon
        verdict = "within" if s.budget is None or after <= s.budget + 1e-12 else "OVER"
        budget = f" of the budget {s.budget:g} ({verdict})" if s.budget is not None else ""
        lines.append(f"ledger: dataset {s.dataset_id!r} has spent ε = {before.epsilon:g} in {before.releases} "
                     f"release(s); after this release ε = {after:g}{budget}; {ledger.COMPOSITION}")  # fmt: skip
    return "\n".join(lines)
