"""DP aggregate-seeded synthesis: ours (`dp_marginals` + `aggregate_seeded`) against pac-synth's
`DpAggregateSeededSynthesizer` (fit + sample), on the same generated data.

    python bench/synthesis_compare.py                      # full grid (long: sampling 1.7 M records, pac-synth 1.7 M)
    python bench/synthesis_compare.py --rows 17000 --lengths 3 --repeats 1 --skip-cold --skip-cli

Every measurement runs in a fresh process (its peak RSS is its own):

- ours: `encode` (load), `dp_marginals` (fit), one 100-record `aggregate_seeded` call (warm-up: loads Numba's on-disk
  cache, not counted), `aggregate_seeded(aggs, aggs.record_count, None, RunContext(seed=1))` (sample),
  `records_to_frame` (to-frame:
  the synthetic table as strings, multi-value cells joined). All children share one Numba cache directory of their
  own (NUMBA_CACHE_DIR), warmed before the grid, so the other users of the repository's cache do not interfere.
- pac-synth: Parquet read with polars, `to_pandas()`, `Dataset.from_data_frame` (load), `fit` (timed),
  `sample(get_dp_number_of_records(), join_multi_value_columns=True)` (sample; its list of string rows is already the
  synthetic table). Under a timeout and a resident-memory watchdog (also killed when the machine's available memory
  runs low): a run that exceeds either is reported as such instead of stopping the benchmark.
- cold start: a fresh process with an EMPTY Numba cache directory: the first `aggregate_seeded` call (100 records)
  minus the second one ≈ compile time of sampling (fit's own kernels compile during fit in that process).
- CLI: `sdsynth synthesize INPUT --schema ctdc-victim-perpetrator --dp --epsilon 4 -r R --out DIR --seed 1 -q`,
  timed end to end as a subprocess (warm Numba cache).

Quality, in a separate process per synthetic table, against the sensitive table (the same input, all strings, nulls
as ""): mean TVD of the 1-, 2- and 3-way marginals (`marginal_tvd`, multi-value cells as opaque categories); and, on
our encoding of both tables (`encode(frame, IngestOptions(multi_value=...))`, `count_combinations(data, 3)`), over
combinations of length 1..3: MAE over combinations present in both, preserved = sensitive combinations present in the
synthetic table, fabricated = synthetic combinations absent from the sensitive table.

CPU contention: the machine is shared. Each timed section records how many cores *other* processes used meanwhile
(system busy time from /proc/stat minus the child's own CPU time), and the heaviest other processes during the run.
Before each timed run the script waits (up to --max-wait s) for the machine to be quiet; a run whose fit + sample
saw more than --disturbed cores of other load is repeated (up to --retries times) and the least disturbed attempt
is kept (all attempts are in the JSONL).

Raw results: bench/results/synthesis_compare.jsonl; tables: bench/results/synthesis_compare.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _util import (
    BENCH_DIR,
    REPO,
    TICK,
    busy_seconds,
    children_cpu,
    fmt_list,
    generated_input,
    mean,
    mean_lists,
    print_table,
    process_rss_mib,
    tree_state,
)

RESULTS_DIR = BENCH_DIR / "results"
MULTI_VALUE = ["IP_Relation", "IP_Gender", "IP_ageBroad", "IP_PayMoney"]
SDSYNTH = Path(sys.executable).with_name("sdsynth")

# --- child code ------------------------------------------------------------------------------------------------

HELPERS = """
import os, re, time
def _busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / os.sysconf("SC_CLK_TCK")
def _hwm():
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\\s+(\\d+)", f.read()).group(1)) / 1024
def timed(fn):
    b0, c0, t0 = _busy(), time.process_time(), time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    own = time.process_time() - c0
    others = max(0.0, _busy() - b0 - own)
    return out, dict(s=wall, own_cores=own / wall if wall else 0.0, other_cores=others / wall if wall else 0.0)
"""

OURS = (
    HELPERS
    + """
from sdsynth.engine import IngestOptions, load_schema, DpParameters
from sdsynth.encode.tables import encode
from sdsynth.protect.dp.marginals import dp_marginals
from sdsynth.synth.aggregate_seeded import aggregate_seeded
from sdsynth._utils.context import RunContext
from sdsynth.synth.output import records_to_frame
opts = IngestOptions(schema=load_schema("ctdc-victim-perpetrator"))
data, load = timed(lambda: encode({path!r}, opts))
aggs, fit = timed(lambda: dp_marginals(data, DpParameters(epsilon={eps}, reporting_length={R}))
                  .aggregates)
