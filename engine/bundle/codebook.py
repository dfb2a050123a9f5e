"""The public codebook of a release: the released columns and their values, from public knowledge only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sdsynth.protect.aggregates import Aggregates
from sdsynth.read.escape import unescape
from sdsynth.schema.model import ColumnSpec, Schema

if TYPE_CHECKING:
    pass


def public_codebook(aggs: Aggregates, schema: Schema | None) -> Schema:
    """The released columns and their values, from public knowledge only.

    Per planned column: what a person declared in the schema (kind, delimiter, description, values, bin edges),
    and where the schema declares no values, drafted them from the data (`drafted: true`) or inferred its bins, the
    values the release itself shows at length 1. A drafted list names every value seen, rare ones included, so it
    is never copied: one record would otherwise add a value to the public codebook."""
    attrs = aggs.attributes
    released: dict[int, set[str]] = {}
    for a in aggs.layout.unpack(aggs.keys[aggs.lengths == 1], 1)[:, 0].tolist():
        col = attrs.columns[attrs.column_of[a]]
        released.setdefault(col.source_position, set()).add(unescape(col.part if col.is_part else attrs.values[a]))
    reviewed = schema is not None and not schema.drafted_value_columns and not schema.inferred_bin_columns
    columns = []
    for position, source in enumerate(attrs.sources):
        name = unescape(source.name)
        spec = schema.column(name) if schema is not None else None
        drafted = spec is not None and (spec.drafted or (spec.bins is not None and spec.bins.inferred))
        declared = spec.values if spec is not None and not drafted else None
        seen = released.get(position, set())
        # values a declared pattern admits appear once released; a list with no pattern is complete as declared
        shown = (
            tuple(sorted(seen))
            if declared is None
            else declared + tuple(sorted(seen - set(declared)) if spec is not None and spec.pattern else ())
        )
        pattern = spec.pattern if spec is not None and not drafted else None
        description = spec.description if spec is not None and not drafted else ""
        if source.is_multi_value:
            columns.append(ColumnSpec(name, kind="multi_value", delimiter=source.delimiter, values=shown,
                                      description=description))  # fmt: skip
        elif spec is not None and spec.bins is not None and not drafted:
            columns.append(ColumnSpec(name, kind="numeric", bins=spec.bins, description=description))
        elif spec is not None and spec.kind == "flag" and not drafted:
            columns.append(ColumnSpec(name, kind="flag", values=declared, description=description))
        else:
            columns.append(ColumnSpec(name, values=shown, pattern=pattern, description=description))
    return Schema(
        columns=tuple(columns),
        name=schema.name if schema is not None and schema.name else "codebook",
        description=schema.description if reviewed and schema is not None else "Released columns and values.",
        subject_id=schema.subject_id if schema is not None else None,
        missing_values=schema.missing_values if reviewed and schema is not None else (),
    )
