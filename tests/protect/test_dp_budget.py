"""Spec §3.2, §3.5, §3.8: the budget split, thresholds and presets, to the printed precision."""

from __future__ import annotations

import math

import pytest

from sdsynth.engine import PrivacyParameterError
from sdsynth.protect.dp.budget import (
    DiscreteGaussian,
    adaptive_threshold,
    consistency_tolerance,
    continuous_rho1,
    discrete_rho1,
    split_budget,
)
from sdsynth.protect.dp.conversion import zcdp_rho
from sdsynth.protect.dp.params import AccuracyMode, DpParameters, FabricationMode


def test_example_a() -> None:
    b = split_budget(1.0, 3, 0.1, (1.0, 1.0, 1.0), 0.001, 0.0, conversion="reference")
    assert b.rho == pytest.approx(0.030890206673495464, rel=1e-15)
    assert b.epsilon_percentile == pytest.approx(0.04538002987621719, rel=1e-15)
    assert b.sigmas == pytest.approx((7.3453749202581955,) * 3, rel=1e-15)
    assert [round(continuous_rho1(b.sigmas[0], d, 0.001), 5) for d in (1, 3, 4, 10)] == [
        25.17015, 46.64692, 54.80064, 91.36985,
    ]  # fmt: skip


def test_example_b_and_c() -> None:
    delta = 1.0 / (math.log(6000) * 6000)  # the reference's inferred δ for 6000 records (its test vector)
    assert delta == pytest.approx(1.9158156689251674e-05, rel=1e-15)
    # the reference spends ε_N = 0.02 on its record count apart and splits ε_M = 3.98 (sdsynth: a share of ρ, below)
    long = AccuracyMode.prioritize_long_combinations()
    b = split_budget(3.98, 3, 0.01, long.sigma_proportions(3), delta, 0.0, conversion="reference")
    assert b.rho == pytest.approx(0.29394072831547985, rel=1e-14)
    assert b.epsilon_percentile == pytest.approx(0.04426742431446099, rel=1e-14)
    assert b.sigmas == pytest.approx((4.904576803113995, 2.4522884015569977, 1.6348589343713318), rel=1e-14)
    assert round(continuous_rho1(b.sigmas[0], 10, delta), 5) == 74.85853
    assert [round(adaptive_threshold(b.sigmas[1], 45, eta), 6) for eta in (1, 0.55, 0.1, 0.01)] == [
        0.0, 9.833423, 27.058583, 42.373553,
    ]  # fmt: skip
    c = split_budget(3.98, 4, 0.01, long.sigma_proportions(4), delta, 0.0, conversion="reference")
    assert c.rho == pytest.approx(b.rho, rel=1e-15)
    assert c.epsilon_percentile == pytest.approx(0.03833671401642816, rel=1e-14)
    assert c.sigmas == pytest.approx((7.179565289910948, 3.589782644955474, 2.3931884299703157, 1.794891322477737))


def test_the_record_count_takes_its_share_of_rho() -> None:
    """ρ comes from the whole ε; the record count gets N_p·ρ (noise variance 1/(2ρ_N)), the percentiles Q_p·ρ and
    the lengths the rest, so the parts add up to ρ."""
    delta, proportions = 1e-6, AccuracyMode.prioritize_long_combinations().sigma_proportions(2)
    whole = split_budget(0.5, 2, 0.01, proportions, delta, 0.0)
    b = split_budget(0.5, 2, 0.01, proportions, delta, 0.005)
    assert b.rho == whole.rho == zcdp_rho(0.5, delta / 2)  # the zCDP part of the guarantee: (ε, δ/2)
    assert b.rho_records == pytest.approx(0.005 * b.rho, rel=1e-15)
    assert math.sqrt(b.records_variance) == pytest.approx(126.74, abs=0.01)  # the reference's Laplace: 565.7
    assert b.epsilon_percentile == whole.epsilon_percentile
    assert b.sigmas == pytest.approx(tuple(s / math.sqrt(1 - 0.005 / 0.99) for s in whole.sigmas), rel=1e-12)
    spent = b.rho_records + 2 * b.epsilon_percentile**2 / 2 + sum(1 / (2 * s * s) for s in b.sigmas)
    assert spent == pytest.approx(b.rho, rel=1e-12)
    with pytest.raises(PrivacyParameterError, match="leave no budget"):
        split_budget(0.5, 2, 0.5, proportions, delta, 0.5)


