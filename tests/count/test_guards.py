"""The memory guard and the identifier-like column warning, before any counting."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from helpers import assert_clean_error, invoke

from sdsynth._utils.progress import NullProgress
from sdsynth.count.guards import check_memory, records_size
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
    data = encode(_table(537))
    notes = _Notes()
    check_memory(data, 3, notes)
    assert len(notes.notes) == 1
    assert notes.notes[0].startswith("warning: case (about 540 distinct values, 100 % of the rows) looks like an ")
    assert "`drop_columns` case" in notes.notes[0]
    assert "537" not in notes.notes[0]  # counts from the data are rounded


def test_the_identifier_rule() -> None:
    from sdsynth.read.identifiers import identifier_like

    # a distinct value in half of the rows
    assert [f.column for f in identifier_like({"id": 600, "g": 2, "h": 5}, 1000)] == ["id"]
    # far more values than the other columns (the emergency calls' Box and Address), though a small share of rows
    calls = {"Box": 2089, "Address": 17703, **{f"c{i}": 8 + i for i in range(30)}}
    assert [f.column for f in identifier_like(calls, 305_000)] == ["Box", "Address"]
    # a wide categorical that most columns match is not an outlier; nor are few values in a small table
    assert identifier_like({"zip": 1200, "county": 900, "city": 1100, "g": 2}, 305_000) == []
    assert identifier_like({"a": 40, "b": 2}, 45) == []


def test_refuses_what_would_not_fit_with_advice() -> None:
    data = encode(_table(5000))
    with pytest.raises(ParameterError) as refused:
        check_memory(data, 2, NullProgress(), available_bytes=1 << 20)
    message = str(refused.value)
    assert message.startswith("the evaluation stage would need about ")
    assert "the widest columns: case (about 5,000 values), g (about 2 values)" in message
    assert "lower `reporting_length` (now 2)" in message and "(`drop_columns` case)" in message
    assert "(the identifier-like column(s) first)" in message
    assert check_memory(data, 2, NullProgress(), available_bytes=1 << 34)[-1].stage == "evaluation"
    only_counting = check_memory(data, 2, NullProgress(), ("reading", "counting"), available_bytes=1 << 34)
    assert [m.stage for m in only_counting] == ["reading", "counting"]


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
    assert_clean_error(result, "the counting stage would need about")
    assert not (tmp_path / "o").exists()


def test_the_dry_run_prints_each_stage_and_refuses_like_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.csv"
    _table(3000).write_csv(path)
    args = ("release", path, "--dp", "--epsilon", "1", "--out", tmp_path / "o", "--private-out", tmp_path / "p")
    fits = invoke(*args, "--dry-run")
    assert fits.exit_code == 0, fits.output
    stages = re.findall(r"^  (reading|counting|synthesis|evaluation): ([\d,]+) MiB$", fits.output, re.MULTILINE)
    assert [s for s, _ in stages] == ["reading", "counting", "synthesis", "evaluation"]
    assert all(350 < int(mib.replace(",", "")) < 2000 for _, mib in stages)
    import sdsynth.count.guards as guards

    monkeypatch.setattr(guards, "MEMORY_SHARE", 1e-9)
    refused = invoke(*args, "--dry-run")
    assert refused.exit_code == 1
    assert re.search(r"the (synthesis|evaluation) stage would need about [\d.]+ MiB, more than", refused.output)
    assert "the widest columns: case (about 3,000 values), g (about 2 values)" in refused.output
    assert not (tmp_path / "o").exists()
