"""`run_release` (`sdsynth release`): ingest → aggregates → synthesis → evaluation → reports, in one go.

The public folder receives only what is safe to publish: the released aggregates, the synthetic records, the
public evaluation (synthetic against the released aggregates, never against the sensitive data), its report, the
codebook and a manifest with the SHA-256 of every file. Everything computed from the sensitive data — the private
evaluation and report, input fingerprints, true counts, disclosure-risk statistics — goes to the private folder.
"""

from __future__ import annotations

import json
import shutil
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl

from sdsynth._utils.context import RunContext, context
from sdsynth._utils.files import atomic_directory
from sdsynth._utils.progress import TimedProgress
from sdsynth.bundle.codebook import public_codebook
from sdsynth.bundle.manifest import sha256, write_manifest
from sdsynth.bundle.write import release_date, write_aggregates_release
from sdsynth.count.combinations import count_combinations
from sdsynth.count.estimate import STAGES
from sdsynth.encode.records import EncodedStream
from sdsynth.encode.spill import spill
from sdsynth.encode.tables import stream_encoded
from sdsynth.errors import ParameterError
from sdsynth.evaluation.evaluate import Evaluation, evaluate_public, evaluate_records, summary_rows, write_evaluation
from sdsynth.evaluation.report import render_report
from sdsynth.jobs.common import (
    check_dp_inputs,
    check_outputs,
    complete,
    counting_records,
    input_description,
    note_synthesis_fit,
    protect,
    reading,
    run_inputs,
    spending,
    warn_default_delta,
    write_private_figures,
)
from sdsynth.jobs.settings import AGGREGATE_SEEDED, JobSettings
from sdsynth.jobs.synthesize import synthesis_info, synthesis_parameters, synthesize
from sdsynth.protect.aggregates import Aggregates
from sdsynth.read.options import IngestOptions
from sdsynth.synth.aggregate_seeded import target_records
from sdsynth.synth.output import write_synthetic_files


@dataclass
class ReleaseResult:
    aggregates: Aggregates
    synthetic_records: int
    public_summary: dict[str, Any]
    private_summary: dict[str, Any]
    release_id: str


def run_release(
    data: Any, options: IngestOptions, settings: JobSettings, ctx: RunContext | None = None
) -> ReleaseResult:
    """Aggregates, synthetic records, evaluations and reports, written atomically into `settings.out` (public) and
    `settings.private_out` (private, required).

    With `ctx.cluster` the counting passes (and calibrated-law synthesis) run on its workers; the private statistics
    and evaluation read the input here, batch by batch (spilled to a scratch folder when large)."""
    timed = TimedProgress(context(ctx).progress)  # each stage's time, for the private folder
    ctx = replace(context(ctx), progress=timed)
    if settings.private_out is None:
        raise ParameterError("a release writes a private folder too: give `private_out`")
    inputs = run_inputs(data, options, settings)
    release_id = uuid.uuid4().hex
    created_at = release_date()  # the one timestamp of every public file
    progress = ctx.progress
    with spending(settings, "release", ctx) as entry:
        check_outputs(settings, inputs)
        if settings.dp is not None:
            check_dp_inputs(data, options, settings.dp, ctx)
        with (
            atomic_directory(settings.out, settings.overwrite, inputs=inputs) as tmp_out,
            atomic_directory(settings.private_out, settings.overwrite, private=True, inputs=inputs) as tmp_private,
            reading(entry),
            ExitStack() as stack,
        ):
            out, private = Path(tmp_out), Path(tmp_private)
            scratch = private / ".scratch"  # encoded records on disk (sensitive): removed before the folder is final
            records = stream_encoded(data, options, ctx)
            if isinstance(records, EncodedStream):  # larger than memory: later passes read the spilled encoding
                with progress.stage("encoding to a scratch folder", unit="records"):
                    records = spill(records, scratch / "sensitive")
            counting = stack.enter_context(counting_records(data, options, ctx, local=records))
            protected = protect(counting, settings, ctx, STAGES)
            aggs = protected.aggregates
            synthetic, law = synthesize(aggs, records, data, options, settings, ctx)
            written = write_synthetic_files(synthetic, aggs.attributes, out, scratch / "synthetic", progress,
                                            target_records(aggs, settings.records))  # fmt: skip
            privacy = settings.privacy(aggs)
            with progress.stage("evaluating against the released aggregates"):
                # counted once for both evaluations (1.2 s of a 1 M-record release)
                synthetic_counts = count_combinations(written.records, aggs.reporting_length)
                public_eval = evaluate_public(aggs, written.records, privacy, synthetic_counts)
            note_synthesis_fit(settings.method, aggs.record_count, written.n_records, ctx,
                               public_eval.summary.get("mean_proportional_error"))  # fmt: skip
            made = synthesis_info(settings, law, written.n_records, written.streamed, ctx.seed)
            with progress.stage("writing the public release"):
                info = {**input_description(options, ctx), "release_id": release_id, **made}
                tables = {"synthetic": written.parquet, "evaluation": summary_rows(public_eval)}
                write_aggregates_release(
                    aggs, out, info_extra=info, tables=tables, created_at=created_at, schema=options.schema
                )
                levels = pl.DataFrame(aggs.levels) if aggs.levels else None
                _report(out, public_eval, f"{settings.title} — public report", levels)
                (out / "codebook.yaml").write_text(public_codebook(aggs, options.schema).to_yaml(), encoding="utf-8")
            # private material: everything computed from the sensitive data
            stats, counts = write_private_figures(counting, records, protected, settings, private, ctx)
            with progress.stage("evaluating against the sensitive data"):
                private_eval = evaluate_records(records, written.records, aggs.reporting_length, settings.k, privacy,
                                                ctx, real_counts=counts, statistics=stats,
                                                synthetic_counts=synthetic_counts)  # fmt: skip
            with progress.stage("writing the private folder"):
                write_evaluation(private_eval, private)
                _report(private, private_eval, f"{settings.title} — private report", levels)
                _write_fingerprint(private, data, counts.n_records, release_id)
            (private / "stage_times.json").write_text(json.dumps(timed.summary(), indent=2), encoding="utf-8")
            shutil.rmtree(scratch, ignore_errors=True)
            seeded = synthesis_parameters(law or settings.law) if settings.method == AGGREGATE_SEEDED else {}
            write_manifest(out, release_id, created_at, aggs, {"method": settings.method, "records": written.n_records,
                                                              **seeded})  # fmt: skip
        complete(entry, release_id, aggs, settings.out)
    warn_default_delta(aggs, settings.dp, ctx)
    return ReleaseResult(aggs, written.n_records, public_eval.summary, private_eval.summary, release_id)


def _report(folder: Path, evaluation: Evaluation, title: str, levels: pl.DataFrame | None) -> None:
    (folder / "report.html").write_text(render_report(evaluation, title, levels), encoding="utf-8")


def _write_fingerprint(folder: Path, data: Any, n_records: int, release_id: str) -> None:
    """The input's name, size and SHA-256 and the true record count (private: it identifies the input)."""
    fingerprint: dict[str, Any] = {"records": n_records, "release_id": release_id}
    if isinstance(data, str | Path) and Path(data).is_file():
        fingerprint.update(input=str(data), bytes=Path(data).stat().st_size, sha256=sha256(Path(data)))
    (folder / "input_fingerprint.json").write_text(json.dumps(fingerprint, indent=2), encoding="utf-8")
