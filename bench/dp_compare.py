"""DP comparison: our `dp_marginals` against pac-synth's `DpAggregateSeededSynthesizer.fit`, on the same data.

    python bench/dp_compare.py                                   # full grid (long: pac-synth at 1.7 M rows)
    python bench/dp_compare.py --rows 17000 --lengths 3 --epsilons 4 --repeats 1

Every measurement runs in a fresh process (its peak RSS is its own):

- ours: `encode` (timed as load), then `dp_marginals` (timed as fit), released aggregates written to a scratch file;
- pac-synth: Parquet read with polars, `to_pandas()`, `Dataset.from_data_frame` (load), then `fit` (timed), then
  `get_dp_aggregates(';')`. Each pac-synth child runs under a timeout and a resident-memory watchdog; a run that
  exceeds either is killed and reported as such instead of stopping the benchmark.

Quality is measured in separate processes against the exact counts (our `count_combinations` on our encoding; keys
are compared after sorting the parts of each key, so the two tools' key orders do not matter). Per length k:
MAE over released combinations present in the data, share of true combinations released ("kept"), share of
released combinations absent from the data ("fabricated"). Before the grid, a check on the smallest input compares
pac-synth's unprotected aggregates (`Dataset.get_aggregates`) with our exact counts: key sets and counts.

Our side runs --repeats times per configuration (metrics averaged); pac-synth --repeats times below
--pac-single-from rows, once from there on. The pac-synth runs come after all of ours, smallest inputs first.
Raw results: bench/results/dp_compare.jsonl; table: bench/results/dp_compare.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _util import BENCH_DIR, fmt_list, generated_input, mean_lists, print_table, process_rss_mib

RESULTS_DIR = BENCH_DIR / "results"
MULTI_VALUE = ["IP_Relation", "IP_Gender", "IP_ageBroad", "IP_PayMoney"]

NORMALISE = """
def normalise(d):
    return {{";".join(sorted(k.split(";"))): int(v) for k, v in d.items() if k != ""}}
"""

OURS = """
import pickle, time
from sdsynth.engine import IngestOptions, load_schema
from sdsynth.encode.tables import encode
from sdsynth.protect.dp.marginals import dp_marginals
from sdsynth.protect.dp.params import DpParameters
t0 = time.perf_counter()
opts = IngestOptions(schema=load_schema("ctdc-victim-perpetrator"))
data = encode({path!r}, opts)
t1 = time.perf_counter()
res = dp_marginals(data, DpParameters(epsilon={eps}, reporting_length={R}))
t2 = time.perf_counter()
released = res.aggregates.as_dict()
with open({out!r}, "wb") as f:
    pickle.dump(released, f)
result = dict(load_s=t1 - t0, fit_s=t2 - t1, released=len(released),
              W=res.aggregates.parameters["max_attributes_per_record"], record_count=res.aggregates.record_count)
"""

PAC = """
import pickle, time, re
def hwm():
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\\s+(\\d+)", f.read()).group(1)) / 1024
t0 = time.perf_counter()
import polars as pl
import pacsynth as ps
pdf = pl.read_parquet({path!r}).to_pandas()
ds = ps.Dataset.from_data_frame(pdf, multi_value_columns={{c: ";" for c in {mv!r}}})
del pdf
t1 = time.perf_counter()
rss_before_fit = hwm()
params = ps.DpAggregateSeededParametersBuilder().reporting_length({R}).epsilon({eps}).build()
syn = ps.DpAggregateSeededSynthesizer(params)
syn.fit(ds)
t2 = time.perf_counter()
released = syn.get_dp_aggregates(";")
with open({out!r}, "wb") as f:
    pickle.dump(released, f)
result = dict(load_s=t1 - t0, fit_s=t2 - t1, released=len(released), peak_rss_before_fit_mib=rss_before_fit)
"""

EXACT = (
    NORMALISE
    + """
import pickle
from sdsynth.engine import IngestOptions, count_combinations, load_schema
from sdsynth.encode.tables import encode
data = encode({path!r}, IngestOptions(schema=load_schema("ctdc-victim-perpetrator")))
exact = normalise(count_combinations(data, {R}).as_dict())
with open({out!r}, "wb") as f:
    pickle.dump(exact, f)
