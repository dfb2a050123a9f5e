"""`sdsynth release --dry-run`: check the inputs and say what a release would spend and need, computing nothing.

It reads the input once to validate it and to learn each column's distinct values (for the memory estimate). It
prints no count taken from the data: the budget split and the bound on attributes per record come from public
inputs only (ε, δ, R, the schema and the options), as in the run.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from sdsynth._utils.context import RunContext
from sdsynth._utils.files import check_output_dir
from sdsynth.count import guards
from sdsynth.count.estimate import STAGES, expected_combinations, human_bytes, stage_memory
from sdsynth.encode.attributes import planned_source, value_counts
from sdsynth.errors import InputError, SdsynthError
from sdsynth.jobs.common import check_dp_inputs, run_inputs, synthesis_memory
from sdsynth.jobs.settings import JobSettings
from sdsynth.protect import ledger
from sdsynth.protect.dp.budget import BudgetSplit, budget_of
from sdsynth.protect.dp.length_rule import ALWAYS_RELEASED, UNKNOWN_DOMAIN, at_length, choose_length, records_needed
from sdsynth.protect.dp.pair_tree import extra_rounds, round_epsilon, tree_rounds
from sdsynth.protect.dp.params import DpParameters
from sdsynth.protect.dp.percentile import steady_records
from sdsynth.protect.dp.preview import PreviousLevels, preview_lengths
from sdsynth.read.identifiers import about, identifier_like, identifier_warning
from sdsynth.read.normalize import iter_normalized
from sdsynth.read.options import IngestOptions
from sdsynth.read.plan import open_and_plan


@dataclass
class DryRun:
    """What a release would read, spend and need (`lines`), and every reason it would stop (`refusals`)."""

    lines: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(self.lines)


def dry_run_release(
    data: Any, options: IngestOptions, settings: JobSettings, previous_release: str | Path | None = None
) -> DryRun:
    """What `run_release(data, options, settings)` would read, spend and need, and every check it would fail (output
    folders, schema violations, DP inputs, the budget ledger), without computing anything. With a DP release,
    `previous_release` (a public DP release of the same dataset) lends its contribution bounds: the noise SD and
    threshold per length at the chosen ε, and how many of its combinations would clear them."""
    s = settings
    result = DryRun([f"dry run: nothing is computed or written (outputs would go to {s.out}/ and {s.private_out}/)"])
    inputs = run_inputs(data, options, settings)
    for folder in (s.out, s.private_out):
        if folder is not None:
            _check(result, check_output_dir, folder, s.overwrite, inputs)
    lines = result.lines
    source, plan = open_and_plan(data, options)
    violations = 0
    n_records = 0
    batches = []
    for nb in iter_normalized(source, plan, collect=True):
        violations += len(nb.violations)
        n_records += nb.height
        batches.append(nb)
    counts = value_counts(iter(batches), plan)
    if violations:
        lines.append(f"input: {violations} cell(s) violate the schema")
        result.refusals.append(f"{source.name}: {violations} cell(s) violate the schema; `sdsynth schema validate` "
                               "lists them by column and value")  # fmt: skip
    else:
        lines.append(f"input: {source.name} reads cleanly ({len(plan.columns)} columns used)")
    cardinalities = {col.display_name: (len(counts[i]) if col.multi_delimiter is None else 1)
                     for i, col in enumerate(plan.columns)}  # fmt: skip
    per_column: list[np.ndarray] = []  # values' record counts per expanded column (a part: a column of one value)
    for i, col in enumerate(plan.columns):
        found = np.array(list(counts[i].values()), dtype=np.float64)
        per_column.extend([found] if col.multi_delimiter is None else [np.array([c]) for c in found])
    R = s.length
    combos = sum(expected_combinations(per_column, n_records, R))
    n_attributes = sum(len(c) for c in per_column)
    extra = synthesis_memory(s, STAGES, n_records, n_attributes, len(per_column))
    estimate = stage_memory(combos, n_records, len(plan.columns), STAGES, extra)
    peak = max(estimate, key=lambda m: m.bytes)
    lines.append(f"memory (estimate): about {about(combos):,} distinct combinations of length ≤ {R}; the peak, "
                 f"about {human_bytes(peak.bytes)}, in {peak.stage}")  # fmt: skip
    lines += [f"  {m.stage}: {m.bytes / 2**20:,.0f} MiB" for m in estimate]
    available = psutil.virtual_memory().available
    if peak.bytes > guards.MEMORY_SHARE * available:
        identifiers = identifier_like(cardinalities, n_records)
        result.refusals.append(guards.memory_refusal(peak, available, R, cardinalities, identifiers))
    identifiers = identifier_like(cardinalities, n_records)
    if identifiers:
        lines.append(identifier_warning(identifiers))
    if s.dp is not None:
        p = s.dp
        if not _check(result, check_dp_inputs, data, options, p, RunContext()):  # as the run would refuse it
            return result
        delta = p.resolved_delta
        b = budget_of(p)
        note = "" if p.delta is not None else " (δ not given: the public default)"
        lines.append(f"privacy: (ε = {p.epsilon:g}, δ = {delta:g})-DP{note}")
        sources = [planned_source(col) for col in plan.columns]
        domain_sizes = [source.domain_size for source in sources]  # a public fact where not None
        W = p.max_attributes_per_record or sum(s.declared_parts or 1 for s in sources)
        how = ("--max-attributes-per-record: longer records keep a random subset" if p.max_attributes_per_record
               else "one per column plus the declared parts of each multi-value column")  # fmt: skip
        lines.append(f"  at most {W} attributes per record ({how})")
        if p.adaptive_length:
            lines += length_rule_lines(p, domain_sizes)
        if p.adaptive_percentile:
            needed = math.ceil(steady_records(b.epsilon_percentile, W))
            lines.append(f"  contribution bounds: the 99th percentile when the released record count is at least "
                         f"{needed:,} (at reporting length {p.reporting_length}), else the 95th (auto; --percentile "
                         "sets one)")  # fmt: skip
        lines.append(f"  zCDP budget ρ = {b.rho:.6g}; record count: ρ_N = {b.rho_records:.6g}, noise SD "
                     f"{math.sqrt(b.records_variance):.4g} (discrete Gaussian); each of the {R} contribution bounds "
                     f"ε_Q = {b.epsilon_percentile:.6g}")  # fmt: skip
        lines.append("  noise scale per length σ_k (× √Δ_k, Δ_k chosen at run time): "
                     + ", ".join(f"{k + 1}: {sig:.4g}" for k, sig in enumerate(b.sigmas)))  # fmt: skip
        n_columns = len(per_column)
        parts = [len(counts[i]) for i, col in enumerate(plan.columns) if col.multi_delimiter is not None]
        if p.column_pairs == "tree":
            lines += tree_lines(b, n_columns, parts, p.extra_column_pairs)
        if previous_release is not None:
            previous = _check(result, read_previous_levels, previous_release)
            if isinstance(previous, PreviousLevels) and p.column_pairs == "tree" and 2 in previous.sensitivity:
                previous = tree_bounded(previous, sum(tree_shape(n_columns, parts, p.extra_column_pairs)))
            if isinstance(previous, PreviousLevels):
                lines.append(f"  with the contribution bounds of the previous release {previous_release}:")
                at, split = p, b
                if p.adaptive_length and previous.record_count is not None:  # its count, taken for this one's
                    at = at_length(p, choose_length(p, domain_sizes, previous.record_count).length)
                    split = budget_of(at)
                    lines.append(f"    reporting length {at.reporting_length} (auto, for its record count "
                                 f"{previous.record_count:,})")  # fmt: skip
                all_declared = None not in domain_sizes
                lines += [f"    {row.describe()}" for row in preview_lengths(at, split, previous, all_declared)]
        lines.append(f"  fabrication thresholds: {p.threshold.to_json()}")
        declared = sum(m is not None for m in domain_sizes)
        lines.append(f"  length 1: the values of {declared} of the {len(sources)} columns are declared by the schema "
                     "(a public domain): each gets a noisy count, released above one noise SD; the other columns' "
                     "values must clear the δ-threshold ρ₁ (about 5 noise SDs)")  # fmt: skip
        if options.schema is not None and options.schema.inferred_bin_columns:
            lines.append("warning: bins inferred from the data leak in DP mode: "
                         + ", ".join(options.schema.inferred_bin_columns))  # fmt: skip
    else:
        lines.append(f"privacy: k-anonymity with k = {s.k}, combinations up to length {R}")
    if s.ledger is not None and s.dp is not None:
        before = ledger.spent(s.ledger.path, s.ledger.dataset_id)
        after = before.epsilon + s.dp.epsilon
        verdict = "within" if s.ledger.budget is None or after <= s.ledger.budget + 1e-12 else "OVER"
        budget = f" of the budget {s.ledger.budget:g} ({verdict})" if s.ledger.budget is not None else ""
        lines.append(f"ledger: dataset {s.ledger.dataset_id!r} has spent ε = {before.epsilon:g} in "
                     f"{before.releases} entries; after this release ε = {after:g}{budget}")  # fmt: skip
        lines.append(f"  {ledger.ENFORCEMENT}")
        if verdict == "OVER":
            result.refusals.append(f"the release would bring dataset {s.ledger.dataset_id!r} to ε = {after:g}, above "
                                   f"the budget {s.ledger.budget:g}")  # fmt: skip
    return result


def _check(result: DryRun, check: Any, *args: Any) -> Any:
    """Run one of the run's own checks; a refusal is recorded instead of raised, so every one is reported. Returns
    what the check returned (True when it returns nothing), or False when it refused."""
    try:
        returned = check(*args)
    except SdsynthError as exc:
        result.refusals.append(str(exc))
        return False
    return True if returned is None else returned


def tree_lines(budget: BudgetSplit, n_columns: int, parts: list[int], extra: int | None = None) -> list[str]:
    """What --column-pairs tree will spend and release, from public quantities (ρ, the expanded columns, the parts
    of each multi-value column and the extra pairs asked for)."""
    joined, rounds, more = tree_shape(n_columns, parts, extra)
    pairs = joined + rounds + more
    sigma_2 = budget.sigmas[1] if len(budget.sigmas) > 1 else float("nan")
    extra_text = f", then {more} more pairs" if more else ""
    return [
        f"  column pairs: {pairs} of the {math.comb(n_columns, 2)} pairs of the {n_columns} expanded columns: the "
        f"{joined} pairs of parts of one multi-value column, a tree of {rounds} more{extra_text}, chosen with ρ = "
        f"{budget.rho_selection:.6g} ({rounds + more} rounds of the exponential mechanism, ε = "
        f"{round_epsilon(budget.rho_selection, rounds + more):.4g} each)",
        f"    length 2: Δ₂ ≤ {pairs} (one value pair per released column pair), so its noise SD is at most "
        f"{sigma_2 * math.sqrt(max(pairs, 1)):.4g}",
    ]


def tree_shape(n_columns: int, parts: list[int], extra: int | None = None) -> tuple[int, int, int]:
    """(pairs of parts of one multi-value column, edges of the tree that joins them all, extra pairs) of a tree
    release, as the run counts them (the parts' columns numbered side by side: only their number matters)."""
    joined, start = [], 0
    for p in parts:
        joined += [(start + i, start + j) for i, j in itertools.combinations(range(p), 2)]
        start += p
    return len(joined), tree_rounds(n_columns, joined), extra_rounds(n_columns, joined, extra)


def tree_bounded(previous: PreviousLevels, pairs: int) -> PreviousLevels:
    """A previous release's bounds as a tree release would meet them: Δ₂ at most one pair per released column pair."""
    bounds = {**previous.sensitivity, 2: min(previous.sensitivity[2], max(pairs, 1))}
    return replace(previous, sensitivity=bounds)


def length_rule_lines(p: DpParameters, domain_sizes: list[int | None]) -> list[str]:
    """What --reporting-length auto will do, from public quantities: the released record count each length needs."""
    lines = [f"  reporting length: auto (at most {p.reporting_length}; 1 and 2 always released)"]
    for k in range(ALWAYS_RELEASED + 1, p.reporting_length + 1):
        needed = records_needed(p, domain_sizes, k)
        lines.append(f"    length {k}: released when the released record count is at least {needed:,}" if needed
                     else f"    length {k}: never (fewer than {k} columns)")  # fmt: skip
    assumed = sum(1 for m in domain_sizes if m is None)
    if assumed:
        lines.append(f"    ({assumed} column(s) without a declared list of values count as {UNKNOWN_DOMAIN} values: "
                     "declare them in a schema for the real figure)")  # fmt: skip
    return lines


def read_previous_levels(folder: str | Path) -> PreviousLevels:
    """The contribution bounds and released counts per length of a previous public DP release (its release.duckdb,
    through the read-only connection SQL users get)."""
    from sdsynth.bundle.query import run_query

    def ask(sql: str) -> Any:
        try:
            return run_query(folder, sql)
        except SdsynthError as exc:
            raise InputError(f"--previous-release {folder}: {exc}") from None

    mode = ask("SELECT value FROM release_info WHERE key = 'mode'")
    if mode.is_empty() or mode.item(0, 0) != "dp":
        raise InputError(f"--previous-release {folder}: a k-anonymous release has no contribution bounds; give a "
                         "DP one")  # fmt: skip
    levels = ask("SELECT length, sensitivity FROM release_levels ORDER BY length")
    counts = ask("SELECT length, count FROM aggregates")
    bounds = {int(k): int(d) for k, d in levels.iter_rows() if d is not None}
    by_length = {int(k): counts.filter(counts["length"] == k)["count"].to_numpy() for k in bounds}
    record_count = ask("SELECT value FROM release_info WHERE key = 'record_count'")
    return PreviousLevels(bounds, by_length, int(record_count.item(0, 0)) if not record_count.is_empty() else None)
