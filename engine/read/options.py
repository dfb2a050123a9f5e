"""`IngestOptions`: how to read a sensitive table. A schema and explicit options merge, explicit options winning."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sdsynth.errors import ParameterError
from sdsynth.schema.model import Schema


@dataclass(frozen=True)
class IngestOptions:
    """How to read a sensitive table. Unset options come from the schema, then from the reference's defaults."""

    schema: Schema | None = None
    use_columns: Sequence[str] | None = None
    drop_columns: Sequence[str] | None = None  # read everything else (with `use_columns`: those but these)
    sensitive_zeros: Sequence[str] | None = None
    multi_value: Mapping[str, str] | None = None
    subject_id: str | None = None
    record_limit: int = 0
    missing_values: Sequence[str] | None = None
    delimiter: str | None = None

    def __post_init__(self) -> None:
        if self.record_limit < 0:
            raise ParameterError(f"record limit must be >= 0 (0 = all rows), got {self.record_limit}")
        for name, delim in (self.multi_value or {}).items():
            if not delim:
                raise ParameterError(f"multi-value column {name!r} needs a non-empty delimiter")

    @property
    def effective_subject_id(self) -> str | None:
        if self.subject_id is not None:
            return self.subject_id or None
        return self.schema.subject_id if self.schema else None