result = dict(combinations=len(exact), records=data.n_records if hasattr(data, "n_records") else None)
"""
)

METRICS = (
    NORMALISE
    + """
import pickle
with open({exact!r}, "rb") as f:
    exact = pickle.load(f)
with open({released!r}, "rb") as f:
    released = normalise(pickle.load(f))
R = {R}
per = {{k: dict(abs_err=0, matched=0, true=0, released=0, fabricated=0) for k in range(1, R + 1)}}
for key, count in exact.items():
    k = key.count(";") + 1
    if k <= R:
        per[k]["true"] += 1
for key, count in released.items():
    k = key.count(";") + 1
    if k > R:
        continue
    p = per[k]
    p["released"] += 1
    t = exact.get(key)
    if t is None:
        p["fabricated"] += 1
    else:
        p["matched"] += 1
        p["abs_err"] += abs(count - t)
result = dict(
    mae=[per[k]["abs_err"] / per[k]["matched"] if per[k]["matched"] else None for k in range(1, R + 1)],
    kept=[100 * per[k]["matched"] / per[k]["true"] if per[k]["true"] else None for k in range(1, R + 1)],
    fabricated=[100 * per[k]["fabricated"] / per[k]["released"] if per[k]["released"] else None
                for k in range(1, R + 1)],
    released_by_length=[per[k]["released"] for k in range(1, R + 1)],
    true_by_length=[per[k]["true"] for k in range(1, R + 1)],
)
"""
)

VERIFY = (
    NORMALISE
    + """
import polars as pl
import pacsynth as ps
from sdsynth.engine import IngestOptions, count_combinations, load_schema
from sdsynth.encode.tables import encode
R = {R}
ours = normalise(count_combinations(encode({path!r}, IngestOptions(schema=load_schema("ctdc-victim-perpetrator"))),
                                    R).as_dict())
pdf = pl.read_parquet({path!r}).to_pandas()
ds = ps.Dataset.from_data_frame(pdf, multi_value_columns={{c: ";" for c in {mv!r}}})
pac = normalise(ds.get_aggregates(R, ";"))
only_ours = sorted(set(ours) - set(pac))
only_pac = sorted(set(pac) - set(ours))
diff_counts = sorted(k for k in set(ours) & set(pac) if ours[k] != pac[k])
result = dict(R=R, ours=len(ours), pac=len(pac), keys_match=not only_ours and not only_pac,
              counts_match=not only_ours and not only_pac and not diff_counts,
              only_ours=len(only_ours), only_pac=len(only_pac), count_differences=len(diff_counts),
              examples_only_ours=only_ours[:5], examples_only_pac=only_pac[:5],
              examples_count_diff=[(k, ours[k], pac[k]) for k in diff_counts[:5]])
