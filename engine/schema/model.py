"""Schemas: what the columns of a sensitive table mean (docs/schema-format.md).

A schema says, per column, its kind (categorical, flag, multi-value with a delimiter, numeric with bins), which
values are allowed, which tokens mean "missing", whether zeros are sensitive and whether the column is used at all;
and for the table, the subject id. `data/schemas/` holds the schemas we ship (the CTDC victim-perpetrator codebook
first).

Binned numeric columns carry `inferred: true` when their edges were computed from the data, and value lists carry
`drafted: true` when `schema infer` listed them from the data: both are functions of the sensitive data, which a
release must not depend on, so `release` warns about them and the public codebook never copies them.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import yaml

from sdsynth.errors import SchemaError

ColumnKind = Literal["categorical", "flag", "multi_value", "numeric"]
COLUMN_KINDS: tuple[str, ...] = ("categorical", "flag", "multi_value", "numeric")
FORMAT_VERSION = 1


def cmp_key(name: str) -> str:
    """How user-supplied column names are matched to headers (docs/method.md, "Reading the input"): trimmed and
    case-insensitive."""
    return name.strip().lower()


@dataclass(frozen=True)
class Bins:
    """Edges and labels that turn a numeric column into categories.

    Intervals are closed on the left, `[edges[i], edges[i+1])`, except the last which is closed on both sides, so a
    value equal to the top edge still falls in the last bin. Edges may be `-inf`/`inf`.
    """

    edges: tuple[float, ...]
    labels: tuple[str, ...]
    inferred: bool = False

    def __post_init__(self) -> None:
        if len(self.edges) < 2:
            raise SchemaError("bins need at least two edges")
        if any(not (a < b) for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise SchemaError(f"bin edges must increase strictly: {list(self.edges)}")
        if len(self.labels) != len(self.edges) - 1:
            raise SchemaError(f"{len(self.edges) - 1} bins need {len(self.edges) - 1} labels, got {len(self.labels)}")
        if len(set(self.labels)) != len(self.labels):
            raise SchemaError(f"bin labels must be distinct: {list(self.labels)}")

    @staticmethod
    def default_labels(edges: Sequence[float]) -> tuple[str, ...]:
        """Readable labels such as `17-24` for integer edges, `[0.5, 1.5)` otherwise."""

        def fmt(x: float) -> str:
            return str(int(x)) if math.isfinite(x) and float(x).is_integer() else str(x)

        labels = []
        last = len(edges) - 2
        for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
            integral = all(math.isfinite(v) and float(v).is_integer() for v in (lo, hi))
            if not math.isfinite(lo):
                labels.append(f"<{fmt(hi)}" if i < last else "any")
            elif not math.isfinite(hi):
                labels.append(f"{fmt(lo)}+")
            elif integral:
                top = int(hi) if i == last else int(hi) - 1
                labels.append(f"{int(lo)}-{top}" if top != int(lo) else f"{int(lo)}")
            else:
                labels.append(f"[{fmt(lo)}, {fmt(hi)}{']' if i == last else ')'}")
        return tuple(labels)


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a schema."""

    name: str
    kind: ColumnKind = "categorical"
    values: tuple[str, ...] | None = None
    pattern: str | None = None
    delimiter: str | None = None
    bins: Bins | None = None
    sensitive_zeros: bool = False
    use: bool = True
    missing_values: tuple[str, ...] = ()
    description: str = ""
    drafted: bool = False  # `values` (or multi-value parts) were listed from the data by `schema infer`
    aliases: tuple[tuple[str, str], ...] = ()  # (published spelling, canonical value), read as the canonical value

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise SchemaError("a column has an empty name")
        if self.kind not in COLUMN_KINDS:
            raise SchemaError(f"column {self.name!r}: kind must be one of {', '.join(COLUMN_KINDS)}, got {self.kind!r}")
        if self.kind == "multi_value" and not self.delimiter:
            raise SchemaError(f"column {self.name!r}: a multi_value column needs a delimiter")
        if self.kind != "multi_value" and self.delimiter:
            raise SchemaError(f"column {self.name!r}: only multi_value columns take a delimiter")
        if self.kind == "numeric" and self.bins is None:
            raise SchemaError(f"column {self.name!r}: a numeric column needs bins (edges and labels)")
        if self.kind != "numeric" and self.bins is not None:
            raise SchemaError(f"column {self.name!r}: only numeric columns take bins")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise SchemaError(f"column {self.name!r}: invalid pattern {self.pattern!r}: {exc}") from None
        self._check_aliases()

    def _check_aliases(self) -> None:
        """An alias maps a spelling the data uses to one value the column allows, and nothing is ambiguous: no alias
        spells an allowed value, a missing token or another alias, and none leads to a value the column refuses."""
        if not self.aliases:
            return
        where = f"column {self.name!r}"
        if self.kind == "numeric":
            raise SchemaError(f"{where}: a numeric column takes bins, not aliases")
        seen: set[str] = set()
        allowed = self.allowed_values or frozenset()
        for spelling, value in self.aliases:
            if spelling != spelling.strip() or not spelling:
                raise SchemaError(f"{where}: alias {spelling!r} must be non-empty without surrounding spaces")
            if spelling in seen:
                raise SchemaError(f"{where}: alias {spelling!r} is listed twice")
            seen.add(spelling)
            if spelling in allowed or spelling in self.missing_values:
                kind = "an allowed value" if spelling in allowed else "a missing token"
                raise SchemaError(f"{where}: alias {spelling!r} is {kind} of this column")
            if spelling == value or value in dict(self.aliases):
                raise SchemaError(f"{where}: alias {spelling!r} must lead to a value, not to an alias")
            if not self.accepts(value):
                raise SchemaError(f"{where}: alias {spelling!r} leads to {value!r}, which the column does not allow")

    @property
    def alias_map(self) -> dict[str, str]:
        """Published spelling → canonical value."""
        return dict(self.aliases)

    @property
    def allowed_values(self) -> frozenset[str] | None:
        """Values accepted as they are (after trimming); None means any value."""
        if self.kind == "numeric":
            return None
        if self.values is None:
            return frozenset({"1"}) if self.kind == "flag" else None
        return frozenset(self.values)

    @property
    def domain_size(self) -> int | None:
        """How many values (or multi-value parts) the column can hold, when the schema says so as a public fact:
        a flag's one, a numeric column's bins, a value list with no pattern that was not drafted from the data;
        None otherwise."""
        if self.kind == "numeric":
            return len(self.bins.labels) if self.bins is not None and not self.bins.inferred else None
        if self.kind == "flag" and self.values is None:
            return 1
        if self.values is None or self.pattern is not None or self.drafted:
            return None
        return len(self.values)

    @property
    def public_values(self) -> tuple[str, ...] | None:
        """Every value (or multi-value part) the column can hold, when the schema gives them as a public fact
        (`domain_size` is not None): a DP release may then give each a noisy count without first hiding which
        values occur (docs/privacy.md, "Declared values at length 1")."""
        if self.domain_size is None:
            return None
        if self.kind == "numeric":
            return self.bins.labels if self.bins is not None else None
        return tuple(self.values) if self.values is not None else ("1",)

    def accepts(self, value: str) -> bool:
        """Whether a trimmed, non-missing value (or multi-value part), read through the aliases, is allowed by this
        column."""
        value = self.alias_map.get(value, value)
        allowed = self.allowed_values
        if allowed is None and self.pattern is None:
            return True
        if allowed is not None and value in allowed:
            return True
        return self.pattern is not None and re.fullmatch(self.pattern, value) is not None


