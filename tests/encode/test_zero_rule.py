"""The reference's zero rule (a cell `0` is absent unless the column has sensitive zeros) is kept, and the user is
told when it removes a category: integer codes that use 0, a 0 filling a large share of the rows, 0/1 columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from helpers import invoke

from sdsynth._utils.context import RunContext
from sdsynth._utils.progress import NullProgress
from sdsynth.encode.tables import encode, stream_encoded
from sdsynth.read.options import IngestOptions
from sdsynth.schema.model import ColumnSpec, Schema

N = 3000


class _Warnings(NullProgress):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def warn(self, message: str) -> None:
        self.seen.append(message)


@pytest.fixture(scope="module")
def coded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(1)
    frame = pl.DataFrame({
        "race": rng.choice(5, N, p=[0.85, 0.05, 0.04, 0.03, 0.03]).astype(str),
        "sex": rng.choice([0, 1], N).astype(str),
        "gain": np.where(rng.random(N) < 0.9, 0, rng.integers(100, 90_000, N)).astype(str),
        "town": rng.choice(["0", "Lyon", "Nice", "Metz"], N, p=[0.01, 0.33, 0.33, 0.33]),
        "rooms": rng.integers(1, 9, N).astype(str),
    })  # fmt: skip
    path = tmp_path_factory.mktemp("zeros") / "coded.csv"
    frame.write_csv(path)
    return path


def _warnings(data: Path, options: IngestOptions, streamed: bool = False) -> list[str]:
    progress = _Warnings()
    (stream_encoded if streamed else encode)(data, options, RunContext(progress))
    return progress.seen


@pytest.mark.parametrize("streamed", [False, True])
def test_codes_shares_and_binary_columns_are_named(coded: Path, streamed: bool) -> None:
    seen = _warnings(coded, IngestOptions(), streamed)
    assert len(seen) == 3, seen
    assert seen[0].startswith("note: sex hold only 0 and 1: read as flags")
    assert "column 'race' uses 0 and its values are integer codes" in seen[1] and "`sensitive_zeros` race" in seen[1]
    assert "column 'gain' uses 0 and 0 fills about 90 % of its rows" in seen[2]
    assert not any("town" in s or "rooms" in s for s in seen)  # a rare 0 among words; no 0 at all
    assert not any(str(n) in " ".join(seen) for n in (N, 2550, 2700))  # no count from the data


def test_declared_zeros_and_flags_say_nothing(coded: Path) -> None:
    declared = (ColumnSpec("race", sensitive_zeros=True), ColumnSpec("sex", kind="flag"),
                ColumnSpec("gain", sensitive_zeros=True), ColumnSpec("town"), ColumnSpec("rooms"))  # fmt: skip
    schema = Schema(columns=declared)
    assert _warnings(coded, IngestOptions(schema=schema)) == []
    assert _warnings(coded, IngestOptions(sensitive_zeros=["race", "sex", "gain"])) == []


def test_the_rule_itself_is_unchanged(coded: Path) -> None:
    data = encode(coded, IngestOptions(use_columns=["race"]))
    assert "0" not in set(data.attributes.values)  # 0 stays absent unless declared
    kept = encode(coded, IngestOptions(use_columns=["race"], sensitive_zeros=["race"]))
    assert "0" in set(kept.attributes.values)


def test_the_cli_prints_the_warning_even_when_quiet(coded: Path, tmp_path: Path) -> None:
    result = invoke("aggregate", coded, "-k", "5", "-q", "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert "--sensitive-zeros race" in result.stderr
