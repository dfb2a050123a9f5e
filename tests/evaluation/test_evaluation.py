"""Evaluation (spec §5, §9.4, §9.5) and the cross-tool scores, against exact vectors and brute-force oracles."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdsynth.encode.tables import encode
from sdsynth.engine import IngestOptions, count_combinations, protect_k_anonymity
from sdsynth.evaluation.evaluate import evaluate_private, evaluate_public, summary_rows, write_evaluation
from sdsynth.evaluation.marginals import marginal_tvd, mean_tvd_by_order
from sdsynth.evaluation.metrics import compare_combinations, preservation_bins
from sdsynth.evaluation.profile import SourceColumns, record_hashes
from sdsynth.evaluation.scores import cross_tool_scores, frame_profiles, k_marginal, numeric_bins, unique_exact_matches

SYNTHETIC_9_4 = "A,B,C\na1,b2,c1\na1,b2,c1\na2,b2,c1\na1,,c1\na2,,\na1,b2,\n"


@pytest.fixture
def synthetic_94(tmp_path: Path) -> Path:
    path = tmp_path / "synthetic.csv"
    path.write_text(SYNTHETIC_9_4)
    return path


def test_spec_9_4_metrics(example_91: Path, synthetic_94: Path) -> None:
    ev = evaluate_private(example_91, synthetic_94, IngestOptions(), reporting_length=2, resolution=2)
    s = ev.summary
    assert s["suppressed_combinations"] == 5 and s["suppressed_pct"] == 35.714285714285715
    assert s["fabricated_combinations"] == 0 and s["fabricated_pct"] == 0.0
    assert s["mean_absolute_error"] == 0.6666666666666666
    assert s["record_expansion_pct"] == 19.999999999999996
    assert s["leaked_combinations"] == 2
    by_length = {r["length"]: r for r in ev.sds.by_length.iter_rows(named=True)}
    assert by_length[1]["mean_absolute_error"] == 0.75 and by_length[2]["mean_absolute_error"] == 0.6
    assert by_length[1]["leaks"] == 0 and by_length[2]["leaks"] == 2 and by_length[2]["leak_pct"] == 25.0
    assert (by_length[1]["preservation_size"], by_length[1]["mean_count"]) == (4, 3.5)
    assert (by_length[2]["preservation_size"], by_length[2]["mean_count"]) == (5, 2.2)
    assert by_length[1]["count_preservation"] == by_length[2]["count_preservation"] == 1.0
    assert by_length[1]["mean_proportional_error"] == 0.25 and by_length[2]["mean_proportional_error"] == 0.3
    (bucket,) = ev.sds.by_bucket.iter_rows(named=True)
    assert bucket["bucket"] == 10 and bucket["size"] == 9
    assert bucket["mean_count"] == 2.7777777777777777 and bucket["mean_length"] == 1.5555555555555556
    assert bucket["count_preservation"] == 1.0 and bucket["mean_proportional_error"] == 0.2777777777777778
    assert s["mean_proportional_error"] == 0.2777777777777778
    leaks = ev.sds.detail.filter(pl.col("rare_leak")).get_column("combination").sort().to_list()
    assert leaks == ["A:a2;B:b2", "A:a2;C:c1"]


@pytest.mark.parametrize(
    ("max_count", "bins"),
    [(0, [10]), (10, [10]), (11, [10, 20]), (35, [10, 20, 40]), (160, [10, 20, 40, 80, 160])],
)
def test_spec_9_5_preservation_bins(max_count: int, bins: list[int]) -> None:
    assert preservation_bins(max_count) == bins


def test_spec_9_5_bucket_of_a_count(example_91: Path) -> None:
    """syn = 0 and 10 go to bin 10, 11 to 20, 40 to 40, 41 to 80: checked through the detail table."""
    counts = count_combinations(encode(example_91), 1)
    for syn, bucket in [(10, 10), (11, 20), (40, 40), (41, 80), (0, 10)]:
        target = count_combinations(encode(pl.DataFrame({"A": ["a1"] * syn + ["zz"] * 80})), 1)
        detail = compare_combinations(counts, target, 1, 5, 80 + syn).detail
        assert detail.filter(pl.col("combination") == "A:a1").get_column("count_bucket").item() == bucket


def _oracle_compare(sen: dict[str, int], syn: dict[str, int], res: int) -> dict[str, float]:
    """A direct transcription of spec §5.2 over dictionaries."""
    common = [c for c in sen if c in syn]
    preservation_set = {c for c in sen if sen[c] >= res} | set(syn)
    bins = preservation_bins(max(syn.values(), default=0))
    bucket_pe: dict[int, list[float]] = {b: [] for b in bins}
    for c in preservation_set:
        s, t = sen.get(c, 0), syn.get(c, 0)
        b = next(b for b in bins if b >= t)
        bucket_pe[b].append(abs(t - s) / s if s > 0 else 1.0)
    return {
        "suppressed_combinations": sum(1 for c in sen if c not in syn),
        "fabricated_combinations": sum(1 for c in syn if c not in sen),
        "mean_absolute_error": sum(abs(sen[c] - syn[c]) for c in common) / len(common) if common else 0.0,
        "leaked_combinations": sum(1 for c in common if sen[c] < res and syn[c] < res),
        "mean_proportional_error": sum(sum(v) / len(v) if v else 0.0 for v in bucket_pe.values()) / len(bins),
    }


rows_strategy = st.lists(
    st.tuples(st.sampled_from(["", "x", "y"]), st.sampled_from(["", "p", "q", "r"]), st.sampled_from(["", "1"])),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40)
@given(rows_strategy, rows_strategy, st.integers(1, 4))
def test_compare_matches_spec_oracle(sensitive: list, synthetic: list, res: int) -> None:
    def frame(rows: list) -> pl.DataFrame:
        return pl.DataFrame(rows, schema=["A", "B", "C"], orient="row")

    def as_dict(rows: list) -> dict[str, int]:
        out: Counter[str] = Counter()
        for row in rows:
            present = [f"{c}:{v}" for c, v in zip("ABC", row, strict=True) if v]
            for k in (1, 2, 3):
                for combo in itertools.combinations(present, k):
                    out[";".join(combo)] += 1
        return dict(out)

    a = count_combinations(encode(frame(sensitive)), 3)
    b = count_combinations(encode(frame(synthetic)), 3)
    got = compare_combinations(a, b, res, len(sensitive), len(synthetic)).metrics
    for key, value in _oracle_compare(as_dict(sensitive), as_dict(synthetic), res).items():
        assert got[key] == pytest.approx(value), key


def _tables(seed: int, n: int, m: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)

    def draw(size: int, shift: float) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "zeta": rng.choice(["a", "b", "", "c;d"], size=size, p=[0.4 - shift, 0.3, 0.2, 0.1 + shift]),
                "alpha": rng.choice(["u", "v"], size=size),
                "age": [str(v) for v in rng.integers(0, 90, size=size)],
                "mid": rng.choice(["1", "2", "3"], size=size, p=[0.5, 0.3 + shift, 0.2 - shift]),
            }
        )

    return draw(n, 0.0), draw(m, 0.1)


def _oracle_k_marginal(real: pl.DataFrame, syn: pl.DataFrame) -> float:
    """SDNist's rule by hand: numeric columns (range > 20) in 20 percentile-rank bins of the real data; every
    pair of features; L1 of the pair densities; (2 − mean L1) × 500."""
    real, syn = real.clone(), syn.clone()
    for col in real.columns:
        values = real.get_column(col)
        try:
            numbers = values.cast(pl.Float64)
        except pl.exceptions.InvalidOperationError:
            continue
        if float(numbers.max()) - float(numbers.min()) <= 20:  # type: ignore[arg-type]
            continue
        pct = numbers.rank("average").to_numpy() / len(numbers)
        bins = np.minimum(np.floor(20 * pct), 19).astype(int)
        tops = {b: float(numbers.to_numpy()[bins == b].max()) for b in np.unique(bins)}
        order = sorted(tops)

        def to_bin(v: float, tops: dict = tops, order: list = order) -> int:
            return next((b for b in order if tops[b] >= v), order[-1])

        real = real.with_columns(pl.Series(col, [str(b) for b in bins]))
        syn = syn.with_columns(pl.Series(col, [str(to_bin(float(v))) for v in syn.get_column(col).to_list()]))
    features = sorted(real.columns)
    l1s = []
    for a, b in itertools.combinations(features, 2):
        p = Counter(zip(real.get_column(a).to_list(), real.get_column(b).to_list(), strict=True))
        q = Counter(zip(syn.get_column(a).to_list(), syn.get_column(b).to_list(), strict=True))
        l1s.append(sum(abs(p[c] / real.height - q[c] / syn.height) for c in set(p) | set(q)))
    return (2 - sum(l1s) / len(l1s)) * 500


@pytest.mark.parametrize(("seed", "n", "m"), [(0, 200, 150), (1, 57, 300), (2, 500, 500)])
def test_k_marginal_matches_oracle(seed: int, n: int, m: int) -> None:
    real, syn = _tables(seed, n, m)
    real_p, _, columns = frame_profiles(real, syn, subsample=False)
    assert real_p.binned_sizes[columns.index("age")] == 21  # 20 bins + empty
    score, pairs = k_marginal(real, syn)
    assert pairs.height == 6
    assert pairs.get_column("feature_a").to_list()[0] == "age"  # features sorted by name
    assert score == pytest.approx(_oracle_k_marginal(real, syn), abs=1e-9)


def test_numeric_bins_follow_sdnist() -> None:
    labels = ["", "5", "10", "30", "7", "x"]
    counts = np.array([3, 2, 2, 4, 0, 0])
    bins = numeric_bins(labels, counts)
    assert bins is not None
    # real values 5 ×2, 10 ×2, 30 ×4: average ranks 1.5, 3.5, 6.5 of 8 → ⌊20·pct⌋ = 3, 8, 16
    assert bins.tolist() == [0, 4, 9, 17, 9, 0]  # unseen 7 goes to the first bin whose top (10) is ≥ 7
    assert numeric_bins(["", "1", "15"], np.array([0, 1, 1])) is None  # span ≤ 20
    assert numeric_bins(["", "1", "a"], np.array([0, 1, 1])) is None  # not all numbers


def test_k_marginal_extremes() -> None:
    real, _ = _tables(3, 300, 1)
    assert k_marginal(real, real)[0] == 1000.0
    other = pl.DataFrame({c: ["never seen"] * 10 for c in real.columns})
    assert k_marginal(real.drop("age"), other.drop("age"))[0] == pytest.approx(0.0)


def test_k_marginal_samples_200_pairs_from_30_features() -> None:
    rng = np.random.default_rng(5)
    real = pl.DataFrame({f"c{i:02d}": rng.choice(["a", "b"], size=50) for i in range(30)})
    _, pairs = k_marginal(real, real)
    assert pairs.height == 200 and pairs.unique().height == 200
    assert pairs.equals(k_marginal(real, real)[1])  # default_rng(0): the same pairs every time
    assert k_marginal(real.drop("c29"), real.drop("c29"))[1].height == 29 * 28 // 2


def test_subsample_baseline_orders_scores() -> None:
    real, _ = _tables(4, 4000, 1)
    scores = cross_tool_scores(real, real.sample(2000, seed=1))
    sub = scores.subsample.get_column("k_marginal").to_list()
    assert sub[0] < sub[-1]  # a 1 % sample is rougher than a 90 % one
    assert scores.scores["subsample_equivalent_pct"] >= 30  # a 50 % sample scores like a large sample
    assert 0 <= scores.scores["propensity_mse"] < 0.01  # the tree cannot tell a subsample from the whole


def test_propensity_mse_detects_a_shift() -> None:
    real, shifted = _tables(6, 2000, 2000)
    same = cross_tool_scores(real, real).scores["propensity_mse"]
    moved = cross_tool_scores(real, shifted).scores["propensity_mse"]
    assert same == pytest.approx(0.0, abs=1e-12) and moved > 0.001


def test_unique_exact_matches() -> None:
    real = pl.DataFrame({"a": ["x", "x", "y", "z", "w"], "b": ["1", "1", "2", "3", "4"]})
    syn = pl.DataFrame({"a": ["y", "w", "x", "q"], "b": ["2", "5", "1", "1"]})
    scores = cross_tool_scores(real, syn).scores
    # unique real records: (y,2), (z,3), (w,4); only (y,2) appears in the synthetic table
    assert scores["unique_exact_unique_real_records"] == 3 and scores["unique_exact_unique_real_records_pct"] == 60.0
    assert scores["unique_exact_matched"] == 1 and scores["unique_exact_matched_pct"] == pytest.approx(100 / 3)
    hashes = record_hashes(np.array([[1, 2, 1], [3, 4, 3]], dtype=np.int32))  # records (1,3), (2,4), (1,3)
    assert hashes[0] == hashes[2] != hashes[1]
    assert unique_exact_matches(hashes, hashes[:1])["matched"] == 0  # (1,3) is not unique in the real table
    assert unique_exact_matches(hashes, hashes[1:2])["matched"] == 1


def test_source_columns_code_records_as_users_see_them() -> None:
    frame = pl.DataFrame({"g": ["m", "", "f"], "p": ["x;y", "y", ""]})
    data = encode(frame, IngestOptions(multi_value={"p": ";"}))
    columns = SourceColumns.from_attributes(data.attributes)
    codes = columns.codes(data.offsets, data.ids)
    labels = [[columns.labels[s][codes[s, r]] for s in range(2)] for r in range(3)]
    assert columns.names == ["g", "p"] and sorted(columns.labels[1]) == ["", "x", "x;y", "y"]
    assert labels == [["m", "x;y"], ["", "y"], ["f", ""]]


def test_marginal_tvd_oracle_and_canonical_multi_value() -> None:
    real = pl.DataFrame({"a": ["x", "x", "y", None], "m": ["p;q", "q; p", "", "q"]})
    syn = pl.DataFrame({"a": ["x", "y", "y", "y"], "m": ["q;p", "p;q", "q", "q"]})
    detail = marginal_tvd(real, syn, orders=(1, 2), multi_value={"m": ";"})
    tvd = {r["columns"]: r["tvd"] for r in detail.iter_rows(named=True)}
    # a: real {x: .5, y: .25, "": .25}, syn {x: .25, y: .75} → ½(.25 + .5 + .25) = .5
    assert tvd["a"] == pytest.approx(0.5)
    # m canonical: real {"p;q": .5, "": .25, q: .25}, syn {"p;q": .5, q: .5} → ½(.25 + .25) = .25
    assert tvd["m"] == pytest.approx(0.25)
    # pairs: real {(x,p;q): .5, (y,""): .25, ("",q): .25}; syn {(x,p;q): .25, (y,p;q): .25, (y,q): .5}
    assert tvd["a × m"] == pytest.approx(0.5 * (0.25 + 0.25 + 0.25 + 0.25 + 0.5))
    assert mean_tvd_by_order(detail) == {1: pytest.approx(0.375), 2: pytest.approx(0.75)}


def test_evaluation_outputs_recompute_headlines(tmp_path: Path) -> None:
    """Every headline number can be recomputed from the exported detail tables."""
    real, syn = _tables(7, 600, 500)
    ev = evaluate_private(real, syn, IngestOptions(multi_value={"zeta": ";"}), reporting_length=3, resolution=5)
    written = write_evaluation(ev, tmp_path)
    summary = json.loads((tmp_path / "evaluation.json").read_text())["summary"]
    assert {p.name for p in written} >= {"evaluation.json", "combinations.parquet", "k_marginal_pairs.parquet"}
    details = tmp_path / "evaluation_details"
    combos = pl.read_parquet(details / "combinations.parquet")
    assert summary["suppressed_combinations"] == combos.get_column("suppressed").sum()
    assert summary["fabricated_combinations"] == combos.get_column("fabricated").sum()
    common = combos.filter((pl.col("original_count") > 0) & (pl.col("target_count") > 0))
    mae = (common.get_column("original_count") - common.get_column("target_count")).abs().mean()
    assert summary["mean_absolute_error"] == pytest.approx(mae)
    pairs = pl.read_parquet(details / "k_marginal_pairs.parquet")
    assert summary["k_marginal"] == pytest.approx((2 - pairs.get_column("l1").mean()) * 500)  # type: ignore[operator]
    tvd = pl.read_parquet(details / "marginals_tvd.parquet")
    assert summary["mean_tvd_2"] == pytest.approx(tvd.filter(pl.col("order") == 2).get_column("tvd").mean())
    buckets = pl.read_parquet(details / "by_count_bucket.parquet")
    assert summary["mean_proportional_error"] == pytest.approx(buckets.get_column("mean_proportional_error").mean())


def test_public_evaluation_uses_only_the_aggregates(example_92: Path) -> None:
    """Against the released (k-anonymous) aggregates: no leak notion, and identical data scores perfectly."""
    data = encode(example_92)
    aggs = protect_k_anonymity(count_combinations(data, 3), 2)
    ev = evaluate_public(aggs, data)
    assert not ev.private and "leaked_combinations" not in ev.summary
    assert "rare_leak" not in ev.sds.detail.columns
    # the sensitive data re-aggregated differs from the rounded-down release only by less than k per combination
    common = ev.sds.detail.filter((pl.col("original_count") > 0) & (pl.col("target_count") > 0))
    assert ((common.get_column("target_count") - common.get_column("original_count")).abs() < 2).all()
    rows = dict(summary_rows(ev).iter_rows())
    assert rows["released_records"] == aggs.record_count


def test_evaluation_of_identical_tables(example_92: Path) -> None:
    ev = evaluate_private(example_92, example_92, IngestOptions(), reporting_length=3, resolution=2)
    s = ev.summary
    assert s["k_marginal"] == 1000.0 and s["mean_tvd_1"] == s["mean_tvd_2"] == 0.0
    assert s["suppressed_combinations"] == s["fabricated_combinations"] == 0 and s["mean_absolute_error"] == 0
    assert s["unique_exact_unique_real_records"] > 0 and s["unique_exact_matched_pct"] == 100.0
    assert not [w for w in ev.warnings if "k-marginal" in w]


def test_a_row_hint_counts_large_sets_sparsely_with_the_same_distances() -> None:
    """With few rows, sets of many more cells than rows are counted as occupied cells; every distance (with and
    without layers) is the one of the all-dense count."""
    import sdsynth.kernels.marginal_counts as mc

    rng = np.random.default_rng(5)
    sizes, combos = [30, 40, 200, 3], [(0, 1, 2), (0, 1, 3), (1, 2, 3), (0, 3, 1)]
    real_codes = np.stack([rng.integers(0, s, 700) for s in sizes]).astype(np.int32)
    syn_codes = np.stack([rng.integers(0, s, 650) for s in sizes]).astype(np.int32)
    layer = rng.integers(0, 3, 700)
    dense = mc.MarginalHistograms(sizes, combos, 3).add(real_codes, layer), mc.histograms(syn_codes, sizes, combos)
    hinted = (mc.MarginalHistograms(sizes, combos, 3, rows_hint=700).add(real_codes, layer),
              mc.MarginalHistograms(sizes, combos, rows_hint=700).add(syn_codes))  # fmt: skip
    assert len(dense[0].sparse_idx) == 0
    assert hinted[0].sparse_idx.tolist() == hinted[1].sparse_idx.tolist() == [0, 2]  # 240,000 and 24,000 cells
    assert hinted[0].l1(hinted[1]) == pytest.approx(dense[0].l1(dense[1]), rel=1e-12)
    assert hinted[0].l1(hinted[1], upto=1) == pytest.approx(dense[0].l1(dense[1], upto=1), rel=1e-12)
    assert hinted[1].l1(hinted[0], other_upto=0) == pytest.approx(dense[1].l1(dense[0], other_upto=0), rel=1e-12)


def test_l1_between_histograms_counted_densely_on_one_side_and_sparsely_on_the_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The dense budget depends on the number of layers: a subsampled real table (several layers) may count a pair
    sparsely that the synthetic table (one layer) counts densely; the distances must not care."""
    import sdsynth.kernels.marginal_counts as mc

    rng = np.random.default_rng(4)
    sizes, combos = [30, 40, 50], [(0, 1), (0, 2), (1, 2)]
    real_codes = np.stack([rng.integers(0, s, 3000) for s in sizes]).astype(np.int32)
    syn_codes = np.stack([rng.integers(0, s, 2000) for s in sizes]).astype(np.int32)
    layer = rng.integers(0, 3, 3000)
    dense_real = mc.MarginalHistograms(sizes, combos, 3).add(real_codes, layer)
    dense_syn = mc.histograms(syn_codes, sizes, combos)
    expected, expected_first_layer = dense_real.l1(dense_syn), dense_real.l1(dense_syn, upto=0)
    monkeypatch.setattr(mc, "DENSE_CELLS_TOTAL", 2500)  # room for one or two dense pairs, depending on the layers
    real = mc.MarginalHistograms(sizes, combos, 3).add(real_codes, layer)
    syn = mc.histograms(syn_codes, sizes, combos)
    assert not np.array_equal(real.dense_idx, syn.dense_idx)
    assert real.l1(syn) == pytest.approx(expected)
    assert syn.l1(real) == pytest.approx(expected)
    assert real.l1(syn, upto=0) == pytest.approx(expected_first_layer)


def test_the_report_states_the_noise_of_the_record_count_when_the_release_gives_it() -> None:
    from sdsynth.evaluation.report import privacy_in_words

    dp = {"mode": "dp", "epsilon": 1.0, "delta": 1e-6}
    assert "noisy too (standard deviation 77.5)" in privacy_in_words({**dp, "variance_record_count": 6001.8})
    assert "noisy too. Smaller ε" in privacy_in_words(dp)  # a release made before the count's noise was recorded
