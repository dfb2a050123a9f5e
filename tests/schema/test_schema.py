"""Schema files: loading, errors, drafting from data and validating data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import shared_file
from typer.testing import CliRunner

from sdsynth.cli.main import app
from sdsynth.encode.tables import encode
from sdsynth.engine import IngestOptions, SchemaError, load_schema
from sdsynth.read.draft import infer_schema
from sdsynth.read.validate import validate_table
from sdsynth.schema.files import schema_from_dict
from sdsynth.schema.model import Bins

runner = CliRunner()


def test_shipped_ctdc_schema_encodes_the_codebook() -> None:
    schema = load_schema("ctdc-victim-perpetrator")
    assert [c.name for c in schema.columns][:3] == ["yearRegister", "gender", "majorityStatus"]
    assert len(schema.columns) == 16
    multi = {c.name for c in schema.columns if c.kind == "multi_value"}
    assert multi == {"IP_Relation", "IP_Gender", "IP_ageBroad", "IP_citizen_UNRegion", "IP_PayMoney"}
    year = schema.column("yearregister")
    assert year is not None
    assert all(year.accepts(v) for v in ["2005-2013", "2021-2022", "2023", "2024", "2031"])
    assert not any(year.accepts(v) for v in ["2022", "2010", "1999", "2023-2024"])
    age = schema.column("IP_ageBroad")
    assert age is not None and all(age.accepts(v) for v in ["48 +", "48+", "0--29", "30--38", "39--47"])
    assert not age.accepts("48") and not age.accepts("0---29")


def test_shipped_adult_schema_reads_the_real_file() -> None:
    path = shared_file("adult_uci_strings.csv")
    schema = load_schema("adult-uci")
    assert list(validate_table(path, IngestOptions(schema=schema))) == []
    data = encode(path, IngestOptions(schema=schema))
    assert data.n_records == 32561
    values = {
        (data.attributes.columns[c].name, v)
        for c, v in zip(data.attributes.column_of, data.attributes.values, strict=False)
    }
    assert ("capital-gain", "0") in values and ("age", "17-24") in values
    assert not schema.inferred_bin_columns


@pytest.mark.parametrize("name", ["adult-uci", "ctdc-victim-perpetrator"])
def test_schema_round_trips_through_yaml(name: str) -> None:
    schema = load_schema(name)
    again = schema_from_dict(yaml.safe_load(schema.to_yaml()))
    assert again.columns == schema.columns and again.missing_values == schema.missing_values


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"columns": []}, "non-empty list"),
        ({"columns": [{"name": "a", "kind": "weird"}]}, "kind must be one of"),
        ({"columns": [{"name": "a", "kind": "multi_value"}]}, "needs a delimiter"),
        ({"columns": [{"name": "a", "kind": "numeric"}]}, "needs bins"),
        ({"columns": [{"name": "a", "kind": "numeric", "bins": {"edges": [3, 1]}}]}, "increase"),
        ({"columns": [{"name": "a"}, {"name": " A "}]}, "twice"),
        ({"columns": [{"name": "a", "colour": 1}]}, "unknown key"),
        ({"columns": [{"name": "a", "pattern": "("}]}, "invalid pattern"),
        ({"columns": [{"name": "a", "values": ["x"], "aliases": ["y"]}]}, "must be a mapping"),
        ({"columns": [{"name": "a", "values": ["x", "y"], "aliases": {"y": "x"}}]}, "'y' is an allowed value"),
        ({"columns": [{"name": "a", "values": ["x"], "aliases": {"y": "z"}}]}, "leads to 'z', which the column"),
        ({"columns": [{"name": "a", "values": ["x"], "aliases": {"y": "w", "w": "x"}}]}, "not to an alias"),
        ({"columns": [{"name": "a", "values": ["x"], "aliases": {" y": "x"}}]}, "without surrounding spaces"),
        ({"columns": [{"name": "a", "values": ["x"], "missing_values": ["?"], "aliases": {"?": "x"}}]}, "missing"),
        ({"missing_values": ["N"], "columns": [{"name": "a", "aliases": {"N": "x"}}]}, "missing token of the schema"),
        ({"columns": [{"name": "a", "kind": "numeric", "bins": {"edges": [0, 1]}, "aliases": {"o": "0"}}]}, "bins"),
        ({"columns": [{"name": "a", "kind": "flag", "aliases": {"Yes": "1", "No": "0"}}]}, "leads to '0'"),
    ],
)
def test_bad_schemas_are_explained(doc: dict, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        schema_from_dict(doc, source="s.yaml")


def test_default_bin_labels() -> None:
    assert Bins.default_labels([17, 25, 91]) == ("17-24", "25-91")
    assert Bins.default_labels([0, 1, float("inf")]) == ("0", "1+")


def test_infer_drafts_kinds_bins_and_missing_tokens(tmp_path: Path) -> None:
    rows = ["id,age,flag,tags,colour,notes"]
    for i in range(300):
        rows.append(
            f"id{i},{18 + i % 60},{'1' if i % 2 else ''},{'a;b' if i % 3 == 0 else 'a'},{['red', 'blue', '?'][i % 3]},"
            f"{'?' if i % 5 == 0 else 'x'}"
        )
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    schema = infer_schema(path)
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds == {
        "id": "categorical",
        "age": "numeric",
        "flag": "flag",
        "tags": "multi_value",
        "colour": "categorical",
        "notes": "categorical",
    }
    assert schema.column("id").use is False  # type: ignore[union-attr]
    assert schema.column("age").bins.inferred  # type: ignore[union-attr]
    assert schema.missing_values == ("?",)
    assert schema.column("colour").values == ("blue", "red")  # type: ignore[union-attr]
    # the draft validates its own data
    assert list(validate_table(path, IngestOptions(schema=schema))) == []


def test_validate_reports_every_violation_and_exits_non_zero(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("gender,IP_Gender\nFemale,Male\nX,Male;Y\nMale,Z\n")
    schema = tmp_path / "s.yaml"
    schema.write_text(
        yaml.safe_dump(
            {
                "columns": [
                    {"name": "gender", "values": ["Male", "Female"]},
                    {"name": "IP_Gender", "kind": "multi_value", "delimiter": ";", "values": ["Male", "Female"]},
                ]
            }
        )
    )
    result = runner.invoke(app, ["schema", "validate", str(path), "--schema", str(schema)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "column 'gender': value not allowed by the schema: 'X' (1 row: 2)",
        "column 'IP_Gender': value not allowed by the schema: 'Y' (1 row: 2)",
        "column 'IP_Gender': value not allowed by the schema: 'Z' (1 row: 3)",
    ]
    assert f"3 cell(s) of {path} violate schema {schema}: 3 distinct value(s)" in result.stderr
    ok = runner.invoke(app, ["schema", "validate", str(path), "--schema", "ctdc-victim-perpetrator"])
    assert ok.exit_code == 2 and "missing from the input" in ok.stderr


def test_schema_infer_cli_writes_a_loadable_file(tmp_path: Path, example_92: Path) -> None:
    out = tmp_path / "draft.yaml"
    result = runner.invoke(app, ["schema", "infer", str(example_92), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert [c.name for c in load_schema(out).columns] == ["A", "B", "C", "F", "G", "D"]


@pytest.mark.parametrize("name", ["adult-uci", "ctdc-victim-perpetrator", "htcds-victim", "nist-diverse-communities"])
def test_schema_show_prints_a_shipped_schema_to_copy(tmp_path: Path, name: str) -> None:
    result = runner.invoke(app, ["schema", "show", name])
    assert result.exit_code == 0 and result.stdout.startswith("#")  # comments included
    copy = tmp_path / "copy.yaml"
    copy.write_text(result.stdout, encoding="utf-8")
    assert load_schema(copy).columns == load_schema(name).columns


def test_every_schema_option_names_every_shipped_schema() -> None:
    from sdsynth.schema.files import builtin_schemas

    assert len(builtin_schemas()) == 4
    for command in (["schema", "validate"], ["release"], ["aggregate"], ["synthesize"]):
        text = " ".join(runner.invoke(app, [*command, "--help"], terminal_width=400).stdout.split())
        assert all(name in text for name in builtin_schemas()), command
    missing = runner.invoke(app, ["schema", "show", "nope"])
    assert missing.exit_code == 2 and "shipped: adult-uci, ctdc-victim-perpetrator" in missing.stderr
