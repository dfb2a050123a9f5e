"""Realistic fictitious HTCDS exports (persons, victims, perpetrators, cases), for demos and benchmarks.

The layout is the one `sdsynth prepare htcds` reads (see `../shared/data/htcds-example` in the repository and
`docs/htcds.md`): HTCDS field names, `;`-separated multi-select cells, ids joining the tables, one case row per
victim-perpetrator link. Victims come from a few latent profiles (women sexually exploited in Europe, men in forced
labour in Asia and the Gulf, minors in Africa, the Americas, and a flat profile for rare combinations), so columns
are correlated. Realistic mess is built in: missing cells, other genders, invalid and lower-case country codes,
Namibia's `NA`, date-times instead of dates, perpetrators linked to several victims, victims without perpetrator,
picklist labels written with spaces. Names, e-mails, phones and streets are fictitious and there only so that
`prepare` has identifiers to leave out.

Everything is vectorised NumPy/Polars and deterministic for a seed (PCG64).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from sdsynth._utils.files import atomic_file
from sdsynth._utils.tables import write_table
from sdsynth.errors import OutputError, ParameterError
from sdsynth.htcds.regions import m49_table

SAMPLE_SEED = 20_240_329
TABLES = ("persons", "victims", "perpetrators", "cases")

LABOUR = ["Agriculture", "Aquafarming", "Begging", "Construction", "DomesticWork", "Hospitality",
          "IllicitActivities", "Manufacturing", "MiningOrDrilling", "Peddling", "Transportation", "Other"]  # fmt: skip
SEX = ["Prostitution", "Pornography", "RemoteInteractiveServices", "PrivateSexualServices"]
CONTROL = ["DebtBondage", "TakesEarnings", "RestrictsFinancialAccess", "Threats", "PsychologicalAbuse",
           "PhysicalAbuse", "SexualAbuse", "FalsePromises", "PsychoactiveSubstances", "RestrictsMovement",
           "RestrictsMedicalCare", "ExcessiveWorkingHours", "UsesChildren", "ThreatOfLawEnforcement",
           "WithholdsNecessities", "WithholdsDocuments", "Other"]  # fmt: skip
ROLES = ["RecruiterOrIntermediary", "BrokerTravelAgent", "Transporter", "TravellingPartner", "TransferredIndividual",
         "HarbouredIndividual", "SoldIndividual", "BoughtIndividual", "ReceivedIndividual", "ControlledIndividual",
         "Smuggler", "Abuser", "Kidnapper", "Exploiter", "Other"]  # fmt: skip
_ROLE_WEIGHTS = [5, 1, 2, 0.5, 0.5, 1, 1, 0.5, 0.5, 1.5, 0.5, 2, 0.3, 5, 0.5]  # recruiters and exploiters first
GENDERS = ["Female", "Male", "Transgender/NonConforming", "Unknown", "Feminine", "Masculine"]
RELATIONS = ["Familial", "Acquainted", "Unaquainted", "FamilyIntimatePartner", "StrangerUnknownOther"]
STATUS = ["Active", "FollowUp", "Closed", "ClosedReferred"]
_FIRST = ["Amina", "Rui", "Lin", "Viktor", "Sara", "Omar", "Nadia", "Tomas", "Ife", "Mei", "Jonas", "Leyla",
          "Pavel", "Rosa", "Kofi", "Anh", "Dara", "Elif", "Hugo", "Zara"]  # fmt: skip
_LAST = ["Zedlova", "Okonkwo", "Marquez", "Hale", "Brandt", "Quill", "Ferro", "Tanaka", "Mbeki", "Novak",
         "Silva", "Karim", "Dubois", "Larsen", "Osei", "Petrov", "Reyes", "Sato", "Varga", "Yilmaz"]  # fmt: skip
_STREETS = ["Quietstreet", "Hiddenroad", "Elm Lane", "Harbour Way", "Mill Road", "Station Street"]


@dataclass(frozen=True)
class _Profile:
    weight: float
    female: float
    minor: float
    labour: float
    sexual: float
    origin: dict[str, float]
    exploitation: dict[str, float]
    years: tuple[float, ...]  # weights of 2005..2025
    perpetrators: tuple[float, ...]  # P(0..4 perpetrators)


def _years(peak: int, spread: float) -> tuple[float, ...]:
    return tuple(float(np.exp(-(((y - peak) / spread) ** 2))) + 0.02 for y in range(2005, 2026))


_PROFILES = [
    _Profile(.32, .90, .12, .10, .92, {"UA": 5, "RO": 6, "BG": 4, "MD": 3, "AL": 2, "NG": 4, "RU": 1, "BR": .3},
             {"DE": 4, "IT": 4, "NL": 2, "ES": 2, "FR": 2, "GB": 2}, _years(2016, 5), (.10, .42, .28, .14, .06)),
    _Profile(.28, .20, .06, .95, .04, {"PH": 5, "MM": 3, "KH": 3, "NP": 3, "BD": 3, "ID": 4, "VN": 3, "LK": 1},
             {"TH": 3, "MY": 3, "SA": 3, "AE": 3, "QA": 2, "KW": 2}, _years(2019, 4), (.12, .40, .28, .14, .06)),
    _Profile(.16, .55, .85, .40, .55, {"NG": 4, "GH": 3, "ET": 3, "UG": 3, "KE": 2, "NA": 1, "CD": 2, "ER": 1},
             {"LY": 2, "ZA": 2, "NG": 2, "GH": 1, "KE": 1}, _years(2017, 6), (.15, .45, .25, .10, .05)),
    _Profile(.14, .50, .25, .55, .40, {"MX": 4, "HN": 3, "GT": 3, "SV": 2, "VE": 3, "CO": 2, "HT": 2, "US": 1},
             {"US": 4, "MX": 3, "AR": 1, "CL": 1}, _years(2021, 3), (.12, .42, .28, .12, .06)),
]  # fmt: skip
_FLAT_WEIGHT = 0.10  # a fifth profile: every country of the M49 table, flat distributions


def generate_htcds(victims: int, seed: int = SAMPLE_SEED) -> dict[str, pl.DataFrame]:
    """Four tables of a fictitious HTCDS export with `victims` victims (all columns text, null = empty cell)."""
    if victims < 1:
        raise ParameterError(f"the number of victims must be at least 1, got {victims}")
    rng = np.random.default_rng(seed)
    profiles = [*_PROFILES, _flat_profile()]
    weights = np.array([p.weight for p in profiles])
    group = rng.choice(len(profiles), size=victims, p=weights / weights.sum())

    # victims: registration date, age, exploitation
    reg = _dates(rng, group, [p.years for p in profiles])
    minor = rng.random(victims) < _per(profiles, "minor", group)
    age = np.where(minor, rng.integers(6, 18, victims), rng.integers(18, 60, victims))
    labour = rng.random(victims) < _per(profiles, "labour", group)
    sexual = rng.random(victims) < _per(profiles, "sexual", group)
    sexual |= ~labour & ~sexual & (rng.random(victims) < 0.5)
    origin = _choose(rng, group, [p.origin for p in profiles])
    v_persons = _person_rows(rng, victims, reg, age, _per(profiles, "female", group), origin)
    victims_frame = pl.DataFrame(
        {
            "Id": _ids("V", victims),
            "PersonId": v_persons["Id"],
            "vic_MethodsOfControl": _multi(rng, CONTROL, victims, 0.25, 3),
            "vic_TypeOfLabourExploitation": _multi(rng, LABOUR, victims, 0.0, 2).zip_with(
                pl.Series(labour), pl.Series([None], dtype=pl.String)
            ),
            "vic_TypeOfSexExploitation": _multi(rng, SEX, victims, 0.0, 2).zip_with(
                pl.Series(sexual), pl.Series([None], dtype=pl.String)
            ),
            "vic_CountryOfExploitation": _missing(rng, _choose(rng, group, [p.exploitation for p in profiles]), 0.25),
        }
    )

    # links: 0-4 perpetrators per victim; about one link in eight reuses a perpetrator of another victim
    n_perp = _choose_index(rng, group, [p.perpetrators for p in profiles])
    link_victim = np.repeat(np.arange(victims), n_perp)
    n_links = link_victim.shape[0]
    n_perpetrators = max(1, round(n_links * 0.88))
    reused = rng.integers(0, n_perpetrators, max(0, n_links - n_perpetrators))
    link_perp = np.concatenate([np.arange(n_perpetrators), reused])[:n_links]
    rng.shuffle(link_perp[n_perpetrators // 2 :])  # reused perpetrators land anywhere
    first_link = np.full(n_perpetrators, -1, dtype=np.int64)
    first_link[link_perp[::-1]] = np.arange(n_links)[::-1]  # the first link of each perpetrator dates its age
    anchor = np.where(first_link >= 0, link_victim[np.maximum(first_link, 0)], rng.integers(0, victims, n_perpetrators))
    p_age = np.clip(rng.normal(38, 10, n_perpetrators), 16, 80).astype(np.int64)
    same_country = rng.random(n_perpetrators) < 0.6
    p_origin = np.where(same_country, origin[anchor], _choose(rng, group[anchor], [p.origin for p in profiles]))
    p_persons = _person_rows(rng, n_perpetrators, reg[anchor], p_age, np.full(n_perpetrators, 0.3), p_origin)
    perpetrators_frame = pl.DataFrame(
        {
            "Id": _ids("Q", n_perpetrators),
            "PersonId": _ids("P", n_perpetrators, start=victims),
            "per_RoleInProcess": _multi(rng, ROLES, n_perpetrators, 0.05, 3, _ROLE_WEIGHTS, spaced_labels=0.03),
            "per_RelationToVictim": _missing(rng, _pick(rng, RELATIONS, [3, 4, 2, 1, 1], n_perpetrators), 0.3),
            "per_PaidMoney": _missing(rng, _pick(rng, ["Yes", "No"], [2, 3], n_perpetrators), 0.35),
        }
    )
    persons_frame = pl.concat([v_persons, p_persons.with_columns(Id=perpetrators_frame["PersonId"])])

    # cases: one row per link, plus one row without perpetrator for victims that have none (a few have no case)
    lonely = np.flatnonzero((n_perp == 0) & (rng.random(victims) >= 0.05))
    case_victim = np.concatenate([link_victim, lonely])
    later = np.where(rng.random(case_victim.shape[0]) < 0.3, rng.integers(1, 90, case_victim.shape[0]), 0)
    created = reg[case_victim] + later.astype("timedelta64[D]")
    as_datetime = rng.random(case_victim.shape[0]) < 0.3
    created_text = pl.Series(created).cast(pl.String)
    created_text = created_text.zip_with(pl.Series(~as_datetime), created_text + "T09:30:00.000Z")
    perpetrator_ids = perpetrators_frame["Id"].gather(np.concatenate([link_perp, np.zeros(lonely.shape[0], np.int64)]))
    cases_frame = pl.DataFrame(
        {
            "Id": _ids("C", case_victim.shape[0]),
            "VictimId": victims_frame["Id"].gather(case_victim),
            "PerpetratorId": perpetrator_ids.scatter(np.arange(n_links, case_victim.shape[0]), None),
            "cas_Status": _pick(rng, STATUS, [3, 2, 4, 1], case_victim.shape[0]),
            "CreatedDate": created_text,
        }
    )
    return dict(zip(TABLES, (persons_frame, victims_frame, perpetrators_frame, cases_frame), strict=True))


def write_htcds(
    tables: dict[str, pl.DataFrame], folder: str | Path, parquet: bool = False, overwrite: bool = False
) -> list[Path]:
    """Write `persons.csv`, `victims.csv`, ... (or `.parquet`) into `folder`, each file atomically.

    Existing files are checked before anything is written, so a refused run leaves the folder as it was.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder")
    suffix = ".parquet" if parquet else ".csv"
    paths = [folder / f"{name}{suffix}" for name in TABLES]
    if not overwrite:
        for path in paths:
            if path.exists():
                raise OutputError(f"{path}: already exists; pass `overwrite` to replace it")
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in zip(TABLES, paths, strict=True):
        with atomic_file(path, overwrite=True) as tmp:
            write_table(tables[name], tmp, suffix=suffix)
    return paths


