"""How single HTCDS fields become CTDC codebook values: genders, dates, ages, bands, picklists.

Each function returns a Polars expression, so `htcds.prepare_htcds` runs as a few vectorised joins. The CTDC value
sets (in the order of the schema, which is the order of `;`-joined multi-value cells) are defined here once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import polars as pl

GENDERS = ("Male", "Female")
AGE_BANDS = ("0-29", "30-38", "39-47", "48 +")
IP_REGIONS = ("Africa", "Americas/Oceania", "Asia", "Europe", "Oceania")
RELATIONS = ("FamilyIntimatePartner", "FriendAcquaintance", "StrangerUnknownOther")
PAY = ("Yes", "No")
ROLE_COLUMNS = ("IP_RecruiterBroker", "IP_TransactionProcess", "IP_ControlAbuseKidnap", "IP_Exploiter")
MAX_AGE = 120  # older "ages" come from mistyped birthdates and are left empty

# HTCDS picklist values (compared without spaces, case-insensitively) → CTDC value
_GENDER = {"male": "Male", "masculine": "Male", "female": "Female", "feminine": "Female"}
# per_RoleInProcess → bit of the CTDC role group (ROLE_COLUMNS order); `Other` belongs to no group
ROLE_BITS = {
    "recruiterorintermediary": 1, "brokertravelagent": 1,
    "transporter": 2, "travellingpartner": 2, "transferredindividual": 2, "harbouredindividual": 2,
    "soldindividual": 2, "boughtindividual": 2, "receivedindividual": 2, "smuggler": 2,
    "controlledindividual": 4, "abuser": 4, "kidnapper": 4,
    "exploiter": 8,
    "other": 0,
}  # fmt: skip
# the optional per_RelationToVictim column: CTDC values, or HTCDS v2 RelationshipToTrafficker values
_RELATION = {
    "familyintimatepartner": "FamilyIntimatePartner", "family": "FamilyIntimatePartner",
    "familial": "FamilyIntimatePartner", "intimatepartner": "FamilyIntimatePartner",
    "friendacquaintance": "FriendAcquaintance", "friend": "FriendAcquaintance", "acquaintance": "FriendAcquaintance",
    "acquainted": "FriendAcquaintance",
    "strangerunknownother": "StrangerUnknownOther", "stranger": "StrangerUnknownOther",
    "unaquainted": "StrangerUnknownOther", "unacquainted": "StrangerUnknownOther", "unknown": "StrangerUnknownOther",
    "other": "StrangerUnknownOther",
}  # fmt: skip
_PAY = {"yes": "Yes", "y": "Yes", "true": "Yes", "1": "Yes", "no": "No", "n": "No", "false": "No", "0": "No"}
# the v1 vic_TypeOfExploitation picklist: bit 1 = forced labour, bit 2 = sexual exploitation
EXPLOITATION_BITS = {"forcedlabour": 1, "forcedlabor": 1, "sexualexploitation": 2, "both": 3}


def on_distinct(
    frame: pl.DataFrame, column: str, derive: Callable[[pl.Expr], pl.Expr], dtype: type[pl.DataType] | pl.DataType
) -> pl.Expr:
    """`derive(pl.col(column))`, computed once per distinct cell and looked up for every row.

    Picklist cells repeat a lot (a few thousand distinct role combinations for a million perpetrators), so the
    string and list work runs on the distinct values only. Null cells give null.
    """
    distinct = frame.select(pl.col(column).drop_nulls().unique())
    mapped = distinct.select(pl.col(column), derive(pl.col(column)).cast(dtype).alias("_value"))
    return pl.col(column).replace_strict(mapped[column], mapped["_value"], default=None, return_dtype=dtype)


def key(expr: pl.Expr) -> pl.Expr:
    """A picklist value as compared: no spaces, lower case ("Recruiter Or Intermediary" = RecruiterOrIntermediary)."""
    return expr.str.replace_all(r"\s+", "").str.to_lowercase()


def picklist(expr: pl.Expr, mapping: Mapping[str, str]) -> pl.Expr:
    """A single-select cell mapped to its CTDC value; unknown values become null."""
    return key(expr).replace_strict(dict(mapping), default=None, return_dtype=pl.String)


def gender(expr: pl.Expr) -> pl.Expr:
    """Male/Female (HTCDS v0.2), Masculine/Feminine (IOM values, v1); other genders are left empty, as in CTDC."""
    return picklist(expr, _GENDER)


def relation(expr: pl.Expr) -> pl.Expr:
    return picklist(expr, _RELATION)


def paid(expr: pl.Expr) -> pl.Expr:
    return picklist(expr, _PAY)


def iso_date(expr: pl.Expr) -> pl.Expr:
    """An ISO 8601 date, or the date part of a date-time (`2021-05-01T10:22:00Z`); anything else is null."""
    return expr.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def age(birth: pl.Expr, at: pl.Expr) -> pl.Expr:
    """Completed years between two dates; null when either is missing or the result is below 0 or above MAX_AGE."""
    before_birthday = (at.dt.month().cast(pl.Int32) * 100 + at.dt.day().cast(pl.Int32)) < (
        birth.dt.month().cast(pl.Int32) * 100 + birth.dt.day().cast(pl.Int32)
    )
    years = at.dt.year().cast(pl.Int32) - birth.dt.year().cast(pl.Int32) - before_birthday.cast(pl.Int32)
    return pl.when((years >= 0) & (years <= MAX_AGE)).then(years).otherwise(None)


def year_band(date: pl.Expr) -> pl.Expr:
    """CTDC registration-year bands; every year after 2022 is its own band; years before 2005 are left empty."""
    year = date.dt.year()
    return (
        pl.when(year < 2005)
        .then(None)
        .when(year <= 2013)
        .then(pl.lit("2005-2013"))
        .when(year <= 2018)
        .then(pl.lit("2014-2018"))
        .when(year <= 2020)
        .then(year.cast(pl.String))
        .when(year <= 2022)
        .then(pl.lit("2021-2022"))
        .when(year <= 2099)
        .then(year.cast(pl.String))
        .otherwise(None)
    )


def majority(age_years: pl.Expr) -> pl.Expr:
    return pl.when(age_years < 18).then(pl.lit("Minor")).when(age_years >= 18).then(pl.lit("Adult"))


def age_band_bit(age_years: pl.Expr) -> pl.Expr:
    """The bit of a perpetrator's IP_ageBroad band (AGE_BANDS order), 0 when the age is unknown."""
    return (
        pl.when(age_years < 30)
        .then(1)
        .when(age_years < 39)
        .then(2)
        .when(age_years < 48)
        .then(4)
        .when(age_years >= 48)
        .then(8)
        .otherwise(0)
    )


