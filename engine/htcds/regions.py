"""Country codes to the UN regions the CTDC codebook uses, from the bundled UN M49 table.

The table (`engine/htcds/m49.csv`, source and licence in `engine/htcds/m49-source.md`) is a projection of a maintained
public dataset, never a hand-typed list. CTDC merges the Americas and Oceania into `Americas/Oceania` for victims
(few cases come from either); for perpetrators' citizenship the codebook keeps `Oceania` apart.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import polars as pl

# M49 region name → CTDC value, per column family
VICTIM_REGIONS = {
    "Africa": "Africa",
    "Americas": "Americas/Oceania",
    "Oceania": "Americas/Oceania",
    "Asia": "Asia",
    "Europe": "Europe",
}
PERPETRATOR_REGIONS = {**VICTIM_REGIONS, "Oceania": "Oceania"}


@cache
def m49_table() -> pl.DataFrame:
    """The bundled M49 table, every column as text (Namibia's code is `NA`: no NA inference)."""
    path = resources.files("sdsynth.htcds").joinpath("m49.csv")
    with resources.as_file(path) as file:
        return pl.read_csv(file, comment_prefix="#", infer_schema=False)


@cache
def _code_to_region() -> dict[str, str]:
    """Alpha-2 and alpha-3 codes (upper case) → M49 region name, for countries that have one."""
    table = m49_table().filter(pl.col("region").is_not_null())
    out = dict(zip(table["alpha2"].to_list(), table["region"].to_list(), strict=True))
    out.update(zip(table["alpha3"].to_list(), table["region"].to_list(), strict=True))
    return out


def m49_region(code: pl.Expr) -> pl.Expr:
    """M49 region name of a country-code cell, null when empty, unknown or malformed.

    A multi-select cell (`UA;RU`, HTCDS v2 citizenship) counts by its first code.
    """
    first = code.str.split(";").list.first().str.strip_chars().str.to_uppercase()
    return first.replace_strict(_code_to_region(), default=None, return_dtype=pl.String)


def ctdc_region(region: pl.Expr, perpetrator: bool = False) -> pl.Expr:
    """CTDC region value of an M49 region name (null stays null)."""
    mapping = PERPETRATOR_REGIONS if perpetrator else VICTIM_REGIONS
    return region.replace_strict(mapping, default=None, return_dtype=pl.String)
