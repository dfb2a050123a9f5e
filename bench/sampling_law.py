"""Sampling laws of DP aggregate-seeded synthesis against pac-synth and smartnoise MST, at ε = 4 and R = 3 (both
settable), on generated CTDC-like data and two real public tables.

    python bench/sampling_law.py                                   # full grid (long: pac-synth on 170 k rows)
    python bench/sampling_law.py --datasets ctdc-17k --repeats 1   # a quick check

Datasets (each read once, in a fresh process, as sdsynth reads it: `records_to_frame(encode(path, schema))`, i.e.
bins applied, strings, empty = ""; that table is pac-synth's and MST's input and the "real" table of the metrics,
so every tool works on the same categorical table):

- `ctdc-17k`, `ctdc-170k`: `_util.generated_input(17000 / 170000)`, schema `ctdc-victim-perpetrator` (multi-value
  columns IP_Relation, IP_Gender, IP_ageBroad, IP_PayMoney, joined by ";").
- `nist-national`: ../shared/data/nist_national2019.csv, schema `nist-diverse-communities`.
- `adult`: ../shared/data/adult_uci_strings.csv, schema `adult-uci`.

Tools (each run a fresh process; its peak RSS is its own):

- `sdsynth-reference` / `sdsynth-calibrated`: `AggregateSeeded(dp=DpParameters(epsilon, reporting_length=R),
  params=AggregateSeededParameters(sampling_law=...)).fit(encode(path, schema))`, `sample_records(seed=1)`,
  `records_to_frame`. While `AggregateSeededParameters` has no `sampling_law`, the reference row runs with the
  default parameters (the reference law) and says so; the calibrated row reports the error.
- `pac-synth`: `Dataset.from_data_frame(real, multi_value_columns, sensitive_zeros=every column)` (the real table
  already holds absence as ""), `DpAggregateSeededSynthesizer` with `reporting_length(R).epsilon(ε)`, `fit`,
  `sample(get_dp_number_of_records(), join_multi_value_columns=True)`.
- `mst`: smartnoise-synth `Synthesizer.create("mst", epsilon=ε)`, `fit(real, categorical_columns=all,
  preprocessor_eps=0.0, nullable=False)` then `sample(len(real))` (= `fit_sample`; note that MST's record count is
  the true one, not a DP count), on the real table with multi-value cells canonicalised.

Metrics, in a separate fresh process per run, against the real table: mean TVD of the 1-, 2- and 3-way marginals
(`marginal_tvd`, empty is a category, multi-value cells opaque after canonicalisation), the NIST k-marginal score
(`cross_tool_scores`, on the canonicalised tables), and in SDS semantics (both tables encoded with one shared
dictionary by `encode_together`, empty = absent, multi-value cells exploded, "0" a value) the suppressed % and
fabricated % of combinations of length ≤ 3 (`compare_combinations(..., resolution=1)`; both percentages are of the
real table's combinations, spec §8.10).

Code: every child runs on a frozen copy of the package (PYTHONPATH), so edits made to the working tree while the
benchmark runs do not mix into it: `--code worktree` (default) copies the working tree's engine/, cli/ and
data/schemas/ at start; `--code REV` takes engine/ and cli/ from `git archive REV` (data/schemas/ still from the
working tree, for shipped schemas not committed yet); `--code live` runs on the working tree itself.

The machine is shared: before each run the script waits (up to --max-wait s) until the 1-minute load average is at
most --max-load, then runs anyway; the load before the run and the cores other processes used during it are
recorded. Raw results: bench/results/sampling_law.jsonl; table: bench/results/sampling_law.md.
"""

from __future__ import annotations

import argparse
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
    busy_seconds,
    children_cpu,
    generated_input,
    mean,
    print_table,
    run_child,
    tree_state,
)

RESULTS_DIR = BENCH_DIR / "results"
SHARED_DATA = Path(os.environ.get("SDSYNTH_SHARED_DATA", REPO.parent / "shared" / "data"))
REPORTING_LENGTH = 3
COMBINATION_LENGTH = 3  # suppressed / fabricated: combinations of length ≤ 3, whatever R the release uses

