"""Refactors change no output: a k-anonymous and a DP release of the bundled sample (seeded synthesis, the test-only
DP stream) give the same files as when `tests/golden/bundled_sample.json` was written, except `release_id`, the
date and the hashes that cover them (`golden_outputs.py` says how each file is normalised)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from golden_outputs import GOLDEN, RUNS, release_digests, seeded_dp_stream


@pytest.fixture
def seeded() -> object:
    undo = seeded_dp_stream()
    yield
    undo()


@pytest.mark.parametrize("run", sorted(RUNS))
def test_release_of_the_bundled_sample_is_unchanged(tmp_path: Path, run: str, seeded: object) -> None:
    expected = json.loads(GOLDEN.read_text())[run]
    actual = release_digests(tmp_path, run)
    for side in ("public", "private"):
        changed = {
            k for k in expected[side].keys() | actual[side].keys() if expected[side].get(k) != actual[side].get(k)
        }
        assert not changed, f"{run} {side}: {sorted(changed)}"
