"""`sdsynth schema validate`: violations grouped by column and value, the value a typo meant, joined-value hints, a
short report unless asked for everything."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import invoke

from sdsynth.read.options import IngestOptions
from sdsynth.read.validate import nearest_allowed, validation_report
from sdsynth.schema.model import ColumnSpec, Schema

SCHEMA = Schema(
    columns=(
        ColumnSpec("region", values=("Africa", "Americas/Oceania", "Asia", "Europe")),
        ColumnSpec("age", values=("0-29", "30-38", "39-47", "48 +")),
    )
)


@pytest.mark.parametrize(
    ("value", "meant"),
    [("Asai", "Asia"), ("asia", "Asia"), ("48+", "48 +"), ("30--38", "30-38"), ("Antarctica", None)],
)
def test_the_nearest_allowed_value(value: str, meant: str | None) -> None:
    assert nearest_allowed(value, SCHEMA.columns[0].values + SCHEMA.columns[1].values) == meant  # type: ignore[operator]


def _table(tmp_path: Path, rows: int = 60) -> Path:
    lines = ["region,age"]
    lines += ["Asai,0-29"] * rows + ["Asia,30--38"] * 5 + ["Europe;Asia,48 +"] * 3 + ["Europe,48+"] * 2
    lines += [f"Region{i},0-29" for i in range(30)]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_violations_are_grouped_with_counts_first_rows_and_suggestions(tmp_path: Path) -> None:
    report = validation_report(_table(tmp_path), IngestOptions(schema=SCHEMA))
    first = report.groups[0]
    assert (first.column, first.value, first.rows, first.first_rows, first.suggestion) == (
        "region", "Asai", 60, [1, 2, 3], "Asia",
    )  # fmt: skip
    by_value = {g.value: g for g in report.groups}
    assert by_value["30--38"].suggestion == "30-38" and by_value["48+"].suggestion == "48 +"
    assert by_value["Europe;Asia"].rows == 3
    assert report.violations == 60 + 5 + 3 + 2 + 30
    assert any("'region' holds ';'-joined values (3 rows)" in h for h in report.hints)


def test_the_cli_report_is_short_unless_asked(tmp_path: Path) -> None:
    schema = tmp_path / "s.yaml"
    schema.write_text(SCHEMA.to_yaml(), encoding="utf-8")
    data = _table(tmp_path)
    short = invoke("schema", "validate", data, "--schema", schema)
    assert short.exit_code == 1
    assert len(short.stdout.strip().splitlines()) <= 21  # 20 values and the hint
    assert "did you mean 'Asia'?" in short.stdout and "--max-report 0" in short.stderr
    full = invoke("schema", "validate", data, "--schema", schema, "--max-report", "0")
    assert len(full.stdout.strip().splitlines()) == 34 + 1  # every distinct offending value, and the hint
