"""Folding each victim's perpetrators into the victim's row, for `htcds.prepare_htcds`.

Cases link victims to perpetrators. They are turned into row numbers once; each perpetrator's attributes (role
groups, gender, region, relation, paid money, and per link the age band) are packed as bits into one integer, so a
victim's perpetrators fold with one OR per victim: every value appears once, and unpacking gives the values in the
schema's order. Unknown references are ignored and counted, never shown.
"""

from __future__ import annotations

import polars as pl

from sdsynth.htcds import fields as hf
from sdsynth.htcds.read import ExportTable
from sdsynth.htcds.regions import ctdc_region

# the perpetrator attributes of a link, packed in one integer: (name, bit offset, width); folding a victim's links
# is then one OR per victim
_PACKED = {
    "_roles": (0, 4),
    "_gender": (4, 2),
    "_region": (6, 5),
    "_relation": (11, 3),
    "_pay": (14, 2),
    "_age": (16, 4),
}


def unpack(name: str) -> pl.Expr:
    """One attribute's bits out of the folded `_bits` column (null for victims without perpetrator)."""
    shift, width = _PACKED[name]
    return (pl.col("_bits") // (1 << shift)) % (1 << width)


def _pack(name: str, bits: pl.Expr) -> pl.Expr:
    return bits.fill_null(0).cast(pl.Int64) * (1 << _PACKED[name][0])


def registrations_and_links(
    cases: pl.DataFrame, victim_ids: pl.Series, perpetrator_ids: pl.Series
) -> tuple[pl.Series, pl.DataFrame, dict[str, int]]:
    """Registration date of each victim (its earliest case; in victim order) and the distinct links as row numbers.

    Case rows naming an unknown victim are ignored; so are links to an unknown perpetrator (the case still dates
    the victim's registration). Both are counted.
    """
    cases = cases.with_columns(_created=hf.iso_date(pl.col("CreatedDate"))).join(
        _row_numbers(victim_ids, "VictimId", "_vi"), on="VictimId", how="left"
    )
    counts = hf.count_rows(
        cases,
        {
            "case rows naming no victim or a victim not in the victims file (ignored)": pl.col("_vi").is_null(),
            "case dates (CreatedDate) not ISO dates (ignored)": pl.col("CreatedDate").is_not_null()
            & pl.col("_created").is_null(),
        },
    )
    cases = cases.filter(pl.col("_vi").is_not_null())
    first = cases.group_by("_vi").agg(pl.col("_created").min())
    reg = pl.repeat(None, victim_ids.len(), dtype=pl.Date, eager=True).alias("_reg")
    reg = reg.scatter(first["_vi"], first["_created"])
    with_perp = cases.filter(pl.col("PerpetratorId").is_not_null()).join(
        _row_numbers(perpetrator_ids, "PerpetratorId", "_qi"), on="PerpetratorId", how="left"
    )
    label = "case rows naming a perpetrator not in the perpetrators file (link ignored)"
    counts.update(hf.count_rows(with_perp, {label: pl.col("_qi").is_null()}))
    links = with_perp.filter(pl.col("_qi").is_not_null()).select("_vi", "_qi").unique()
    return reg, links, counts


def _row_numbers(ids: pl.Series, column: str, name: str) -> pl.DataFrame:
    """Id → row number (UInt32) of a table whose ids were checked unique."""
    return ids.alias(column).to_frame().with_row_index(name)


def perpetrator_bits(per: ExportTable, people: pl.DataFrame, count: dict[str, int]) -> pl.DataFrame:
    """Per perpetrator: the packed bits of role groups, gender, region, relation and paid money; birthdate."""
    none = pl.lit(None, pl.String)
    derived = per.frame.with_columns(
        hf.on_distinct(per.frame, "per_RoleInProcess", _role_mask, pl.Int64).fill_null(0).alias("_roles"),
        hf.on_distinct(per.frame, "per_RoleInProcess", _unknown_roles, pl.Int64).fill_null(0).alias("_unknown"),
        (
            hf.on_distinct(per.frame, "per_RelationToVictim", hf.relation, pl.String)
            if "per_RelationToVictim" in per.present
            else none
        ).alias("_relation"),
        (
            hf.on_distinct(per.frame, "per_PaidMoney", hf.paid, pl.String) if "per_PaidMoney" in per.present else none
        ).alias("_pay"),
    )
    frame = derived.join(people, left_on="PersonId", right_on="_pid", how="left", maintain_order="left")
    checks = {
        "perpetrators whose PersonId is empty or not in the persons file": pl.col("_found").is_null(),
        "perpetrator role values not in the HTCDS picklist (ignored)": pl.col("_unknown"),
        "perpetrator genders outside Male/Female (left empty)": pl.col("_gender_in") & pl.col("_gender").is_null(),
        "perpetrator nationality cells not mapped to a UN region": pl.col("_nat_in") & pl.col("_region").is_null(),
    }
    if "per_RelationToVictim" in per.present:
        checks["per_RelationToVictim values not recognised (left empty)"] = (
            pl.col("per_RelationToVictim").is_not_null() & pl.col("_relation").is_null()
        )
    if "per_PaidMoney" in per.present:
        checks["per_PaidMoney values not recognised (left empty)"] = (
            pl.col("per_PaidMoney").is_not_null() & pl.col("_pay").is_null()
        )
    count.update(hf.count_rows(frame, checks))
    bits = (
        _pack("_roles", pl.col("_roles"))
        | _pack("_gender", hf.value_bit(pl.col("_gender"), hf.GENDERS))
        | _pack("_region", hf.value_bit(ctdc_region(pl.col("_region"), perpetrator=True), hf.IP_REGIONS))
        | _pack("_relation", hf.value_bit(pl.col("_relation"), hf.RELATIONS))
        | _pack("_pay", hf.value_bit(pl.col("_pay"), hf.PAY))
    )
    return frame.select(pl.col("Id").alias("PerpetratorId"), bits.alias("_bits"), pl.col("_birth").alias("_perp_birth"))


def _role_mask(cell: pl.Expr) -> pl.Expr:
    return hf.parts_mask(hf.parts(cell), hf.ROLE_BITS)


def _unknown_roles(cell: pl.Expr) -> pl.Expr:
    return hf.unknown_parts(hf.parts(cell), hf.ROLE_BITS)


def fold_perpetrators(links: pl.DataFrame, reg: pl.Series, perp: pl.DataFrame, count: dict[str, int]) -> pl.Series:
    """OR the packed bits of each victim's perpetrators (each value once, in a fixed order once unpacked).

    Returns `_bits` in victim order, null for victims without a (known) perpetrator.
    """
    frame = links.with_columns(
        perp["_bits"].gather(links["_qi"]),
        perp["_perp_birth"].gather(links["_qi"]),
        reg.gather(links["_vi"]),
    ).with_columns(_age=hf.age(pl.col("_perp_birth"), pl.col("_reg")))
    label = "perpetrator ages below 0 or above 120 at the victim's registration (left empty)"
    unknown_age = pl.col("_perp_birth").is_not_null() & pl.col("_reg").is_not_null() & pl.col("_age").is_null()
    count.update(hf.count_rows(frame, {label: unknown_age}))
    frame = frame.select("_vi", pl.col("_bits") | _pack("_age", hf.age_band_bit(pl.col("_age"))))
    folded = frame.group_by("_vi").agg(pl.col("_bits").bitwise_or())
    bits = pl.repeat(None, reg.len(), dtype=pl.Int64, eager=True).alias("_bits")
    return bits.scatter(folded["_vi"], folded["_bits"])
