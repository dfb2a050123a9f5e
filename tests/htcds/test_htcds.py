"""`sdsynth prepare htcds`: from a hand-made HTCDS export (tests/data/htcds, described in its README) to the CTDC
victim-perpetrator layout, every derived column checked; identifiers never read; the HTCDS sample generator."""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
from pathlib import Path

import polars as pl
import pytest
from helpers import DATA, ROOT
from typer.testing import CliRunner

from sdsynth.cli.main import app
from sdsynth.errors import InputError, ParameterError
from sdsynth.htcds import fields as hf
from sdsynth.htcds.prepare import KEEPABLE_VICTIM_FIELDS, PREPARED_COLUMNS, prepare_htcds
from sdsynth.htcds.regions import m49_table
from sdsynth.htcds.sample import generate_htcds, write_htcds
from sdsynth.schema.files import load_schema

HTCDS = DATA / "htcds"
TABLES = ("persons", "victims", "perpetrators", "cases")
runner = CliRunner()

# what the hand-made export must give, victim by victim (None = empty cell); see tests/data/htcds/README.md
EXPECTED = {
    "yearRegister": ["2021-2022", "2023", "2023", "2024", None, None],
    "gender": ["Female", "Male", None, "Female", None, "Female"],
    "majorityStatus": ["Adult", "Minor", "Adult", None, "Adult", None],
    "isForcedLabour": [None, "1", "1", None, "1", None],
    "isSexualExploit": ["1", None, "1", None, None, "1"],
    "UN_COO_Region": ["Europe", "Africa", "Asia", "Americas/Oceania", None, "Americas/Oceania"],
    "UN_COE_Region": ["Europe", "Asia", "Americas/Oceania", None, None, "Africa"],
    "IP_RecruiterBroker": ["1", "1", None, None, None, None],
    "IP_TransactionProcess": ["1", "1", "1", None, None, None],
    "IP_ControlAbuseKidnap": ["1", "1", None, None, None, None],
    "IP_Exploiter": ["1", None, "1", None, "1", None],
    "IP_Relation": [
        "FamilyIntimatePartner;FriendAcquaintance",
        "FriendAcquaintance;StrangerUnknownOther",
        None,
        None,
        "FamilyIntimatePartner",
        None,
    ],
    "IP_Gender": ["Male;Female", "Male", "Male", None, "Female", None],
    "IP_ageBroad": ["30-38;39-47;48 +", "39-47", "0-29", None, "39-47", None],
    "IP_citizen_UNRegion": ["Americas/Oceania;Europe", "Europe;Oceania", None, None, "Europe", None],
    "IP_PayMoney": ["Yes;No", "Yes", None, None, "No", None],
}
EXPECTED_COUNTS = {
    "case rows naming no victim or a victim not in the victims file (ignored)": 1,
    "case rows naming a perpetrator not in the perpetrators file (link ignored)": 1,
    "perpetrators whose PersonId is empty or not in the persons file": 1,
    "perpetrator role values not in the HTCDS picklist (ignored)": 1,
    "perpetrator genders outside Male/Female (left empty)": 1,
    "perpetrator nationality cells not mapped to a UN region": 1,
    "per_PaidMoney values not recognised (left empty)": 1,
    "victims without any case (no registration date)": 1,
    "victim genders outside Male/Female (left empty)": 1,
    "victim birthdates not ISO dates (left empty)": 1,
    "registrations before 2005 (yearRegister left empty)": 1,
    "victim nationality cells not mapped to a UN region": 1,
    "country-of-exploitation cells not mapped to a UN region": 1,
}
# values of the export that must appear nowhere in what prepare writes or prints
PERSONAL = ["Anaya", "Fictiva", "anaya.fictiva@example.org", "+380000000001", "Nowhere", "50.45", "Kyiv",
            "bus station", "Moved away", "p01", "v01", "q1", "c01"]  # fmt: skip