_, warm = timed(lambda: aggregate_seeded(aggs, 100, None, RunContext(seed=0)))
recs, sample = timed(lambda: aggregate_seeded(aggs, aggs.record_count, None, RunContext(seed=1)))
frame, to_frame = timed(lambda: records_to_frame(recs))
peak = _hwm()
frame.write_parquet({out!r})
result = dict(load_s=load["s"], fit_s=fit["s"], warmup_s=warm["s"], sample_s=sample["s"], to_frame_s=to_frame["s"],
              fit_other_cores=fit["other_cores"], sample_other_cores=sample["other_cores"],
              fit_own_cores=fit["own_cores"], sample_own_cores=sample["own_cores"],
              peak_rss_timed_mib=peak, dp_record_count=int(aggs.record_count), synthetic=frame.height,
              released=len(aggs.keys), W=aggs.parameters["max_attributes_per_record"])
"""
)

PAC = (
    HELPERS
    + """
import polars as pl
import pacsynth as ps
def _load():
    pdf = pl.read_parquet({path!r}).to_pandas()
    return ps.Dataset.from_data_frame(pdf, multi_value_columns={{c: ";" for c in {mv!r}}})
ds, load = timed(_load)
params = ps.DpAggregateSeededParametersBuilder().reporting_length({R}).epsilon({eps}).build()
syn = ps.DpAggregateSeededSynthesizer(params)
_, fit = timed(lambda: syn.fit(ds))
n = syn.get_dp_number_of_records()
rows, sample = timed(lambda: syn.sample(n, join_multi_value_columns=True))
peak = _hwm()
del ds
frame = pl.DataFrame(rows[1:], schema=[(c, pl.String) for c in rows[0]], orient="row")
del rows
frame.write_parquet({out!r})
result = dict(load_s=load["s"], fit_s=fit["s"], sample_s=sample["s"],
              fit_other_cores=fit["other_cores"], sample_other_cores=sample["other_cores"],
              fit_own_cores=fit["own_cores"], sample_own_cores=sample["own_cores"],
              peak_rss_timed_mib=peak, dp_record_count=int(n), synthetic=frame.height,
              released=len(syn.get_dp_aggregates(";")))
"""
)

COLD = (
    HELPERS
    + """
t0 = time.perf_counter()
from sdsynth.engine import IngestOptions, load_schema, DpParameters
from sdsynth.encode.tables import encode
from sdsynth.protect.dp.marginals import dp_marginals
from sdsynth.synth.aggregate_seeded import aggregate_seeded
from sdsynth._utils.context import RunContext
import_s = time.perf_counter() - t0
opts = IngestOptions(schema=load_schema("ctdc-victim-perpetrator"))
data, load = timed(lambda: encode({path!r}, opts))
aggs, fit = timed(lambda: dp_marginals(data, DpParameters(epsilon={eps}, reporting_length={R}))
                  .aggregates)
_, first = timed(lambda: aggregate_seeded(aggs, 100, None, RunContext(seed=0)))
_, second = timed(lambda: aggregate_seeded(aggs, 100, None, RunContext(seed=0)))
cached = sorted(os.listdir(os.environ["NUMBA_CACHE_DIR"]))
result = dict(import_s=import_s, load_s=load["s"], fit_s=fit["s"], first_call_s=first["s"],
              second_call_s=second["s"], compile_s=first["s"] - second["s"], first_other_cores=first["other_cores"],
              fit_other_cores=fit["other_cores"], cache_entries=len(cached))
"""
)

READ_STRINGS = """
import polars as pl
def read_strings(path):
    frame = pl.read_parquet(path)
    return frame.select(pl.col(c).cast(pl.String).fill_null("") for c in frame.columns)
def normalise(d):
    return {{";".join(sorted(k.split(";"))): int(v) for k, v in d.items() if k != ""}}
"""

SENSITIVE = (
    READ_STRINGS
    + """
import pickle
from sdsynth.engine import IngestOptions, count_combinations
from sdsynth.encode.tables import encode
MV = {{c: ";" for c in {mv!r}}}
real = read_strings({path!r})
exact = normalise(count_combinations(encode(real, IngestOptions(multi_value=MV)), 3).as_dict())
with open({out!r}, "wb") as f:
    pickle.dump(exact, f)
result = dict(combinations=len(exact), records=real.height, columns=real.width)
"""
)

QUALITY = (
    READ_STRINGS
    + """
import pickle
from sdsynth.engine import IngestOptions, count_combinations
from sdsynth.encode.tables import encode
from sdsynth.evaluation.marginals import marginal_tvd, mean_tvd_by_order
MV = {{c: ";" for c in {mv!r}}}
real = read_strings({sensitive!r})
syn = read_strings({synthetic!r})
tvd = mean_tvd_by_order(marginal_tvd(real, syn, orders=(1, 2, 3), multi_value=MV))
with open({exact!r}, "rb") as f:
    exact = pickle.load(f)
