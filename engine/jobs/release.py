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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from sdsynth._utils.files import atomic_directory
from sdsynth._utils.progress import NullProgress, Progress
from sdsynth._version import __version__
from sdsynth.bundle.write import release_date, write_aggregates_release
from sdsynth.count.analysis import sensitive_statistics
from sdsynth.count.combinations import count_combinations
from sdsynth.encode.records import EncodedData, EncodedStream
from sdsynth.encode.spill import spill
from sdsynth.encode.tables import encode, stream_encoded
from sdsynth.errors import ParameterError
from sdsynth.evaluation.evaluate import evaluate_public, evaluate_records, summary_rows, write_evaluation
from sdsynth.evaluation.report import render_report
from sdsynth.jobs.common import (
    check_dp_inputs,
    check_outputs,
    complete,
    counting_records,
    input_description,
    protect,
    reading,
    run_inputs,
    warn_default_delta,
    write_dp_private,
    write_private_statistics,
    write_release_errors,
)
from sdsynth.jobs.synthesize import aggregate_seeded_output, synthesis_parameters, target_records
from sdsynth.protect import ledger
from sdsynth.protect.aggregates import Aggregates
from sdsynth.protect.dp.params import DpParameters
from sdsynth.protect.ledger import LedgerRequest
from sdsynth.read.options import IngestOptions
from sdsynth.synth.aggregate_seeded import AggregateSeededParameters
from sdsynth.synth.base import create
from sdsynth.synth.output import write_synthetic_files

if TYPE_CHECKING:
    from sdsynth.backends.dask.engine import DaskEngine
from sdsynth.bundle.codebook import public_codebook
from sdsynth.bundle.manifest import sha256


@dataclass
class ReleaseSettings:
    """Everything a release needs besides the input; mirrors the CLI options (and the --config TOML keys)."""

    out: Path
    private_out: Path
    options: IngestOptions
    dp: DpParameters | None = None
    resolution: int = 10
    reporting_length: int = 3
    method: str | None = None  # default: aggregate-seeded with DP, row-seeded with k-anonymity
    records: int | str | None = None
    seed: int | None = None
    aggregate_seeded: AggregateSeededParameters = field(default_factory=AggregateSeededParameters)
    overwrite: bool = False
    n_threads: int | None = None
    ledger: LedgerRequest | None = None  # --ledger FILE --dataset-id ID [--budget E]
    title: str = "sdsynth release"

    def __post_init__(self) -> None:
        if self.method is None:
            self.method = "aggregate-seeded" if self.dp is not None else "row-seeded"
        if self.dp is not None and self.method != "aggregate-seeded":
            raise ParameterError("a DP release synthesizes from its aggregates: the method must be aggregate-seeded")
        if self.method == "aggregate-seeded":
            self.aggregate_seeded.check_target(None if self.records == "budget" else 0)
        if self.ledger is not None and self.dp is None:
            raise ParameterError("the budget ledger records DP releases; add --dp --epsilon E")

    def privacy(self, aggs: Aggregates) -> dict[str, Any]:
        if self.dp is not None:
            return {"mode": "dp", "epsilon": self.dp.epsilon, "delta": aggs.parameters.get("delta")}
        return {"mode": "k-anonymity", "resolution": self.resolution}


@dataclass
class ReleaseResult:
    aggregates: Aggregates
    synthetic_records: int
    public_summary: dict[str, Any]
    private_summary: dict[str, Any]
    release_id: str