# ------------------------------------------------------------------------------------------------------- helpers
def _flat_profile() -> _Profile:
    codes = m49_table()["alpha2"].to_list()
    flat = {c: 1.0 for c in codes}
    return _Profile(_FLAT_WEIGHT, .5, .3, .5, .5, flat, flat, _years(2015, 30), (.2, .4, .2, .1, .1))  # fmt: skip


def _per(profiles: Sequence[_Profile], attr: str, group: np.ndarray) -> np.ndarray:
    return np.array([getattr(p, attr) for p in profiles])[group]


def _choose_index(rng: np.random.Generator, group: np.ndarray, weights: Sequence[Sequence[float]]) -> np.ndarray:
    """One index per row, drawn from the row's profile weights (inverse CDF, one profile at a time)."""
    out = np.empty(group.shape[0], dtype=np.int64)
    u = rng.random(group.shape[0])
    for g, w in enumerate(weights):
        rows = group == g
        cum = np.cumsum(np.asarray(w, dtype=np.float64))
        out[rows] = np.minimum(np.searchsorted(cum / cum[-1], u[rows], side="right"), len(w) - 1)
    return out


def _choose(rng: np.random.Generator, group: np.ndarray, tables: Sequence[dict[str, float]]) -> np.ndarray:
    """A code per row from the row's profile table (NumPy array of strings)."""
    values = sorted({k for t in tables for k in t})
    weights = [[t.get(v, 0.0) for v in values] for t in tables]
    return np.asarray(values, dtype=object)[_choose_index(rng, group, weights)]


