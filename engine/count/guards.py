"""Checks before counting: refuse work that would not fit in memory, and warn about identifier-like columns.

Counting keeps one entry per distinct combination, so memory grows with the attribute domain and R, not with the
number of records. A column where nearly every record has its own value (a case number, a date-time, an exact
income) multiplies the combinations by the number of records and makes every combination that includes it
unique: it is an identifier, not an attribute, and it is worth dropping or binning before anything else.
"""

from __future__ import annotations

import numpy as np
import psutil

from sdsynth._utils.progress import Progress
from sdsynth.count.estimate import estimate_combinations, human_bytes, memory_estimate_bytes
from sdsynth.encode.attributes import AttributeTable
from sdsynth.errors import ParameterError
from sdsynth.read.escape import unescape
from sdsynth.read.identifiers import identifier_like, identifier_warning
from sdsynth.read.sources import DEFAULT_BATCH_ROWS

MEMORY_SHARE = 0.8  # of the memory available when the check runs


def records_size(records: object) -> tuple[int, int]:
    """(records, attributes over all records) of EncodedData, a spilled or a scanned stream."""
    n = int(getattr(records, "n_records", 0))
    ids = getattr(records, "ids", None)
    n_ids = len(ids) if ids is not None else int(getattr(records, "n_ids", 0))
    return n, n_ids


def check_counting(
    attributes: AttributeTable,
    n_records: int,
    n_ids: int,
    reporting_length: int,
    progress: Progress,
    available_bytes: int | None = None,
) -> None:
    """Warn about identifier-like columns; refuse (ParameterError) when counting would exceed the memory."""
    cardinality = np.bincount(attributes.column_of, minlength=len(attributes.columns))
    single = {unescape(c.name): int(k) for c, k in zip(attributes.columns, cardinality, strict=True) if not c.is_part}
    identifiers = identifier_like(single, n_records)
    if identifiers:
        progress.warn(identifier_warning(identifiers))
    if n_records == 0:
        return
    mean_attributes = n_ids / n_records
    combinations = estimate_combinations(cardinality.tolist(), reporting_length, n_records, mean_attributes)
    need = memory_estimate_bytes(combinations, DEFAULT_BATCH_ROWS, mean_attributes)
    available = psutil.virtual_memory().available if available_bytes is None else available_bytes
    if need > MEMORY_SHARE * available:
        advice = ["lower `reporting_length` (now " + str(reporting_length) + ")", "bin numeric columns in the schema"]
        if identifiers:
            advice.append("drop the identifier-like column(s) " + ", ".join(f.column for f in identifiers))
        raise ParameterError(
            f"counting combinations of up to {reporting_length} attributes would need about {human_bytes(need)}, "
            f"more than the {human_bytes(available)} available; " + "; ".join(advice)
        )
