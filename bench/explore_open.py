"""How fast the explorer page opens in Chromium: from navigation to the first counts on screen.

    python bench/explore_open.py                    # the bundled 17 k-record sample, DP and k-anonymous
    python bench/explore_open.py --rows 200000      # plus a generated input of that many rows
    python bench/explore_open.py --release DIR      # plus an existing release (its page rebuilt by `sdsynth explore`)

Releases are made with `sdsynth release` (a child process); the page is the release's own `explore.html`, opened in
Debian's chromium through Playwright (`apt-get install chromium`, `pip install playwright`). "open" is the page's
`counts-shown` performance mark: time since navigation started until the first counts are rendered (data decoded,
every bar counted); "click" is the time from a click on a value to its counts on screen. Medians of `--repeat` fresh
page loads. Prints a table.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _util import generated_input

CLICK = """async ([column, value]) => {
  const start = performance.now();
  const root = document.documentElement;
  document.querySelector(`button.value[data-column="${column}"][data-value="${value}"]`).click();
  while (!(root.dataset.state === "ready" && root.dataset.selection === location.hash.slice(1))) {
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return performance.now() - start;
}"""


def make_release(folder: Path, data: Path | None, options: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "public"
    command = [sys.executable, "-m", "sdsynth.cli.main", "release", *([str(data)] if data else []), "--out", str(out),
               "--private-out", str(folder / "private"), "--quiet", *options]  # fmt: skip
    subprocess.run(command, check=True)
    return out


def measure(browser: Any, page_path: Path, repeat: int) -> dict[str, float]:
    opens, clicks = [], []
    for _ in range(repeat):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        page = context.new_page()
        page.goto(page_path.as_uri())
        page.wait_for_function("document.documentElement.dataset.state === 'ready'")
        opens.append(page.evaluate("performance.getEntriesByName('counts-shown')[0].startTime"))
        first = page.evaluate("[document.querySelector('button.value').dataset.column, "
                              "document.querySelector('button.value').dataset.value]")  # fmt: skip
        clicks.append(page.evaluate(CLICK, first))
        context.close()
    return {"open_ms": statistics.median(opens), "click_ms": statistics.median(clicks)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[], help="also generated inputs of these sizes")
    parser.add_argument("--release", type=Path, nargs="*", default=[], help="also these existing releases")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    executable = shutil.which("chromium")
    if executable is None:
        sys.exit("chromium is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    from sdsynth.explore import page_data

    runs: list[tuple[str, Path | None, list[str]]] = [
        ("bundled 17 k, DP ε=4", None, ["--dp", "--epsilon", "4"]),
        ("bundled 17 k, k=10", None, ["--resolution", "10"]),
    ]
    runs += [(f"generated {n:,}, DP ε=4", generated_input(n), ["--dp", "--epsilon", "4"]) for n in args.rows]
    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        for i, (name, data, options) in enumerate([*runs, *((str(r), r, []) for r in args.release)]):
            if data is not None and data.is_dir():  # an existing release: its page as this version builds it
                page = Path(tmp) / f"{i}.html"
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "sdsynth.cli.main", "explore", str(data), "--out", str(page),
                                "--quiet"], check=True)  # fmt: skip
                name += f" (page built in {time.perf_counter() - started:.1f} s)"
            else:
                page = make_release(Path(tmp) / str(i), data, options) / "explore.html"
            payload = page_data(page.read_text(encoding="utf-8"))
            if payload["source"] == "records":
                held = f"{payload['records']['rows']:,} distinct rows"
            else:
                held = f"combinations ≤ {payload['combinations']['depth']}"
            timing = measure(browser, page, args.repeat)
            rows.append((name, f"{payload['synthetic_records']:,}", f"{page.stat().st_size / 1e6:.2f} MB", held,
                         f"{timing['open_ms']:.0f} ms", f"{timing['click_ms']:.0f} ms"))  # fmt: skip
        browser.close()
    header = ("release", "synthetic records", "page", "embeds", "open (median)", "click (median)")
    widths = [max(len(str(r[j])) for r in [header, *rows]) for j in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
