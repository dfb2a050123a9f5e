"""Spec §2.1 counting, checked against a brute-force counter and the spec's exact examples."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

import numpy as np
import polars as pl
import pytest
from helpers import DATA, shared_file
from hypothesis import given, settings
from hypothesis import strategies as st

from sdsynth._utils.context import RunContext
from sdsynth.bundle.write import write_aggregates_tsv
from sdsynth.count import combinations as aggregate
from sdsynth.encode.tables import encode
from sdsynth.engine import IngestOptions, count_combinations, load_schema, protect_k_anonymity, stream_encoded
from sdsynth.kernels.keys import KeyLayout
from sdsynth.testing import brute_force_counts, categorical_tables, record_labels


def test_dp_documentation_example_counts(example_91: Path) -> None:
    counts = count_combinations(encode(example_91), reporting_length=3).as_dict()
    assert counts == {
        "A:a1": 3, "A:a2": 2, "B:b1": 1, "B:b2": 3, "C:c1": 3, "C:c2": 1, "A:a1;B:b1": 1, "A:a1;B:b2": 2,
        "A:a1;C:c1": 2, "A:a2;B:b2": 1, "A:a2;C:c1": 1, "A:a2;C:c2": 1, "B:b1;C:c1": 1, "B:b2;C:c1": 2,
        "A:a1;B:b1;C:c1": 1, "A:a1;B:b2;C:c1": 1, "A:a2;B:b2;C:c1": 1,
    }  # fmt: skip


def test_cli_readme_example_counts_and_protected_file(example_92: Path, tmp_path: Path) -> None:
    counts = count_combinations(encode(example_92), reporting_length=3)
    lengths = counts.lengths
    assert counts.n_combinations == 76
    assert [(lengths == k).sum() for k in (1, 2, 3)] == [12, 34, 30]
    assert (counts.counts == 1).sum() == 48
    aggs = protect_k_anonymity(counts, resolution=2)
    assert aggs.n_combinations == 28
    write_aggregates_tsv(aggs, tmp_path / "a.tsv")
    expected = (DATA / "spec_9_2_expected.tsv").read_text()
    assert (tmp_path / "a.tsv").read_text() == expected


@settings(max_examples=80)
@given(
    table=categorical_tables(max_rows=30, max_columns=6),
    reporting_length=st.integers(1, 6),
    dense_cells=st.sampled_from([0, 40, aggregate.DENSE_CELLS_LIMIT]),
)
def test_counts_equal_brute_force(
    table: tuple[pl.DataFrame, dict[str, str]], reporting_length: int, dense_cells: int
) -> None:
    """Dense (ranked) counting, hash-table counting and a mix of both must all equal brute force."""
    frame, multi = table
    data = encode(frame, IngestOptions(multi_value=multi))
    with patch.object(aggregate, "DENSE_CELLS_LIMIT", dense_cells):
        counts = count_combinations(data, reporting_length, RunContext(threads=2))
    R = max(1, min(reporting_length, len(data.attributes.columns)))
    assert counts.as_dict() == brute_force_counts(record_labels(data), R)
    assert counts.n_records == frame.height


def test_counts_on_real_data_slice_equal_brute_force() -> None:
    path = shared_file("nist_ma2019.csv")
    frame = pl.read_csv(path, infer_schema=False, n_rows=400)
    frame = frame.select([c for c in frame.columns if c not in ("PWGTP", "WGTP", "INDP", "PINCP", "POVPIP")])
    data = encode(frame, IngestOptions(missing_values=["N"]))
    counts = count_combinations(data, 3)
    assert counts.as_dict() == brute_force_counts(record_labels(data), 3)


def test_long_combinations_up_to_length_six() -> None:
    rng = np.random.default_rng(1)
    frame = pl.DataFrame({f"c{i}": rng.choice(["a", "b", ""], size=60).tolist() for i in range(8)})
    data = encode(frame)
    counts = count_combinations(data, 6)
    assert counts.as_dict() == brute_force_counts(record_labels(data), 6)


def test_streamed_file_counts_equal_in_memory_counts(tmp_path: Path) -> None:
    from sdsynth.sample_data import generate_ctdc

    frame = generate_ctdc(3000, seed=11)
    path = tmp_path / "s.csv"
    frame.write_csv(path)
    options = IngestOptions(schema=load_schema("ctdc-victim-perpetrator"))
    streamed = stream_encoded(path, options, batch_rows=700)
    in_memory = encode(path, options)
    a = count_combinations(streamed, 3)
    b = count_combinations(in_memory, 3)
    assert a.n_records == b.n_records == 3000
    assert np.array_equal(a.keys, b.keys) and np.array_equal(a.counts, b.counts)


def test_key_layout_round_trip_and_order() -> None:
    layout = KeyLayout.for_attributes(40, 4)
    combos = [[0], [0, 5], [0, 5, 39], [1], [3, 9, 12, 39]]
    keys = np.array([layout.pack(c) for c in combos], dtype=np.uint64)
    assert list(np.argsort(keys)) == list(range(len(combos)))  # lexicographic id order
    unpacked = layout.unpack(keys, 4)
    assert [[x for x in row if x >= 0] for row in unpacked.tolist()] == combos
    assert layout.lengths(keys).tolist() == [1, 2, 3, 1, 4]


def test_too_long_keys_are_refused_with_advice() -> None:
    from sdsynth.engine import ParameterError

    with pytest.raises(ParameterError, match="lower the reporting length"):
        KeyLayout.for_attributes(5000, 6)
