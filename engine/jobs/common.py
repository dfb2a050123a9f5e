"""What the jobs share: where the passes over the records run, the protection step, checks made before any record is
read (output folders, DP inputs), the ledger entry around a run, and the private statistics files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdsynth._utils.context import RunContext
from sdsynth._utils.files import check_output_dir
from sdsynth._utils.rust_format import rust_float
from sdsynth.count.analysis import SensitiveStatistics, sensitive_statistics
from sdsynth.count.combinations import CombinationCounts, count_combinations
from sdsynth.count.estimate import COUNTING_STAGES
from sdsynth.count.guards import check_memory, records_size
from sdsynth.encode.attributes import planned_source
from sdsynth.encode.records import Records
from sdsynth.encode.tables import stream_encoded
from sdsynth.errors import InputError, ParameterError, PrivacyParameterError
from sdsynth.jobs.settings import AGGREGATE_SEEDED, JobSettings
from sdsynth.protect import ledger
from sdsynth.protect.aggregates import Aggregates
from sdsynth.protect.dp.marginals import dp_marginals, undeclared_parts_message
from sdsynth.protect.dp.params import DEFAULT_DELTA, DpParameters
from sdsynth.protect.kanon import protect_k_anonymity
from sdsynth.read.options import IngestOptions
from sdsynth.read.plan import open_and_plan

if TYPE_CHECKING:
    from sdsynth.backends.dask.engine import DaskRecords


def bundled_input(data: Any, options: IngestOptions) -> tuple[Any, IngestOptions]:
    """The input, or — when none is given — the bundled CTDC-like sample, read with its shipped schema unless the
    options name another."""
    if data is not None:
        return data, options
    from sdsynth.sample_data import embedded_sample_path
    from sdsynth.schema.files import load_schema

    if options.schema is None:
        options = replace(options, schema=load_schema("ctdc-victim-perpetrator"))
    return embedded_sample_path(), options


def input_description(options: IngestOptions, ctx: RunContext) -> dict[str, Any]:
    """Public description of how the input was read (names and settings, no data, no file name or local path)."""
    info: dict[str, Any] = {"engine": ctx.engine}
    if options.schema is not None:
        info["schema"] = options.schema.name or "(unnamed schema)"
    if options.subject_id or (options.schema and options.schema.subject_id):
        info["subject_id_joined"] = True
    if options.record_limit:
        info["record_limit"] = options.record_limit
    return info


def run_inputs(data: Any, options: IngestOptions, settings: JobSettings) -> list[Any]:
    """The files a run reads (input, schema, ledger, source release): an output folder holding one is never
    replaced."""
    schema_file = options.schema.source if options.schema is not None else None
    ledger_file = settings.ledger.path if settings.ledger is not None else None
    return [p for p in (data, schema_file, ledger_file, settings.aggregates) if isinstance(p, str | Path)]


@contextmanager
def reading(entry: ledger.Reservation | None) -> Iterator[None]:
    """Marks the point where a run starts reading sensitive records: from here on its ledger entry is spent."""
    if entry is not None:
        entry.reading()
    yield


def complete(entry: ledger.Reservation | None, release_id: str, aggs: Aggregates, out: str | Path) -> None:
    """Record the finished release in its ledger entry, with every cost a tighter accountant needs."""
    if entry is not None:
        entry.complete(release_id, output=str(out), **ledger.costs_from_parameters(aggs.parameters))


@contextmanager
def spending(settings: JobSettings, command: str, ctx: RunContext) -> Iterator[ledger.Reservation | None]:
    """The run's ledger entry: reserved before any record is read, None without a ledger (`protect.ledger`)."""
    with ledger.spending(settings.ledger, settings.dp, command, ctx.progress.note) as entry:
        yield entry


def check_outputs(settings: JobSettings, inputs: list[Any]) -> None:
    """Both output folders can be written, before any work starts."""
    if settings.out is None:
        raise ParameterError("give `out`: the folder to write the release into")
    check_output_dir(settings.out, settings.overwrite, inputs)
    if settings.private_out is not None:
        check_output_dir(settings.private_out, settings.overwrite, inputs)


@contextmanager
def counting_records(
    data: Any, options: IngestOptions, ctx: RunContext, local: Records | None = None
) -> Iterator[Records | DaskRecords]:
    """Where the passes over the sensitive records run: the local records (streamed from the file, or `local`), or
    the input loaded on the Dask cluster of `ctx` (freed on exit)."""
    if ctx.cluster is None:
        yield local if local is not None else stream_encoded(data, options, ctx)
        return
    with ctx.cluster.load(data, options, ctx.progress) as records:
        yield records


