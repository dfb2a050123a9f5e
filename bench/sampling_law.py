"""Sampling laws of DP aggregate-seeded synthesis against pac-synth and smartnoise MST over a grid of ε.

Each tool runs at its stated (ε, δ) (ε = 4 unless `--epsilons`) and R = 3 (settable; `--reporting-length auto` runs
sdsynth with its DP default, the length rule of protect/dp/length_rule.py, and pac-synth at 3), on generated CTDC-like
data and two real public tables.

    python bench/sampling_law.py                                   # full grid (long: pac-synth on 170 k rows)
    python bench/sampling_law.py --datasets ctdc-17k --repeats 1   # a quick check
    python bench/sampling_law.py --epsilons 0.5 1 2 4 --tools sdsynth-calibrated pac-synth mst-independent \\
        --repeats-for pac-synth@ctdc-170k=1 pac-synth@nist-national=1   # a grid over ε

`--epsilons` (alias `--epsilon`) lists the ε of the grid; every (dataset, ε, tool) is a row of the table and every
run records its ε and δ. `--repeats-for TOOL[@DATASET]=N` overrides `--repeats` for one tool (on one dataset, or on
every dataset); the most specific entry wins and N = 0 skips, e.g. `mst=0 mst@ctdc-17k=2` runs MST on ctdc-17k only.

δ: `--delta` passes one δ to every tool (sdsynth `DpParameters(delta=δ)`, pac-synth `.delta(δ)`, MST
`Synthesizer.create("mst", epsilon=ε, delta=δ)`); without it each tool runs at its own default, and the table shows
the δ each run used: sdsynth `DpParameters.resolved_delta` (the public default `DEFAULT_DELTA`, 10⁻⁶ at 10b391b), MST
the synthesizer's `delta` (10⁻⁹ in smartnoise-synth 1.0.8's `MSTSynthesizer`), pac-synth 1/(n̂ ln n̂) with n̂ its DP
record count (what pac-synth 0.0.8 infers when no δ is given; recomputed here from `get_dp_number_of_records()`, the
same n̂).

Datasets (each read once, in a fresh process, as sdsynth reads it: `records_to_frame(encode(path, schema))`, i.e.
bins applied, strings, empty = ""; that table is pac-synth's and MST's input and the "real" table of the metrics,
so every tool works on the same categorical table):

- `ctdc-17k`, `ctdc-170k`: `_util.generated_input(17000 / 170000)`, schema `ctdc-victim-perpetrator` (multi-value
  columns as the schema declares them, joined by ";": IP_Relation, IP_Gender, IP_ageBroad, IP_citizen_UNRegion,
  IP_PayMoney).
- `nist-national`: ../shared/data/nist_national2019.csv, schema `nist-diverse-communities`.
- `adult`: ../shared/data/adult_uci_strings.csv, schema `adult-uci`.

Tools (each run a fresh process; its peak RSS is its own):

- `sdsynth-reference` / `sdsynth-calibrated`: `AggregateSeeded(dp=DpParameters(epsilon, reporting_length=R),
  params=AggregateSeededParameters(sampling_law=...)).fit(encode(path, schema))`, `sample_records(seed=1)`,
  `records_to_frame`. While `AggregateSeededParameters` has no `sampling_law`, the reference row runs with the
  default parameters (the reference law) and says so; the calibrated row reports the error.
- `sdsynth-tree`: the calibrated law on a release of DP-chosen column pairs, as `--column-pairs tree` sets it:
  `DpParameters.from_options(epsilon, reporting_length="auto", column_pairs="tree")` (length 2, balanced noise over
  lengths 1 and 2, a tree and as many pairs again; R is ignored). `sdsynth-tree-only`: the tree alone
  (`extra_column_pairs=0`); `sdsynth-tree2`: the tree and as many more pairs as expanded columns less one.
- `pac-synth`: `Dataset.from_data_frame(real, multi_value_columns, sensitive_zeros=every column)` (the real table
  already holds absence as ""), `DpAggregateSeededSynthesizer` with `reporting_length(R).epsilon(ε)`, `fit`,
  `sample(get_dp_number_of_records(), join_multi_value_columns=True)`.
- `mst`: smartnoise-synth `Synthesizer.create("mst", epsilon=ε[, delta=δ])`, `fit(real, categorical_columns=all,
  preprocessor_eps=0.0, nullable=False)` then `sample(len(real))` (= `fit_sample`; note that MST's record count is
  the true one, not a DP count), on the real table with multi-value cells canonicalised. `sample` draws from the
  fitted mbi `MarkovRandomField` (`synth.synthesizer`) with `synthetic_data(rows)`, whose default method in mbi 1.1.0
  is "round": along the junction tree's elimination order, each column is drawn from its conditional given the
  columns already drawn, by a uniform u = (rank + U(0,1)) / group size where rank is the record's position (by record
  index) among the records sharing the parent's value. Every child of one parent uses the same ranks, so siblings
  are drawn comonotonically (and, through them, their descendants): the shipped generator ties columns that share a
  parent in the tree, a dependence the model does not hold.
- `mst-independent`: the same fit as `mst` (same ε, same δ, same call), then the records drawn from the same fitted
  model with mbi's own i.i.d. sampler, `synth.synthesizer.synthetic_data(len(real), method="sample")` (each column
  drawn from its clique conditional given the sampled parent with an independent uniform per record), followed by the
  same steps as `MSTSynthesizer.sample`: `synth.undo_compress_fn` (MST's domain decompression; a value of the
  merged "rare" bucket becomes a uniformly random rare value, as in `mst`) and `synth._transformer.inverse_transform`.
  Drawing records from the released model is post-processing: the DP guarantee is MST's own. Its record count is
  the true one, like `mst`.

Metrics, in a separate fresh process per run, against the real table: mean TVD of the 1-, 2- and 3-way marginals
(`marginal_tvd`, empty is a category, multi-value cells opaque after canonicalisation), the NIST k-marginal score
(`cross_tool_scores`, on the canonicalised tables), and in SDS semantics (both tables encoded with one shared
dictionary by `encode_together`, empty = absent, multi-value cells exploded, "0" a value) the suppressed % and
fabricated % of combinations of length ≤ 3 (`compare_combinations(..., resolution=1)`; both percentages are of the
real table's combinations, spec §8.10).

smartnoise-synth is not a dependency of the `bench` extra: install it without its own dependencies (it would pull in
opacus/torch for its GAN synthesizers, and smartnoise-sql pins pandas < 3), plus what MST imports: `pip install
"mbi==1.1.0" "disjoint-set>=0.9,<0.10" "Faker>=17" "opendp>=0.14.1,<0.15" "antlr4-python3-runtime==4.9.3" PyYAML
sqlalchemy graphviz && pip install --no-deps smartnoise-sql==1.0.10 smartnoise-synth==1.0.8`.

Code: every child runs on a frozen copy of the package (PYTHONPATH), so edits made to the working tree while the
benchmark runs do not mix into it: `--code worktree` (default) copies the working tree's engine/, cli/ and
data/schemas/ at start; `--code REV` takes engine/ and cli/ from `git archive REV` (data/schemas/ still from the
working tree, for shipped schemas not committed yet); `--code live` runs on the working tree itself.

The machine is shared: before each run the script waits (up to --max-wait s) until the 1-minute load average is at
most --max-load, then runs anyway; the load before the run and the cores other processes used during it are
recorded. Raw results: bench/results/sampling_law.jsonl (one line per run, with its ε and δ); table:
bench/results/sampling_law.md (`--out` sets the stem).
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
TOOLS = [
    "sdsynth-reference",
    "sdsynth-calibrated",
    "sdsynth-tree",
    "sdsynth-tree2",
    "pac-synth",
    "mst",
    "mst-independent",
]

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
auto = P["R"] == "auto"  # the rule of protect/dp/length_rule.py (at most 3), absent from older code
if P["tree"]:  # --column-pairs tree as the command line sets it (length 2, balanced noise)
    extra = {"only": {"extra_column_pairs": 0}, "columns": {"extra_column_pairs": len(data.attributes.columns) - 1},
             "default": {}}[P["tree"]]
    dp = DpParameters.from_options(epsilon=P["eps"], reporting_length="auto", delta=P["delta"], column_pairs="tree",
                                   **extra)
else:
    rule = {"adaptive_percentile": True} if "adaptive_percentile" in DpParameters.__dataclass_fields__ else {}
    dp = DpParameters(epsilon=P["eps"], reporting_length=3 if auto else P["R"], delta=P["delta"],
                      **({"adaptive_length": True} if auto else {}), **rule)  # the command line's defaults
synth = AggregateSeeded(dp=dp, params=params)
_, fit_s = timed(lambda: synth.fit(data))
records, sample_s = timed(lambda: synth.sample_records(seed=1))
frame, to_frame_s = timed(lambda: records_to_frame(records))
peak = _hwm()
frame.write_parquet(P["out"])
result = dict(load_s=load_s, fit_s=fit_s, sample_s=sample_s, to_frame_s=to_frame_s, peak_rss_timed_mib=peak,
              dp_record_count=int(synth.aggregates.record_count), synthetic=frame.height,
              released=len(synth.aggregates.keys), note=note,
              delta=getattr(dp, "resolved_delta", dp.delta), reporting_length=synth.aggregates.reporting_length)
"""