synth = normalise(count_combinations(encode(syn, IngestOptions(multi_value=MV)), 3).as_dict())
per = {{k: dict(abs_err=0, both=0, sensitive=0, synthetic=0) for k in (0, 1, 2, 3)}}  # 0: all lengths
for key in exact:
    for k in (0, key.count(";") + 1):
        per[k]["sensitive"] += 1
for key, count in synth.items():
    t = exact.get(key)
    for k in (0, key.count(";") + 1):
        p = per[k]
        p["synthetic"] += 1
        if t is not None:
            p["both"] += 1
            p["abs_err"] += abs(count - t)
def stats(p):
    return dict(mae=p["abs_err"] / p["both"] if p["both"] else None,
                preserved=100 * p["both"] / p["sensitive"] if p["sensitive"] else None,
                fabricated=100 * (p["synthetic"] - p["both"]) / p["synthetic"] if p["synthetic"] else None)
s = {{k: stats(per[k]) for k in per}}
result = dict(tvd1=tvd.get(1), tvd2=tvd.get(2), tvd3=tvd.get(3), mae=s[0]["mae"], preserved=s[0]["preserved"],
              fabricated=s[0]["fabricated"], mae_by_length=[s[k]["mae"] for k in (1, 2, 3)],
              preserved_by_length=[s[k]["preserved"] for k in (1, 2, 3)],
              fabricated_by_length=[s[k]["fabricated"] for k in (1, 2, 3)],
              synthetic_combinations=[per[k]["synthetic"] for k in (1, 2, 3)], quality_rows=syn.height)
"""
)

COUNT_ROWS = """
import polars as pl
result = dict(rows=pl.scan_parquet({path!r}).select(pl.len()).collect().item())
"""

WRAP_HEAD = "import json, resource, sys\n"
WRAP_TAIL = (
    "\nresult['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\nprint(json.dumps(result))\n"
)

# --- machine load ----------------------------------------------------------------------------------------------


def mem_available_mib() -> float:
    with Path("/proc/meminfo").open() as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("inf")


def process_times() -> dict[int, tuple[float, str]]:
    """{pid: (CPU seconds so far, command)} of every process."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            cpu = (int(fields[11]) + int(fields[12])) / TICK
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            out[int(entry.name)] = (cpu, cmd or stat[stat.index("(") + 1 : stat.rindex(")")])
        except (OSError, ValueError, IndexError):
            continue
    return out


def heavy_others(
    before: dict[int, tuple[float, str]], last_seen: dict[int, tuple[float, str]], wall: float, exclude: set[int]
) -> list[str]:
    """Other processes that used at least 1 CPU second and 5 % of a core during a run (as last seen by polling)."""
    found = []
    for pid, (cpu, cmd) in last_seen.items():
        if pid in exclude:
            continue
        used = cpu - before.get(pid, (0.0, ""))[0]
        if wall > 0 and used >= max(1.0, 0.05 * wall):
            found.append((used, f"{used:.0f} CPU s ({used / wall:.2f} cores avg): {cmd[:90]}"))
    return [text for _, text in sorted(found, reverse=True)[:4]]


def wait_quiet(threshold: float, max_wait: float) -> tuple[float, float]:
    """Wait until other processes use less than `threshold` cores over 2 s (at most `max_wait` s).
    Returns (seconds waited, load of the last window)."""
    start = time.monotonic()
    while True:
        b0 = busy_seconds()
        time.sleep(2.0)
        load = (busy_seconds() - b0) / 2.0
        waited = time.monotonic() - start
        if load < threshold or waited >= max_wait:
            return waited, load
        time.sleep(3.0)


