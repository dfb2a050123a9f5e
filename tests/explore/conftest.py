"""Releases to explore (made once per session) and the browser: Playwright driving Debian's `chromium`."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from helpers import invoke

from sdsynth.bundle.database import open_release_readonly
from sdsynth.explore.server import ExplorerServer
from sdsynth.sample_data import generate_ctdc

MULTI_VALUE = ("IP_Relation", "IP_Gender", "IP_ageBroad", "IP_citizen_UNRegion", "IP_PayMoney")


def _release(folder: Path, data: Path, *options: str) -> Path:
    out = folder / "public"
    result = invoke("release", data, "--out", out, "--private-out", folder / "private", "--seed", "3", "--quiet",
                    *options)  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def ctdc_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("explore-data") / "cases.csv"
    generate_ctdc(2000, seed=11).write_csv(path)
    return path


@pytest.fixture(scope="session")
def dp_release(tmp_path_factory: pytest.TempPathFactory, ctdc_csv: Path) -> Path:
    """A DP release (R = 3) of 2,000 CTDC-like records with the shipped schema (multi-value columns)."""
    return _release(tmp_path_factory.mktemp("dp"), ctdc_csv, "--schema", "ctdc-victim-perpetrator", "--dp",
                    "--epsilon", "4")  # fmt: skip


@pytest.fixture(scope="session")
def kanon_release(tmp_path_factory: pytest.TempPathFactory, ctdc_csv: Path) -> Path:
    """A k-anonymous release (k = 5, R = 3) of the same records."""
    return _release(tmp_path_factory.mktemp("kanon"), ctdc_csv, "--schema", "ctdc-victim-perpetrator",
                    "--resolution", "5")  # fmt: skip


def wide_table(columns: int, rows: int, seed: int = 5) -> pl.DataFrame:
    """Correlated categorical columns with long names: a latent group drives each column's value."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 4, rows)
    data = {}
    for j in range(columns):
        n_values = 2 + j % 5
        shifted = (group + rng.integers(0, 2, rows) * rng.integers(0, n_values, rows)) % n_values
        data[f"survey_question_{j:02d}_answer"] = [f"answer {v}" for v in shifted]
    return pl.DataFrame(data)


@pytest.fixture(scope="session")
def wide_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A k-anonymous release of a 32-column table (R = 2)."""
    folder = tmp_path_factory.mktemp("wide")
    path = folder / "wide.csv"
    wide_table(32, 600).write_csv(path)
    return _release(folder, path, "-r", "2", "--resolution", "5", "--method", "aggregate-seeded")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Chromium from Debian's package (`apt-get install chromium`), driven by Playwright (no browser download)."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip(
            "Chromium is missing: `apt-get install chromium` (Debian's package) runs the explorer's browser tests"
        )
    playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is missing: pip install playwright")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page. CSP is bypassed only so that Playwright's own waits can evaluate script in it."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, errors


@pytest.fixture
def server(dp_release: Path) -> Iterator[ExplorerServer]:
    """The explorer's server on the DP release, on a free loopback port, in a thread; stopped after the test."""
    con = open_release_readonly(dp_release)
    running = ExplorerServer(con, port=0)
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.close()
    thread.join(5)
    con.close()
