"""CSV reading: a file of at most one block is parsed whole by Arrow's threaded reader, a larger one streamed block by
block; both give the same rows as Python's csv module, in batches of the requested size, and the same errors."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from sdsynth.errors import InputError
from sdsynth.read import sources
from sdsynth.read.sources import CsvSource

WHOLE, STREAMED = 64 << 20, 4096  # block sizes: every test file fits one block / spans many blocks


def _write_awkward_csv(path: Path, rows: int) -> list[list[str]]:
    """Quoted delimiters, doubled quotes, newlines inside quotes, empty cells and non-ASCII text."""
    rng = random.Random(5)
    cells = ["plain", "", "a,b", 'say "hi"', "two\nlines", "naïve", "x\r\ny", " padded "]
    table = [["id", "text", "more"]] + [[str(r), rng.choice(cells), rng.choice(cells)] for r in range(rows)]
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(table)
    return table[1:]


@pytest.mark.parametrize("block", [WHOLE, STREAMED])
def test_whole_and_streamed_reads_give_the_rows_csv_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    expected = _write_awkward_csv(tmp_path / "x.csv", 3000)
    monkeypatch.setattr(sources, "_CSV_BLOCK_BYTES", block)
    batches = list(CsvSource(tmp_path / "x.csv").iter_batches(batch_rows=700))
    assert [b.num_rows for b in batches] == [700, 700, 700, 700, 200]
    got = [list(row.values()) for b in batches for row in b.to_pylist()]
    assert got == expected


@pytest.mark.parametrize("block", [WHOLE, STREAMED])
def test_a_ragged_row_is_named_whichever_way_the_file_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    rows = _write_awkward_csv(tmp_path / "x.csv", 2000)
    with (tmp_path / "x.csv").open("a", encoding="utf-8") as fh:
        fh.write("1,2,3,4\n")
    monkeypatch.setattr(sources, "_CSV_BLOCK_BYTES", block)
    with pytest.raises(InputError, match=rf"row {len(rows) + 1}\b.*expected 3 fields like the header, found 4"):
        list(CsvSource(tmp_path / "x.csv").iter_batches())


@pytest.mark.parametrize("block", [WHOLE, STREAMED])
def test_a_header_without_rows_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    (tmp_path / "x.csv").write_text("a,b\n\n", encoding="utf-8")
    monkeypatch.setattr(sources, "_CSV_BLOCK_BYTES", block)
    with pytest.raises(InputError, match="header row but no data rows"):
        list(CsvSource(tmp_path / "x.csv").iter_batches())