DATASETS: dict[str, tuple[str, str | int]] = {  # name: (schema, file name under SHARED_DATA or generated rows)
    "ctdc-17k": ("ctdc-victim-perpetrator", 17_000),
    "nist-national": ("nist-diverse-communities", "nist_national2019.csv"),
    "adult": ("adult-uci", "adult_uci_strings.csv"),
    "ctdc-170k": ("ctdc-victim-perpetrator", 170_000),
}
TOOLS = ["sdsynth-reference", "sdsynth-calibrated", "pac-synth", "mst"]

# --- child code (each string runs in a fresh process under _util.run_child; P holds its parameters) -----------

CHILD_HEAD = """
import re, time
def _hwm():
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\\s+(\\d+)", f.read()).group(1)) / 1024
def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0
"""

PREPARE = """
from sdsynth.engine import IngestOptions, load_schema
from sdsynth.encode.tables import encode
from sdsynth.synth.output import records_to_frame
schema = load_schema(P["schema"])
frame = records_to_frame(encode(P["path"], IngestOptions(schema=schema)), order=False)
frame.write_parquet(P["out"])
mv = {c.name: c.delimiter for c in schema.columns if c.use and c.kind == "multi_value"}
result = dict(rows=frame.height, columns=frame.width, multi_value=mv)
"""

SDSYNTH = """
from sdsynth.engine import IngestOptions, load_schema
from sdsynth.encode.tables import encode
from sdsynth.protect.dp.params import DpParameters
from sdsynth.synth.base import AggregateSeeded
from sdsynth.synth.aggregate_seeded import AggregateSeededParameters
from sdsynth.synth.output import records_to_frame
data, load_s = timed(lambda: encode(P["path"], IngestOptions(schema=load_schema(P["schema"]))))
note = ""
try:
    params = AggregateSeededParameters(sampling_law=P["law"])
except TypeError:
    if P["law"] != "reference":
        raise
    params = AggregateSeededParameters()
    note = "AggregateSeededParameters has no sampling_law: default parameters (the reference law)"
synth = AggregateSeeded(dp=DpParameters(epsilon=P["eps"], reporting_length=P["R"]), params=params)
_, fit_s = timed(lambda: synth.fit(data))
records, sample_s = timed(lambda: synth.sample_records(seed=1))
frame, to_frame_s = timed(lambda: records_to_frame(records))
peak = _hwm()
frame.write_parquet(P["out"])
result = dict(load_s=load_s, fit_s=fit_s, sample_s=sample_s, to_frame_s=to_frame_s, peak_rss_timed_mib=peak,
              dp_record_count=int(synth.aggregates.record_count), synthetic=frame.height,
              released=len(synth.aggregates.keys), note=note)
"""

PAC = """
import polars as pl
import pacsynth as ps
def _load():
    pdf = pl.read_parquet(P["real"]).to_pandas()
    return ps.Dataset.from_data_frame(pdf, multi_value_columns=P["mv"] or None, sensitive_zeros=list(pdf.columns))
ds, load_s = timed(_load)
syn = ps.DpAggregateSeededSynthesizer(
    ps.DpAggregateSeededParametersBuilder().reporting_length(P["R"]).epsilon(P["eps"]).build())
_, fit_s = timed(lambda: syn.fit(ds))
n = syn.get_dp_number_of_records()
rows, sample_s = timed(lambda: syn.sample(n, join_multi_value_columns=True))
peak = _hwm()
del ds
frame = pl.DataFrame(rows[1:], schema=[(c, pl.String) for c in rows[0]], orient="row")
frame.write_parquet(P["out"])
result = dict(load_s=load_s, fit_s=fit_s, sample_s=sample_s, peak_rss_timed_mib=peak, dp_record_count=int(n),
              synthetic=frame.height)
"""