DROPPED = {
    "persons.csv": ["prs_FirstName", "prs_SecondName", "prs_Email", "prs_MobilePhone", "prs_MailingStreet",
                    "prs_MailingLatitude", "prs_MailingLongitude"],
    "victims.csv": ["vic_DetailsOfVulnerabilities"],
    "perpetrators.csv": ["per_RoleDetails"],
    "cases.csv": ["Id", "cas_Status", "cas_ReasonForCaseClosure"],
}  # fmt: skip


def invoke(*args: str | Path):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args])


def assert_clean_error(result, pattern: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    text = result.stderr if result.stderr_bytes is not None else result.output
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert "Traceback" not in result.output
    assert any(pattern in ln for ln in lines), text
    assert len(lines) == 1, text


def export_args(folder: Path = HTCDS, suffix: str = ".csv") -> list[str]:
    return [a for t in TABLES for a in (f"--{t}", str(folder / f"{t}{suffix}"))]


def prepare(folder: Path = HTCDS, suffix: str = ".csv", keep: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    return prepare_htcds(*(folder / f"{t}{suffix}" for t in TABLES), keep_victim_fields=keep)


def copy_export(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    shutil.copytree(HTCDS, folder)
    return folder


# ------------------------------------------------------------------------------------------- derived columns
def test_every_derived_column_of_the_hand_made_export() -> None:
    frame, report = prepare()
    assert frame.columns == list(PREPARED_COLUMNS)
    assert frame.to_dict(as_series=False) == EXPECTED
    assert report.victims == 6 and report.perpetrators == 6
    assert report.links == 8  # v01-q1..q3, v02-q1 (twice in the cases), v02-q4, v03-q5, v05-q2; q6 has no person
    assert report.empty_columns == []


def test_report_counts_what_it_could_not_map_and_lists_unread_columns() -> None:
    _, report = prepare()
    assert {k: v for k, v in report.counts.items() if v} == EXPECTED_COUNTS
    assert {Path(k).name: list(v) for k, v in report.dropped.items()} == {
        **DROPPED,
        "victims.csv": ["vic_MethodsOfControl", "vic_DetailsOfVulnerabilities"],
    }


def test_the_shared_example_export() -> None:
    from helpers import SHARED_DATA

    folder = SHARED_DATA / "htcds-example"
    if not folder.exists():
        pytest.skip("the shared example export is not available")
    frame, report = prepare(folder)
    assert frame.height == 3
    assert frame["IP_Gender"].to_list() == ["Male;Female", "Male", None]
    assert frame["IP_ageBroad"].to_list() == ["30-38;48 +", "0-29;48 +", None]
    assert frame["majorityStatus"].to_list() == ["Adult", "Minor", "Adult"]
    # HTCDS has no relation, paid-money or country-of-exploitation field: left empty, and said so
    assert report.empty_columns == ["UN_COE_Region", "IP_Relation", "IP_PayMoney"]
    assert frame.select(pl.col("UN_COE_Region", "IP_Relation", "IP_PayMoney").null_count()).row(0) == (3, 3, 3)


def test_kept_victim_fields_are_trimmed_deduplicated_sorted_multi_values() -> None:
    frame, report = prepare(keep=("vic_MethodsOfControl",))
    assert frame.columns == [*PREPARED_COLUMNS, "vic_MethodsOfControl"]
    assert frame["vic_MethodsOfControl"].to_list() == [
        "Threats;WithholdsDocuments",
        "DebtBondage;Threats",
        None,
        None,
        "Other",
        None,
    ]
    assert "vic_MethodsOfControl" not in report.dropped[str(HTCDS / "victims.csv")]


def test_kept_field_names_match_case_insensitively_and_keep_the_htcds_spelling() -> None:
    frame, _ = prepare(keep=(" VIC_METHODSOFCONTROL ", "vic_methodsofcontrol"))
    assert frame.columns == [*PREPARED_COLUMNS, "vic_MethodsOfControl"]
    assert frame["vic_MethodsOfControl"].to_list()[:2] == ["Threats;WithholdsDocuments", "DebtBondage;Threats"]


@pytest.mark.parametrize(
    "field",
    ["vic_Remarks", "vic_Story", "vic_DetailsOfVulnerabilities", "vic_LocationOfRecruitment",
     "vic_CountryOfExploitation", "vic_Name", "prs_Gender", "PersonId"],
)  # fmt: skip
def test_only_listed_picklists_can_be_kept(tmp_path: Path, field: str) -> None:
    with pytest.raises(ParameterError, match="not an HTCDS victim picklist field"):
        prepare(keep=(field,))
    out = tmp_path / "o.csv"
    result = invoke("prepare", "htcds", *export_args(), "--out", out, "--keep-victim-field", field)
    assert_clean_error(result, f"--keep-victim-field {field!r}: not an HTCDS victim picklist field")
    assert "allowed: " + ", ".join(KEEPABLE_VICTIM_FIELDS) in result.stderr
    assert not out.exists()


def test_the_keepable_fields_are_the_documented_picklists() -> None:
    assert "vic_MethodsOfControl" in KEEPABLE_VICTIM_FIELDS and "vic_Vulnerabilities" in KEEPABLE_VICTIM_FIELDS
    assert not any(word in f.lower() for f in KEEPABLE_VICTIM_FIELDS for word in ("detail", "location", "country"))
    docs = (ROOT / "docs" / "htcds.md").read_text()
    documented = [ln.split("`")[1] for ln in docs.splitlines() if ln.startswith("| `vic_")]
    assert documented == list(KEEPABLE_VICTIM_FIELDS)


# ------------------------------------------------------------------------------------ a person, several records
def retrafficked_export(tmp_path: Path) -> Path:
    """The hand-made export plus v08, a second victim record of p01 (v01's person) registered earlier (2019, with
    q5 of p15, born 1999: 20 then), with forced labour, no country of exploitation and another method of control;
    and v09, v10: victim records without PersonId (nobody can tell whether they are one person)."""
    folder = copy_export(tmp_path)
    with (folder / "victims.csv").open("a") as fh:
        fh.write("v08,p01,Other,Construction,,,\nv09,,,,,,\nv10,,,,,,\n")
    with (folder / "cases.csv").open("a") as fh:
        fh.write("c14,v08,q5,Active,2019-06-01,\n")
    return folder


MERGED_P01 = {
    **{c: values[0] for c, values in EXPECTED.items()},
    "yearRegister": "2019",  # the earliest registration: v08's
    "isForcedLabour": "1",  # v08's, or-ed with v01's sexual exploitation
    "UN_COE_Region": "Europe",  # v08 has none: v01's, the next registered record with one
    "IP_ageBroad": "0-29;30-38;39-47;48 +",  # q5 (v08) joins q1-q3 (v01)
}


def test_a_person_with_two_victim_records_is_one_merged_row(tmp_path: Path) -> None:
    frame, report = prepare(retrafficked_export(tmp_path), keep=("vic_MethodsOfControl",))
    assert report.victim_records == 9 and report.victims == frame.height == 8 and report.merged_persons == 1
    rows = frame.rows(named=True)
    assert rows[0] == {**MERGED_P01, "vic_MethodsOfControl": "Other;Threats;WithholdsDocuments"}
    for i in range(1, 6):  # the other persons are untouched and keep their order
        assert {c: rows[i][c] for c in PREPARED_COLUMNS} == {c: v[i] for c, v in EXPECTED.items()}, i
    assert rows[6] == rows[7] == dict.fromkeys(frame.columns)  # without PersonId: one row each, not merged
    assert report.counts["victims whose PersonId is empty or not in the persons file"] == 2


def test_merging_is_announced_and_the_release_counts_persons(tmp_path: Path) -> None:
    folder, out = retrafficked_export(tmp_path), tmp_path / "prepared.csv"
    result = invoke("prepare", "htcds", *export_args(folder), "--out", out)
    assert result.exit_code == 0, result.output
    assert "prepared 8 victims from 9 victim records" in result.stderr
    warning = [ln for ln in result.stderr.splitlines() if ln.startswith("warning:")]
    assert warning == [
        "warning: persons with several victim records: 1; each person's records were merged into one row, so that "
        "a release protects the person (rules: docs/htcds.md)"
    ]
    quiet = invoke("prepare", "htcds", *export_args(folder), "--out", out, "--overwrite", "-q")
    assert quiet.exit_code == 0 and quiet.stderr.splitlines() == warning  # even with --quiet
    text = out.read_text()
    assert text.splitlines()[0] == ",".join(PREPARED_COLUMNS)  # no key column: nothing derived from an id
    for value in [*PERSONAL, "p15", "v08", "q5", "c14"]:
        assert value not in text and value not in result.output, value
    assert pl.read_csv(out, infer_schema=False).row(0, named=True) == MERGED_P01

    assert invoke("schema", "validate", out, "--schema", "htcds-victim").exit_code == 0
    aggregate = invoke("aggregate", out, "--schema", "htcds-victim", "-k", "1", "-r", "2", "--out", tmp_path / "rel")
    assert aggregate.exit_code == 0, aggregate.output
    assert (tmp_path / "rel" / "aggregates.tsv").read_text().splitlines()[1] == "record_count\t8"
    sql = "SELECT count FROM aggregates WHERE length = 1 AND IP_Gender_Male = '1'"
    q = invoke("query", tmp_path / "rel", sql, "--format", "csv")
    assert q.stdout.splitlines() == ["count", "3"]  # p01 counted once, not once per victim record


def test_no_warning_when_every_person_has_one_victim_record(tmp_path: Path) -> None:
    result = invoke("prepare", "htcds", *export_args(), "--out", tmp_path / "o.csv")
    assert result.exit_code == 0, result.output
    assert not any(ln.startswith("warning:") or "victim records" in ln for ln in result.stderr.splitlines())


def test_htcds_v1_spellings(tmp_path: Path) -> None:
    folder = copy_export(tmp_path)
    persons = pl.read_csv(folder / "persons.csv", infer_schema=False)
    persons.rename({"prs_Nationality": "prs_Citizenship"}).write_csv(folder / "persons.csv")
    victims = pl.read_csv(folder / "victims.csv", infer_schema=False)
    v1 = victims.drop("vic_TypeOfLabourExploitation", "vic_TypeOfSexExploitation").with_columns(
        vic_TypeOfExploitation=pl.Series(["SexualExploitation", "ForcedLabour", "Both", None, "Forced Labour", "Other"])
    )
    v1.write_csv(folder / "victims.csv")
    frame, _ = prepare(folder)
    assert frame["UN_COO_Region"].to_list() == EXPECTED["UN_COO_Region"]
    assert frame["isForcedLabour"].to_list() == [None, "1", "1", None, "1", None]
    assert frame["isSexualExploit"].to_list() == ["1", None, "1", None, None, None]


def test_parquet_inputs_and_output(tmp_path: Path) -> None:
    for t in TABLES:
        pl.read_csv(HTCDS / f"{t}.csv", infer_schema=False).write_parquet(tmp_path / f"{t}.parquet")
    frame, _ = prepare(tmp_path, ".parquet")
    assert frame.to_dict(as_series=False) == EXPECTED
    result = invoke("prepare", "htcds", *export_args(tmp_path, ".parquet"), "--out", tmp_path / "p.parquet")
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(tmp_path / "p.parquet").to_dict(as_series=False) == EXPECTED


def test_excel_inputs(tmp_path: Path) -> None:
    pytest.importorskip("fastexcel")
    pytest.importorskip("xlsxwriter")
    for t in TABLES:
        pl.read_csv(HTCDS / f"{t}.csv", infer_schema=False).write_excel(tmp_path / f"{t}.xlsx")
    frame, _ = prepare(tmp_path, ".xlsx")
    assert frame.to_dict(as_series=False) == EXPECTED


def test_excel_without_its_reader_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "persons.xlsx").write_bytes(b"not really a workbook")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fastexcel" else real(name, *a))
    args = ["--persons", tmp_path / "persons.xlsx", *export_args()[2:]]
    assert_clean_error(invoke("prepare", "htcds", *args, "--out", tmp_path / "o.csv"), "pip install 'sdsynth[excel]'")


# ------------------------------------------------------------------------------------------------ the command
def test_command_writes_the_table_validates_and_aggregates(tmp_path: Path) -> None:
    out = tmp_path / "prepared.csv"
    result = invoke("prepare", "htcds", *export_args(), "--out", out)
    assert result.exit_code == 0, result.output
    for file, columns in DROPPED.items():
        line = next(ln for ln in result.stderr.splitlines() if ln.startswith("not read from") and file in ln)
        assert all(c in line for c in columns), line
    assert "victims without any case (no registration date): 1" in result.stderr
    text = out.read_text()
    assert text.splitlines()[0] == ",".join(PREPARED_COLUMNS)
    for value in PERSONAL:
        assert value not in text and value not in result.output, value
    assert pl.read_csv(out, infer_schema=False).to_dict(as_series=False) == EXPECTED

    validate = invoke("schema", "validate", out, "--schema", "htcds-victim")
    assert validate.exit_code == 0, validate.output
    aggregate = invoke("aggregate", out, "--schema", "htcds-victim", "-k", "1", "-r", "2", "--out", tmp_path / "rel")
    assert aggregate.exit_code == 0, aggregate.output
    sql = "SELECT count FROM aggregates WHERE length = 1 AND IP_Gender_Male = '1'"
    q = invoke("query", tmp_path / "rel", sql, "--format", "csv")
    assert q.stdout.splitlines() == ["count", "3"]


def test_kept_field_with_an_extended_schema_or_use_columns(tmp_path: Path) -> None:
    out = tmp_path / "prepared.csv"
    result = invoke("prepare", "htcds", *export_args(), "--out", out, "--keep-victim-field", "vic_MethodsOfControl")
    assert result.exit_code == 0, result.output
    assert invoke("schema", "validate", out, "--schema", "htcds-victim").exit_code == 2  # not in the shipped schema
    extended = tmp_path / "schema.yaml"
    extended.write_text(
        (ROOT / "data" / "schemas" / "htcds-victim.yaml").read_text()
        + '  - name: vic_MethodsOfControl\n    kind: multi_value\n    delimiter: ";"\n'
    )
    assert invoke("schema", "validate", out, "--schema", extended).exit_code == 0
    columns = ",".join([*PREPARED_COLUMNS, "vic_MethodsOfControl"])
    result = invoke(
        "schema", "validate", out, "--schema", "htcds-victim", "--use-columns", columns,
        "--multi-value", "vic_MethodsOfControl=;",
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_output_is_not_replaced_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "prepared.csv"
    out.write_text("keep me\n")
    assert_clean_error(invoke("prepare", "htcds", *export_args(), "--out", out), "already exists")
    assert out.read_text() == "keep me\n"
    assert invoke("prepare", "htcds", *export_args(), "--out", out, "--overwrite", "-q").exit_code == 0
    assert out.read_text().startswith("yearRegister,")


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
@pytest.mark.parametrize("name", ["prepared.csv", "prepared.parquet"])
def test_output_is_readable_by_its_owner_only_whatever_the_umask(tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    out.write_text("an older, world-readable file\n")
    out.chmod(0o644)
    previous = os.umask(0o022)
    try:
        result = invoke("prepare", "htcds", *export_args(), "--out", out, "--overwrite", "-q")
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind


def test_output_format_follows_the_extension(tmp_path: Path) -> None:
    result = invoke("prepare", "htcds", *export_args(), "--out", tmp_path / "prepared.xlsx")
    assert_clean_error(result, "give --out one of these extensions")
    assert invoke("prepare", "htcds", *export_args(), "--out", tmp_path / "p.tsv", "-q").exit_code == 0
    assert (tmp_path / "p.tsv").read_text().splitlines()[0] == "\t".join(PREPARED_COLUMNS)


def test_missing_column_is_one_line_naming_file_and_column(tmp_path: Path) -> None:
    folder = copy_export(tmp_path)
    cases = pl.read_csv(folder / "cases.csv", infer_schema=False).drop("CreatedDate")
    cases.write_csv(folder / "cases.csv")
    result = invoke("prepare", "htcds", *export_args(folder), "--out", tmp_path / "o.csv")
    assert_clean_error(result, "cases.csv, column 'CreatedDate': the column is missing")
    assert not (tmp_path / "o.csv").exists()


def test_missing_exploitation_fields_are_named(tmp_path: Path) -> None:
    folder = copy_export(tmp_path)
    victims = pl.read_csv(folder / "victims.csv", infer_schema=False).drop("vic_TypeOfLabourExploitation")
    victims.write_csv(folder / "victims.csv")
    with pytest.raises(InputError, match="column 'vic_TypeOfLabourExploitation': the column is missing"):
        prepare(folder)


@pytest.mark.parametrize(
    ("table", "row", "problem"),
    [
        ("persons", 4, "this id already appears"),
        ("victims", 2, "this id already appears"),
        ("perpetrators", 3, "empty id"),
    ],
)
def test_duplicate_or_empty_ids_name_the_row_not_the_id(tmp_path: Path, table: str, row: int, problem: str) -> None:
    folder = copy_export(tmp_path)
    frame = pl.read_csv(folder / f"{table}.csv", infer_schema=False)
    ids = frame["Id"].to_list()
    ids[row - 1] = ids[0] if "already" in problem else ""
    frame.with_columns(Id=pl.Series(ids)).write_csv(folder / f"{table}.csv")
    result = invoke("prepare", "htcds", *export_args(folder), "--out", tmp_path / "o.csv")
    assert_clean_error(result, f"{table}.csv, row {row}, column 'Id': {problem}")
    assert ids[0] not in result.output


def test_empty_victims_file_and_malformed_csv(tmp_path: Path) -> None:
    folder = copy_export(tmp_path)
    (folder / "victims.csv").write_text("Id,PersonId,vic_TypeOfLabourExploitation,vic_TypeOfSexExploitation\n")
    assert_clean_error(invoke("prepare", "htcds", *export_args(folder), "--out", tmp_path / "o.csv"), "no data rows")
    folder = copy_export(tmp_path / "b")
    text = (folder / "persons.csv").read_text().splitlines()
    text[3] += ",one too many"
    (folder / "persons.csv").write_text("\n".join(text) + "\n")
    result = invoke("prepare", "htcds", *export_args(folder), "--out", tmp_path / "o.csv")
    assert_clean_error(result, "persons.csv, row 3: expected 11 fields")


def test_help() -> None:
    for cmd in (["prepare"], ["prepare", "htcds"]):
        result = invoke(*cmd, "--help")
        assert result.exit_code == 0 and "Usage" in result.stdout


# ----------------------------------------------------------------------------------------- single-field rules
def test_year_bands_and_ages() -> None:
    dates = pl.Series(["2004-12-31", "2005-01-01", "2013-12-31", "2014-01-01", "2018-06-01", "2019-01-01",
                       "2020-01-01", "2021-01-01", "2022-12-31", "2023-01-01", "2031-05-05", None])  # fmt: skip
    bands = pl.select(hf.year_band(hf.iso_date(pl.lit(dates)))).to_series().to_list()
    assert bands == [None, "2005-2013", "2005-2013", "2014-2018", "2014-2018", "2019", "2020", "2021-2022",
                     "2021-2022", "2023", "2031", None]  # fmt: skip
    frame = pl.DataFrame(
        {"birth": ["2000-03-10", "2000-03-10", "2000-03-10", "2030-01-01", "1800-01-01", "2000-02-29"],
         "at": ["2018-03-09", "2018-03-10", "2048-03-10T08:00:00Z", "2020-01-01", "2020-01-01", "2018-02-28"]}
    )  # fmt: skip
    ages = frame.select(hf.age(hf.iso_date(pl.col("birth")), hf.iso_date(pl.col("at")))).to_series().to_list()
    assert ages == [17, 18, 48, None, None, 17]
    assert pl.select(hf.age_band_bit(pl.lit(pl.Series([29, 30, 38, 39, 47, 48, None])))).to_series().to_list() == [
        1, 2, 2, 4, 4, 8, 0,
    ]  # fmt: skip


def test_bundled_m49_table() -> None:
    table = m49_table()
    assert table.height == 249
    assert table["alpha2"].n_unique() == 249 and table["alpha3"].n_unique() == 249
    assert set(table["region"].drop_nulls()) == {"Africa", "Americas", "Asia", "Europe", "Oceania"}
    assert table.filter(pl.col("alpha2") == "NA")["region"].item() == "Africa"  # Namibia, not a missing value
    assert table.filter(pl.col("region").is_null())["alpha2"].to_list() == ["AQ", "TW"]


def test_schema_matches_the_ctdc_codebook() -> None:
    ours, ctdc = load_schema("htcds-victim"), load_schema("ctdc-victim-perpetrator")
    assert [c.name for c in ours.columns] == list(PREPARED_COLUMNS) == [c.name for c in ctdc.columns]
    for mine, theirs in zip(ours.columns, ctdc.columns, strict=True):
        assert mine.values == theirs.values, mine.name
    assert all(c.description for c in ours.columns)


# ------------------------------------------------------------------------------------------------- generator
def test_generator_is_deterministic_and_prepares_cleanly(tmp_path: Path) -> None:
    tables = generate_htcds(3000, seed=5)
    assert generate_htcds(3000, seed=5)["cases"].equals(tables["cases"])
    assert not generate_htcds(3000, seed=6)["cases"].equals(tables["cases"])
    assert tables["victims"].height == 3000
    links = tables["cases"].drop_nulls("PerpetratorId").unique(["VictimId", "PerpetratorId"])
    assert links.group_by("PerpetratorId").len()["len"].max() > 1  # perpetrators linked to several victims
    assert tables["cases"]["PerpetratorId"].null_count() > 0  # victims without perpetrator
    assert (tables["persons"]["prs_Nationality"] == "XX").any()  # invalid codes
    assert tables["persons"]["prs_Birthdate"].null_count() > 0
    assert tables["victims"]["vic_MethodsOfControl"].str.contains(";").any()

    result = invoke("sample-data", "--format", "htcds", "--rows", "3000", "--seed", "5", "--out", tmp_path / "x")
    assert result.exit_code == 0, result.output
    assert pl.read_csv(tmp_path / "x" / "cases.csv", infer_schema=False).equals(tables["cases"])
    out = tmp_path / "prepared.csv"
    result = invoke("prepare", "htcds", *export_args(tmp_path / "x"), "--out", out)
    assert result.exit_code == 0, result.output
    assert invoke("schema", "validate", out, "--schema", "htcds-victim").exit_code == 0
    frame = pl.read_csv(out, infer_schema=False)
    assert frame.height == 3000
    for column in PREPARED_COLUMNS:  # every column is sometimes filled and sometimes empty
        assert 0 < frame[column].null_count() < frame.height, column


def test_generator_folder_handling(tmp_path: Path) -> None:
    out = tmp_path / "x"
    assert invoke("sample-data", "--format", "htcds", "-n", "50", "--parquet", "--out", out, "-q").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.parquet" for t in TABLES)
    before = (out / "cases.parquet").read_bytes()
    assert_clean_error(invoke("sample-data", "--format", "htcds", "-n", "60", "--parquet", "--out", out), "exists")
    assert (out / "cases.parquet").read_bytes() == before
    assert_clean_error(invoke("sample-data", "--parquet", "--out", tmp_path / "c.csv"), "--format htcds")
    with pytest.raises(ParameterError):
        generate_htcds(0)
    paths = write_htcds(generate_htcds(10), out, parquet=True, overwrite=True)
    assert [p.name for p in paths] == [f"{t}.parquet" for t in TABLES]


@pytest.mark.slow
def test_prepare_one_million_victims(tmp_path: Path) -> None:
    """Scale: 1 M victims join without error and keep every victim (the time is measured in bench/htcds.py)."""
    write_htcds(generate_htcds(1_000_000, seed=1), tmp_path)
    frame, report = prepare(tmp_path)
    assert frame.height == 1_000_000 and report.links > 1_400_000
