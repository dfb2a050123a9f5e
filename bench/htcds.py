"""`prepare htcds` benchmark: seconds and peak memory to flatten generated HTCDS exports (CSV and Parquet).

    python bench/htcds.py                  # 100 k and 1 M victims
    python bench/htcds.py --victims 1000000

Exports come from the project's generator (`sdsynth sample-data --format htcds`), cached under bench/data/. Each
run is a fresh process: read the four tables, join, fold perpetrators, write the prepared CSV. Goal: 1 M victims
well under a minute.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from _util import DATA_DIR, print_table, run_child

CHILD = """
import time
from pathlib import Path
from sdsynth.htcds.prepare import prepare_htcds
folder = Path({folder!r})
ext = {ext!r}
start = time.perf_counter()
frame, report = prepare_htcds(*(folder / f"{{t}}{{ext}}" for t in ("persons", "victims", "perpetrators", "cases")))
frame.write_csv(folder / "prepared.csv")
result = dict(victims=report.victims, perpetrators=report.perpetrators, links=report.links, format=ext[1:],
              seconds=time.perf_counter() - start)
"""


def export(victims: int, parquet: bool) -> str:
    folder = DATA_DIR / f"htcds_{victims}{'_parquet' if parquet else ''}"
    if not (folder / "cases.csv").exists() and not (folder / "cases.parquet").exists():
        args = ["sample-data", "--format", "htcds", "--rows", str(victims), "--out", str(folder), "-q", "--overwrite"]
        subprocess.run([sys.executable, "-m", "sdsynth.cli.main", *args, *(["--parquet"] if parquet else [])],
                       check=True)  # fmt: skip
    return str(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--victims", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    rows = []
    for victims in args.victims:
        for parquet in (False, True):
            folder = export(victims, parquet)
            rows.append(run_child(CHILD.format(folder=folder, ext=".parquet" if parquet else ".csv")))
    print_table(rows, [("victims", "victims"), ("perpetrators", "perpetrators"), ("links", "links"),
                       ("format", "input"), ("seconds", "seconds"), ("peak_rss_mib", "peak MiB")])  # fmt: skip


if __name__ == "__main__":
    main()
