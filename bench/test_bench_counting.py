"""Warm, in-process timings of ingest and counting on 170 k generated rows (pytest-benchmark)."""

from __future__ import annotations

import pytest
from _util import generated_input

from sdsynth.encode.tables import encode
from sdsynth.engine import IngestOptions, count_combinations, load_schema, protect_k_anonymity

ROWS = 170_000


@pytest.fixture(scope="module")
def options() -> IngestOptions:
    return IngestOptions(schema=load_schema("ctdc-victim-perpetrator"))


@pytest.fixture(scope="module")
def records(options: IngestOptions):  # type: ignore[no-untyped-def]
    return encode(generated_input(ROWS), options)


def test_encode_parquet(benchmark, options: IngestOptions) -> None:  # type: ignore[no-untyped-def]
    path = generated_input(ROWS)
    data = benchmark(encode, path, options)
    assert data.n_records == ROWS


def test_encode_csv(benchmark, options: IngestOptions) -> None:  # type: ignore[no-untyped-def]
    path = generated_input(ROWS, suffix=".csv")
    data = benchmark(encode, path, options)
    assert data.n_records == ROWS


@pytest.mark.parametrize("R", [3, 4])
def test_count_combinations(benchmark, records, R: int) -> None:  # type: ignore[no-untyped-def]
    counts = benchmark(count_combinations, records, R)
    assert counts.n_records == ROWS


def test_protect_k_anonymity(benchmark, records) -> None:  # type: ignore[no-untyped-def]
    counts = count_combinations(records, 4)
    aggs = benchmark(protect_k_anonymity, counts, 10)
    assert aggs.n_combinations <= counts.n_combinations
