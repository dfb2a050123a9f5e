"""`sdsynth release`: ingest → aggregates → synthesis → evaluation → reports, in one go.

The public folder receives only what is safe to publish: the released aggregates, the synthetic records, the
public evaluation (synthetic against the released aggregates, never against the sensitive data), its report, the
codebook and a manifest with the SHA-256 of every file. Everything computed from the sensitive data — the private
evaluation and report, input fingerprints, true counts, disclosure-risk statistics — goes to the private folder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from . import ledger
from ._version import __version__
from .aggregate import Aggregates, count_combinations
from .analysis import sensitive_statistics
from .dp.params import DpParameters
from .encode import EncodedData, EncodedStream, encode, stream_encoded
from .errors import ParameterError
from .evaluation import evaluate_public, evaluate_records, summary_rows, write_evaluation
from .ingest import IngestOptions, unescape
from .pipeline import (
    aggregate_seeded_output,
    counting_records,
    input_description,
    protect,
    synthesis_parameters,
    target_records,
    warn_inferred_bins,
    write_private_statistics,
    write_release_errors,
)
from .progress import NullProgress, Progress
from .release import atomic_directory, check_output_dir, write_aggregates_release
from .report import render_report
from .schema import ColumnSpec, Schema
from .spill import spill
from .synth import AggregateSeededParameters, create
from .synthetic_output import write_synthetic_files

if TYPE_CHECKING:
    from .distributed import DaskEngine


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
    ledger_path: Path | None = None
    dataset_id: str | None = None
    budget: float | None = None
    title: str = "sdsynth release"

    def __post_init__(self) -> None:
        if self.method is None:
            self.method = "aggregate-seeded" if self.dp is not None else "row-seeded"
        if self.dp is not None and self.method != "aggregate-seeded":
            raise ParameterError("a DP release synthesizes from its aggregates: the method must be aggregate-seeded")
        if self.ledger_path is not None and not self.dataset_id:
            raise ParameterError("--ledger needs --dataset-id (which dataset the budget is spent on)")
        if (self.budget is not None or self.dataset_id) and self.ledger_path is None:
            raise ParameterError("--budget and --dataset-id need --ledger FILE")
        if self.ledger_path is not None and self.dp is None:
            raise ParameterError("the budget ledger records DP releases; add --dp --epsilon E")
        if self.out.resolve() == self.private_out.resolve():
            raise ParameterError("--out and --private-out must be different folders")

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


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def public_codebook(aggs: Aggregates, schema: Schema | None) -> Schema:
    """The schema if there is one; otherwise a codebook of the released columns and values (all public)."""
    if schema is not None:
        return schema
    values: dict[str, set[str]] = {}
    parts: dict[str, tuple[str, set[str]]] = {}
    single = aggs.lengths == 1
    for a in aggs.layout.unpack(aggs.keys[single], 1)[:, 0].tolist():
        col = aggs.attributes.columns[aggs.attributes.column_of[a]]
        if col.is_part:
            parts.setdefault(unescape(col.source), (col.delimiter or ";", set()))[1].add(unescape(col.part or ""))
        else:
            values.setdefault(unescape(col.name), set()).add(unescape(aggs.attributes.values[a]))
    columns = []
    for name in aggs.attributes.source_columns:
        display = unescape(name)
        if display in parts:
            delim, found = parts[display]
            columns.append(ColumnSpec(display, kind="multi_value", delimiter=delim, values=tuple(sorted(found))))
        else:
            columns.append(ColumnSpec(display, values=tuple(sorted(values.get(display, set())))))
    return Schema(columns=tuple(columns), name="codebook", description="Released columns and values.")


def run_release(
    data: Any, settings: ReleaseSettings, progress: Progress | None = None, cluster: DaskEngine | None = None
) -> ReleaseResult:
    """Aggregates, synthetic records, evaluations and reports, written atomically into the two folders.

    With a Dask `cluster` the counting passes (and calibrated-law synthesis) run on its workers; the private
    statistics and evaluation read the input here, batch by batch (spilled to a scratch folder when large)."""
    progress = progress or NullProgress()
    s = settings
    if s.ledger_path is not None and s.dp is not None:
        assert s.dataset_id is not None
        before = ledger.check_budget(s.ledger_path, s.dataset_id, s.dp.epsilon, s.budget)
        progress.note(
            f"ledger: dataset {s.dataset_id!r} has spent ε = {before.epsilon:g} in {before.releases} release(s); "
            f"this release adds ε = {s.dp.epsilon:g} ({ledger.COMPOSITION})"
        )
    check_output_dir(s.out, s.overwrite)
    check_output_dir(s.private_out, s.overwrite)
    if s.dp is not None:
        warn_inferred_bins(s.options, progress)
    release_id = uuid.uuid4().hex
    with (
        atomic_directory(s.out, s.overwrite) as tmp_out,
        atomic_directory(s.private_out, s.overwrite) as tmp_private,
        ExitStack() as stack,
    ):
        out, private = Path(tmp_out), Path(tmp_private)
        scratch = private / ".scratch"  # encoded records on disk (sensitive): removed before the folder is final
        records = stream_encoded(data, s.options, progress)
        if isinstance(records, EncodedStream):  # larger than memory: later passes read the spilled encoding
            with progress.stage("encoding to a scratch folder", unit="records"):
                records = spill(records, scratch / "sensitive")
        counting = stack.enter_context(counting_records(data, s.options, cluster, progress, local=records))
        aggs, counts = protect(counting, s.options, s.reporting_length, s.resolution, s.dp, s.n_threads, progress)
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
            fingerprint: dict[str, Any] = {"records": counts.n_records, "release_id": release_id}
            if isinstance(data, str | Path) and Path(data).is_file():
                fingerprint.update(input=str(data), bytes=Path(data).stat().st_size, sha256=sha256(Path(data)))
            (private / "input_fingerprint.json").write_text(json.dumps(fingerprint, indent=2), encoding="utf-8")
        shutil.rmtree(scratch, ignore_errors=True)
        manifest = {
            "release_id": release_id,
            "software": f"sdsynth {__version__}",
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
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
    if s.ledger_path is not None and s.dp is not None:
        assert s.dataset_id is not None
        delta = float(aggs.parameters.get("delta") or 0.0)
        ledger.record(s.ledger_path, s.dataset_id, release_id, s.dp.epsilon, delta, str(s.out))
    return ReleaseResult(aggs, written.n_records, public_eval.summary, private_eval.summary, release_id)