MST = """
import polars as pl
from snsynth import Synthesizer
from sdsynth.evaluation.marginals import canonical_cells
pdf, load_s = timed(lambda: canonical_cells(pl.read_parquet(P["real"]), P["mv"] or None).to_pandas())
synth = Synthesizer.create("mst", epsilon=P["eps"], verbose=False)
_, fit_s = timed(lambda: synth.fit(pdf, categorical_columns=list(pdf.columns), preprocessor_eps=0.0,
                                   nullable=False))
out, sample_s = timed(lambda: synth.sample(len(pdf)))
peak = _hwm()
frame = pl.from_pandas(out.astype(str)).select(pl.all().cast(pl.String).fill_null(""))
frame.write_parquet(P["out"])
result = dict(load_s=load_s, fit_s=fit_s, sample_s=sample_s, peak_rss_timed_mib=peak, synthetic=frame.height)
"""

METRICS = """
import polars as pl
from sdsynth.engine import IngestOptions, count_combinations
from sdsynth.encode.tables import encode_together
from sdsynth.evaluation.metrics import compare_combinations
from sdsynth.evaluation.marginals import canonical_cells, marginal_tvd, mean_tvd_by_order
from sdsynth.evaluation.scores import cross_tool_scores
mv = P["mv"] or None
real = canonical_cells(pl.read_parquet(P["real"]), mv)
syn = canonical_cells(pl.read_parquet(P["syn"]).select(real.columns), mv)
tvd = mean_tvd_by_order(marginal_tvd(real, syn, orders=(1, 2, 3), multi_value=mv))
k_marginal = cross_tool_scores(real, syn).scores["k_marginal"]
options = IngestOptions(multi_value=mv, sensitive_zeros=list(real.columns))
real_data, syn_data = encode_together([(real, options), (syn, options)])
comparison = compare_combinations(count_combinations(real_data, P["R"]), count_combinations(syn_data, P["R"]),
                                  resolution=1, original_records=real.height, target_records=syn.height)
m = comparison.metrics
result = dict(tvd1=tvd.get(1), tvd2=tvd.get(2), tvd3=tvd.get(3), k_marginal=k_marginal,
              suppressed_pct=m["suppressed_pct"], fabricated_pct=m["fabricated_pct"],
              real_combinations=m["original_combinations"], synthetic_combinations=m["target_combinations"])
"""


def child(body: str, params: dict[str, Any]) -> str:
    return f"P = json.loads({json.dumps(params)!r})\n" + CHILD_HEAD + body


