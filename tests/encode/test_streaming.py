"""Outputs larger than memory: synthetic records written batch by batch, inputs spilled to disk, and the release
built from them equal in every count to one built in memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from helpers import invoke

from sdsynth._utils.context import RunContext
from sdsynth.encode import tables as tables_module
from sdsynth.encode.records import EncodedData, EncodedStream
from sdsynth.encode.spill import spill
from sdsynth.encode.tables import encode
from sdsynth.engine import IngestOptions, count_combinations, load_schema, stream_encoded
from sdsynth.sample_data import generate_ctdc
from sdsynth.synth import aggregate_seeded as aggregate_seeded_module
from sdsynth.synth import calibrated as calibrated_module
from sdsynth.synth import output as synthetic_output
from sdsynth.synth.calibrated import CalibratedParameters

OPTIONS = IngestOptions(schema=load_schema("ctdc-victim-perpetrator"))


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("in") / "cases.parquet"
    generate_ctdc(3000, seed=9).write_parquet(path)
    return path


def test_spilled_records_count_like_the_originals(cases: Path, tmp_path: Path) -> None:
    stream = stream_encoded(cases, OPTIONS)
    spilled = spill(stream, tmp_path / "spill")
    in_memory = encode(cases, OPTIONS)
    assert spilled.n_records == in_memory.n_records == 3000
    assert count_combinations(spilled, 3).as_dict() == count_combinations(in_memory, 3).as_dict()
    spilled.remove()
    assert not (tmp_path / "spill").exists()


def test_an_input_above_the_in_memory_limit_is_streamed_and_counts_the_same(
    cases: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_memory = encode(cases, OPTIONS)
    assert isinstance(stream_encoded(cases, OPTIONS), EncodedData)  # 3,000 rows: encoded into memory
    monkeypatch.setattr(tables_module, "IN_MEMORY_CELLS", 2_000)
    stream = stream_encoded(cases, OPTIONS)
    assert isinstance(stream, EncodedStream)  # read again from the file at every pass
    assert count_combinations(stream, 3).as_dict() == count_combinations(in_memory, 3).as_dict()


def test_the_in_memory_limit_leaves_three_quarters_of_the_available_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    class Memory:
        available = 1_200_000_000

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Memory())
    assert tables_module.in_memory_cells() == 25_000_000  # a quarter of 1.2 GB at 12 bytes a cell
    Memory.available = 10**12
    assert tables_module.in_memory_cells() == tables_module.IN_MEMORY_CELLS


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stream anything above 500 records, in batches of 300 (calibrated) or about 200 (reference); stream inputs of
    more than 2,000 cells from their file (a release spills them to its private folder)."""
    monkeypatch.setattr(tables_module, "IN_MEMORY_CELLS", 2_000)
    monkeypatch.setattr(synthetic_output, "IN_MEMORY_RECORDS", 500)
    monkeypatch.setattr(calibrated_module.parameters, "DEFAULT_PARAMETERS", CalibratedParameters(batch_records=300))
    monkeypatch.setattr(aggregate_seeded_module, "OUTPUT_BATCH_RECORDS", 200)


@pytest.mark.parametrize("law", ["calibrated", "reference"])
def test_streamed_release(cases: Path, tmp_path: Path, small_batches: None, law: str) -> None:
    pub, priv = tmp_path / "pub", tmp_path / "priv"
    result = invoke("release", cases, "--schema", "ctdc-victim-perpetrator", "--resolution", "5", "--method",
                    "aggregate-seeded", "--sampling-law", law, "--seed", "3", "--out", pub, "--private-out", priv,
                    "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not (priv / ".scratch").exists()
    con = duckdb.connect(str(pub / "release.duckdb"), read_only=True)
    info = dict(con.execute("SELECT key, value FROM release_info").fetchall())
    n_table = con.execute("SELECT count(*) FROM synthetic").fetchone()[0]  # type: ignore[index]
    con.close()
    assert info["synthesis_streamed"] == "true"
    released = int(info["record_count"])
    csv = pl.read_csv(pub / "synthetic.csv", infer_schema=False)
    parquet = pl.read_parquet(pub / "synthetic.parquet")
    assert csv.height == parquet.height == n_table == released  # the header is written once
    assert csv.columns == parquet.columns and "IP_Gender" in csv.columns  # multi-value cells re-joined
    assert csv.fill_null("").equals(parquet.fill_null(""))
    # the public and private evaluations counted the streamed records
    public = dict(duckdb.connect(str(pub / "release.duckdb"), read_only=True)
                  .execute("SELECT metric, value FROM evaluation").fetchall())  # fmt: skip
    assert public["synthetic_records"] == released
    private = json.loads((priv / "evaluation.json").read_text())["summary"]
    assert private["synthetic_records"] == released and private["fabricated_combinations"] == 0


def test_batches_can_be_drawn_in_any_order(small_batches: None) -> None:
    """The calibrated law's batch i is a function of (seed, i): drawn out of order (or on other machines), the
    batches concatenate to the same records."""
    from sdsynth.engine import protect_k_anonymity
    from sdsynth.synth.aggregate_seeded import aggregate_seeded_batches, concat_records
    from sdsynth.synth.calibrated import CalibratedSampler

    data = encode(generate_ctdc(2000, seed=3), OPTIONS)
    aggs = protect_k_anonymity(count_combinations(data, 3), 5)
    batches = list(aggregate_seeded_batches(aggs, 1000, None, RunContext(seed=4)))
    assert [b.n_records for b in batches] == [300, 300, 300, 100]
    whole = concat_records(aggs.attributes, batches)
    sampler = CalibratedSampler(aggs, 1000, seed=4)
    backwards = {i: sampler.batch(i, size) for i, size in reversed(list(enumerate(sampler.batch_sizes())))}
    again = concat_records(aggs.attributes, [backwards[i] for i in sorted(backwards)])
    assert np.array_equal(whole.ids, again.ids) and np.array_equal(whole.offsets, again.offsets)


def test_prefetched_keeps_order_and_raises_the_producers_error() -> None:
    from sdsynth.backends.local import prefetched

    assert list(prefetched(iter(range(5)))) == [0, 1, 2, 3, 4]
    assert list(prefetched([])) == []

    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("producer failed")

    seen = []
    with pytest.raises(ValueError, match="producer failed"):
        for item in prefetched(failing()):
            seen.append(item)
    assert seen == [1]
