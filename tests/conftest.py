"""Shared fixtures: small spec example files and paths to the shared real datasets."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import DATA


@pytest.fixture(autouse=True)
def _sample_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Generate the embedded sample into a per-session cache, not the user's home."""
    monkeypatch.setenv("SDSYNTH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("SDSYNTH_COMPILE_AHEAD", "0")  # no helper process per command (test_numba_cache tests it)


@pytest.fixture
def example_92() -> Path:
    """Spec §9.2 input (packages/cli/README.md example.csv of the reference)."""
    return DATA / "spec_9_2_example.csv"


@pytest.fixture
def example_91() -> Path:
    """Spec §9.1 input (docs/dp/README.md of the reference)."""
    return DATA / "spec_9_1_dp_doc.csv"
