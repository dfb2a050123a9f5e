"""From an HTCDS case-management export to one row per victim in the CTDC victim-perpetrator layout.

Frontline organisations record trafficking cases as relational HTCDS records: persons (`prs_`), victims (`vic_`),
perpetrators (`per_`) and cases linking a victim to a perpetrator. CTDC's victim-perpetrator dataset is that data
flattened to one row per victim, the perpetrators folded into `IP_` columns. `prepare_htcds` does the flattening
with a few vectorised joins, so an organisation goes from its export to `sdsynth release` without writing code; the
result follows the shipped schema `htcds-victim` (which says which CTDC fields HTCDS lacks and are left empty).

A release protects one row, so one person must be one row: the victim records of a person (`PersonId`) re-trafficked
or registered twice are merged into one row (`_one_row_per_person`; rules in docs/htcds.md), and the report counts
such persons.

Personal identifiers are never read (see `read`); ids serve only to join and are not output. The report lists
the columns left unread and counts what could not be mapped, never quoting a value. The prepared table is still
sensitive: `write_prepared` writes it readable by its owner only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from sdsynth._utils.files import atomic_file
from sdsynth._utils.tables import write_table
from sdsynth.errors import InputError, ParameterError, location
from sdsynth.htcds import fields as hf
from sdsynth.htcds.links import fold_perpetrators, perpetrator_bits, registrations_and_links, unpack
from sdsynth.htcds.read import ExportTable, Field, check_ids, read_export_table
from sdsynth.htcds.regions import ctdc_region, m49_region

PREPARED_COLUMNS = (
    "yearRegister", "gender", "majorityStatus", "isForcedLabour", "isSexualExploit", "UN_COO_Region",
    "UN_COE_Region", *hf.ROLE_COLUMNS, "IP_Relation", "IP_Gender", "IP_ageBroad", "IP_citizen_UNRegion",
    "IP_PayMoney",
)  # fmt: skip

PERSON_FIELDS = (
    Field("Id"),
    Field("prs_Gender"),
    Field("prs_Birthdate"),
    Field("prs_Nationality", aliases=("prs_Citizenship",)),
)
LABOUR_FIELDS = ("vic_TypeOfLabourExploitation", "vic_ForcedLabourIndustry")
VICTIM_FIELDS = (
    Field("Id"),
    Field("PersonId"),
    *(Field(name, required=False) for name in LABOUR_FIELDS),
    Field("vic_TypeOfSexExploitation", required=False),
    Field("vic_TypeOfExploitation", required=False),  # HTCDS v1: ForcedLabour / SexualExploitation / Both
    Field("vic_CountryOfExploitation", required=False),
)
PERPETRATOR_FIELDS = (
    Field("Id"),
    Field("PersonId"),
    Field("per_RoleInProcess"),
    Field("per_RelationToVictim", required=False),
    Field("per_PaidMoney", required=False),
)
CASE_FIELDS = (Field("VictimId"), Field("PerpetratorId"), Field("CreatedDate"))
# The only fields `--keep-victim-field` accepts: HTCDS victim-context multi-select picklists (closed vocabularies;
# v0.2 names, then v1's). Never free text (vic_DetailsOfVulnerabilities, remarks, stories...), which can name people,
# nor places (vic_LocationOfRecruitment/-Exploitation, vic_CountryOfExploitation: its region is already a column).
# Documented in docs/htcds.md ("Keeping more victim-context fields").
KEEPABLE_VICTIM_FIELDS = (
    "vic_MethodOfRecruitment",
    "vic_RecruitmentWebsitesAndApps",
    "vic_MethodsOfControl",
    "vic_TypeOfLabourExploitation",
    "vic_LabourIndustry",
    "vic_TypeOfSexExploitation",
    "vic_ExploitationWebsitesAndApps",
    "vic_Vulnerabilities",
    "vic_TypeOfExploitation",
    "vic_ForcedLabourIndustry",
)
# the output's single-valued columns: a person's merged row takes the value of their earliest-registered victim
# record that has one (gender and UN_COO_Region come from the person and agree anyway)
_SINGLE_VALUED = ("yearRegister", "gender", "majorityStatus", "UN_COO_Region", "UN_COE_Region")


@dataclass
class PrepareReport:
    """What `prepare_htcds` read, left unread, and could not map (counts only: safe to print).

    `victims` is the number of rows written (one per person), `victim_records` the rows of the victims file, and
    `merged_persons` the number of persons with several victim records, each merged into one row.
    """

    victims: int = 0
    victim_records: int = 0
    merged_persons: int = 0
    perpetrators: int = 0
    links: int = 0
    dropped: dict[str, tuple[str, ...]] = field(default_factory=dict)
    empty_columns: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def warnings(self) -> list[str]:
        """One line per non-zero count."""
        return [f"{what}: {n:,}" for what, n in self.counts.items() if n]


def prepare_htcds(
    persons: str | Path,
    victims: str | Path,
    perpetrators: str | Path,
    cases: str | Path,
    keep_victim_fields: Sequence[str] = (),
) -> tuple[pl.DataFrame, PrepareReport]:
    """One row per victim person (columns `PREPARED_COLUMNS`, then the kept fields), all text, null = empty.

    Victim records sharing a `PersonId` become one row (see `_one_row_per_person`); victim records without a
    `PersonId` stay one row each.
    """
    kept = _check_kept(keep_victim_fields)
    report = PrepareReport()
    prs = read_export_table(persons, PERSON_FIELDS)
    vic = read_export_table(victims, (*VICTIM_FIELDS, *(Field(k) for k in kept)), allow_empty=False)
    per = read_export_table(perpetrators, PERPETRATOR_FIELDS)
    cas = read_export_table(cases, CASE_FIELDS)
    _check_exploitation_fields(vic)
    for table in (prs, vic, per):
        check_ids(table)
    report.dropped = {t.name: t.dropped for t in (prs, vic, per, cas)}
    count = report.counts

    # victims and perpetrators are numbered by their row: the cases are turned into row numbers once, and the
    # rest is gathers and one integer group-by
    people = _person_attributes(prs.frame)
    reg, links, case_counts = registrations_and_links(cas.frame, vic.frame["Id"], per.frame["Id"])
    count.update(case_counts)
    perp = perpetrator_bits(per, people, count)
    bits = fold_perpetrators(links, reg, perp, count)

    v = vic.frame.with_columns(reg, bits)
    v = v.join(people, left_on="PersonId", right_on="_pid", how="left", maintain_order="left")
    v = v.with_columns(_age=hf.age(pl.col("_birth"), pl.col("_reg")))

    coe = None
    if "vic_CountryOfExploitation" in vic.present:
        coe = hf.on_distinct(v, "vic_CountryOfExploitation", m49_region, pl.String)
    checks = {
        "victims without any case (no registration date)": pl.col("_reg").is_null(),
        "victims whose PersonId is empty or not in the persons file": pl.col("_found").is_null(),
        "victim genders outside Male/Female (left empty)": pl.col("_gender_in") & pl.col("_gender").is_null(),
        "victim birthdates not ISO dates (left empty)": pl.col("_birth_in") & pl.col("_birth").is_null(),
        "victim ages below 0 or above 120 at registration (left empty)": pl.col("_birth").is_not_null()
        & pl.col("_reg").is_not_null()
        & pl.col("_age").is_null(),
        "registrations before 2005 (yearRegister left empty)": pl.col("_reg").dt.year() < 2005,
        "victim nationality cells not mapped to a UN region": pl.col("_nat_in") & pl.col("_region").is_null(),
    }
    if coe is not None:
        checks["country-of-exploitation cells not mapped to a UN region"] = (
            pl.col("vic_CountryOfExploitation").is_not_null() & coe.is_null()
        )
    count.update(hf.count_rows(v, checks))

    labour, sexual = _exploitation(v, vic.present)
    rows = v.select(
        hf.year_band(pl.col("_reg")).alias("yearRegister"),
        pl.col("_gender").alias("gender"),
        hf.majority(pl.col("_age")).alias("majorityStatus"),
        labour.alias("_labour"),
        sexual.alias("_sexual"),
        ctdc_region(pl.col("_region")).alias("UN_COO_Region"),
        (ctdc_region(coe) if coe is not None else pl.lit(None, pl.String)).alias("UN_COE_Region"),
        "_bits",
        *kept,
        "PersonId",
        "_reg",
    )
    rows, report.merged_persons = _one_row_per_person(rows, kept)

    flag = pl.lit("1")
    out = rows.select(
        "yearRegister",
        "gender",
        "majorityStatus",
        pl.when(pl.col("_labour")).then(flag).alias("isForcedLabour"),
        pl.when(pl.col("_sexual")).then(flag).alias("isSexualExploit"),
        "UN_COO_Region",
        "UN_COE_Region",
        *(pl.when((unpack("_roles") & (1 << i)) != 0).then(flag).alias(c) for i, c in enumerate(hf.ROLE_COLUMNS)),
        hf.joined(unpack("_relation"), hf.RELATIONS).alias("IP_Relation"),
        hf.joined(unpack("_gender"), hf.GENDERS).alias("IP_Gender"),
        hf.joined(unpack("_age"), hf.AGE_BANDS).alias("IP_ageBroad"),
        hf.joined(unpack("_region"), hf.IP_REGIONS).alias("IP_citizen_UNRegion"),
        hf.joined(unpack("_pay"), hf.PAY).alias("IP_PayMoney"),
        *(hf.on_distinct(rows, k, hf.kept_values, pl.String).alias(k) for k in kept),
    )
    report.victims, report.victim_records = out.height, vic.frame.height
    report.perpetrators, report.links = per.frame.height, links.height
    report.empty_columns = [
        c
        for c, present in (
            ("UN_COE_Region", "vic_CountryOfExploitation" in vic.present),
            ("IP_Relation", "per_RelationToVictim" in per.present),
            ("IP_PayMoney", "per_PaidMoney" in per.present),
        )
        if not present
    ]
    return out, report


def write_prepared(frame: pl.DataFrame, path: str | Path, overwrite: bool = False) -> None:
    """Write the prepared table (CSV/TSV/Parquet by extension) atomically, owner-only (0600) whatever the umask:
    it holds case data."""
    with atomic_file(path, overwrite=overwrite, private=True) as tmp:
        write_table(frame, tmp, suffix=Path(path).suffix)


def _check_kept(fields: Sequence[str]) -> list[str]:
    """The kept fields, spelled as in `KEEPABLE_VICTIM_FIELDS` (names are matched case-insensitively)."""
    allowed = {name.lower(): name for name in KEEPABLE_VICTIM_FIELDS}
    kept: list[str] = []
    for given in dict.fromkeys(f.strip() for f in fields if f.strip()):
        name = allowed.get(given.lower())
        if name is None:
            raise ParameterError(
                f"`keep_victim_field` {given!r}: not an HTCDS victim picklist field that can be kept (free text, "
                f"places and other fields can identify people); allowed: {', '.join(KEEPABLE_VICTIM_FIELDS)}"
            )
        if name not in kept:
            kept.append(name)
    return kept


def _one_row_per_person(rows: pl.DataFrame, kept: Sequence[str]) -> tuple[pl.DataFrame, int]:
    """Merge the victim records of each person (same non-empty `PersonId`) into one row; returns the rows and how
    many persons had several records.

    The rule, in the spirit of how perpetrators are folded: single-valued columns (`_SINGLE_VALUED`) take the value
    of the person's earliest-registered record that has one (records without a case come last, ties in file
    order); exploitation flags and the perpetrator bits are OR-ed (a flag or value set in any record is set); kept
    picklists are the union of the records' values. Rows stay in the order of each person's first record.
    """
    ids = rows["PersonId"]
    several = ids.is_duplicated() & ids.is_not_null()
    if not several.any():
        return rows, 0
    rows = rows.with_row_index("_row")
    # only the records of repeated persons are grouped; each merged row goes back where the person's first record was
    merged = (
        rows.filter(several)
        .sort("PersonId", "_reg", "_row", nulls_last=True)
        .group_by("PersonId", maintain_order=True)
        .agg(
            pl.col("_row").min(),
            *(pl.col(c).drop_nulls().first() for c in _SINGLE_VALUED),
            pl.col("_labour").any(),
            pl.col("_sexual").any(),
            pl.col("_bits").bitwise_or(),
            *(pl.col(k).drop_nulls().str.join(";") for k in kept),
        )
    )
    singles = rows.filter(~several).select(merged.columns)
    return pl.concat([singles, merged]).sort("_row"), merged.height


def _check_exploitation_fields(vic: ExportTable) -> None:
    """Exploitation flags need a labour field and a sexual-exploitation field (v0.2 names, or v1's combined one)."""
    if "vic_TypeOfExploitation" in vic.present:
        return
    if not any(name in vic.present for name in LABOUR_FIELDS):
        raise InputError(
            f"{location(vic.name, column=LABOUR_FIELDS[0])}: the column is missing "
            "(HTCDS v1 exports may have vic_TypeOfExploitation instead)"
        )
    if "vic_TypeOfSexExploitation" not in vic.present:
        raise InputError(f"{location(vic.name, column='vic_TypeOfSexExploitation')}: the column is missing")


def _exploitation(victims: pl.DataFrame, present: frozenset[str]) -> tuple[pl.Expr, pl.Expr]:
    """isForcedLabour: any type of labour exploitation; isSexualExploit: any type of sexual exploitation."""
    labour = pl.lit(False)
    for name in LABOUR_FIELDS:
        if name in present:
            labour = labour | pl.col(name).is_not_null()
    sexual = (
        pl.col("vic_TypeOfSexExploitation").is_not_null() if "vic_TypeOfSexExploitation" in present else pl.lit(False)
    )
    if "vic_TypeOfExploitation" in present:
        bits = hf.on_distinct(victims, "vic_TypeOfExploitation", _exploitation_mask, pl.Int64)
        labour = labour | ((bits & 1) != 0)
        sexual = sexual | ((bits & 2) != 0)
    return labour.fill_null(False), sexual.fill_null(False)


def _exploitation_mask(cell: pl.Expr) -> pl.Expr:
    return hf.parts_mask(hf.parts(cell), hf.EXPLOITATION_BITS)


def _person_attributes(persons: pl.DataFrame) -> pl.DataFrame:
    """Per person: CTDC gender, birthdate, M49 region of nationality, and whether each source cell was filled."""
    return persons.select(
        pl.col("Id").alias("_pid"),
        hf.on_distinct(persons, "prs_Gender", hf.gender, pl.String).alias("_gender"),
        pl.col("prs_Gender").is_not_null().alias("_gender_in"),
        hf.iso_date(pl.col("prs_Birthdate")).alias("_birth"),
        pl.col("prs_Birthdate").is_not_null().alias("_birth_in"),
        hf.on_distinct(persons, "prs_Nationality", m49_region, pl.String).alias("_region"),
        pl.col("prs_Nationality").is_not_null().alias("_nat_in"),
        pl.lit(True).alias("_found"),
    )