PAC = """
import math
import polars as pl
import pacsynth as ps
def _load():
    pdf = pl.read_parquet(P["real"]).to_pandas()
    return ps.Dataset.from_data_frame(pdf, multi_value_columns=P["mv"] or None, sensitive_zeros=list(pdf.columns))
ds, load_s = timed(_load)
builder = ps.DpAggregateSeededParametersBuilder().reporting_length(3 if P["R"] == "auto" else P["R"]).epsilon(P["eps"])
if P["delta"] is not None:
    builder = builder.delta(P["delta"])
syn = ps.DpAggregateSeededSynthesizer(builder.build())
_, fit_s = timed(lambda: syn.fit(ds))
n = syn.get_dp_number_of_records()
rows, sample_s = timed(lambda: syn.sample(n, join_multi_value_columns=True))
peak = _hwm()
del ds
frame = pl.DataFrame(rows[1:], schema=[(c, pl.String) for c in rows[0]], orient="row")
frame.write_parquet(P["out"])
# without a δ, pac-synth 0.0.8 uses 1/(n ln n) of its protected (DP) record count, the n above
delta = P["delta"] if P["delta"] is not None else 1.0 / (n * math.log(n))
result = dict(load_s=load_s, fit_s=fit_s, sample_s=sample_s, peak_rss_timed_mib=peak, dp_record_count=int(n),
              synthetic=frame.height, delta=delta)
"""