def local_records(records: Records | DaskRecords, data: Any, options: IngestOptions, ctx: RunContext) -> Records:
    """Records this process can read batch by batch (the private statistics and evaluation run here); with the Dask
    engine the input is streamed again locally, with the same attribute ids as on the cluster."""
    from sdsynth.backends.dask.engine import DaskRecords

    if not isinstance(records, DaskRecords):
        return records
    local = stream_encoded(data, options, ctx)
    if local.attributes.values != records.attributes.values or local.attributes.labels != records.attributes.labels:
        raise InputError(f"{records.source_name}: the input changed while it was read (the cluster and this machine "
                         "see different values)")  # fmt: skip
    return local


@dataclass
class Protected:
    """The released aggregates, the exact counts they come from (k-anonymity; None after DP, which never keeps
    them) and figures of the DP run that belong to the private folder only."""

    aggregates: Aggregates
    counts: CombinationCounts | None
    dp_private: dict[str, Any]


def synthesis_memory(
    settings: JobSettings, stages: Sequence[str], n_records: int, n_attributes: int, n_columns: int
) -> int:
    """Bytes synthesis holds besides its tables of combinations: the reference law's candidate lists, when it runs
    (aggregate-seeded with the `auto` law's pilot or the reference law itself), for `n_records` records holding
    `n_attributes` attributes in `n_columns` expanded columns."""
    if "synthesis" not in stages or settings.method != AGGREGATE_SEEDED or settings.law.sampling_law == "calibrated":
        return 0
    from sdsynth.synth.aggregate_seeded import reference_law_bytes, reference_pilot_records  # the laws' kernels

    target = settings.records if isinstance(settings.records, int) else n_records
    auto_pilot = settings.law.sampling_law == "auto" and settings.records != "budget"
    pilot = reference_pilot_records(target) if auto_pilot else target
    return reference_law_bytes(n_attributes, n_columns, settings.length, pilot, settings.law)


def protect(
    records: Records | DaskRecords, settings: JobSettings, ctx: RunContext, stages: Sequence[str] = COUNTING_STAGES
) -> Protected:
    """The released aggregates (DP, or k-anonymous), after the memory guard (for the `stages` the run goes on to:
    those of `count.estimate.STAGES`)."""
    n_attributes, n_columns = records.attributes.n_attributes, len(records.attributes.columns)
    extra = synthesis_memory(settings, stages, records_size(records)[0], n_attributes, n_columns)
    check_memory(records, settings.length, ctx.progress, stages, extra)
    if settings.dp is None:
        counts = count_combinations(records, settings.reporting_length, ctx)
        return Protected(protect_k_anonymity(counts, settings.k), counts, {})
    result = dp_marginals(records, settings.dp, ctx)
    return Protected(result.aggregates, None, result.private)


def check_dp_inputs(data: Any, options: IngestOptions, dp: DpParameters, ctx: RunContext) -> None:
    """What a DP run must settle from public inputs before it reads a record: the bound on attributes per record
    (refused when a multi-value column declares no parts and no explicit bound is given), and warnings about
    schema content taken from the data and about the default δ."""
    progress = ctx.progress
    if dp.max_attributes_per_record is None:
        _, plan = open_and_plan(data, options)
        sources = [planned_source(col) for col in plan.columns]
        undeclared = [col.display_name for col, s in zip(plan.columns, sources, strict=True)
                      if s.is_multi_value and s.declared_parts is None]  # fmt: skip
        if undeclared:
            raise PrivacyParameterError(undeclared_parts_message(undeclared))
    schema = options.schema
    if schema is not None and schema.inferred_bin_columns:
        progress.warn(
            "warning: the bins of " + ", ".join(schema.inferred_bin_columns) + " were inferred from the data "
            "(inferred: true in the schema); bin edges computed from the sensitive data leak information in a DP "
            "release: replace them with public edges"
        )
    if schema is not None and schema.drafted_value_columns:
        progress.warn(
            "warning: the values of " + ", ".join(schema.drafted_value_columns) + " were drafted from the data "
            "(drafted: true in the schema); review each list, then remove `drafted: true` (until then the release "
            "does not treat them as declared: the codebook shows released values only and multi-value parts do "
            "not bound the attributes per record)"
        )
    if dp.delta is None:
        progress.warn(
            f"note: δ not given: using the public default δ = {DEFAULT_DELTA:g} (δ must not depend on the data; "
            "choose it below 1/n for your number of records n, see docs/privacy.md: `delta`)"
        )


RECORD_GROWTH_NOTED = 1.2  # k-anonymity synthesizers: more records than this × the released count is worth a note
PROPORTIONAL_ERROR_NOTED = 0.4  # ... as is a mean proportional error to the released counts above this


