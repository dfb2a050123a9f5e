"""Realistic fictitious data in the CTDC victim-perpetrator layout, for demos, tests and benchmarks.

Records come from a mixture of latent profiles (e.g. adult women sexually exploited in Europe, men in forced labour
in Asia, minors, ...). Within a profile every column follows its own skewed distribution, so columns are correlated
through the profile; each column is missing in 5–40 % of rows; victims have 0–3 perpetrators whose attributes are
folded into `;`-joined multi-value cells (written with or without a space after `;`, as real files are); a small
share of records is drawn from flat distributions, giving rare combinations. Everything is vectorised: ten million
rows take a few seconds, most of it writing the file.

The generator is deterministic for a given seed (NumPy's PCG64 stream), so the embedded sample is the same on every
machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from sdsynth._utils.cache import cache_dir
from sdsynth._utils.tables import write_table
from sdsynth.errors import ParameterError

SAMPLE_ROWS = 17_000
SAMPLE_SEED = 20_240_329
GENERATOR_VERSION = 1  # bump when the generator's output changes, so cached samples are regenerated

YEARS = ["2005-2013", "2014-2018", "2019", "2020", "2021-2022", "2023", "2024"]
REGIONS = ["Africa", "Americas/Oceania", "Asia", "Europe"]
IP_REGIONS = ["Africa", "Americas/Oceania", "Asia", "Europe", "Oceania"]
RELATIONS = ["FamilyIntimatePartner", "FriendAcquaintance", "StrangerUnknownOther"]
GENDERS = ["Male", "Female"]
AGES = ["0-29", "30-38", "39-47", "48 +"]
PAY = ["Yes", "No"]
FLAG = ["1"]

CTDC_COLUMNS = [
    "yearRegister", "gender", "majorityStatus", "isForcedLabour", "isSexualExploit", "UN_COO_Region",
    "UN_COE_Region", "IP_RecruiterBroker", "IP_TransactionProcess", "IP_ControlAbuseKidnap", "IP_Exploiter",
    "IP_Relation", "IP_Gender", "IP_ageBroad", "IP_citizen_UNRegion", "IP_PayMoney",
]  # fmt: skip


@dataclass(frozen=True)
class _Profile:
    weight: float
    # per column: relative weights of its values (missing handled separately)
    year: list[float]
    gender: list[float]
    minor: float
    labour: float
    sexual: float
    origin: list[float]
    exploitation: list[float]
    roles: list[float]  # P(role flag) for the four IP roles
    relation: list[float]
    ip_gender: list[float]
    ip_age: list[float]
    ip_region: list[float]
    pay: list[float]
    perpetrators: list[float]  # P(0, 1, 2, 3 perpetrators)


_PROFILES = [
    _Profile(0.34, [2, 6, 3, 2, 3, 1, .1], [1, 9], .12, .08, .92, [1, .4, 1.2, 6], [.3, .2, .3, 8],
             [.7, .3, .5, .8], [3, 4, 2], [6, 3], [3, 5, 3, 1], [.5, .3, .8, 6, .02], [4, 1], [.15, .55, .22, .08]),
    _Profile(0.26, [1, 5, 4, 4, 5, 2, .1], [8, 2], .06, .95, .04, [1, .3, 8, 1], [.4, .2, 7, .6],
             [.6, .5, .3, .9], [1, 3, 5], [8, 2], [1, 4, 4, 2], [.3, .2, 8, .3, .03], [5, 2], [.2, .55, .18, .07]),
    _Profile(0.16, [1, 4, 3, 3, 4, 2, .05], [4, 6], .85, .35, .60, [5, .6, 1, .5], [6, .3, .6, .8],
             [.4, .3, .8, .6], [6, 2, 1], [5, 5], [3, 3, 2, 1], [7, .3, .4, .5, .01], [1, 3], [.2, .55, .18, .07]),
    _Profile(0.14, [.5, 3, 2, 3, 6, 3, 2], [5, 5], .25, .55, .40, [.5, 7, .3, .3], [.3, 7, .2, .4],
             [.8, .6, .4, .7], [2, 3, 3], [6, 4], [2, 4, 3, 2], [.2, 7, .2, .3, .05], [2, 2], [.18, .55, .2, .07]),
    _Profile(0.10, [3, 4, 1, 1, 1, .5, .2], [3, 7], .40, .30, .50, [2, 2, 2, 2], [2, 2, 2, 2],
             [.5, .5, .5, .5], [1, 1, 1], [1, 1], [1, 1, 1, 1], [1, 1, 1, 1, .3], [1, 1], [.25, .45, .2, .1]),
]  # fmt: skip

# share of missing cells per column; perpetrator columns are also empty for victims without a known perpetrator,
# so every column ends up 5-40 % empty
_MISSING = {
    "yearRegister": .07, "gender": .08, "majorityStatus": .18, "isForcedLabour": .10, "isSexualExploit": .10,
    "UN_COO_Region": .12, "UN_COE_Region": .22, "IP_citizen_UNRegion": .15, "IP_Relation": .12, "IP_Gender": .06,
    "IP_ageBroad": .20, "IP_PayMoney": .20,
}  # fmt: skip
_FLAT_SHARE = 0.03  # records drawn from flat distributions: the source of rare combinations


def _normalise(rows: list[list[float]]) -> np.ndarray:
    m = np.asarray(rows, dtype=np.float64)
    return m / m.sum(axis=1, keepdims=True)


def _draw(rng: np.random.Generator, probs: np.ndarray, group: np.ndarray) -> np.ndarray:
    """One categorical draw per row from the row's group distribution (inverse CDF)."""
    cum = np.cumsum(probs, axis=1)
    cum[:, -1] = 1.0
    return _inverse_cdf(cum, group, rng.random(group.shape[0]))


