"""The memory guard and the identifier-like column warning, before any counting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from helpers import assert_clean_error, invoke

from sdsynth._utils.progress import NullProgress
from sdsynth.count.guards import check_counting, records_size
from sdsynth.encode.tables import encode
from sdsynth.engine import ParameterError, stream_encoded


class _Notes(NullProgress):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def warn(self, message: str) -> None:
        self.notes.append(message)


def _table(n: int) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.DataFrame({"case": [f"C{i:06d}" for i in range(n)], "g": rng.choice(["a", "b"], n).tolist()})


def test_identifier_like_columns_are_named(tmp_path: Path) -> None:
    data = encode(_table(500))
    notes = _Notes()
    check_counting(data.attributes, *records_size(data), 3, notes)
    assert len(notes.notes) == 1 and "case" in notes.notes[0] and "identifier" in notes.notes[0]
    assert str(500) not in notes.notes[0]  # no count from the data


def test_refuses_what_would_not_fit_with_advice() -> None:
    data = encode(_table(5000))
    with pytest.raises(ParameterError, match=r"lower `reporting_length`.*drop the identifier-like column"):
        check_counting(data.attributes, *records_size(data), 2, NullProgress(), available_bytes=1 << 20)
    check_counting(data.attributes, *records_size(data), 2, NullProgress(), available_bytes=1 << 34)


def test_stream_knows_its_size_from_the_dictionary_pass(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    pl.DataFrame({"a": ["x", "", "y"], "m": ["p;q", "q", ""]}).write_csv(path)
    from sdsynth.engine import IngestOptions

    stream = stream_encoded(path, IngestOptions(multi_value={"m": ";"}))
    assert records_size(stream) == (3, 5)  # x, p, q | q | y


def test_cli_refusal_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.csv"
    _table(3000).write_csv(path)
    import sdsynth.count.guards as guards

    monkeypatch.setattr(guards, "MEMORY_SHARE", 1e-9)
    result = invoke("aggregate", path, "--use-columns", "g", "--out", tmp_path / "o")
    assert_clean_error(result, "would need about")
    assert not (tmp_path / "o").exists()