def value_bit(expr: pl.Expr, values: Sequence[str]) -> pl.Expr:
    """The bit of a CTDC value in `values` (1 << index), 0 for null."""
    return expr.replace_strict({v: 1 << i for i, v in enumerate(values)}, default=0, return_dtype=pl.Int64)


def joined(mask: pl.Expr, values: Sequence[str]) -> pl.Expr:
    """A bit mask over `values` as a `;`-joined cell in the order of `values`; 0 is null."""
    lookup = {m: ";".join(v for i, v in enumerate(values) if m >> i & 1) for m in range(1, 1 << len(values))}
    return mask.replace_strict(lookup, default=None, return_dtype=pl.String)


def parts(expr: pl.Expr) -> pl.Expr:
    """A `;`-separated multi-select cell as a list of keys (see `key`), empty parts dropped."""
    return expr.str.split(";").list.eval(key(pl.element())).list.eval(pl.element().filter(pl.element() != ""))


def parts_mask(part_list: pl.Expr, bits: Mapping[str, int]) -> pl.Expr:
    """OR of the bits of a cell's parts (unknown parts add nothing)."""
    as_bits = part_list.list.eval(pl.element().replace_strict(dict(bits), default=0, return_dtype=pl.Int64))
    return as_bits.list.eval(pl.element().bitwise_or()).list.first().fill_null(0)


def unknown_parts(part_list: pl.Expr, known: Mapping[str, int]) -> pl.Expr:
    """How many parts of a cell are not picklist values we know."""
    return part_list.list.eval(pl.element().is_in(list(known)).not_()).list.sum().fill_null(0)


def kept_values(expr: pl.Expr) -> pl.Expr:
    """A kept multi-select field: parts trimmed, deduplicated, sorted and `;`-joined; null when nothing is left."""
    cleaned = (
        expr.str.split(";")
        .list.eval(pl.element().str.strip_chars())
        .list.eval(pl.element().filter(pl.element() != ""))
        .list.unique()
        .list.sort()
        .list.join(";")
    )
    return pl.when(cleaned == "").then(None).otherwise(cleaned)


def count_rows(frame: pl.DataFrame, conditions: dict[str, pl.Expr]) -> dict[str, int]:
    """How many rows meet each condition, in one pass."""
    if not conditions:
        return {}
    row = frame.select(c.fill_null(False).cast(pl.Int64).sum().alias(k) for k, c in conditions.items()).row(0)
    return {k: int(n) for k, n in zip(conditions, row, strict=True)}
