"""k-anonymous protection (docs/method.md, "k-anonymity"): counts rounded down to multiples of the resolution k,
combinations seen fewer than k times removed, and the record count rounded down as well.
"""

from __future__ import annotations

from sdsynth._version import __version__
from sdsynth.count.combinations import (
    CombinationCounts,
    round_down,
)
from sdsynth.errors import PrivacyParameterError
from sdsynth.protect.aggregates import Aggregates

DEFAULT_RESOLUTION = 10


def protect_k_anonymity(counts: CombinationCounts, resolution: int = DEFAULT_RESOLUTION) -> Aggregates:
    """docs/method.md, "k-anonymity": round every count down to a multiple of k and drop the zeros; same for the record
    count."""
    if resolution < 1:
        raise PrivacyParameterError(f"resolution k must be at least 1, got {resolution}")
    rounded = round_down(counts.counts, resolution)
    keep = rounded > 0
    keys = counts.keys[keep]
    kept_counts = rounded[keep]
    lengths = counts.layout.lengths(keys)
    levels = [
        {
            "length": length,
            "released_combinations": int((lengths == length).sum()),
            "resolution": resolution,
        }
        for length in range(1, counts.reporting_length + 1)
    ]
    return Aggregates(
        attributes=counts.attributes,
        layout=counts.layout,
        keys=keys,
        counts=kept_counts,
        reporting_length=counts.reporting_length,
        mode="k-anonymity",
        record_count=int(round_down(counts.n_records, resolution)),
        parameters={
            "mode": "k-anonymity",
            "resolution": resolution,
            "reporting_length": counts.reporting_length,
            "software": f"sdsynth {__version__}",
        },
        levels=levels,
    )
