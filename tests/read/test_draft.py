"""`schema infer` drafts what a careful data engineer would: integer codes stay categories (0 a code, not absent),
measures get bins (a dominant value its own), joined cells are multi-value even when few, identifiers are dropped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from sdsynth.encode.tables import encode
from sdsynth.read.draft import infer_schema
from sdsynth.read.options import IngestOptions
from sdsynth.read.validate import validate_table
from sdsynth.schema.model import ColumnSpec

N = 2000


def _draft(tmp_path: Path, columns: dict[str, list[str]]) -> dict[str, ColumnSpec]:
    path = tmp_path / "t.csv"
    pl.DataFrame(columns).write_csv(path)
    schema = infer_schema(path)
    assert list(validate_table(path, IngestOptions(schema=schema))) == []  # a draft accepts its own data
    return {c.name: c for c in schema.columns}


def test_integer_codes_are_categories_and_zero_is_one_of_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    race = rng.choice(5, N, p=[0.85, 0.05, 0.04, 0.03, 0.03]).astype(str).tolist()
    country = rng.integers(0, 42, N).astype(str).tolist()
    units = rng.choice(np.arange(100, 9999, 61), N).astype(str).tolist()  # 163 ids spread over a wide range
    spec = _draft(tmp_path, {"race": race, "country": country, "unit": units})
    assert spec["race"].kind == "categorical" and spec["race"].sensitive_zeros
    assert spec["race"].values == ("0", "1", "2", "3", "4")  # numeric order
    assert spec["country"].kind == "categorical" and len(spec["country"].values or ()) == 42
    assert spec["unit"].kind == "categorical" and not spec["unit"].sensitive_zeros
    path = tmp_path / "t.csv"
    data = encode(path, IngestOptions(schema=infer_schema(path)))
    released = {v for v, c in zip(data.attributes.values, data.attributes.column_of, strict=True) if c == 0}
    assert "0" in released  # race 0 is an attribute, not an empty cell


def test_measures_get_bins_and_a_dominant_value_its_own(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    age = rng.integers(17, 91, N).astype(str).tolist()
    hours = np.where(rng.random(N) < 0.47, 40, rng.integers(1, 100, N)).astype(str).tolist()
    gain = np.where(rng.random(N) < 0.92, 0, rng.choice(np.arange(114, 99999, 800), N)).astype(str).tolist()
    spec = _draft(tmp_path, {"age": age, "hours": hours, "gain": gain})
    for name in ("age", "hours", "gain"):
        assert spec[name].kind == "numeric" and spec[name].bins is not None and spec[name].bins.inferred
        assert len(spec[name].bins.labels) >= 3, name
    assert "40" in spec["hours"].bins.labels  # type: ignore[union-attr]
    assert spec["gain"].bins.labels[0] == "0" and spec["gain"].sensitive_zeros  # type: ignore[union-attr]


def test_joined_cells_are_multi_value_even_when_rare(tmp_path: Path) -> None:
    bands = ["0--29", "30--38", "39--47", "48+"]
    age = [bands[i % 4] for i in range(N)]
    age[:5] = ["30--38;39--47"] * 5  # 0.25 % of the cells
    names = [f"Name{i % 40}" for i in range(N)]
    names[:10] = [f"Smith; John{i}" for i in range(10)]  # a semicolon in free text: its parts are never alone
    spec = _draft(tmp_path, {"IP_ageBroad": age, "names": names})
    assert spec["IP_ageBroad"].kind == "multi_value" and spec["IP_ageBroad"].delimiter == ";"
    assert spec["IP_ageBroad"].values == tuple(sorted(bands))
    assert spec["names"].kind == "categorical"


def test_identifier_like_columns_are_marked_for_dropping(tmp_path: Path) -> None:
    spec = _draft(tmp_path, {"case": [f"C{i % 1500}" for i in range(N)], "n": [str(i) for i in range(N)],
                             "g": ["a", "b"] * (N // 2)})  # fmt: skip
    assert spec["case"].use is False and "identifier" in spec["case"].description
    assert spec["n"].use is False  # numbers too: an identifier is never binned
    assert spec["g"].use is True


def test_a_flag_is_a_column_of_ones_and_empties(tmp_path: Path) -> None:
    spec = _draft(tmp_path, {"flag": ["1", ""] * (N // 2), "binary": ["1", "0"] * (N // 2)})
    assert spec["flag"].kind == "flag"
    assert spec["binary"].kind == "categorical" and spec["binary"].sensitive_zeros  # "no" is an answer


@given(
    st.lists(st.integers(min_value=-50, max_value=10_000), min_size=60, max_size=400),
    st.integers(min_value=0, max_value=3),
)
def test_a_numeric_draft_never_has_a_single_bin_and_accepts_its_data(values: list[int], skew: int) -> None:
    import tempfile

    cells = [str(v) for v in values] + ["0"] * (skew * len(values))
    with tempfile.TemporaryDirectory() as tmp:
        spec = _draft(Path(tmp), {"x": cells, "g": ["a", "b"] * (len(cells) // 2) + ["a"] * (len(cells) % 2)})
    if spec["x"].kind == "numeric":
        assert spec["x"].bins is not None and len(spec["x"].bins.labels) >= 2
