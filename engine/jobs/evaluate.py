"""`run_evaluate` (`sdsynth evaluate`): a synthetic table against the sensitive one (private), and against a release's
aggregates when one is given (public), with their reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdsynth._utils.context import RunContext, context
from sdsynth._utils.files import atomic_directory, check_output_dir
from sdsynth.bundle.read import load_release
from sdsynth.encode.tables import encode
from sdsynth.errors import ParameterError
from sdsynth.evaluation.evaluate import (
    Evaluation,
    evaluate_private,
    evaluate_public,
    synthetic_side_options,
    write_evaluation,
)
from sdsynth.evaluation.report import render_report
from sdsynth.protect.kanon import DEFAULT_RESOLUTION
from sdsynth.read.options import IngestOptions


@dataclass
class EvaluateResult:
    private: Evaluation
    public: Evaluation | None


def run_evaluate(
    sensitive: Any,
    synthetic: Any,
    options: IngestOptions,
    out: str | Path,
    reporting_length: int = 3,
    resolution: int | None = None,
    aggregates: str | Path | None = None,
    overwrite: bool = False,
    ctx: RunContext | None = None,
) -> EvaluateResult:
    """Write `out/evaluation.json`, `out/evaluation_details/*.parquet` and `out/report.html` (all computed from the
    sensitive data: private, owner-only); with a release folder `aggregates`, also `aggregates_evaluation.json`
    and `aggregates_report.html` (synthetic against the released aggregates)."""
    ctx = context(ctx)
    if reporting_length < 1:
        raise ParameterError(f"`reporting_length` must be at least 1, got {reporting_length}")
    resolution = resolution if resolution is not None else DEFAULT_RESOLUTION
    if resolution < 1:
        raise ParameterError(f"`resolution` must be at least 1, got {resolution}")
    inputs = [sensitive, synthetic, aggregates]
    check_output_dir(out, overwrite, inputs)
    released = load_release(aggregates) if aggregates is not None else None
    privacy = dict(released.parameters) if released is not None else {}
    with atomic_directory(out, overwrite, private=True, inputs=inputs) as tmp:
        evaluation = evaluate_private(sensitive, synthetic, options, reporting_length, resolution, privacy, ctx)
        write_evaluation(evaluation, Path(tmp))
        (Path(tmp) / "report.html").write_text(render_report(evaluation, "Evaluation (private)"), encoding="utf-8")
        public = None
        if released is not None:
            public = evaluate_public(released, encode(synthetic, synthetic_side_options(options, synthetic)), privacy)
            write_evaluation(public, Path(tmp), prefix="aggregates_")
            (Path(tmp) / "aggregates_report.html").write_text(
                render_report(public, "Synthetic data against the released aggregates"), encoding="utf-8"
            )
    return EvaluateResult(evaluation, public)