@dataclass(frozen=True)
class Schema:
    """The columns of a table and how to read them (see the module docstring)."""

    columns: tuple[ColumnSpec, ...]
    name: str = ""
    description: str = ""
    subject_id: str | None = None
    missing_values: tuple[str, ...] = ()
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for col in self.columns:
            key = cmp_key(col.name)
            if key in seen:
                raise SchemaError(f"schema lists column {col.name!r} twice")
            seen[key] = col.name
            clash = sorted(set(col.alias_map) & set(self.missing_values))
            if clash:
                raise SchemaError(f"column {col.name!r}: alias {clash[0]!r} is a missing token of the schema")

    def column(self, name: str) -> ColumnSpec | None:
        """The spec of a column, matched as headers are (trimmed, case-insensitive)."""
        key = cmp_key(name)
        for col in self.columns:
            if cmp_key(col.name) == key:
                return col
        return None

    @property
    def inferred_bin_columns(self) -> list[str]:
        """Numeric columns whose bin edges were computed from data (they leak in DP mode)."""
        return [c.name for c in self.columns if c.bins is not None and c.bins.inferred]

    @property
    def drafted_value_columns(self) -> list[str]:
        """Columns whose value lists were drafted from data (not a public input until a person reviews them)."""
        return [c.name for c in self.columns if c.drafted and c.values is not None]

    def with_columns(self, columns: Iterable[ColumnSpec]) -> Schema:
        return replace(self, columns=tuple(columns))

    # ------------------------------------------------------------------------------------------------ (de)serialise
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format_version": FORMAT_VERSION}
        if self.name:
            out["name"] = self.name
        if self.description:
            out["description"] = self.description
        if self.subject_id:
            out["subject_id"] = self.subject_id
        if self.missing_values:
            out["missing_values"] = list(self.missing_values)
        out["columns"] = [_column_to_dict(c) for c in self.columns]
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=120)


def _column_to_dict(col: ColumnSpec) -> dict[str, Any]:
    d: dict[str, Any] = {"name": col.name, "kind": col.kind}
    if col.description:
        d["description"] = col.description
    if col.delimiter:
        d["delimiter"] = col.delimiter
    if col.values is not None:
        d["values"] = list(col.values)
        if col.drafted:
            d["drafted"] = True
    if col.pattern:
        d["pattern"] = col.pattern
    if col.aliases:
        d["aliases"] = dict(col.aliases)
    if col.bins is not None:
        d["bins"] = {
            "edges": [_edge_out(e) for e in col.bins.edges],
            "labels": list(col.bins.labels),
            "inferred": col.bins.inferred,
        }
    if col.sensitive_zeros:
        d["sensitive_zeros"] = True
    if not col.use:
        d["use"] = False
    if col.missing_values:
        d["missing_values"] = list(col.missing_values)
    return d


def _edge_out(e: float) -> float | int | str:
    if math.isinf(e):
        return "inf" if e > 0 else "-inf"
    return int(e) if float(e).is_integer() else e