def run(body: str, params: dict[str, Any], env: dict[str, str], timeout: float | None) -> dict[str, Any]:
    """`_util.run_child` with a timeout that is reported instead of raised."""
    try:
        return run_child(child(body, params), env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish (timeout {timeout / 60:g} min)" if timeout else "timeout"}


# --- machine load ----------------------------------------------------------------------------------------------


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_for_load(max_load: float, max_wait: float) -> tuple[float, float]:
    """Wait until the 1-minute load average is at most `max_load` (at most `max_wait` s). (waited s, load)."""
    start = time.monotonic()
    while (load := load_average()) > max_load and time.monotonic() - start < max_wait:
        time.sleep(15.0)
    return time.monotonic() - start, load


WHERE = """
import sdsynth.engine
from sdsynth.encode.tables import encode_together
from sdsynth.evaluation.metrics import compare_combinations
from sdsynth.evaluation.marginals import canonical_cells, marginal_tvd, mean_tvd_by_order
from sdsynth.evaluation.scores import cross_tool_scores
from sdsynth.synth.base import AggregateSeeded
from sdsynth.synth.aggregate_seeded import AggregateSeededParameters
from sdsynth.synth.output import records_to_frame
result = dict(engine=sdsynth.engine.__file__)
"""


def freeze_code(code: str, dest: Path) -> str:
    """Lay out an importable `sdsynth` package under `dest` (see the module docstring); describe it."""
    package = dest / "sdsynth"
    package.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    if code == "worktree":
        for src, name in (("engine", "engine"), ("cli", "cli")):
            shutil.copytree(REPO / src, package / name, ignore=ignore)
        described = f"copy of the working tree at start (HEAD {git_head()[:10]}, engine/cli state {tree_state()})"
    else:
        commit = subprocess.run(
            ["git", "rev-parse", "--verify", f"{code}^{{commit}}"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        archive = subprocess.run(["git", "archive", commit, "engine", "cli"], cwd=REPO, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(package)], input=archive.stdout, check=True)
        described = f"git archive of {code} ({commit[:10]}) for engine/ and cli/"
    shutil.copytree(REPO / "data" / "schemas", package / "schemas", ignore=ignore)
    return described + ", data/schemas from the working tree"


def git_head() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()


# --- tables ----------------------------------------------------------------------------------------------------


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One table row (means over the successful runs) from the runs of one (dataset, tool)."""
    first = runs[0]
    row: dict[str, Any] = {"dataset": first["dataset"], "rows": first["real_rows"], "tool": first["tool"]}
    ok = [r for r in runs if "error" not in r]
    failed = [r for r in runs if "error" in r]
    row["runs"] = f"{len(ok)}" + (f" (+{len(failed)} failed)" if failed else "")
    row["load"] = f"{max(r['load_before'] for r in runs):.2f}"
    if not ok:
        row["fit_s"] = failed[0]["error"][:160]
        return row
    for key in ("load_s", "fit_s", "sample_s", "tvd1", "tvd2", "tvd3", "k_marginal", "suppressed_pct"):
        values = [r[key] for r in ok if r.get(key) is not None]
        row[key] = mean(values) if values else ""
    for k in (1, 2, 3):
        if isinstance(row[f"tvd{k}"], float):
            row[f"tvd{k}"] = f"{row[f'tvd{k}']:.4f}"
    fabricated = [r["fabricated_pct"] for r in ok if r.get("fabricated_pct") is not None]
    row["fabricated_pct"] = f"{mean(fabricated):.3f}" if fabricated else ""
    row["peak_rss_mib"] = max(r.get("peak_rss_timed_mib", r.get("peak_rss_mib", 0.0)) for r in ok)
    row["synthetic"] = round(statistics.fmean(r["synthetic"] for r in ok))
    row["other"] = f"{max(r['other_cores'] for r in ok):.2f}"
    notes = sorted(
        {r["note"] for r in ok if r.get("note")}
        | {f"metrics: {r['metrics_error']}" for r in ok if "metrics_error" in r}
    )
    row["note"] = "; ".join(notes)
    return row


COLUMNS = [
    ("dataset", "dataset"),
    ("rows", "rows"),
    ("tool", "tool"),
    ("runs", "runs"),
    ("load_s", "load s"),
    ("fit_s", "fit s"),
    ("sample_s", "sample s"),
    ("peak_rss_mib", "peak RSS MiB"),
    ("tvd1", "TVD 1-way"),
    ("tvd2", "TVD 2-way"),
    ("tvd3", "TVD 3-way"),
    ("k_marginal", "k-marginal"),
    ("suppressed_pct", "suppressed %"),
    ("fabricated_pct", "fabricated %"),
    ("synthetic", "synthetic records"),
    ("load", "load avg before (max)"),
    ("other", "other cores during (max)"),
]


# --- main ------------------------------------------------------------------------------------------------------


def dataset_path(name: str) -> Path:
    source = DATASETS[name][1]
    if isinstance(source, int):
        return generated_input(source)
    path = SHARED_DATA / source
    if not path.exists():
        raise SystemExit(f"{path} is not available (the shared real datasets live next to the repository)")
    return path


def tool_child(
    tool: str, dataset: str, info: dict[str, Any], eps: float, reporting_length: int, out: Path
) -> tuple[str, dict[str, Any]]:
    """The child code and parameters of one synthesis run."""
    params = {"eps": eps, "R": reporting_length, "out": str(out), "real": info["real"], "mv": info["multi_value"]}
    if tool.startswith("sdsynth-"):
        law = tool.removeprefix("sdsynth-")
        return SDSYNTH, {**params, "path": info["path"], "schema": DATASETS[dataset][0], "law": law}
    return (PAC if tool == "pac-synth" else MST), params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=TOOLS)
    parser.add_argument("--repeats", type=int, default=2, help="runs per (dataset, tool); the table shows means")
    parser.add_argument("--epsilon", type=float, default=4.0)
    parser.add_argument("--reporting-length", type=int, default=REPORTING_LENGTH, help="R of every tool's release")
    parser.add_argument("--timeout", type=float, default=60.0, help="minutes per run")
    parser.add_argument("--max-load", type=float, default=1.5, help="1-minute load average to wait for before a run")
    parser.add_argument("--max-wait", type=float, default=300.0, help="seconds to wait for it (then run anyway)")
    parser.add_argument(
        "--code", default="worktree", help="worktree (copy at start), live, or a git revision: see the docstring"
    )
    parser.add_argument("--out", default="sampling_law", help="result file stem under bench/results/")
    args = parser.parse_args()

    started = time.monotonic()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    jsonl = RESULTS_DIR / f"{args.out}.jsonl"
    md = RESULTS_DIR / f"{args.out}.md"
    jsonl.write_text("")
    datasets = [d for d in DATASETS if d in args.datasets]  # smallest first: the long pac-synth runs come last
    tools = [t for t in TOOLS if t in args.tools]
    eps, R, timeout = args.epsilon, args.reporting_length, args.timeout * 60
    commit = git_head()
    code = "the working tree itself (live)"
    runs: list[dict[str, Any]] = []
    prepared: dict[str, dict[str, Any]] = {}

    def record(entry: dict[str, Any]) -> None:
        with jsonl.open("a") as f:
            f.write(json.dumps(entry) + "\n")

    initial_load = load_average()
    setup = {"argv": sys.argv[1:], "commit": commit, "tree": tree_state(), "cpus": os.cpu_count()}
    record({"kind": "setup", **setup, "load_average_at_start": initial_load})
    print(f"load average at start: {initial_load:.2f} ({os.cpu_count()} cores)", flush=True)

    def write_table(show: bool = False) -> str:
        groups: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for r in runs:
            groups.setdefault((datasets.index(r["dataset"]), tools.index(r["tool"])), []).append(r)
        table_rows = [summarise(groups[k]) for k in sorted(groups)]
        text = print_table(table_rows, COLUMNS, show)
        notes = sorted({row["note"] for row in table_rows if row.get("note")})
        parts = [
            f"`python bench/{Path(__file__).name} {' '.join(sys.argv[1:])}`".replace(" `", "`"),
            "",
            f"ε = {eps:g}, R = {R}; {os.cpu_count()} cores; code: {code}. "
            "Each run a fresh process; means over the successful runs. Real table = "
            "the input as sdsynth reads it (bins applied, empty = \"\"), also pac-synth's and MST's input. load s: "
            "reading the input (sdsynth: encode the file; others: the prepared table). sdsynth sample s excludes "
            "`records_to_frame`. peak RSS: the child's high-water mark at the end of sampling (max over runs). TVD: "
            "mean over column sets of that order. suppressed / fabricated %: combinations of length ≤ 3 in SDS "
            "semantics, both as a share of the real table's combinations. MST draws as many records as the real "
            "table has (a non-DP count); the others draw their DP record count. load avg before: the 1-minute "
            "load average when the run started (the script waits up to "
            f"{args.max_wait:g} s for ≤ {args.max_load:g}); other cores: CPU used by other processes during the run "
            "/ its wall time.",
        ]
        for name, info in prepared.items():
            parts.append(
                f"- {name}: {info.get('path')} (schema {DATASETS[name][0]}), {info.get('rows', '?'):,} rows × "
                f"{info.get('columns', '?')} columns"
                + (f", multi-value {', '.join(info['multi_value'])}" if info.get("multi_value") else "")
            )
        if notes:
            parts += ["", "Notes: " + " | ".join(notes)]
        parts += ["", text]
        md.write_text("\n".join(parts) + "\n")
        return text

    with tempfile.TemporaryDirectory(prefix="sampling_law_") as work_dir:
        work = Path(work_dir)
        env = {"NUMBA_CACHE_DIR": str(work / "numba_cache")}  # our own cache, warmed below, shared by the children
        if args.code != "live":
            code = freeze_code(args.code, work / "code")
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(work / "code"), os.environ.get("PYTHONPATH")) if p)
        where = run(WHERE, {}, env, timeout)
        record({"kind": "code", "code": code, **where})
        print(f"code: {code}; sdsynth.engine from {where.get('engine', where.get('error'))}", flush=True)
        if "error" in where:
            raise SystemExit("the package does not import: try another --code")

        for name in datasets:
            path = dataset_path(name)
            real = work / f"real_{name}.parquet"
            p = run(PREPARE, {"path": str(path), "schema": DATASETS[name][0], "out": str(real)}, env, timeout)
            p.update(kind="prepare", dataset=name, path=str(path), real=str(real))
            record(p)
            prepared[name] = p
            shape = p.get("error") or f"{p['rows']:,} rows × {p['columns']} columns"
            print(f"{name}: {shape}", flush=True)

        # warm Numba's on-disk cache for each law on each dataset (not counted): a kernel one table never calls (the
        # packing, where dense seeds cover every missing combination) would otherwise compile inside another's run
        for name in (d for d in datasets if "error" not in prepared[d]):
            for tool in (t for t in tools if t.startswith("sdsynth-")):
                body, params = tool_child(tool, name, prepared[name], eps, R, work / "warm.parquet")
                w = run(body, params, env, timeout)
                record({**w, "kind": "warm-up", "tool": tool, "dataset": name})
                print(f"warm-up {tool} on {name} (not counted): {w.get('error') or 'ok'}", flush=True)

        for name in datasets:
            info = prepared[name]
            if "error" in info:
                continue
            for tool in tools:
                for repeat in range(args.repeats):
                    out = work / f"syn_{name}_{tool}_{repeat}.parquet"
                    body, params = tool_child(tool, name, info, eps, R, out)
                    waited, load = wait_for_load(args.max_load, args.max_wait)
                    busy0, cpu0, t0 = busy_seconds(), children_cpu(), time.monotonic()
                    r = run(body, params, env, timeout)
                    wall = time.monotonic() - t0
                    others = max(0.0, busy_seconds() - busy0 - (children_cpu() - cpu0))
                    r.update(
                        kind="run",
                        dataset=name,
                        tool=tool,
                        repeat=repeat,
                        real_rows=info["rows"],
                        wall_s=wall,
                        load_before=load,
                        waited_s=waited,
                        other_cores=others / wall if wall else 0.0,
                        tree=tree_state(),
                    )
                    if "error" not in r:
                        metric_params = {
                            "real": info["real"],
                            "syn": str(out),
                            "mv": info["multi_value"],
                            "R": COMBINATION_LENGTH,
                        }
                        m = run(METRICS, metric_params, env, timeout)
                        if "error" in m:
                            r["metrics_error"] = m["error"]
                        else:
                            m.pop("peak_rss_mib", None)
                            r.update(m)
                        out.unlink(missing_ok=True)
                    record(r)
                    runs.append(r)
                    brief = r.get("error") or (
                        f"fit {r['fit_s']:.2f} s, sample {r['sample_s']:.2f} s, TVD {r.get('tvd1', 0):.4f} / "
                        f"{r.get('tvd2', 0):.4f} / {r.get('tvd3', 0):.4f}, k-marginal {r.get('k_marginal', 0):.1f}"
                        + (f", metrics failed: {r['metrics_error']}" if "metrics_error" in r else "")
                    )
                    print(f"  {name:13} {tool:18} #{repeat} (load {load:.2f}): {brief}", flush=True)
                    write_table()

    print()
    write_table(show=True)
    wall = time.monotonic() - started
    record({"kind": "wall", "wall_s": wall, "load_average_at_end": load_average()})
    with md.open("a") as f:
        f.write(f"\nWall time of the whole benchmark: {wall / 60:.1f} min.\n")
    print(f"\nwall time {wall / 60:.1f} min; results in {jsonl} and {md}")


if __name__ == "__main__":
    main()
