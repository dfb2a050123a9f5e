"""From an HTCDS case-management export to one row per victim in the CTDC victim-perpetrator layout.

Frontline organisations record trafficking cases as relational HTCDS records: persons (`prs_`), victims (`vic_`),
perpetrators (`per_`) and cases linking a victim to a perpetrator. CTDC's victim-perpetrator dataset is that data
flattened to one row per victim, the perpetrators folded into `IP_` columns. `prepare_htcds` does the flattening
with a few vectorised joins, so an organisation goes from its export to `sdsynth release` without writing code; the
result follows the shipped schema `htcds-victim` (which says which CTDC fields HTCDS lacks and are left empty).

Personal identifiers are never read (see `read`); ids serve only to join and are not output. The report lists
the columns left unread and counts what could not be mapped, never quoting a value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..errors import InputError, ParameterError, location
from . import fields as hf
from .links import fold_perpetrators, perpetrator_bits, registrations_and_links, unpack
from .read import ExportTable, Field, check_ids, read_export_table
from .regions import ctdc_region, m49_region

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
# kept victim-context fields may not be free text (it can name people and places)
_FREE_TEXT_HINTS = ("details", "description", "location", "notes", "comment", "name", "address")


@dataclass
class PrepareReport:
    """What `prepare_htcds` read, left unread, and could not map (counts only: safe to print)."""

    victims: int = 0
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
    """One row per victim (columns `PREPARED_COLUMNS`, then the kept fields), all text, null = empty."""
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

    flag = pl.lit("1")
    labour, sexual = _exploitation(v, vic.present)
    out = v.select(
        hf.year_band(pl.col("_reg")).alias("yearRegister"),
        pl.col("_gender").alias("gender"),
        hf.majority(pl.col("_age")).alias("majorityStatus"),
        pl.when(labour).then(flag).alias("isForcedLabour"),
        pl.when(sexual).then(flag).alias("isSexualExploit"),
        ctdc_region(pl.col("_region")).alias("UN_COO_Region"),
        (ctdc_region(coe) if coe is not None else pl.lit(None, pl.String)).alias("UN_COE_Region"),
        *(pl.when((unpack("_roles") & (1 << i)) != 0).then(flag).alias(c) for i, c in enumerate(hf.ROLE_COLUMNS)),
        hf.joined(unpack("_relation"), hf.RELATIONS).alias("IP_Relation"),
        hf.joined(unpack("_gender"), hf.GENDERS).alias("IP_Gender"),
        hf.joined(unpack("_age"), hf.AGE_BANDS).alias("IP_ageBroad"),
        hf.joined(unpack("_region"), hf.IP_REGIONS).alias("IP_citizen_UNRegion"),
        hf.joined(unpack("_pay"), hf.PAY).alias("IP_PayMoney"),
        *(hf.on_distinct(v, k, hf.kept_values, pl.String).alias(k) for k in kept),
    )
    report.victims, report.perpetrators, report.links = out.height, per.frame.height, links.height
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


def _check_kept(fields: Sequence[str]) -> list[str]:
    kept = list(dict.fromkeys(f.strip() for f in fields if f.strip()))
    for name in kept:
        if not name.lower().startswith("vic_"):
            raise ParameterError(f"--keep-victim-field {name!r}: only victim-context fields (vic_...) can be kept")
        if any(hint in name.lower() for hint in _FREE_TEXT_HINTS):
            raise ParameterError(
                f"--keep-victim-field {name!r}: looks like free text or a place, which can identify people; "
                "only picklist fields can be kept"
            )
    return kept


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
