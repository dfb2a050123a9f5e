"""The Dask backend (engine/distributed*.py) against the local engine, on a LocalCluster of 2 worker processes.

Non-DP counts must equal the local ones exactly (Parquet row groups, CSV byte ranges, streamed or persisted
partitions, subject ids joined across partitions); the DP passes must give the same pre-noise sums, and releases
the same distribution; distributed synthesis must give the local records.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytest.importorskip("distributed")

from helpers import DATA

from sdsynth._utils.context import RunContext
from sdsynth.backends.dask.engine import DaskEngine
from sdsynth.backends.dask.partitions import open_input, plan_partitions
from sdsynth.backends.local import ThreadRunner
from sdsynth.count.combinations import CountingJob, merge_sorted_counts
from sdsynth.encode.tables import encode
from sdsynth.engine import IngestOptions, count_combinations, load_schema
from sdsynth.errors import InputError, SchemaError
from sdsynth.jobs.distributed import count_combinations_distributed, dp_marginals_distributed, synthesize_distributed
from sdsynth.kernels.counting import build_lookup_table
from sdsynth.kernels.keys import KeyLayout
from sdsynth.protect.dp.marginals import (
    BoundedCountJob,
    BoundJob,
    PartitionStreams,
    RecordLengthsJob,
    SensitivityJob,
    dp_marginals,
)
from sdsynth.protect.dp.pair_tree import in_column_pairs, pair_layout, sibling_pairs
from sdsynth.protect.dp.params import DpParameters
from sdsynth.protect.dp.random import DpRandom
from sdsynth.sample_data import generate_ctdc

CTDC = IngestOptions(schema=load_schema("ctdc-victim-perpetrator"))
MULTI = {"IP_Relation": ";", "IP_Gender": ";", "IP_ageBroad": ";", "IP_PayMoney": ";"}
SUBJECTS = IngestOptions(subject_id="caseId", multi_value=MULTI)


@pytest.fixture(scope="module")
def engine() -> Iterator[DaskEngine]:
    with DaskEngine(workers=2, partition_rows=700, memory_limit=None) as e:
        yield e


@pytest.fixture
def small_partitions(engine: DaskEngine) -> Iterator[DaskEngine]:
    saved = (engine.partition_rows, engine.persist)
    yield engine
    engine.partition_rows, engine.persist = saved


@pytest.fixture(scope="module")
def ctdc_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ctdc")
    frame = generate_ctdc(4000, seed=17)
    paths = {"parquet": folder / "cases.parquet", "csv": folder / "cases.csv"}
    frame.write_parquet(paths["parquet"], row_group_size=500)
    frame.write_csv(paths["csv"])
    return paths


def _with_subjects(n: int, seed: int) -> pl.DataFrame:
    """CTDC rows plus extra rows for a third of the subjects: single-valued cells equal or empty (no conflict),
    multi-value cells from another row (joined as a union); ids differ in case and spaces, rows are shuffled."""
    base = generate_ctdc(n, seed)
    rng = np.random.default_rng(seed)
    ids = np.array([f"S{i:05d}" for i in range(n)])
    extra = rng.choice(n, size=n // 3)
    dup = base[extra]
    donor = base[rng.choice(n, size=len(extra))]
    columns = {}
    for col in base.columns:
        if col in MULTI:
            columns[col] = donor.get_column(col)
        else:
            keep = rng.random(len(extra)) < 0.6
            columns[col] = pl.Series(col, np.where(keep, dup.get_column(col).to_numpy(), ""))
    dup_ids = np.char.add(" ", np.char.lower(ids[extra]))
    rows = pl.concat([base.with_columns(pl.Series("caseId", ids)), pl.DataFrame(columns).with_columns(
        pl.Series("caseId", dup_ids))])  # fmt: skip
    return rows.sample(fraction=1.0, shuffle=True, seed=seed)


def _same_counts(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.attributes.labels == b.attributes.labels
    assert a.n_records == b.n_records
    assert a.reporting_length == b.reporting_length
    assert np.array_equal(a.keys, b.keys)
    assert np.array_equal(a.counts, b.counts)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
@pytest.mark.parametrize("persist", [True, False])
def test_counts_equal_local(
    small_partitions: DaskEngine, ctdc_files: dict[str, Path], kind: str, persist: bool
) -> None:
    engine = small_partitions
    engine.persist = persist
    path = ctdc_files[kind]
    file, _ = open_input(path)
    assert len(plan_partitions(file, engine.partition_rows, 2)) >= 4
    _same_counts(count_combinations_distributed(path, CTDC, 3, engine), count_combinations(encode(path, CTDC), 3))


def test_record_limit_and_reporting_length(small_partitions: DaskEngine, ctdc_files: dict[str, Path]) -> None:
    options = IngestOptions(schema=CTDC.schema, record_limit=1234)
    for path in ctdc_files.values():
        _same_counts(
            count_combinations_distributed(path, options, 2, small_partitions),
            count_combinations(encode(path, options), 2),
        )


def test_subject_ids_are_joined_across_partitions(small_partitions: DaskEngine, tmp_path: Path) -> None:
    frame = _with_subjects(2500, seed=5)
    paths = [tmp_path / "subjects.csv", tmp_path / "subjects.parquet"]
    frame.write_csv(paths[0])
    frame.write_parquet(paths[1], row_group_size=400)
    for path in paths:
        local = count_combinations(encode(path, SUBJECTS), 3)
        assert local.n_records == 2500
        _same_counts(count_combinations_distributed(path, SUBJECTS, 3, small_partitions), local)
    reference = IngestOptions(
        subject_id="ID",
        use_columns=["ID", "A", "B", "C", "F", "G", "D"],
        multi_value={"A": ";", "B": ";", "C": ";", "D": "|"},
    )
    path = DATA / "duplicated_id_valid.csv"
    _same_counts(
        count_combinations_distributed(path, reference, 3, small_partitions),
        count_combinations(encode(path, reference), 3),
    )


def test_errors_are_the_local_ones(small_partitions: DaskEngine, ctdc_files: dict[str, Path], tmp_path: Path) -> None:
    """The first problem in file order, with its absolute row number, whichever worker met it."""
    frame = pl.read_csv(ctdc_files["csv"], infer_schema=False)
    bad = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 3210).then(pl.lit("Robot")).otherwise(pl.col("gender")).alias("gender")
    )
    for path in (tmp_path / "bad.csv", tmp_path / "bad.parquet"):
        bad.write_csv(path) if path.suffix == ".csv" else bad.write_parquet(path, row_group_size=500)
        with pytest.raises(SchemaError, match=r"row 3211, column 'gender'"):
            count_combinations_distributed(path, CTDC, 2, small_partitions)
    lines = ctdc_files["csv"].read_text().splitlines()
    lines[2999] += ",1"
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"row 2999: expected 16 fields"):
        count_combinations_distributed(ragged, IngestOptions(), 2, small_partitions)
    with pytest.raises(InputError, match=r"as multi value .*: A, B, C, D$"):
        count_combinations_distributed(
            DATA / "duplicated_id_valid.csv", IngestOptions(subject_id="id"), 2, small_partitions
        )
    header_only = tmp_path / "header.csv"
    header_only.write_text("A,B\n")
    with pytest.raises(InputError, match="header row but no data rows"):
        count_combinations_distributed(header_only, IngestOptions(), 2, small_partitions)
    with pytest.raises(InputError, match="reads files that every worker can open"):
        small_partitions.load(frame)  # type: ignore[arg-type]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_ranges_respect_quoted_newlines(tmp_path: Path, newline: str) -> None:
    path = tmp_path / "multiline.csv"
    rows = ["A,B,C"] + [f'"a{i % 3}\nmore",b{i % 5},"c""{i % 2}"' for i in range(3000)]
    path.write_bytes((newline.join(rows) + newline).encode())
    file, headers = open_input(path)
    parts = plan_partitions(file, 200, 2)
    assert headers == ["A", "B", "C"] and len(parts) > 10
    assert sum(p.count_rows() for p in parts) == 3000
    assert {b.column(0)[0].as_py() for p in parts for b in p.raw_batches()} <= {"a0\nmore", "a1\nmore", "a2\nmore"}


def test_dp_passes_give_the_local_sums(small_partitions: DaskEngine, ctdc_files: dict[str, Path]) -> None:
    """Record count, length histogram and sensitivity histograms are deterministic: equal to the local ones.
    Bounded counts are random, but their total (Σ over records of min(|W_j|, Δ)) is not."""
    path = ctdc_files["parquet"]
    local = ThreadRunner(encode(path, CTDC), 2)
    with small_partitions.load(path, CTDC) as remote:
        assert len(remote.partitions) >= 4
        a, b = local.run(RecordLengthsJob(40)), remote.run(RecordLengthsJob(40))
        assert a[0] == b[0] == 4000 and a[2] == b[2] and np.array_equal(a[1], b[1])
        attributes = remote.attributes
        layout = KeyLayout.for_attributes(attributes.n_attributes, 2)
        pairs = count_combinations(local.records, 2)
        cand = pairs.keys[layout.lengths(pairs.keys) == 2]
        ck, ci = build_lookup_table(cand, np.arange(1, len(cand) + 1, dtype=np.int64))
        buffer = math.comb(int(a[2]), 2)
        hist, unbounded = local.run(SensitivityJob(2, layout, ck, ci, 100, buffer, len(cand)))
        remote_hist, remote_unbounded = remote.run(SensitivityJob(2, layout, ck, ci, 100, buffer, len(cand)))
        assert np.array_equal(hist, remote_hist) and np.array_equal(unbounded, remote_unbounded)
        assert np.array_equal(unbounded, pairs.counts[layout.lengths(pairs.keys) == 2])  # every valid pair, unbounded
        allowed = 10
        job = BoundedCountJob(2, layout, ck, ci, len(cand), allowed, buffer, PartitionStreams(bytes(range(32))))
        counts = remote.run(job)
        assert counts.sum() == (np.minimum(np.arange(101), allowed) * hist).sum()
        assert np.array_equal(counts, remote.run(job))  # same key, same streams: a retried task draws the same
        # the unbounded counts and the bounding pass draw the same records' subsets from the same streams
        bound = BoundJob(2, layout, ck, ci, len(cand), allowed, buffer, PartitionStreams(bytes(range(32))))
        assert np.array_equal(unbounded + remote.run(bound), counts)
        other = remote.run(BoundedCountJob(2, layout, ck, ci, len(cand), allowed, buffer, PartitionStreams(b"x" * 32)))
        assert not np.array_equal(counts, other)
        full = BoundedCountJob(2, layout, ck, ci, len(cand), 10**6, buffer, PartitionStreams(bytes(32)))
        assert np.array_equal(remote.run(full), pairs.counts[layout.lengths(pairs.keys) == 2])
        # the tables that score the pairs of `--column-pairs tree` add up across partitions too
        tables = pair_layout(attributes.column_of, len(attributes.columns), np.arange(0, attributes.n_attributes, 2),
                             np.ones(len(range(0, attributes.n_attributes, 2))))  # fmt: skip
        assert np.array_equal(local.run(tables.job()), remote.run(tables.job()))


def test_partition_streams_are_distinct() -> None:
    streams = PartitionStreams(bytes(range(32)))
    first = [s[12:16].tolist() for p in range(3) for s in streams.for_partition(p, 4)]
    assert len({tuple(x) for x in first}) == 12


def test_counting_job_partitions_add_up() -> None:
    data = encode(generate_ctdc(3000, seed=2), CTDC)
    layout = KeyLayout.for_attributes(data.attributes.n_attributes, 3)
    job = CountingJob(data.attributes.n_attributes, layout, 3)
    halves = [data.take(np.arange(0, 1700)), data.take(np.arange(1700, 3000))]
    parts = [ThreadRunner(h, 2).run(job) for h in halves]
    keys, counts, n = job.combine(parts)
    whole = count_combinations(data, 3)
    assert n == 3000 and np.array_equal(keys, whole.keys) and np.array_equal(counts, whole.counts)
    assert merge_sorted_counts([])[0].size == 0


def test_a_tree_of_column_pairs_on_a_cluster(small_partitions: DaskEngine, ctdc_files: dict[str, Path]) -> None:
    """--column-pairs tree on Dask partitions: the pairs' scoring pass runs where the records are, and the release
    holds the chosen pairs only, with the sibling parts' pairs among them."""
    params = DpParameters(epsilon=2.0, reporting_length=2, column_pairs="tree")
    aggs = dp_marginals_distributed(ctdc_files["parquet"], CTDC, params, small_partitions).aggregates
    pairs = aggs.column_pairs()
    assert pairs is not None and set(sibling_pairs(aggs.attributes)) <= pairs
    twos = aggs.keys[aggs.lengths == 2]
    assert len(twos) and in_column_pairs(twos, pairs, aggs.attributes, aggs.layout).all()