MST = """
import warnings
from importlib.metadata import version
import polars as pl
from snsynth import Synthesizer
from sdsynth.evaluation.marginals import canonical_cells
warnings.filterwarnings("ignore", message="Pandas dataframe inputs are deprecated")  # mbi 1.1.0, once per Dataset
pdf, load_s = timed(lambda: canonical_cells(pl.read_parquet(P["real"]), P["mv"] or None).to_pandas())
delta = {} if P["delta"] is None else {"delta": P["delta"]}
synth = Synthesizer.create("mst", epsilon=P["eps"], verbose=False, **delta)
_, fit_s = timed(lambda: synth.fit(pdf, categorical_columns=list(pdf.columns), preprocessor_eps=0.0,
                                   nullable=False))
def independent(rows):
    # MSTSynthesizer.sample with mbi's i.i.d. sampler instead of its default "round" generator
    data = synth.synthesizer.synthetic_data(rows=rows, method="sample")
    decompressed = synth.undo_compress_fn(data)
    return synth._transformer.inverse_transform([tuple(t[1:]) for t in decompressed.df.itertuples()])
out, sample_s = timed(lambda: synth.sample(len(pdf)) if P["method"] == "round" else independent(len(pdf)))
peak = _hwm()
frame = pl.from_pandas(out.astype(str)).select(pl.all().cast(pl.String).fill_null(""))
frame.write_parquet(P["out"])
result = dict(load_s=load_s, fit_s=fit_s, sample_s=sample_s, peak_rss_timed_mib=peak, synthetic=frame.height,
              delta=synth.delta, method=P["method"], tree_edges=len(synth.synthesizer.cliques),
              versions={p: version(p) for p in ("smartnoise-synth", "mbi")})
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
import sdsynth
import sdsynth.engine
from sdsynth.encode.tables import encode_together
from sdsynth.evaluation.metrics import compare_combinations
from sdsynth.evaluation.marginals import canonical_cells, marginal_tvd, mean_tvd_by_order
from sdsynth.evaluation.scores import cross_tool_scores
from sdsynth.synth.base import AggregateSeeded
from sdsynth.synth.aggregate_seeded import AggregateSeededParameters
from sdsynth.synth.output import records_to_frame
result = dict(engine=sdsynth.engine.__file__, package=sdsynth.__file__,
              encode=sys.modules["sdsynth.encode.tables"].__file__)
"""