def _inverse_cdf(cum: np.ndarray, group: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per row i, the first k < last with u[i] < cum[group[i], k], else last (rows of `cum` are non-decreasing, so
    that is the number of entries before the last that are ≤ u[i]); group by group, no compiled kernel."""
    out = np.empty(group.shape[0], dtype=np.int8)
    last = cum.shape[1] - 1
    for g in range(cum.shape[0]):
        rows = group == g
        out[rows] = np.searchsorted(cum[g, :last], u[rows], side="right")
    return out


def _strings(values: list[str], codes: np.ndarray, present: np.ndarray) -> pl.Series:
    lookup = pl.Series([*values, ""], dtype=pl.String)
    return lookup.gather(np.where(present, codes, len(values)).astype(np.int64))


def _joined(values: list[str], masks: np.ndarray, spaced: np.ndarray) -> pl.Series:
    """Multi-value cells from bit masks over `values`, joined by ";" or "; "."""
    n_vals = len(values)
    tight = [";".join(v for i, v in enumerate(values) if m >> i & 1) for m in range(1 << n_vals)]
    loose = ["; ".join(v for i, v in enumerate(values) if m >> i & 1) for m in range(1 << n_vals)]
    lookup = pl.Series(tight + loose, dtype=pl.String)
    return lookup.gather(masks.astype(np.int64) + np.where(spaced, 1 << n_vals, 0))


def generate_ctdc(rows: int, seed: int = SAMPLE_SEED) -> pl.DataFrame:
    """A CTDC-like victim-perpetrator table with `rows` rows (all columns strings, "" = missing)."""
    if rows < 1:
        raise ParameterError(f"the number of rows must be at least 1, got {rows}")
    rng = np.random.default_rng(seed)
    weights = np.array([p.weight for p in _PROFILES])
    group = rng.choice(len(_PROFILES), size=rows, p=weights / weights.sum()).astype(np.int8)
    flat = rng.random(rows) < _FLAT_SHARE
    group = np.where(flat, len(_PROFILES) - 1, group).astype(np.int8)

    def table(attr: str) -> np.ndarray:
        return _normalise([getattr(p, attr) for p in _PROFILES])

    def present(col: str, extra: np.ndarray | None = None) -> np.ndarray:
        keep = rng.random(rows) >= _MISSING.get(col, 0.0)
        return keep if extra is None else keep & extra

    out: dict[str, pl.Series] = {}
    out["yearRegister"] = _strings(YEARS, _draw(rng, table("year"), group), present("yearRegister"))
    out["gender"] = _strings(GENDERS, _draw(rng, table("gender"), group), present("gender"))
    minor = rng.random(rows) < np.array([p.minor for p in _PROFILES])[group]
    out["majorityStatus"] = _strings(["Adult", "Minor"], minor.astype(np.int8), present("majorityStatus"))
    labour = rng.random(rows) < np.array([p.labour for p in _PROFILES])[group]
    sexual = rng.random(rows) < np.array([p.sexual for p in _PROFILES])[group]
    out["isForcedLabour"] = _strings(FLAG, np.zeros(rows, np.int8), labour & present("isForcedLabour"))
    out["isSexualExploit"] = _strings(FLAG, np.zeros(rows, np.int8), sexual & present("isSexualExploit"))
    out["UN_COO_Region"] = _strings(REGIONS, _draw(rng, table("origin"), group), present("UN_COO_Region"))
    # exploitation happens in the region of origin half of the time
    coe = np.where(rng.random(rows) < 0.5, _draw(rng, table("origin"), group), _draw(rng, table("exploitation"), group))
    out["UN_COE_Region"] = _strings(REGIONS, coe, present("UN_COE_Region"))

    n_perp = _draw(rng, table("perpetrators"), group)
    has_perp = n_perp > 0
    roles = np.array([p.roles for p in _PROFILES])
    for j, col in enumerate(["IP_RecruiterBroker", "IP_TransactionProcess", "IP_ControlAbuseKidnap", "IP_Exploiter"]):
        hit = np.zeros(rows, dtype=bool)
        for k in range(3):
            hit |= (n_perp > k) & (rng.random(rows) < roles[group, j])
        out[col] = _strings(FLAG, np.zeros(rows, np.int8), hit)

    spaced = rng.random(rows) < 0.3
    for col, values, attr in [
        ("IP_Relation", RELATIONS, "relation"),
        ("IP_Gender", GENDERS, "ip_gender"),
        ("IP_ageBroad", AGES, "ip_age"),
        ("IP_PayMoney", PAY, "pay"),
    ]:
        probs = table(attr)
        masks = np.zeros(rows, dtype=np.int64)
        first = _draw(rng, probs, group)
        for k in range(3):
            # later perpetrators mostly resemble the first one
            code = np.where(rng.random(rows) < 0.7, first, _draw(rng, probs, group))
            masks |= np.where(n_perp > k, 1 << code.astype(np.int64), 0)
        masks = np.where(present(col, has_perp), masks, 0)
        out[col] = _joined(values, masks, spaced)
    out["IP_citizen_UNRegion"] = _strings(
        IP_REGIONS, _draw(rng, table("ip_region"), group), present("IP_citizen_UNRegion", has_perp)
    )
    return pl.DataFrame([out[c].alias(c) for c in CTDC_COLUMNS])


CHUNK_ROWS = 10_000_000


def write_ctdc(path: str | Path, rows: int, seed: int = SAMPLE_SEED, suffix: str | None = None) -> None:
    """`generate_ctdc(rows, seed)` written to a file; beyond CHUNK_ROWS rows, generated and written in chunks (chunk
    i drawn with a seed derived from (seed, i)), so memory stays bounded whatever the size."""
    if rows <= CHUNK_ROWS:
        write_table(generate_ctdc(rows, seed), path, suffix)
        return
    kind = (suffix or Path(path).suffix).lower()
    writer: pq.ParquetWriter | None = None
    with Path(path).open("wb") as fh:
        for i, start in enumerate(range(0, rows, CHUNK_ROWS)):
            chunk_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
            frame = generate_ctdc(min(CHUNK_ROWS, rows - start), chunk_seed)
            if kind in {".parquet", ".pq"}:
                table = frame.to_arrow()
                writer = writer or pq.ParquetWriter(fh, table.schema, compression="zstd")
                writer.write_table(table)
            else:
                frame.write_csv(fh, separator="\t" if kind in {".tsv", ".tab"} else ",", include_header=i == 0)
        if writer is not None:
            writer.close()


def embedded_sample_path() -> Path:
    """The bundled sample (CTDC layout, 17,000 rows), generated deterministically on first use into a cache."""
    path = cache_dir() / f"ctdc-sample-v{GENERATOR_VERSION}-{SAMPLE_ROWS}-{SAMPLE_SEED}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.partial")
        write_table(generate_ctdc(SAMPLE_ROWS, SAMPLE_SEED), tmp)
        tmp.replace(path)
    return path