def test_dp_release_matches_local_in_distribution(small_partitions: DaskEngine, ctdc_files: dict[str, Path]) -> None:
    path = ctdc_files["parquet"]
    data = encode(path, CTDC)
    true = count_combinations(data, 3)
    params = DpParameters(epsilon=4.0, reporting_length=3)
    local = dp_marginals(data, params, RunContext(threads=2), rng=DpRandom._seeded_for_tests(3, 3))
    remote = dp_marginals_distributed(path, CTDC, params, small_partitions)
    count_sd = math.sqrt(remote.aggregates.parameters["variance_record_count"])
    for result in (local, remote):
        aggs = result.aggregates
        assert abs(aggs.record_count - 4000) <= 8 * count_sd  # discrete Gaussian: P(|Z| > 8σ) < 2e-15
        released_lengths = {lvl.length for lvl in result.levels if lvl.released_combinations > 0}
        assert set(np.unique(aggs.lengths).tolist()) <= released_lengths
        sd = {lvl.length: lvl.as_row()["noise_sd"] for lvl in result.levels}
        # frequent single attributes: noise (≤ 6 sd) plus at most the records whose attributes were clipped
        level1 = result.levels[0]
        lengths = data.record_lengths()
        clipped = int((lengths > level1.sensitivity).sum())
        singles = true.lengths == 1
        top = true.keys[singles][np.argsort(-true.counts[singles])[:8]]
        released = aggs.lookup(top)
        assert np.all(np.abs(released - true.lookup(top)) <= 6 * sd[1] + clipped + 1)
    big = true.keys[(true.counts > 400) & (true.lengths <= 2)]
    assert (local.aggregates.lookup(big) > 0).all() and (remote.aggregates.lookup(big) > 0).all()


