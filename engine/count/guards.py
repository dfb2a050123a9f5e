"""Checks before counting: refuse work that would not fit in memory, and warn about identifier-like columns.

Counting keeps one entry per distinct combination, and the later stages (DP, synthesis, evaluation) hold tables of
the same combinations, so memory grows with the attribute domain and R more than with the number of records
(`count.estimate`). A column where nearly every record has its own value (a case number, a date-time, an exact
income) multiplies the combinations by the number of records and makes every combination that includes it
unique: it is an identifier, not an attribute, and it is worth dropping or binning before anything else.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import psutil

from sdsynth._utils.progress import Progress
from sdsynth.count.estimate import (
    STAGES,
    StageMemory,
    combinations_bound,
    expected_combinations,
    human_bytes,
    stage_memory,
    uniform_counts,
)
from sdsynth.encode.attributes import AttributeTable
from sdsynth.encode.records import EncodedData
from sdsynth.encode.spill import SpilledRecords
from sdsynth.errors import ParameterError
from sdsynth.read.escape import unescape
from sdsynth.read.identifiers import about, identifier_like, identifier_warning

MEMORY_SHARE = 0.8  # of the memory available when the check runs
WIDEST_NAMED = 3  # columns named in a refusal


def records_size(records: object) -> tuple[int, int]:
    """(records, attributes over all records) of EncodedData, a spilled or a scanned stream."""
    n = int(getattr(records, "n_records", 0))
    ids = getattr(records, "ids", None)
    n_ids = len(ids) if ids is not None else int(getattr(records, "n_ids", 0))
    return n, n_ids


def attribute_counts(records: object) -> np.ndarray | None:
    """How many records hold each attribute, from records in memory or spilled to disk (None for a stream read
    again from its source or records on a cluster: one more pass is not worth it, `uniform_counts` stands in)."""
    if not isinstance(records, EncodedData | SpilledRecords):
        return None
    counts = np.zeros(records.attributes.n_attributes, dtype=np.int64)
    for _, ids in records.batches():
        counts += np.bincount(ids, minlength=len(counts))
    return counts


def column_value_counts(attributes: AttributeTable, counts: np.ndarray | None, n_records: int) -> list[np.ndarray]:
    """Per expanded column, its values' record counts (even shares when `counts` is None)."""
    per_column = np.bincount(attributes.column_of, minlength=len(attributes.columns))
    if counts is None:
        return uniform_counts(per_column.tolist(), n_records)
    return [counts[attributes.column_of == c] for c in range(len(attributes.columns))]


def check_memory(
    records: object,
    reporting_length: int,
    progress: Progress,
    stages: Sequence[str] = STAGES,
    synthesis_extra: int = 0,
    available_bytes: int | None = None,
) -> list[StageMemory]:
    """Warn about identifier-like columns; refuse (ParameterError) when a stage of the run would need more than
    MEMORY_SHARE of the memory available, naming the widest columns and what to do. Returns the estimate decided on
    (`count.estimate.stage_memory`): from the bound by cells when even that fits, else from the expected
    combinations (which need a pass over the records' attribute counts and a sum over column sets)."""
    attributes: AttributeTable = records.attributes  # type: ignore[attr-defined]
    n_records, _ = records_size(records)
    cardinality = np.bincount(attributes.column_of, minlength=len(attributes.columns))
    single = {unescape(c.name): int(k) for c, k in zip(attributes.columns, cardinality, strict=True) if not c.is_part}
    identifiers = identifier_like(single, n_records)
    if identifiers:
        progress.warn(identifier_warning(identifiers))
    if n_records == 0:
        return []
    available = psutil.virtual_memory().available if available_bytes is None else available_bytes

    def peak_of(combinations: int) -> tuple[list[StageMemory], StageMemory]:
        estimate = stage_memory(combinations, n_records, len(attributes.sources), stages, synthesis_extra)
        return estimate, max(estimate, key=lambda s: s.bytes)

    estimate, peak = peak_of(combinations_bound(cardinality.tolist(), reporting_length))
    if peak.bytes <= MEMORY_SHARE * available:  # fits even if every cell were filled: no closer estimate needed
        return estimate
    value_counts = column_value_counts(attributes, attribute_counts(records), n_records)
    estimate, peak = peak_of(sum(expected_combinations(value_counts, n_records, reporting_length)))
    if peak.bytes > MEMORY_SHARE * available:
        raise ParameterError(memory_refusal(peak, available, reporting_length, single, identifiers))
    return estimate


def memory_refusal(
    peak: StageMemory, available: int, reporting_length: int, distinct: dict[str, int], identifiers: list
) -> str:
    """The refusal: which stage, how much, the widest columns (distinct values rounded) and what to do."""
    widest = sorted(distinct.items(), key=lambda kv: -kv[1])[:WIDEST_NAMED]
    named = ", ".join(f"{name} (about {about(k):,} values)" for name, k in widest)
    advice = [f"lower `reporting_length` (now {reporting_length})", "bin numeric columns in the schema"]
    drop = [f.column for f in identifiers] or [name for name, _ in widest[:1]]
    advice.append(f"drop columns (`drop_columns` {','.join(drop)})")
    kind = "identifier-like column(s)" if identifiers else "widest column"
    return (
        f"the {peak.stage} stage would need about {human_bytes(peak.bytes)}, more than {MEMORY_SHARE:.0%} of the "
        f"{human_bytes(available)} available; the widest columns: {named}. To fit: "
        + "; ".join(advice)
        + f" (the {kind} first)"
    )
