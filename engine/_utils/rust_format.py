"""Number formatting that matches files written by the reference's Rust core (spec conventions)."""

from __future__ import annotations

import numpy as np


def rust_float(x: float) -> str:
    """Rust `Display` for f64: shortest round-trip digits, no exponent, integral values without `.0`."""
    if x != x:  # NaN
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    return np.format_float_positional(float(x), trim="-", unique=True)
