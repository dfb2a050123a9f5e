"""The shipped NIST CRC Diverse Communities schema against the real excerpts and their data dictionary."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import shared_file

from sdsynth.encode.tables import encode
from sdsynth.engine import IngestOptions, load_schema
from sdsynth.read.validate import validate_table
from sdsynth.schema.model import ColumnSpec

SCHEMA = "nist-diverse-communities"
WEIGHTS = {"PWGTP", "WGTP"}
# INDP's dictionary entry only links to the 2019 PUMS data dictionary, whose industry codes run from 0170 to 9920
PUMS_INDP_RANGE = (170.0, 9920.0)
DESCRIPTIVE_KEYS = {"description", "link", "values", "N", "min", "max"}


def dictionary() -> dict[str, Any]:
    return json.loads(shared_file("nist_data_dictionary.json").read_text(encoding="utf-8"))


def documented(entry: dict[str, Any]) -> dict[str, Any]:
    """The codes and min/max of a dictionary entry (PINCP and PINCP_DECILE list them beside `description`)."""
    values = entry.get("values")
    if isinstance(values, dict):
        return values
    return {k: v for k, v in entry.items() if k not in {"description", "link"}}


def numeric_range(name: str, entry: dict[str, Any]) -> tuple[float, float]:
    if name == "INDP":
        return PUMS_INDP_RANGE
    doc = documented(entry)
    return float(doc["min"]), float(doc["max"])


def used(name: str) -> ColumnSpec:
    col = load_schema(SCHEMA).column(name)
    assert col is not None, f"{name} is not in the schema"
    return col


@pytest.mark.parametrize(("name", "rows"), [("nist_national2019.csv", 27253), ("nist_ma2019.csv", 7634)])
def test_both_excerpts_validate_and_encode(name: str, rows: int) -> None:
    path = shared_file(name)
    options = IngestOptions(schema=load_schema(SCHEMA))
    assert list(validate_table(path, options)) == []
    data = encode(path, options)
    assert data.n_records == rows
    names = {c.name for c in data.attributes.columns}
    assert len(names) == 22
    assert not names & WEIGHTS
    # zero is a value, not "absent", where the dictionary gives it a meaning
    values = set(data.attributes.to_frame().select("column", "value").iter_rows())
    assert {("HISP", "0"), ("OWN_RENT", "0"), ("NOC", "0"), ("AGEP", "0-4")} <= values


def test_schema_lists_every_dictionary_column_and_drops_the_weights() -> None:
    schema = load_schema(SCHEMA)
    assert {c.name for c in schema.columns} == set(dictionary())
    assert {c.name for c in schema.columns if not c.use} == WEIGHTS
    assert schema.missing_values == ("N",)
    assert schema.inferred_bin_columns == []


def test_numeric_columns_are_binned_over_the_documented_range() -> None:
    numeric = {
        name
        for name, entry in dictionary().items()
        if name not in WEIGHTS and ("min" in documented(entry) or name == "INDP")
    }
    assert numeric == {"AGEP", "NOC", "NPF", "DENSITY", "INDP", "PINCP", "POVPIP"}
    for name in sorted(numeric):
        entry = dictionary()[name]
        col = used(name)
        assert col.kind == "numeric" and col.bins is not None, name
        lo, hi = numeric_range(name, entry)
        edges = col.bins.edges
        assert edges[0] <= lo and hi <= edges[-1], f"{name}: bins {edges[0]}..{edges[-1]} miss {lo}..{hi}"
        # special codes beside the range (NOC 0 = no children, POVPIP 501 = above 5x the poverty line) are binned
        for code in documented(entry):
            if code not in DESCRIPTIVE_KEYS:
                assert edges[0] <= float(code) <= edges[-1], f"{name}: code {code} outside the bins"
                if float(code) == 0:
                    assert col.sensitive_zeros, f"{name}: 0 is a documented value"
        assert len(set(col.bins.labels)) == len(col.bins.labels), f"{name}: labels repeat"


def test_categorical_columns_allow_exactly_the_documented_codes() -> None:
    for name, entry in dictionary().items():
        col = used(name)
        if name in WEIGHTS or col.kind == "numeric":
            continue
        codes = {k for k in documented(entry) if k not in DESCRIPTIVE_KEYS}
        assert col.kind == "categorical", name
        assert set(col.values or ()) == codes, name
        assert col.sensitive_zeros == ("0" in codes), name
