"""Shared fixtures: small spec example files and paths to the shared real datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("SDSYNTH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _sample_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Generate the embedded sample into a per-session cache, not the user's home."""
    monkeypatch.setenv("SDSYNTH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is not available (the shared real datasets live next to the repository)")
    return path


@pytest.fixture
def example_92() -> Path:
    """Spec §9.2 input (packages/cli/README.md example.csv of the reference)."""
    return DATA / "spec_9_2_example.csv"


@pytest.fixture
def example_91() -> Path:
    """Spec §9.1 input (docs/dp/README.md of the reference)."""
    return DATA / "spec_9_1_dp_doc.csv"
