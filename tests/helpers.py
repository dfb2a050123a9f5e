"""What many test modules share: running the CLI in-process, the one-line error check, the datasets' paths, and the
project's Hypothesis profile."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from typer.testing import CliRunner

from sdsynth._utils.cache import FIRST_RUN_NOTE
from sdsynth.cli.main import app

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
DATA = TESTS / "data"
SHARED_DATA = Path(os.environ.get("SDSYNTH_SHARED_DATA", ROOT.parent / "shared" / "data"))

# one profile for every property test: no deadline (Numba compiles on first use), no health check on slow or large
# generated tables; each test sets only how many examples it needs
settings.register_profile(
    "sdsynth", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile("sdsynth")

runner = CliRunner()


def invoke(*args: str | Path):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args])


# the line a finished stage prints when stderr is not a terminal ("reading: 0.3 s", "drawing: 2,000 records, 1.2 s")
STAGE_LINE = re.compile(r"^.+: (\d[\d,]* [\w-]+, )?\d+\.\d (s|min)$")


def assert_clean_error(result, pattern: str) -> None:  # type: ignore[no-untyped-def]
    """Exit code 2 and one line of error on stderr (besides the lines of stages finished before it)."""
    assert result.exit_code == 2, result.output
    text = result.stderr if result.stderr_bytes is not None else result.output
    lines = [ln for ln in text.strip().splitlines()
             if ln.strip() and not STAGE_LINE.match(ln) and ln != FIRST_RUN_NOTE]  # fmt: skip
    assert "Traceback" not in result.output
    assert any(pattern in ln for ln in lines), text
    assert len(lines) == 1, text


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is not available (the shared real datasets live next to the repository)")
    return path