def run_release(
    data: Any, settings: ReleaseSettings, progress: Progress | None = None, cluster: DaskEngine | None = None
) -> ReleaseResult:
    """Aggregates, synthetic records, evaluations and reports, written atomically into the two folders.

    With a Dask `cluster` the counting passes (and calibrated-law synthesis) run on its workers; the private
    statistics and evaluation read the input here, batch by batch (spilled to a scratch folder when large)."""
    progress = progress or NullProgress()
    s = settings
    inputs = run_inputs(data, s.options, s.ledger.path if s.ledger else None)
    release_id = uuid.uuid4().hex
    created_at = release_date()  # the one timestamp of every public file
    with ledger.spending(s.ledger, s.dp, "release", progress.note) as entry:
        check_outputs(s.out, s.private_out, s.overwrite, inputs)
        if s.dp is not None:
            check_dp_inputs(data, s.options, s.dp, progress)
        with (
            atomic_directory(s.out, s.overwrite, inputs=inputs) as tmp_out,
            atomic_directory(s.private_out, s.overwrite, private=True, inputs=inputs) as tmp_private,
            reading(entry),
            ExitStack() as stack,
        ):
            out, private = Path(tmp_out), Path(tmp_private)
            scratch = private / ".scratch"  # encoded records on disk (sensitive): removed before the folder is final
            records = stream_encoded(data, s.options, progress)
            if isinstance(records, EncodedStream):  # larger than memory: later passes read the spilled encoding
                with progress.stage("encoding to a scratch folder", unit="records"):
                    records = spill(records, scratch / "sensitive")
            counting = stack.enter_context(counting_records(data, s.options, cluster, progress, local=records))
            aggs, counts, dp_private = protect(counting, s.options, s.reporting_length, s.resolution, s.dp, s.n_threads,
                                               progress)  # fmt: skip
            law = s.aggregate_seeded
            if s.method == "aggregate-seeded":
                synthetic: Any
                synthetic, law = aggregate_seeded_output(aggs, s.records, s.aggregate_seeded, s.seed, s.n_threads,
                                                         progress, cluster)  # fmt: skip
            else:
                with progress.stage(f"synthesizing ({s.method})"):
                    in_memory = records if isinstance(records, EncodedData) else encode(data, s.options, progress)
                    synthesizer = create(s.method, resolution=s.resolution, n_threads=s.n_threads)
                    synthetic = synthesizer.fit(in_memory).sample_records(seed=s.seed)
            written = write_synthetic_files(synthetic, aggs.attributes, out, scratch / "synthetic", progress,
                                            target_records(aggs, s.records))  # fmt: skip
            privacy = s.privacy(aggs)
            with progress.stage("evaluating against the released aggregates"):
                public_eval = evaluate_public(aggs, written.records, privacy)
            with progress.stage("writing the public release"):
                info = input_description(s.options, cluster)
                info.update(release_id=release_id, synthesis_method=s.method, synthetic_records=written.n_records,
                            synthesis_seeded=s.seed is not None, synthesis_streamed=written.streamed)  # fmt: skip
                if s.method == "aggregate-seeded":
                    info.update(synthesis_parameters(law))
                write_aggregates_release(
                    aggs, out, info_extra=info,
                    tables={"synthetic": written.parquet, "evaluation": summary_rows(public_eval)},
                    created_at=created_at,
                )  # fmt: skip
                levels = pl.DataFrame(aggs.levels) if aggs.levels else None
                (out / "report.html").write_text(render_report(public_eval, f"{s.title} — public report", levels),
                                                 encoding="utf-8")  # fmt: skip
                (out / "codebook.yaml").write_text(public_codebook(aggs, s.options.schema).to_yaml(), encoding="utf-8")
            # private material: everything computed from the sensitive data
            if counts is None:
                counts = count_combinations(counting, aggs.reporting_length, s.n_threads, progress)
                write_release_errors(aggs, counts, private)
            stats = sensitive_statistics(records, counts, s.resolution, s.n_threads, progress)
            with progress.stage("evaluating against the sensitive data"):
                private_eval = evaluate_records(records, written.records, aggs.reporting_length, s.resolution, privacy,
                                                progress, real_counts=counts, statistics=stats)  # fmt: skip
            with progress.stage("writing the private folder"):
                write_evaluation(private_eval, private)
                (private / "report.html").write_text(render_report(private_eval, f"{s.title} — private report", levels),
                                                     encoding="utf-8")  # fmt: skip
                write_private_statistics(stats, counts, private)
                write_dp_private(dp_private, private)
                fingerprint: dict[str, Any] = {"records": counts.n_records, "release_id": release_id}
                if isinstance(data, str | Path) and Path(data).is_file():
                    fingerprint.update(input=str(data), bytes=Path(data).stat().st_size, sha256=sha256(Path(data)))
                (private / "input_fingerprint.json").write_text(json.dumps(fingerprint, indent=2), encoding="utf-8")
            shutil.rmtree(scratch, ignore_errors=True)
            manifest = {
                "release_id": release_id,
                "software": f"sdsynth {__version__}",
                "created_at": created_at,
                "parameters": {k: v for k, v in aggs.parameters.items()},
                "record_count": aggs.record_count,
                "synthesis": {
                    "method": s.method,
                    "records": written.n_records,
                    **(synthesis_parameters(law) if s.method == "aggregate-seeded" else {}),
                },
                "files": {
                    p.relative_to(out).as_posix(): {"bytes": p.stat().st_size, "sha256": sha256(p)}
                    for p in sorted(out.rglob("*"))
                    if p.is_file()
                },
            }
            (out / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
        complete(entry, release_id, aggs, s.out)
    warn_default_delta(aggs, s.dp, progress)
    return ReleaseResult(aggs, written.n_records, public_eval.summary, private_eval.summary, release_id)