def test_tolerance_and_presets() -> None:
    assert consistency_tolerance(0.001) == 1e-8
    R4 = {
        "uncontrolled": {2: 1, 3: 1, 4: 1}, "progressive": {2: 0.1, 3: 0.55, 4: 1.0},
        "balanced": {2: 0.55, 3: 1, 4: 1}, "minimize": {2: 0.01, 3: 0.01, 4: 0.01},
    }  # fmt: skip
    for name, expected in R4.items():
        got = getattr(FabricationMode, name)().threshold(4).values_by_length
        assert got == pytest.approx(expected)
    assert FabricationMode.progressive().threshold(3).values_by_length == pytest.approx({2: 0.1, 3: 1.0})
    assert FabricationMode.progressive().threshold(5).values_by_length == pytest.approx(
        {2: 0.1, 3: 0.4, 4: 0.7, 5: 1.0}
    )
    assert FabricationMode.progressive().threshold(1).values_by_length == {}
    assert AccuracyMode.prioritize_short_combinations().sigma_proportions(4) == pytest.approx((0.25, 1 / 3, 0.5, 1.0))
    assert AccuracyMode.balanced().sigma_proportions(2) == (1.0, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epsilon": 0}, "`epsilon` must be > 0"),
        ({"reporting_length": 0}, "`reporting_length` of at least 1"),
        ({"delta": 1.0}, "`delta` must be between 0 and 1"),
        ({"percentile_percentage": 101}, "between 0 and 100"),
        ({"percentile_epsilon_proportion": 1.0}, "percentile_epsilon_proportion"),
        ({"number_of_records_epsilon_proportion": 0.0}, "`record_count_epsilon_proportion`"),
        ({"accuracy_mode": AccuracyMode.custom([1, 2])}, "should match the reporting length"),
        ({"accuracy_mode": AccuracyMode.custom([1, 0, 1])}, "must all be > 0"),
        ({"fabrication_mode": FabricationMode.custom_fixed({1: 3})}, "between 2 and the reporting length"),
        ({"fabrication_mode": FabricationMode.custom_adaptive({2: 1.5})}, r"in \(0, 1\]"),
        ({"fabrication_mode": FabricationMode.custom_fixed({2: -1})}, ">= 0"),
    ],
)
def test_invalid_parameters_get_one_clear_error(kwargs: dict, message: str) -> None:
    with pytest.raises(PrivacyParameterError, match=message):
        DpParameters(**kwargs)


def test_pac_synth_defaults() -> None:
    p = DpParameters()
    assert (p.epsilon, p.reporting_length, p.delta, p.percentile_percentage) == (4.0, 3, None, 99)
    assert (p.percentile_epsilon_proportion, p.number_of_records_epsilon_proportion) == (0.01, 0.005)
    assert p.sigma_proportions == pytest.approx((1, 0.5, 1 / 3))
    assert p.threshold.to_json() == {"type": "Adaptive", "valuesByLen": {"2": 1.0, "3": 1.0}}


def test_discrete_threshold_hides_a_record_with_probability_one_minus_half_delta() -> None:
    noise = DiscreteGaussian.with_variance(7.3453749202581955**2 * 4)
    assert noise.variance >= 7.3453749202581955**2 * 4  # rounded up, never down
    rho1 = discrete_rho1(noise, 4, 0.001)
    T = rho1 - 1
    hidden = (1 - noise.tail(T + 1)) ** 4
    assert hidden >= 1 - 0.0005
    assert (1 - noise.tail(T)) ** 4 < 1 - 0.0005  # and it is the smallest such threshold
    assert abs(rho1 - continuous_rho1(7.3453749202581955, 4, 0.001)) < 2
    assert math.isclose(noise.tail(0) + noise.tail(1) - 1, noise.tail(0) - (1 - noise.tail(1)))