def run_guarded(
    argv: list[str],
    timeout: float | None = None,
    mem_limit_mib: float | None = None,
    min_available_mib: float | None = None,
    env: dict[str, str] | None = None,
    json_result: bool = True,
) -> dict[str, Any]:
    """Run a fresh process; kill it past `timeout` s, above `mem_limit_mib` resident, or when the machine's available
    memory drops below `min_available_mib`. With `json_result`, its last stdout line is a JSON object (returned).
    Adds wall_s, the peak RSS seen by polling, the other processes' load (cores) and the heaviest of them."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        before = process_times()
        busy0, cpu0 = busy_seconds(), children_cpu()
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, text=True, env={**os.environ, **(env or {})})
        peak_seen = 0.0
        killed = None
        last_seen = dict(before)
        polls = 0
        while proc.poll() is None:
            polls += 1
            if polls % 5 == 0:  # about once a second: CPU time of every process (short-lived ones too)
                last_seen.update(process_times())
            rss, hwm = process_rss_mib(proc.pid)
            peak_seen = max(peak_seen, hwm, rss)
            if timeout is not None and time.monotonic() - start > timeout:
                killed = f"did not finish (timeout {timeout / 60:g} min)"
            elif mem_limit_mib is not None and rss > mem_limit_mib:
                killed = f"did not finish (killed: resident memory above {mem_limit_mib / 1024:g} GiB)"
            elif min_available_mib is not None and mem_available_mib() < min_available_mib:
                killed = f"did not finish (killed: machine's available memory below {min_available_mib:,.0f} MiB)"
            if killed:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.2)
        wall = time.monotonic() - start
        last_seen.update(process_times())
        others = max(0.0, busy_seconds() - busy0 - (children_cpu() - cpu0))
        base = {
            "wall_s": wall,
            "poll_peak_rss_mib": peak_seen,
            "run_other_cores": others / wall if wall else 0.0,
            "heavy_others": heavy_others(before, last_seen, wall, {os.getpid(), proc.pid}),
        }
        if killed:
            return {"error": killed, **base}
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read().strip()
        if proc.returncode != 0:
            last = stderr.splitlines()[-1] if stderr else ""
            signal = f" (signal {-proc.returncode})" if proc.returncode < 0 else ""
            return {"error": (last or f"exit {proc.returncode}") + signal, **base}
        result = json.loads(stdout.strip().splitlines()[-1]) if json_result else {}
        result.update(base)
        return result


WHERE = """
import sdsynth.engine, sdsynth.cli.main
result = dict(engine=sdsynth.engine.__file__, cli=sdsynth.cli.main.__file__)
"""


def make_snapshot(rev: str, dest: Path) -> str:
    """`git archive` of the package folders at `rev`, laid out as an importable `sdsynth` package under `dest`."""
    commit = subprocess.run(
        ["git", "rev-parse", rev], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    raw = dest.parent / "snapshot_raw"
    raw.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", commit, "engine", "cli", "data/schemas"], cwd=REPO, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(raw)], input=archive, check=True)
    (dest / "sdsynth").mkdir(parents=True)
    for src, name in (("engine", "engine"), ("cli", "cli"), ("data/schemas", "schemas")):
        shutil.move(str(raw / src), str(dest / "sdsynth" / name))
    return f"git archive of {rev} ({commit[:10]})"


def python_child(code: str) -> list[str]:
    return [sys.executable, "-c", WRAP_HEAD + code + WRAP_TAIL]


# --- tables ----------------------------------------------------------------------------------------------------


def mean_sd(values: list[float], digits: int = 4) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def summarise(runs: list[dict[str, Any]], pac_sample: dict[tuple[int, int], float]) -> dict[str, Any]:
    """One table row from the kept runs of one (rows, R, tool)."""
    first = runs[0]
    row: dict[str, Any] = {"rows": first["rows"], "R": first["R"], "tool": first["tool"]}
    ok = [r for r in runs if "error" not in r]
    failed = [r for r in runs if "error" in r]
    row["runs"] = f"{len(ok)}" + (f" (+{len(failed)} failed)" if failed else "")
    if not ok:
        row["fit_s"] = failed[0]["error"]
        row["peak_rss_mib"] = f"≥ {max(r.get('poll_peak_rss_mib', 0) for r in failed):,.0f}"
        row["other"] = f"{max(r.get('run_other_cores', 0) for r in failed):.2f}"
        return row
    row["fit_s"] = mean([r["fit_s"] for r in ok])
    row["sample_s"] = mean([r["sample_s"] for r in ok])
    frame = [r["to_frame_s"] for r in ok if "to_frame_s" in r]
    row["to_frame_s"] = mean(frame) if frame else "–"
    pac = pac_sample.get((first["rows"], first["R"]))
    if first["tool"] == "ours":
        if pac:
            with_frame = row["sample_s"] + (row["to_frame_s"] if frame else 0.0)
            row["speedup"] = f"{pac / row['sample_s']:,.1f}× ({pac / with_frame:,.1f}×)"
        else:
            row["speedup"] = "–"
    row["peak_rss_mib"] = max(r["peak_rss_timed_mib"] for r in ok)
    q = [r for r in ok if "tvd1" in r]
    for k in (1, 2, 3):
        row[f"tvd{k}"] = mean_sd([r[f"tvd{k}"] for r in q])
    row["mae"] = mean([r["mae"] for r in q])
    row["preserved"] = mean([r["preserved"] for r in q])
    row["fabricated"] = mean([r["fabricated"] for r in q])
    row["synthetic"] = f"{statistics.fmean(r['synthetic'] for r in ok):,.0f}"
    row["mae_k"] = fmt_list(mean_lists([r["mae_by_length"] for r in q]), 2) if q else ""
    row["preserved_k"] = fmt_list(mean_lists([r["preserved_by_length"] for r in q]), 1) if q else ""
    row["fabricated_k"] = fmt_list(mean_lists([r["fabricated_by_length"] for r in q]), 2) if q else ""
    row["syn_comb_k"] = fmt_list(mean_lists([r["synthetic_combinations"] for r in q]), 0) if q else ""
    row["other"] = f"{max(r['key_other_cores'] for r in ok):.2f}"
    row["own"] = f"{mean([r['sample_own_cores'] for r in ok]):.2f}"
    return row


MAIN_COLUMNS = [
    ("rows", "rows"),
    ("R", "R"),
    ("tool", "tool"),
    ("runs", "runs"),
    ("fit_s", "fit s"),
    ("sample_s", "sample s"),
    ("to_frame_s", "to-frame s"),
    ("speedup", "sample speed-up vs pac-synth (incl. to-frame)"),
    ("peak_rss_mib", "peak RSS MiB"),
    ("tvd1", "TVD 1-way"),
    ("tvd2", "TVD 2-way"),
    ("tvd3", "TVD 3-way"),
    ("mae", "MAE"),
    ("preserved", "preserved %"),
    ("fabricated", "fabricated %"),
    ("synthetic", "synthetic records"),
    ("own", "sample cores used"),
    ("other", "other load (cores, max)"),
]

LENGTH_COLUMNS = [
    ("rows", "rows"),
    ("R", "R"),
    ("tool", "tool"),
    ("mae_k", "MAE k=1/2/3"),
    ("preserved_k", "preserved % k=1/2/3"),
    ("fabricated_k", "fabricated % k=1/2/3"),
    ("syn_comb_k", "synthetic combinations k=1/2/3"),
]

COLD_COLUMNS = [
    ("R", "R"),
    ("repeat", "run"),
    ("import_s", "import s"),
    ("fit_s", "fit s (incl. its compile)"),
    ("first_call_s", "1st sample call s (100 rec.)"),
    ("second_call_s", "2nd call s"),
    ("compile_s", "compile ≈ 1st − 2nd s"),
    ("other", "other load (cores)"),
]

CLI_COLUMNS = [
    ("rows", "rows"),
    ("R", "R"),
    ("wall_s", "end-to-end s"),
    ("peak", "peak RSS MiB (polled)"),
    ("synthetic", "synthetic records"),
    ("other", "other load (cores)"),
    ("error", "error"),
]


# --- main ------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[17_000, 170_000, 1_700_000])
    parser.add_argument("--lengths", type=int, nargs="+", default=[3, 4])
    parser.add_argument("--epsilon", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3, help="runs of our side per configuration")
    parser.add_argument(
        "--pac-rows",
        type=int,
        nargs="+",
        default=[17_000, 170_000, 1_700_000],
        help="row counts pac-synth runs at (of --rows)",
    )
    parser.add_argument(
        "--pac-single-from",
        type=int,
        default=170_000,
        help="from this many rows on, pac-synth runs once per R (below: --repeats times)",
    )
    parser.add_argument(
        "--pac-once-from",
        type=int,
        default=1_700_000,
        help="from this many rows on, pac-synth runs once in all (smallest R only)",
    )
    parser.add_argument("--pac-timeout", type=float, default=90.0, help="minutes per pac-synth run")
    parser.add_argument("--ours-timeout", type=float, default=240.0, help="minutes per run of ours / of the CLI")
    parser.add_argument("--mem-limit", type=float, default=20.0, help="GiB of resident memory per run")
    parser.add_argument(
        "--min-available",
        type=float,
        default=2.0,
        help="GiB: kill a run when the machine's available memory drops below this",
    )
    parser.add_argument("--cold-repeats", type=int, default=2, help="empty-cache runs per R (0: skip)")
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--skip-pac", action="store_true")
    parser.add_argument(
        "--quiet-below", type=float, default=0.3, help="cores of other load under which the machine counts as quiet"
    )
    parser.add_argument("--max-wait", type=float, default=120.0, help="seconds to wait for quiet before a run")
    parser.add_argument(
        "--disturbed",
        type=float,
        default=0.3,
        help="cores of other load during fit + sample above which a run is repeated",
    )
    parser.add_argument("--retries", type=int, default=2, help="extra attempts for a disturbed run")
    parser.add_argument(
        "--snapshot",
        metavar="REV",
        help="run every child on a `git archive REV` copy of the package (PYTHONPATH) instead of the working tree, "
        "e.g. HEAD while someone is editing the working tree",
    )
    parser.add_argument("--out", default="synthesis_compare", help="result file stem under bench/results/")
    args = parser.parse_args()

    started = time.monotonic()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    jsonl = RESULTS_DIR / f"{args.out}.jsonl"
    md = RESULTS_DIR / f"{args.out}.md"
    jsonl.write_text("")
    rows_sorted = sorted(args.rows)
    lengths = sorted(args.lengths)
    eps = args.epsilon
    mem_limit = args.mem_limit * 1024
    min_avail = args.min_available * 1024
    paths = {rows: generated_input(rows) for rows in rows_sorted}
    kept_runs: list[dict[str, Any]] = []
    cold_runs: list[dict[str, Any]] = []
    cli_runs: list[dict[str, Any]] = []
    sensitive_info: dict[int, dict[str, Any]] = {}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--short"], cwd=REPO, capture_output=True, text=True).stdout.split("\n")

    def record(entry: dict[str, Any]) -> None:
        with jsonl.open("a") as f:
            f.write(json.dumps(entry) + "\n")

    record(
        {
            "kind": "setup",
            "argv": sys.argv[1:],
            "commit": commit,
            "dirty": [d for d in dirty if d],
            "cpus": os.cpu_count(),
            "pac_synth": _pac_version(),
        }
    )

    with tempfile.TemporaryDirectory(prefix="synthesis_compare_") as work_dir:
        work = Path(work_dir)
        numba_cache = work / "numba_cache"
        numba_cache.mkdir()
        code = "working tree"
        if args.snapshot:
            code = make_snapshot(args.snapshot, work / "snapshot")
            os.environ["PYTHONPATH"] = str(work / "snapshot") + os.pathsep + os.environ.get("PYTHONPATH", "")
        check = run_guarded(python_child(WHERE))
        record({"kind": "code", "code": code, **check})
        print(f"code: {code}; sdsynth.engine from {check.get('engine', check.get('error'))}", flush=True)
        if "error" in check:
            raise SystemExit("the package does not import")
        warm_env = {"NUMBA_CACHE_DIR": str(numba_cache)}

        def write_tables(quiet: bool = True) -> str:
            groups: dict[tuple, list[dict[str, Any]]] = {}
            for r in kept_runs:
                groups.setdefault((r["rows"], r["R"], r["tool"] != "ours"), []).append(r)
            pac_sample = {
                (k[0], k[1]): statistics.fmean(r["sample_s"] for r in v if "error" not in r)
                for k, v in groups.items()
                if k[2] and any("error" not in r for r in v)
            }
            table_rows = [summarise(groups[k], pac_sample) for k in sorted(groups)]
            show = functools.partial(print_table, show=not quiet)
            parts = [f"`python bench/{Path(__file__).name} {' '.join(sys.argv[1:])}`".replace(" `", "`"), ""]
            tree = f" + {sum(1 for d in dirty if d)} uncommitted changes" if any(dirty) else ""
            parts.append(
                f"ε = {eps:g}; code measured: {code} (working tree at start: {commit[:10]}{tree}); "
                f"pac-synth {_pac_version()}; {os.cpu_count()} cores. Each run a fresh process. fit s / sample s: "
                "mean of the kept runs. to-frame: ours' `records_to_frame` (pac-synth's sample already returns string "
                "rows). Speed-up: pac-synth sample s / ours sample s (in brackets: / ours sample + to-frame s). Peak "
                "RSS: max over runs, whole child until the end of sampling (load + fit + sample [+ to-frame]). TVD: "
                "mean ± sd over runs (each run = new DP noise + sampling). MAE / preserved / fabricated: our encoding "
                "of both tables, combinations of length 1..3 (MAE over those present in both). sample cores used: "
                "the child's CPU time / wall time while sampling. other load: cores used by other processes during "
                "fit + sample (max over kept runs)."
            )
            for rows, info in sorted(sensitive_info.items()):
                parts.append(
                    f"Sensitive table {rows:,} rows: {info.get('combinations', '?'):,} combinations of "
                    "length 1..3 (our encoding)."
                )
            parts += [
                "",
                show(table_rows, MAIN_COLUMNS),
                "",
                "Per combination length:",
                "",
                show(table_rows, LENGTH_COLUMNS),
            ]
            if cold_runs:
                rows_c = []
                for c in cold_runs:
                    rc = dict(c)
                    rc["other"] = f"{c.get('first_other_cores', 0):.2f}"
                    if "error" in c:
                        rc["import_s"] = c["error"]
                    rows_c.append(rc)
                warm_first = [r["warmup_s"] for r in kept_runs if r["tool"] == "ours" and "warmup_s" in r]
                parts += [
                    "",
                    f"Cold start (fresh process, empty NUMBA_CACHE_DIR, {paths[rows_sorted[0]].name}):",
                    "",
                    show(rows_c, COLD_COLUMNS),
                    "",
                    "First 100-record call with the warm on-disk cache (the warm-up call of every run of ours): "
                    + (
                        f"mean {statistics.fmean(warm_first):.2f} s, max {max(warm_first):.2f} s."
                        if warm_first
                        else "–"
                    ),
                ]
            if cli_runs:
                rows_l = []
                for c in cli_runs:
                    rc = dict(c)
                    rc["peak"] = c.get("poll_peak_rss_mib")
                    rc["other"] = f"{c.get('run_other_cores', 0):.2f}"
                    rows_l.append(rc)
                parts += [
                    "",
                    "CLI end to end (`sdsynth synthesize INPUT --schema ctdc-victim-perpetrator --dp --epsilon "
                    f"{eps:g} -r R --out DIR --seed 1 -q`, warm Numba cache, wall time of the subprocess):",
                    "",
                    show(rows_l, CLI_COLUMNS),
                ]
            disturbed = sorted({h for r in kept_runs + cold_runs + cli_runs for h in r.get("heavy_others", [])})
            if disturbed:
                parts += ["", "Other heavy processes seen during kept runs (cores averaged over the run):", ""]
                parts += [f"- {h}" for h in disturbed[:30]]
            text = "\n".join(parts) + "\n"
            md.write_text(text)
            return text

        # 1. sensitive combination counts (our encoding of the sensitive table)
        sensitive_files = {}
        for rows in rows_sorted:
            sensitive_files[rows] = work / f"sensitive_{rows}.pkl"
            s = run_guarded(
                python_child(SENSITIVE.format(path=str(paths[rows]), mv=MULTI_VALUE, out=str(sensitive_files[rows])))
            )
            s.update(kind="sensitive", rows=rows)
            record(s)
            sensitive_info[rows] = s
            print(
                f"sensitive counts at {rows:,} rows: {s.get('combinations', s.get('error'))} combinations", flush=True
            )

        # 2. warm our Numba cache (not counted)
        for R in lengths:
            w = run_guarded(
                python_child(OURS.format(path=str(paths[rows_sorted[0]]), eps=eps, R=R, out=str(work / "w.parquet"))),
                env=warm_env,
            )
            record({**w, "kind": "warm-up", "R": R})
            print(f"warm-up R={R} (not counted): {w.get('error') or round(w['wall_s'], 2)} s", flush=True)

        # 3. cold start: empty Numba cache
        if not args.skip_cold:
            for R in lengths:
                for i in range(args.cold_repeats):
                    cache = work / f"cold_cache_{R}_{i}"
                    cache.mkdir()
                    waited, load = wait_quiet(args.quiet_below, args.max_wait)
                    c = run_guarded(
                        python_child(COLD.format(path=str(paths[rows_sorted[0]]), eps=eps, R=R)),
                        env={"NUMBA_CACHE_DIR": str(cache)},
                    )
                    c.update(kind="cold", R=R, repeat=i, waited_s=waited, load_before=load, tree=tree_state())
                    record(c)
                    cold_runs.append(c)
                    shutil.rmtree(cache, ignore_errors=True)
                    brief = c.get("error") or f"compile {c['compile_s']:.2f} s"
                    print(f"  cold R={R} #{i}: {brief}", flush=True)
                    write_tables()

        def measure(tool: str, rows: int, R: int, repeat: int, retries: int) -> None:
            attempts = []
            for attempt in range(1 + retries):
                out = work / f"syn_{tool}_{rows}_{R}_{repeat}_{attempt}.parquet"
                waited, load = wait_quiet(args.quiet_below, args.max_wait)
                if tool == "ours":
                    code = OURS.format(path=str(paths[rows]), eps=eps, R=R, out=str(out))
                    timeout = args.ours_timeout * 60
                else:
                    code = PAC.format(path=str(paths[rows]), eps=eps, R=R, out=str(out), mv=MULTI_VALUE)
                    timeout = args.pac_timeout * 60
                r = run_guarded(
                    python_child(code),
                    timeout=timeout,
                    mem_limit_mib=mem_limit,
                    min_available_mib=min_avail,
                    env=warm_env,
                )
                r.update(
                    kind="run",
                    tool=tool,
                    rows=rows,
                    R=R,
                    eps=eps,
                    repeat=repeat,
                    attempt=attempt,
                    waited_s=waited,
                    tree=tree_state(),
                    load_before=load,
                    out=str(out),
                )
                if "error" not in r:
                    timed_s = r["fit_s"] + r["sample_s"]
                    r["key_other_cores"] = (
                        (r["fit_other_cores"] * r["fit_s"] + r["sample_other_cores"] * r["sample_s"]) / timed_s
                        if timed_s
                        else 0.0
                    )
                attempts.append(r)
                brief = r.get("error") or (
                    f"fit {r['fit_s']:.2f} s, sample {r['sample_s']:.2f} s, peak {r['peak_rss_timed_mib']:,.0f} MiB, "
                    f"other load {r['key_other_cores']:.2f} cores"
                )
                print(f"  {tool:9} {rows:>9,} rows  R={R}  #{repeat}.{attempt}: {brief}", flush=True)
                if "error" in r or r["key_other_cores"] <= args.disturbed:
                    break
            ok = [a for a in attempts if "error" not in a]
            kept = min(ok, key=lambda a: a["key_other_cores"]) if ok else attempts[-1]
            for a in attempts:
                if a is not kept:
                    a["superseded"] = True
                    record(a)
                    Path(a["out"]).unlink(missing_ok=True)
            if "error" not in kept:
                m = run_guarded(
                    python_child(
                        QUALITY.format(
                            sensitive=str(paths[rows]),
                            synthetic=kept["out"],
                            exact=str(sensitive_files[rows]),
                            mv=MULTI_VALUE,
                        )
                    )
                )
                if "error" in m:
                    kept["quality_error"] = m["error"]
                else:
                    kept["quality_s"] = m.pop("wall_s")
                    for key in ("peak_rss_mib", "poll_peak_rss_mib", "run_other_cores", "heavy_others"):
                        m.pop(key, None)
                    kept.update(m)
                Path(kept["out"]).unlink(missing_ok=True)
                print(
                    f"      TVD {kept.get('tvd1', 0):.4f} / {kept.get('tvd2', 0):.4f} / {kept.get('tvd3', 0):.4f}, "
                    f"MAE {kept.get('mae', 0):.2f}, preserved {kept.get('preserved', 0):.1f} %, fabricated "
                    f"{kept.get('fabricated', 0):.2f} %",
                    flush=True,
                )
            record(kept)
            kept_runs.append(kept)
            write_tables()

        # 4. our side, everything
        for rows in rows_sorted:
            for R in lengths:
                for i in range(args.repeats):
                    measure("ours", rows, R, i, args.retries)

        # 5. the CLI end to end
        if not args.skip_cli:
            for rows in rows_sorted:
                for R in lengths:
                    out_dir = work / f"cli_{rows}_{R}"
                    waited, load = wait_quiet(args.quiet_below, args.max_wait)
                    argv = [
                        str(SDSYNTH),
                        "synthesize",
                        str(paths[rows]),
                        "--schema",
                        "ctdc-victim-perpetrator",
                        "--dp",
                        "--epsilon",
                        f"{eps:g}",
                        "-r",
                        str(R),
                        "--out",
                        str(out_dir),
                        "--seed",
                        "1",
                        "-q",
                    ]
                    c = run_guarded(
                        argv,
                        timeout=args.ours_timeout * 60,
                        mem_limit_mib=mem_limit,
                        min_available_mib=min_avail,
                        env=warm_env,
                        json_result=False,
                    )
                    if "error" not in c:  # row count of the written table, read in a child (keeps this process small)
                        n = run_guarded(python_child(COUNT_ROWS.format(path=str(out_dir / "synthetic.parquet"))))
                        c["synthetic"] = n.get("rows", n.get("error"))
                    c.update(
                        kind="cli", rows=rows, R=R, argv=argv, waited_s=waited, load_before=load, tree=tree_state()
                    )
                    record(c)
                    cli_runs.append(c)
                    shutil.rmtree(out_dir, ignore_errors=True)
                    print(
                        f"  CLI {rows:>9,} rows R={R}: {c.get('error') or round(c['wall_s'], 2)} s "
                        f"(other load {c['run_other_cores']:.2f} cores)",
                        flush=True,
                    )
                    write_tables()

        # 6. pac-synth, smallest inputs first; from --pac-once-from rows a single run (smallest R), last
        if not args.skip_pac:
            for rows in [r for r in rows_sorted if r in args.pac_rows]:
                if rows >= args.pac_once_from:
                    measure("pac-synth", rows, lengths[0], 0, 0)
                    continue
                repeats = args.repeats if rows < args.pac_single_from else 1
                for R in lengths:
                    for i in range(repeats):
                        measure("pac-synth", rows, R, i, args.retries)

        print()
        write_tables(quiet=False)
    wall = time.monotonic() - started
    record({"kind": "wall", "wall_s": wall})
    with md.open("a") as f:
        f.write(f"\nWall time of the whole benchmark: {wall / 60:.1f} min.\n")
    print(f"\nwall time {wall / 60:.1f} min; results in {jsonl} and {md}")


def _pac_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pac-synth")
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    main()
