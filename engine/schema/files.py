"""Loading schemas from YAML/JSON files or by the name of a shipped schema, with errors that name the entry at fault."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sdsynth.errors import SchemaError
from sdsynth.schema.model import (
    FORMAT_VERSION,
    Bins,
    ColumnSpec,
    Schema,
)


def _edge_in(e: Any, where: str) -> float:
    if isinstance(e, bool):
        raise SchemaError(f"{where}: bin edge {e!r} is not a number")
    if isinstance(e, int | float):
        return float(e)
    if isinstance(e, str) and e.strip().lower() in {"inf", "+inf", "-inf", "infinity", "-infinity"}:
        return float(e.strip().lower().replace("infinity", "inf"))
    raise SchemaError(f"{where}: bin edge {e!r} is not a number")


_COLUMN_KEYS = {
    "name",
    "kind",
    "values",
    "pattern",
    "delimiter",
    "bins",
    "sensitive_zeros",
    "use",
    "missing_values",
    "description",
    "drafted",
    "aliases",
}
_SCHEMA_KEYS = {"format_version", "name", "description", "subject_id", "missing_values", "columns"}


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise SchemaError(f"{where} must be a list")
    return tuple(_scalar_str(v, where) for v in value)


def _scalar_str(v: Any, where: str) -> str:
    if isinstance(v, bool) or v is None or isinstance(v, list | dict):
        raise SchemaError(f"{where}: {v!r} is not a text value (quote it in YAML)")
    return str(v)


def _aliases(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    """`aliases: {published spelling: canonical value}`, in the file's order."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise SchemaError(f"{where} must be a mapping from the spelling in the data to the schema's value")
    return tuple((_scalar_str(k, where), _scalar_str(v, where)) for k, v in value.items())


def schema_from_dict(data: Mapping[str, Any], source: str | None = None) -> Schema:
    """Build a Schema from parsed YAML/JSON, with errors that name the offending entry."""
    where = source or "schema"
    if not isinstance(data, Mapping):
        raise SchemaError(f"{where}: the top level must be a mapping with a 'columns' list")
    unknown = set(data) - _SCHEMA_KEYS
    if unknown:
        raise SchemaError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    version = data.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise SchemaError(f"{where}: format_version {version!r} is not supported (this sdsynth reads {FORMAT_VERSION})")
    raw_columns = data.get("columns")
    if not isinstance(raw_columns, list) or not raw_columns:
        raise SchemaError(f"{where}: 'columns' must be a non-empty list")
    columns = []
    for i, raw in enumerate(raw_columns):
        if not isinstance(raw, Mapping) or "name" not in raw:
            raise SchemaError(f"{where}: column entry {i + 1} must be a mapping with a 'name'")
        cw = f"{where}, column {raw['name']!r}"
        unknown = set(raw) - _COLUMN_KEYS
        if unknown:
            raise SchemaError(f"{cw}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        bins = None
        if raw.get("bins") is not None:
            b = raw["bins"]
            if not isinstance(b, Mapping) or "edges" not in b:
                raise SchemaError(f"{cw}: 'bins' must be a mapping with 'edges' (and optional 'labels')")
            if not isinstance(b["edges"], list):
                raise SchemaError(f"{cw}: bin edges must be a list")
            edges = tuple(_edge_in(e, cw) for e in b["edges"])
            labels = _str_list(b["labels"], f"{cw} bin labels") if "labels" in b else Bins.default_labels(edges)
            try:
                bins = Bins(edges=edges, labels=labels, inferred=bool(b.get("inferred", False)))
            except SchemaError as exc:
                raise SchemaError(f"{cw}: {exc}") from None
        try:
            columns.append(
                ColumnSpec(
                    name=_scalar_str(raw["name"], cw),
                    kind=raw.get("kind", "categorical"),
                    values=_str_list(raw["values"], f"{cw} values") if raw.get("values") is not None else None,
                    pattern=raw.get("pattern"),
                    delimiter=raw.get("delimiter"),
                    bins=bins,
                    sensitive_zeros=bool(raw.get("sensitive_zeros", False)),
                    use=bool(raw.get("use", True)),
                    missing_values=_str_list(raw.get("missing_values", []), f"{cw} missing_values"),
                    description=str(raw.get("description", "")),
                    drafted=bool(raw.get("drafted", False)),
                    aliases=_aliases(raw.get("aliases"), f"{cw} aliases"),
                )
            )
        except SchemaError as exc:
            raise SchemaError(f"{where}: {exc}") from None
    try:
        return Schema(
            columns=tuple(columns),
            name=str(data.get("name", "")),
            description=str(data.get("description", "")),
            subject_id=data.get("subject_id"),
            missing_values=_str_list(data.get("missing_values", []), f"{where} missing_values"),
            source=source,
        )
    except SchemaError as exc:
        raise SchemaError(f"{where}: {exc}") from None


def builtin_schemas() -> list[str]:
    """Names of the schemas shipped with sdsynth (usable as `--schema NAME`)."""
    files = resources.files("sdsynth.schemas")
    return sorted(p.name.removesuffix(".yaml") for p in files.iterdir() if p.name.endswith(".yaml"))


def schema_text(path_or_name: str | Path) -> str:
    """The text of a schema file, or of a shipped schema by name (comments included)."""
    return _schema_source(path_or_name)[0]


def _schema_source(path_or_name: str | Path) -> tuple[str, str]:
    path = Path(path_or_name)
    if path.is_file():
        return _read_text(path), str(path)
    name = str(path_or_name).removesuffix(".yaml")
    if name in builtin_schemas():
        return resources.files("sdsynth.schemas").joinpath(f"{name}.yaml").read_text(encoding="utf-8"), name
    raise SchemaError(
        f"schema {str(path_or_name)!r} is neither a file nor a shipped schema (shipped: {', '.join(builtin_schemas())})"
    )


def load_schema(path_or_name: str | Path) -> Schema:
    """Load a schema from a YAML/JSON file, or a shipped schema by name (e.g. `ctdc-victim-perpetrator`)."""
    text, source = _schema_source(path_or_name)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise SchemaError(f"{source}: not valid YAML/JSON{at}") from None
    return schema_from_dict(data, source=source)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SchemaError(f"{path}: schema file is not UTF-8 text") from None
    except OSError as exc:
        raise SchemaError(f"{path}: cannot read schema ({exc.strerror})") from None


def save_schema(schema: Schema, path: str | Path) -> None:
    Path(path).write_text(schema.to_yaml(), encoding="utf-8")