def _pick(rng: np.random.Generator, values: Sequence[str], weights: Sequence[float], n: int) -> pl.Series:
    idx = _choose_index(rng, np.zeros(n, dtype=np.int64), [weights])
    return pl.Series(list(values), dtype=pl.String).gather(idx)


def _missing(rng: np.random.Generator, values: np.ndarray | pl.Series, share: float) -> pl.Series:
    series = values if isinstance(values, pl.Series) else pl.Series(values, dtype=pl.String)
    return series.zip_with(pl.Series(rng.random(series.len()) >= share), pl.Series([None], dtype=pl.String))


def _ids(prefix: str, n: int, start: int = 0) -> pl.Series:
    return pl.Series(np.arange(start + 1, start + n + 1)).cast(pl.String).str.zfill(8).str.pad_start(9, prefix[0])


def _multi(
    rng: np.random.Generator,
    values: Sequence[str],
    n: int,
    empty: float,
    most: int,
    weights: Sequence[float] | None = None,
    spaced_labels: float = 0.0,
) -> pl.Series:
    """Multi-select cells of 1..`most` distinct values (`;`-joined, sometimes `; `), `empty` share left empty.

    Without `weights`, value i is drawn with weight 1/(i+1).
    """
    k = len(values)
    probs = np.asarray(weights if weights is not None else 1.0 / np.arange(1, k + 1), dtype=np.float64)
    probs = probs / probs.sum()
    count = rng.integers(1, most + 1, n)
    picks = rng.choice(k, size=(n, most), p=probs)
    keep = np.arange(most)[None, :] < count[:, None]
    frame = pl.DataFrame({f"v{j}": np.where(keep[:, j], picks[:, j], -1) for j in range(most)})
    labels = pl.Series(list(values), dtype=pl.String)
    spaced = pl.Series([_spaced(v) for v in values], dtype=pl.String)
    use_spaced = rng.random(n) < spaced_labels
    loose = pl.Series(rng.random(n) < 0.2)
    cols = []
    for j in range(most):
        idx = frame[f"v{j}"]
        text = labels.gather(idx.clip(0)).zip_with(pl.Series(~use_spaced), spaced.gather(idx.clip(0)))
        cols.append(text.zip_with(idx >= 0, pl.Series([None], dtype=pl.String)))
    joined = pl.DataFrame(cols, schema=[f"v{j}" for j in range(most)]).select(
        pl.concat_list(pl.all()).list.drop_nulls().list.unique(maintain_order=True).list.join(";")
    )
    cell = joined.to_series()
    return _missing(rng, cell.zip_with(~loose, cell.str.replace_all(";", "; ", literal=True)), empty)


