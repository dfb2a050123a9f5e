"""The CTDC-like generator: deterministic, realistic shape, valid against the CTDC schema."""

from __future__ import annotations

import polars as pl

from sdsynth.encode.tables import encode
from sdsynth.engine import IngestOptions, count_combinations, load_schema, sensitive_statistics
from sdsynth.read.validate import validate_table
from sdsynth.sample_data import CTDC_COLUMNS, generate_ctdc


def test_same_seed_same_data_other_seed_other_data() -> None:
    assert generate_ctdc(2000, seed=5).equals(generate_ctdc(2000, seed=5))
    assert not generate_ctdc(2000, seed=5).equals(generate_ctdc(2000, seed=6))


def test_matches_the_ctdc_schema_and_has_realistic_missingness() -> None:
    frame = generate_ctdc(20_000, seed=1)
    assert frame.columns == CTDC_COLUMNS
    schema = load_schema("ctdc-victim-perpetrator")
    assert list(validate_table(frame, IngestOptions(schema=schema))) == []
    missing = {c: (frame[c] == "").mean() for c in frame.columns}
    for col in ("yearRegister", "gender", "majorityStatus", "UN_COO_Region", "UN_COE_Region", "IP_Gender"):
        assert 0.05 <= missing[col] <= 0.40, (col, missing[col])
    # multi-value cells, with and without a space after ";"
    assert frame["IP_Gender"].str.contains(";").any()
    assert frame["IP_Gender"].str.contains("; ").any()
    assert frame["IP_Gender"].str.contains(";[^ ]").any()
    assert (frame["yearRegister"] == "2024").any()


def test_columns_are_correlated_and_rare_combinations_exist() -> None:
    frame = generate_ctdc(17_000, seed=2)
    both = frame.filter(pl.col("gender") != "", pl.col("isSexualExploit") != "")
    female_sexual = (both["gender"] == "Female").mean()
    female = (frame.filter(pl.col("gender") != "")["gender"] == "Female").mean()
    assert female_sexual > female + 0.1
    data = encode(frame, IngestOptions(schema=load_schema("ctdc-victim-perpetrator")))
    counts = count_combinations(data, 3)
    stats = sensitive_statistics(data, counts, resolution=10)
    assert stats.pct_rare > 1.0 and stats.records_with_unique > 0
    assert 8 <= data.record_lengths().mean() <= 13


def test_large_outputs_are_written_in_chunks(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import polars as pl

    from sdsynth import sample_data

    monkeypatch.setattr(sample_data, "CHUNK_ROWS", 400)
    for name in ("big.parquet", "big.csv"):
        sample_data.write_ctdc(tmp_path / name, 1000, seed=5)
    parquet = pl.read_parquet(tmp_path / "big.parquet").fill_null("")
    csv = pl.read_csv(tmp_path / "big.csv", infer_schema=False).fill_null("")
    assert parquet.height == csv.height == 1000 and parquet.equals(csv)
    assert parquet.head(400).equals(
        sample_data.generate_ctdc(400, int(__import__("numpy").random.SeedSequence([5, 0]).generate_state(1)[0]))
    )