def freeze_code(code: str, dest: Path) -> str:
    """Lay out an importable `sdsynth` package under `dest` as pyproject.toml installs it (`sdsynth` = engine/,
    `sdsynth.cli` = cli/, `sdsynth.schemas` = data/schemas/; see the module docstring); describe it."""
    package = dest / "sdsynth"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    if code == "worktree":
        source = REPO
        described = f"copy of the working tree at start (HEAD {git_head()[:10]}, engine/cli state {tree_state()})"
    else:
        commit = subprocess.run(
            ["git", "rev-parse", "--verify", f"{code}^{{commit}}"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        archive = subprocess.run(["git", "archive", commit, "engine", "cli"], cwd=REPO, capture_output=True, check=True)
        source = dest / "archive"
        source.mkdir(parents=True)
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
        described = f"git archive of {code} ({commit[:10]}) for engine/ and cli/"
    shutil.copytree(source / "engine", package, ignore=ignore)
    shutil.copytree(source / "cli", package / "cli", ignore=ignore)
    shutil.copytree(REPO / "data" / "schemas", package / "schemas", ignore=ignore)
    return described + ", data/schemas from the working tree"


def git_head() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()


# --- tables ----------------------------------------------------------------------------------------------------


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One table row (means over the successful runs) from the runs of one (dataset, ε, tool)."""
    first = runs[0]
    row: dict[str, Any] = {"dataset": first["dataset"], "rows": first["real_rows"], "tool": first["tool"]}
    row["eps"] = f"{first['eps']:g}"
    deltas = sorted({f"{r['delta']:.2g}" for r in runs if r.get("delta") is not None})
    row["delta"] = " / ".join(deltas) if len(deltas) <= 2 else f"{deltas[0]}–{deltas[-1]}"
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
    both = [r["fit_s"] + r["sample_s"] for r in ok if r.get("fit_s") is not None and r.get("sample_s") is not None]
    row["fit_sample_s"] = mean(both) if both else ""
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
    ("eps", "ε"),
    ("tool", "tool"),
    ("delta", "δ"),
    ("runs", "runs"),
    ("load_s", "load s"),
    ("fit_s", "fit s"),
    ("sample_s", "sample s"),
    ("fit_sample_s", "fit+sample s"),
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
    tool: str,
    dataset: str,
    info: dict[str, Any],
    eps: float,
    delta: float | None,
    reporting_length: int | str,
    out: Path,
) -> tuple[str, dict[str, Any]]:
    """The child code and parameters of one synthesis run (`delta` None: the tool's own default)."""
    params = {
        "eps": eps,
        "delta": delta,
        "R": reporting_length,
        "out": str(out),
        "real": info["real"],
        "mv": info["multi_value"],
    }
    if tool.startswith("sdsynth-"):
        tree = {"sdsynth-tree": "default", "sdsynth-tree-only": "only", "sdsynth-tree2": "columns"}.get(tool)
        law = "calibrated" if tree else tool.removeprefix("sdsynth-")
        return SDSYNTH, {**params, "path": info["path"], "schema": DATASETS[dataset][0], "law": law, "tree": tree}
    if tool == "pac-synth":
        return PAC, params
    return MST, {**params, "method": "sample" if tool == "mst-independent" else "round"}


def parse_repeats_for(entries: list[str]) -> dict[tuple[str, str | None], int]:
    """`TOOL[@DATASET]=N` entries (see the module docstring) as {(tool, dataset or None): N}."""
    out: dict[tuple[str, str | None], int] = {}
    for entry in entries:
        key, sep, n = entry.partition("=")
        tool, _, dataset = key.partition("@")
        if not sep or not n.isdigit() or tool not in TOOLS or (dataset and dataset not in DATASETS):
            raise SystemExit(
                f"--repeats-for {entry!r}: expected TOOL[@DATASET]=N with a tool and dataset of this script"
            )
        out[tool, dataset or None] = int(n)
    return out


def repeats_of(overrides: dict[tuple[str, str | None], int], repeats: int, tool: str, dataset: str) -> int:
    return overrides.get((tool, dataset), overrides.get((tool, None), repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=TOOLS)
    parser.add_argument("--repeats", type=int, default=2, help="runs per (dataset, ε, tool); the table shows means")
    parser.add_argument(
        "--repeats-for", nargs="+", default=[], metavar="TOOL[@DATASET]=N", help="per-tool repeats (0: skip)"
    )
    parser.add_argument("--epsilons", "--epsilon", nargs="+", type=float, default=[4.0], help="the grid of ε")
    parser.add_argument(
        "--delta", type=float, default=None, help="one δ for every tool (default: each tool's own, see the docstring)"
    )
    parser.add_argument(
        "--reporting-length",
        type=lambda v: v if v == "auto" else int(v),
        default=REPORTING_LENGTH,
        help="R of every tool's release; auto: sdsynth's rule (its DP default; pac-synth then gets 3)",
    )
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
    epsilons = sorted(set(args.epsilons))
    overrides = parse_repeats_for(args.repeats_for)
    R, timeout = args.reporting_length, args.timeout * 60
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
        groups: dict[tuple[int, float, int], list[dict[str, Any]]] = {}
        for r in runs:
            groups.setdefault((datasets.index(r["dataset"]), r["eps"], tools.index(r["tool"])), []).append(r)
        table_rows = [summarise(groups[k]) for k in sorted(groups)]
        text = print_table(table_rows, COLUMNS, show)
        notes = sorted({row["note"] for row in table_rows if row.get("note")})
        parts = [
            f"`python bench/{Path(__file__).name} {' '.join(sys.argv[1:])}`".replace(" `", "`"),
            "",
            f"ε ∈ {{{', '.join(f'{e:g}' for e in epsilons)}}}, R = {R}; δ: "
            + (f"{args.delta:g} for every tool" if args.delta is not None else "each tool's own default (the δ column)")
            + f"; {os.cpu_count()} cores; code: {code}. "
            "Each run a fresh process; means over the successful runs. Real table = "
            "the input as sdsynth reads it (bins applied, empty = \"\"), also pac-synth's and MST's input. load s: "
            "reading the input (sdsynth: encode the file; others: the prepared table). sdsynth sample s excludes "
            "`records_to_frame`. peak RSS: the child's high-water mark at the end of sampling (max over runs). TVD: "
            "mean over column sets of that order. suppressed / fabricated %: combinations of length ≤ 3 in SDS "
            "semantics, both as a share of the real table's combinations. MST (both samplers) draws as many records as "
            "the real table has (a non-DP count); the others draw their DP record count. mst: smartnoise-synth's "
            'shipped sampler (mbi\'s "round" generator); mst-independent: the same fit, records drawn i.i.d. from '
            'the fitted model (mbi `method="sample"`). δ: the δ each run used (pac-synth: 1/(n̂ ln n̂) of its '
            "DP record count n̂, unless --delta). load avg before: the 1-minute "
            "load average when the run started (the script waits up to "
            f"{args.max_wait:g} s for ≤ {args.max_load:g}); other cores: CPU used by other processes during the run "
            "/ its wall time.",
        ]
        for name, info in prepared.items():
            described = f"- {name}: {info.get('path')} (schema {DATASETS[name][0]})"
            if "error" in info:
                parts.append(f"{described}: not prepared ({info['error']})")
                continue
            parts.append(
                f"{described}, {info['rows']:,} rows × {info['columns']} columns"
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
        frozen = str(work / "code")
        if args.code != "live" and not all(where[k].startswith(frozen) for k in ("package", "engine", "encode")):
            raise SystemExit(f"the children do not import the frozen copy under {frozen}: {where}")

        for name in datasets:
            path = dataset_path(name)
            real = work / f"real_{name}.parquet"
            p = run(PREPARE, {"path": str(path), "schema": DATASETS[name][0], "out": str(real)}, env, timeout)
            p.update(kind="prepare", dataset=name, path=str(path), real=str(real))
            record(p)
            prepared[name] = p
            shape = p.get("error") or f"{p['rows']:,} rows × {p['columns']} columns"
            print(f"{name}: {shape}", flush=True)

        # warm Numba's on-disk cache for each law on each dataset at the smallest and largest ε (not counted): a
        # kernel one table never calls (the packing, where dense seeds cover every missing combination) would
        # otherwise compile inside another's run
        for name in (d for d in datasets if "error" not in prepared[d]):
            for tool in (t for t in tools if t.startswith("sdsynth-") and repeats_of(overrides, args.repeats, t, name)):
                for eps in sorted({epsilons[0], epsilons[-1]}):
                    body, params = tool_child(tool, name, prepared[name], eps, args.delta, R, work / "warm.parquet")
                    w = run(body, params, env, timeout)
                    record({**w, "kind": "warm-up", "tool": tool, "dataset": name, "eps": eps})
                    print(f"warm-up {tool} on {name} at ε {eps:g} (not counted): {w.get('error') or 'ok'}", flush=True)

        for name in datasets:
            info = prepared[name]
            if "error" in info:
                continue
            for eps, tool in ((e, t) for e in epsilons for t in tools):
                for repeat in range(repeats_of(overrides, args.repeats, tool, name)):
                    out = work / f"syn_{name}_{eps:g}_{tool}_{repeat}.parquet"
                    body, params = tool_child(tool, name, info, eps, args.delta, R, out)
                    waited, load = wait_for_load(args.max_load, args.max_wait)
                    busy0, cpu0, t0 = busy_seconds(), children_cpu(), time.monotonic()
                    r = run(body, params, env, timeout)
                    wall = time.monotonic() - t0
                    others = max(0.0, busy_seconds() - busy0 - (children_cpu() - cpu0))
                    r.update(
                        kind="run",
                        dataset=name,
                        eps=eps,
                        delta_requested=args.delta,
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
                    print(f"  {name:13} ε {eps:<4g} {tool:18} #{repeat} (load {load:.2f}): {brief}", flush=True)
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