def _spaced(value: str) -> str:
    """A picklist value as its label ("RecruiterOrIntermediary" → "Recruiter Or Intermediary")."""
    return "".join(f" {c}" if c.isupper() and i else c for i, c in enumerate(value))


def _dates(rng: np.random.Generator, group: np.ndarray, years: Sequence[Sequence[float]]) -> np.ndarray:
    year = 2005 + _choose_index(rng, group, years)
    start = (year - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    return start + rng.integers(0, 365, group.shape[0]).astype("timedelta64[D]")


def _person_rows(
    rng: np.random.Generator, n: int, at: np.ndarray, age: np.ndarray, female: np.ndarray, nationality: np.ndarray
) -> pl.DataFrame:
    """Persons: fictitious names and contacts, gender, birthdate `age` years before `at`, nationality code."""
    gender_idx = np.where(rng.random(n) < female, 0, 1)
    odd = rng.random(n)
    gender_idx = np.where(odd < 0.02, 2, np.where(odd < 0.03, 3, np.where(odd < 0.06, gender_idx + 4, gender_idx)))
    birth = at - (age * 365.25 + rng.integers(0, 365, n)).astype("timedelta64[D]")
    noise = pl.Series(rng.random(n))
    code = (
        pl.DataFrame({"code": nationality.astype(str), "noise": noise})
        .select(
            pl.when(pl.col("noise") < 0.005)  # invalid codes, and lower-case ones (which prepare accepts)
            .then(pl.lit("XX"))
            .when(pl.col("noise") < 0.02)
            .then(pl.col("code").str.to_lowercase())
            .otherwise(pl.col("code"))
        )
        .to_series()
    )
    first = pl.Series(_FIRST, dtype=pl.String).gather(rng.integers(0, len(_FIRST), n))
    last = pl.Series(_LAST, dtype=pl.String).gather(rng.integers(0, len(_LAST), n))
    serial = pl.Series(np.arange(n)).cast(pl.String)
    street = pl.Series(_STREETS).gather(rng.integers(0, len(_STREETS), n))
    frame = pl.DataFrame({"first": first, "last": last, "serial": serial, "street": street}).select(
        email=pl.concat_str(
            pl.col("first").str.to_lowercase(),
            pl.lit("."),
            pl.col("last").str.to_lowercase(),
            pl.col("serial"),
            pl.lit("@example.org"),
        ),
        street=pl.concat_str(pl.col("serial").str.slice(0, 3), pl.lit(" "), pl.col("street")),
    )
    phone = pl.Series(rng.integers(10**9, 10**10, n)).cast(pl.String).str.pad_start(11, "+")
    return pl.DataFrame(
        {
            "Id": _ids("P", n),
            "prs_FirstName": first,
            "prs_SecondName": last,
            "prs_Birthdate": _missing(rng, pl.Series(birth).cast(pl.String), 0.15),
            "prs_Gender": _missing(rng, pl.Series(GENDERS, dtype=pl.String).gather(gender_idx), 0.05),
            "prs_Nationality": _missing(rng, code, 0.08),
            "prs_Email": _missing(rng, frame["email"], 0.5),
            "prs_MobilePhone": _missing(rng, phone, 0.4),
            "prs_MailingStreet": _missing(rng, frame["street"], 0.6),
        }
    )