def test_dp_with_huge_epsilon_releases_the_true_counts(small_partitions: DaskEngine, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    frame = pl.DataFrame({c: rng.choice(["x", "y", "z"], size=3000).tolist() for c in "ABC"})
    path = tmp_path / "xyz.parquet"
    frame.write_parquet(path, row_group_size=400)
    params = DpParameters(epsilon=1e4, reporting_length=3, percentile_percentage=100)
    result = dp_marginals_distributed(path, IngestOptions(), params, small_partitions)
    assert result.aggregates.as_dict() == count_combinations(encode(path), 3).as_dict()
    assert [lvl.sensitivity for lvl in result.levels] == [3, 3, 1]


def test_synthesis_equals_local(engine: DaskEngine) -> None:
    from sdsynth.synth.calibrated import calibrated_batches

    data = encode(generate_ctdc(3000, seed=8), CTDC)
    aggs = dp_marginals(
        data, DpParameters(epsilon=4.0, reporting_length=3), RunContext(threads=2), rng=DpRandom._seeded_for_tests(1, 3)
    )
    local = list(calibrated_batches(aggs.aggregates, 2500, seed=11))
    remote = synthesize_distributed(aggs.aggregates, 2500, 11, engine)
    assert remote.n_records == 2500
    assert np.array_equal(np.concatenate([b.ids for b in local]), remote.ids)
    assert np.array_equal(np.concatenate([np.diff(b.offsets) for b in local]), np.diff(remote.offsets))


def test_release_on_the_cluster(small_partitions: DaskEngine, ctdc_files: dict[str, Path], tmp_path: Path) -> None:
    """`run_release` with a cluster: k-anonymous aggregates equal to a local run's, the private statistics computed
    here from the same attribute ids, the engine named in release_info; the synthetic records are the local ones."""
    import duckdb

    from sdsynth.jobs.release import run_release
    from sdsynth.jobs.settings import JobSettings

    path = ctdc_files["parquet"]

    def release(name: str, cluster: DaskEngine | None) -> Path:
        settings = JobSettings(out=tmp_path / name, private_out=tmp_path / f"{name}-private", method="aggregate-seeded")
        run_release(path, CTDC, settings, RunContext(cluster=cluster, seed=4))
        return tmp_path / name

    local, remote = release("local", None), release("dask", small_partitions)
    for table in ("aggregates", "synthetic"):
        rows = [duckdb.connect(str(d / "release.duckdb")).sql(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
                for d in (local, remote)]  # fmt: skip
        assert rows[0] == rows[1] and rows[0]
    info = dict(duckdb.connect(str(remote / "release.duckdb")).sql("SELECT key, value FROM release_info").fetchall())
    assert info["engine"] == "dask"
    for name in ("records_analysis.tsv", "sensitive_statistics.json"):
        assert (tmp_path / "local-private" / name).read_bytes() == (tmp_path / "dask-private" / name).read_bytes()


def test_cli_engine_options(ctdc_files: dict[str, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sdsynth.cli.main import app

    def run(*args: object):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(app, [str(a) for a in args])

    path = ctdc_files["csv"]
    common = ("--schema", "ctdc-victim-perpetrator", "-q")
    assert run("aggregate", path, "--out", tmp_path / "local", *common).exit_code == 0
    result = run("aggregate", path, "--out", tmp_path / "dask", "--engine", "dask", "--workers", 2, *common)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "local" / "aggregates.tsv").read_text() == (tmp_path / "dask" / "aggregates.tsv").read_text()
    for args, message in [
        (("--engine", "spark"), "Invalid value for '--engine'"),
        (("--workers", 2), "--scheduler and --workers need --engine dask"),
        (("--engine", "dask", "--scheduler", "tcp://h:1", "--workers", 2), "either a scheduler address"),
    ]:
        result = run("aggregate", path, "--out", tmp_path / "x", *args, *common)
        assert result.exit_code == 2 and message in result.output
    result = run("synthesize", path, "--out", tmp_path / "x", "--engine", "dask", "--method", "row-seeded", *common)
    assert result.exit_code == 2 and "use --engine local" in result.output
    assert not (tmp_path / "x").exists()