"""
)

WRAP_HEAD = "import json, resource, sys\n"
WRAP_TAIL = (
    "\nresult['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\nprint(json.dumps(result))\n"
)


def run_guarded(code: str, timeout: float | None = None, mem_limit_mib: float | None = None) -> dict[str, Any]:
    """Like `_util.run_child` (fresh process, last stdout line is a JSON object, adds peak RSS), but kills the child
    when it runs past `timeout` seconds or its resident memory passes `mem_limit_mib`, and reports that."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-c", WRAP_HEAD + code + WRAP_TAIL], stdout=out, stderr=err, text=True)
        peak_seen = 0.0
        killed = None
        while proc.poll() is None:
            rss, hwm = process_rss_mib(proc.pid)
            peak_seen = max(peak_seen, hwm, rss)
            if timeout is not None and time.monotonic() - start > timeout:
                killed = f"did not finish (timeout {timeout / 60:g} min)"
            elif mem_limit_mib is not None and rss > mem_limit_mib:
                killed = f"killed: resident memory above {mem_limit_mib / 1024:g} GiB"
            if killed:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.5)
        wall = time.monotonic() - start
        if killed:
            return {"error": killed, "wall_s": wall, "peak_rss_mib": peak_seen}
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read().strip()
        if proc.returncode != 0:
            last = stderr.splitlines()[-1] if stderr else ""
            signal = f" (signal {-proc.returncode})" if proc.returncode < 0 else ""
            return {"error": (last or f"exit {proc.returncode}") + signal, "wall_s": wall, "peak_rss_mib": peak_seen}
        result = json.loads(stdout.strip().splitlines()[-1])
        result["wall_s"] = wall
        return result


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One table row from the runs of one (rows, R, ε, tool)."""
    first = runs[0]
    row: dict[str, Any] = {"rows": first["rows"], "R": first["R"], "eps": first["eps"], "tool": first["tool"]}
    ok = [r for r in runs if "error" not in r]
    failed = [r for r in runs if "error" in r]
    row["runs"] = f"{len(ok)}" + (f" (+{len(failed)} failed)" if failed else "")
    if not ok:
        row["fit_s"] = failed[0]["error"]
        row["load_s"] = ""
        row["peak_rss_mib"] = f"≥ {max(r.get('peak_rss_mib', 0) for r in failed):,.0f}"
        return row
    row["load_s"] = statistics.fmean(r["load_s"] for r in ok)
    row["fit_s"] = statistics.fmean(r["fit_s"] for r in ok)
    row["peak_rss_mib"] = max(r["peak_rss_mib"] for r in ok)
    row["mae"] = fmt_list(mean_lists([r["mae"] for r in ok]), 2)
    row["kept"] = fmt_list(mean_lists([r["kept"] for r in ok]), 1)
    row["fabricated"] = fmt_list(mean_lists([r["fabricated"] for r in ok]), 1)
    row["released"] = fmt_list(mean_lists([r["released_by_length"] for r in ok]), 0)
    return row


COLUMNS = [
    ("rows", "rows"),
    ("R", "R"),
    ("eps", "ε"),
    ("tool", "tool"),
    ("runs", "runs"),
    ("load_s", "load s"),
    ("fit_s", "fit s"),
    ("peak_rss_mib", "peak RSS MiB"),
    ("mae", "MAE k=1..R"),
    ("kept", "kept % k=1..R"),
    ("fabricated", "fabricated % k=1..R"),
    ("released", "released k=1..R"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[17_000, 170_000, 1_700_000])
    parser.add_argument("--lengths", type=int, nargs="+", default=[3, 4])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[4.0, 1.0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of our side per configuration")
    parser.add_argument(
        "--pac-single-from",
        type=int,
        default=170_000,
        help="from this many rows on, pac-synth runs once (below: --repeats times)",
    )
    parser.add_argument("--pac-timeout", type=float, default=40.0, help="minutes per pac-synth run")
    parser.add_argument("--pac-mem-limit", type=float, default=20.0, help="GiB of resident memory per pac-synth run")
    parser.add_argument("--skip-pac", action="store_true")
    parser.add_argument("--out", default="dp_compare", help="result file stem under bench/results/")
    args = parser.parse_args()

    started = time.monotonic()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    jsonl = RESULTS_DIR / f"{args.out}.jsonl"
    md = RESULTS_DIR / f"{args.out}.md"
    jsonl.write_text("")
    rows_sorted = sorted(args.rows)
    lengths = sorted(args.lengths)
    epsilons = sorted(args.epsilons, reverse=True)
    paths = {rows: generated_input(rows) for rows in rows_sorted}
    all_runs: list[dict[str, Any]] = []

    def record(entry: dict[str, Any]) -> None:
        with jsonl.open("a") as f:
            f.write(json.dumps(entry) + "\n")

    with tempfile.TemporaryDirectory(prefix="dp_compare_") as work_dir:
        work = Path(work_dir)

        # 1. do the two encodings give the same exact counts?
        verification = None
        if not args.skip_pac:
            verification = run_guarded(VERIFY.format(path=str(paths[rows_sorted[0]]), R=lengths[-1], mv=MULTI_VALUE))
            verification.update(kind="verify_exact", rows=rows_sorted[0])
            record(verification)
            print(f"exact-count check at {rows_sorted[0]:,} rows: {json.dumps(verification)}\n", flush=True)

        # 2. exact counts per input (longest length; shorter ones are a subset)
        exact_files = {}
        for rows in rows_sorted:
            exact_files[rows] = work / f"exact_{rows}.pkl"
            e = run_guarded(EXACT.format(path=str(paths[rows]), R=lengths[-1], out=str(exact_files[rows])))
            e.update(kind="exact", rows=rows, R=lengths[-1])
            record(e)
            print(f"exact counts at {rows:,} rows: {e}", flush=True)

        # warm Numba's on-disk cache so the first measured run does not pay for compilation
        warm = run_guarded(OURS.format(path=str(paths[rows_sorted[0]]), eps=4.0, R=lengths[0], out=str(work / "w.pkl")))
        print(f"warm-up run (not counted): {warm}\n", flush=True)

        def measure(tool: str, rows: int, R: int, eps: float, repeat: int) -> None:
            out = work / f"released_{tool}_{rows}_{R}_{eps}_{repeat}.pkl"
            if tool == "ours":
                r = run_guarded(OURS.format(path=str(paths[rows]), eps=eps, R=R, out=str(out)))
            else:
                r = run_guarded(
                    PAC.format(path=str(paths[rows]), eps=eps, R=R, out=str(out), mv=MULTI_VALUE),
                    timeout=args.pac_timeout * 60,
                    mem_limit_mib=args.pac_mem_limit * 1024,
                )
            if "error" not in r:
                m = run_guarded(METRICS.format(exact=str(exact_files[rows]), released=str(out), R=R))
                if "error" in m:
                    r["metrics_error"] = m["error"]
                else:
                    m.pop("peak_rss_mib", None)
                    m.pop("wall_s", None)
                    r.update(m)
                out.unlink(missing_ok=True)
            r.update(kind="run", tool=tool, rows=rows, R=R, eps=eps, repeat=repeat)
            if "metrics_error" in r:
                r["error"] = "metrics: " + r["metrics_error"]
            record(r)
            all_runs.append(r)
            brief = r.get("error") or f"fit {r['fit_s']:.2f} s, peak {r['peak_rss_mib']:,.0f} MiB, MAE {r['mae']}"
            print(f"  {tool:9} {rows:>9,} rows  R={R}  ε={eps:g}  #{repeat}: {brief}", flush=True)
            write_table(quiet=True)

        def write_table(quiet: bool = False) -> str:
            groups: dict[tuple, list[dict[str, Any]]] = {}
            for r in all_runs:
                groups.setdefault((r["rows"], r["R"], -r["eps"], r["tool"] != "ours"), []).append(r)
            table_rows = [summarise(groups[k]) for k in sorted(groups)]
            if quiet:
                with Path(os.devnull).open("w") as devnull, contextlib.redirect_stdout(devnull):
                    text = print_table(table_rows, COLUMNS)
            else:
                text = print_table(table_rows, COLUMNS)
            header = [
                f"`python bench/{Path(__file__).name} {' '.join(sys.argv[1:])}`".replace(" `", "`"),
                "",
                f"Metrics: our side mean of up to {args.repeats} runs; pac-synth {args.repeats} runs below "
                f"{args.pac_single_from:,} rows, else 1. MAE over released combinations present in the data; kept = "
                "released ∩ true / true; fabricated = released not in true / released; per length k = 1..R. "
                "peak RSS: max over runs, whole child process (load included).",
            ]
            if verification is not None:
                header.append(
                    f"Exact-count check (pac-synth `get_aggregates` vs our `count_combinations`, {rows_sorted[0]:,} "
                    f"rows, R = {verification.get('R')}): keys match: {verification.get('keys_match')}, counts "
                    f"match: {verification.get('counts_match')} ({verification.get('ours')} vs "
                    f"{verification.get('pac')} combinations)."
                )
            md.write_text("\n".join(header) + "\n\n" + text + "\n")
            return text

        # 3. our side, everything
        for rows in rows_sorted:
            for R in lengths:
                for eps in epsilons:
                    for i in range(args.repeats):
                        measure("ours", rows, R, eps, i)
        # 4. pac-synth, smallest inputs first (the long runs last)
        if not args.skip_pac:
            for rows in rows_sorted:
                repeats = args.repeats if rows < args.pac_single_from else 1
                for R in lengths:
                    for eps in epsilons:
                        for i in range(repeats):
                            measure("pac-synth", rows, R, eps, i)

        print()
        write_table()
    wall = time.monotonic() - started
    record({"kind": "wall", "wall_s": wall})
    with md.open("a") as f:
        f.write(f"\nWall time of the whole benchmark: {wall / 60:.1f} min.\n")
    print(f"\nwall time {wall / 60:.1f} min; results in {jsonl} and {md}")


if __name__ == "__main__":
    main()
