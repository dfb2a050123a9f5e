"""`--reporting-length auto`: how long the released combinations are, chosen from public quantities only.

Why: synthesis from the aggregates keeps to released combinations (a record holds only combinations of length ≤ R
that were released). When the length-R counts are mostly noise, many combinations real records hold fall under the
thresholds and fabricated ones pass: records are forced into what little was released, and every length pays for a
length that carries no signal. Measured (docs/privacy.md, "Reporting length by rule"): on adult and NIST at
ε ≤ 4 and on 17 k CTDC-like records at ε ≤ 2, R = 2 gives better synthetic data than R = 3 (far better on adult and
NIST); on 17 k CTDC-like records at ε 4 they tie; on 170 k, R = 3 is better from ε 0.5 on.

The rule: length k (3 ≤ k ≤ the maximum) is released when its *signal*, the count a typical length-k combination
would have in units of the noise on it, is at least MIN_SIGNAL, and so is every shorter length's:

    signal_k = (N̂ / median over k-subsets of columns of Π m_c) / (σ_k · √C(n, k))

N̂ is the released (noisy) record count, m_c the number of values of column c that the schema declares (bins of a
numeric column, 1 for a flag, the parts of a multi-value column; UNKNOWN_DOMAIN when the schema does not say), n
the number of columns, σ_k the noise scale of length k in the budget split for R = k, and C(n, k) stands for the
contribution bound Δ_k of records holding one value per column. Lengths 1 and 2 are always released. Nothing here
reads a record: ε, δ, the split's options, the schema and N̂ are public, so the choice is post-processing of the
record count's DP release and costs no budget.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from sdsynth.protect.dp.budget import budget_of
from sdsynth.protect.dp.params import DpParameters

MIN_SIGNAL = 40.0  # between the measured sides: 26 (R = 2 better), 50 (a tie), 66 (R = 3 better); docs/privacy.md
UNKNOWN_DOMAIN = 10  # values assumed for a column whose schema lists none (declare them for the real figure)
MAX_SUBSETS = 200_000  # column subsets past which the median is taken over a fixed pseudo-random sample of them
ALWAYS_RELEASED = 2  # lengths 1 and 2: the sampling laws' model needs them


@dataclass(frozen=True)
class LengthChoice:
    """The reporting length chosen and why: the signal of each length considered beyond ALWAYS_RELEASED."""

    length: int
    signals: dict[int, float]
    assumed_columns: int  # columns whose number of values the schema does not give (UNKNOWN_DOMAIN assumed)

    def describe(self) -> dict[str, object]:
        return {
            "reporting_length_rule": f"auto: length k > {ALWAYS_RELEASED} released when its signal is at least "
            f"{MIN_SIGNAL:g}",
            "reporting_length_signals": {str(k): round(v, 3) for k, v in self.signals.items()},
            "reporting_length_assumed_domains": self.assumed_columns,
        }


def at_length(params: DpParameters, length: int) -> DpParameters:
    """`params` with reporting length `length` (custom σ proportions and thresholds cut to the lengths kept)."""
    mode, fabrication = params.accuracy_mode, params.fabrication_mode
    if mode.proportions is not None:
        mode = replace(mode, proportions=mode.proportions[:length])
    if fabrication.values is not None:
        fabrication = replace(fabrication, values={k: v for k, v in fabrication.values.items() if k <= length})
    return replace(params, reporting_length=length, accuracy_mode=mode, fabrication_mode=fabrication)


def typical_cells(domain_sizes: Sequence[int], length: int) -> float:
    """The median number of value combinations over the `length`-subsets of the columns (sampled, with a fixed
    generator, when there are more than MAX_SUBSETS)."""
    sizes = np.asarray(domain_sizes, dtype=np.float64)
    n = len(sizes)
    if math.comb(n, length) <= MAX_SUBSETS:
        subsets = np.array(list(itertools.combinations(range(n), length)), dtype=np.int64)
    else:
        generator = np.random.default_rng(0)  # public inputs only: a fixed sample is reproducible and harmless
        subsets = np.array([generator.choice(n, length, replace=False) for _ in range(MAX_SUBSETS)])
    return float(np.median(np.prod(sizes[subsets], axis=1)))


def length_signal(params: DpParameters, domain_sizes: Sequence[int], record_count: int, length: int) -> float:
    """signal_k of the module docstring, for k = `length`."""
    n = len(domain_sizes)
    if n < length or record_count <= 0:
        return 0.0
    noise = budget_of(at_length(params, length)).sigmas[length - 1] * math.sqrt(math.comb(n, length))
    return record_count / typical_cells(domain_sizes, length) / noise


def _assumed_sizes(domain_sizes: Sequence[int | None]) -> list[int]:
    """The declared numbers of values, UNKNOWN_DOMAIN where the schema gives none."""
    return [UNKNOWN_DOMAIN if m is None else max(int(m), 1) for m in domain_sizes]


def choose_length(params: DpParameters, domain_sizes: Sequence[int | None], record_count: int) -> LengthChoice:
    """The longest length ≤ params.reporting_length whose signal and every shorter one's reach MIN_SIGNAL (at
    least min(2, the maximum))."""
    sizes = _assumed_sizes(domain_sizes)
    assumed = sum(1 for m in domain_sizes if m is None)
    chosen = min(ALWAYS_RELEASED, params.reporting_length)
    signals: dict[int, float] = {}
    for k in range(ALWAYS_RELEASED + 1, params.reporting_length + 1):
        signals[k] = length_signal(params, sizes, record_count, k)
        if signals[k] < MIN_SIGNAL:
            break
        chosen = k
    return LengthChoice(chosen, signals, assumed)


def records_needed(params: DpParameters, domain_sizes: Sequence[int | None], length: int) -> int | None:
    """The least released record count at which `length` would be released (for --dry-run), None if no count
    would (fewer columns than `length`). The signal grows in proportion to the count."""
    per_record = length_signal(params, _assumed_sizes(domain_sizes), 1, length)
    return math.ceil(MIN_SIGNAL / per_record) if per_record > 0 else None