def note_synthesis_fit(
    method: str, released: int, synthetic: int, ctx: RunContext, proportional_error: float | None = None
) -> None:
    """A note when a k-anonymity synthesizer made many more records than the release counts, or strays far from the
    released counts; it points to aggregate-seeded synthesis. Public numbers only (released and synthetic counts)."""
    if method == AGGREGATE_SEEDED or released <= 0:
        return
    growth = synthetic / released
    far = proportional_error is not None and proportional_error > PROPORTIONAL_ERROR_NOTED
    if growth <= RECORD_GROWTH_NOTED and not far:
        return
    error = (f"; its counts are {proportional_error:.0%} off the released ones on average"
             if proportional_error is not None else "")  # fmt: skip
    ctx.progress.note(
        f"note: {method} made {growth:.1f}× the released record count ({synthetic:,} for {released:,}){error}. "
        "`method` aggregate-seeded at the same k makes the released record count and stays much closer to the "
        "released counts; it guarantees k only for combinations of up to the reporting length (see --help)"
    )


def warn_default_delta(aggs: Aggregates, dp: DpParameters | None, ctx: RunContext) -> None:
    """The default δ on data so large that it is above 1/(10·n), the least docs/privacy.md recommends (n: the
    released, noisy record count)."""
    if dp is not None and dp.delta is None and aggs.record_count * DEFAULT_DELTA > 0.1:
        ctx.progress.warn(
            f"warning: δ = {DEFAULT_DELTA:g} (the default) is not far below 1/n for about {aggs.record_count:,} "
            f"records; pass a smaller `delta` next time, e.g. {aggs.record_count**-1.5:.0e}"
        )


def write_private_figures(
    records: Records | DaskRecords,
    local: Records,
    protected: Protected,
    settings: JobSettings,
    folder: Path,
    ctx: RunContext,
) -> tuple[SensitiveStatistics, CombinationCounts]:
    """The private folder's statistics of the sensitive data: released vs true counts (DP), the DP run's private
    figures, the records analysis and rare/unique statistics (over `local`, records this process reads). Returns
    them, with the exact counts."""
    counts = protected.counts
    if counts is None:
        counts = count_combinations(records, protected.aggregates.reporting_length, ctx)
        write_release_errors(protected.aggregates, counts, folder)
    write_dp_private(protected.dp_private, folder)
    stats = sensitive_statistics(local, counts, settings.k, ctx)
    write_private_statistics(stats, counts, folder)
    return stats, counts


def write_dp_private(figures: dict[str, Any], folder: Path) -> None:
    """Figures of the DP run computed from the sensitive records (e.g. how many records were cut)."""
    if figures:
        (folder / "dp_private.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")


def write_release_errors(aggs: Aggregates, counts: CombinationCounts, folder: Path) -> None:
    """How far released counts are from the exact ones, per length (private: exact counts are involved)."""
    true = counts.lookup(aggs.keys)
    lengths = aggs.lengths
    released_all = counts.layout.lengths(counts.keys)
    rows = []
    for length in range(1, aggs.reporting_length + 1):
        sel = lengths == length
        present = true[sel] > 0
        rows.append(
            {
                "length": length,
                "released": int(sel.sum()),
                "true_combinations": int((released_all == length).sum()),
                "kept_true": int(present.sum()),
                "fabricated": int((~present).sum()),
                "mean_absolute_error_on_true": float(abs(aggs.counts[sel][present] - true[sel][present]).mean())
                if present.any()
                else 0.0,
            }
        )
    with (folder / "release_errors.tsv").open("w", encoding="utf-8") as fh:
        fh.write("\t".join(rows[0].keys()) + "\n")
        for row in rows:
            fh.write("\t".join(str(v) for v in row.values()) + "\n")


def write_private_statistics(stats: SensitiveStatistics, counts: CombinationCounts, folder: Path) -> None:
    """docs/method.md, "Records analysis" statistics of the sensitive data, in the reference's file formats where it has
    one."""
    _write_records_analysis(stats.analysis.to_frame(), folder / "records_analysis.tsv")
    _write_records_analysis(stats.protected_analysis.to_frame(), folder / "records_analysis_protected.tsv")
    rare = stats.by_length.select(
        "length", "combinations", "rare", (stats.by_length["rare"] / stats.by_length["combinations"]).alias("p")
    )
    with (folder / "sensitive_rare_by_length.tsv").open("w", encoding="utf-8") as fh:
        fh.write("sen_combo_length\tcombo_count\trare_count\trare_proportion\n")
        for length, combos, n_rare, p in rare.iter_rows():
            fh.write(f"{length}\t{combos}\t{n_rare}\t{rust_float(p)}\n")
    stats.rare_records_per_attribute.write_csv(folder / "rare_records_per_attribute.tsv", separator="\t")
    stats.rare_records_pct_per_column.write_csv(folder / "rare_records_pct_per_column.tsv", separator="\t")
    stats.unique_records_per_column.write_csv(folder / "unique_records_per_column.tsv", separator="\t")
    summary = stats.summary()
    summary["by_length"] = stats.by_length.to_dicts()
    summary["true_record_count"] = counts.n_records
    (folder / "sensitive_statistics.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


def _write_records_analysis(frame: Any, path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("\t".join(frame.columns) + "\n")
        for row in frame.iter_rows():
            fh.write("\t".join(rust_float(v) if isinstance(v, float) else str(v) for v in row) + "\n")
