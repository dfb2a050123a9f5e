"""Step 5 of the calibrated law: weights that bring a draw's single-column shares to the released ones, and the
weighted draw of each output batch from a larger pool of candidates.

The network's draws drift from the released shares (empty included) where noise, clamping and blocking bite.
Weights f_c[category] per column are fitted by iterative proportional fitting on a pilot draw (capped to
[1 / factor_cap, factor_cap]); each output batch is then drawn without replacement, with probability ∝ Π_c f_c, from
a pool of pool_factor × as many candidates: where blocking leaves many cells empty, only a large pool lets the
capped weights reach the released shares. The pool holds at most pool_candidates in all (down to min_pool_factor per
record): for outputs of a million records or more drawing dominates the cost, and there blocking is rare.
"""

from __future__ import annotations

import numpy as np

from sdsynth.synth.calibrated.fitting_kernels import calibration_factors_in_parts
from sdsynth.synth.calibrated.parameters import CalibratedParameters, resolved


def calibration_weights(
    pools: list[np.ndarray], targets: list[np.ndarray], parameters: CalibratedParameters | None = None
) -> list[list[np.ndarray]]:
    """Per pool of draws and per column, a factor per category so that the weighted pool's single-column shares
    match `targets` (IPF); the pools are fitted in parallel, each on its own."""
    parameters = resolved(parameters)
    offsets = bounds(targets)
    flat = calibration_factors_in_parts(
        np.concatenate(pools), bounds(pools), np.concatenate(targets).astype(np.float64), offsets,
        parameters.ipf_iterations, parameters.ipf_tolerance, parameters.factor_cap,
    )  # fmt: skip
    return [[row[offsets[c] : offsets[c + 1]] for c in range(len(targets))] for row in flat]


def bounds(arrays: list[np.ndarray]) -> np.ndarray:
    """Where each array starts in their concatenation, and where the last ends."""
    return np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64)


def pool_factor(target: int, parameters: CalibratedParameters | None = None) -> int:
    """Candidates drawn per output record: pool_factor, fewer (down to min_pool_factor) for large outputs."""
    p = resolved(parameters)
    return max(p.min_pool_factor, min(p.pool_factor, p.pool_candidates // max(target, 1)))


def weighted_draw(pool: np.ndarray, factors: list[np.ndarray], key: bytes, index: int, size: int) -> np.ndarray:
    """Rows of `pool` (sorted): `size` drawn without replacement with probability ∝ Π_c f_c, from a generator
    keyed by (key, index); the whole pool when it holds no more than `size`."""
    log_w = np.zeros(len(pool))
    for c, f in enumerate(factors):
        log_w += np.log(np.maximum(f, 1e-300))[pool[:, c]]
    # Efraimidis–Spirakis: the `size` largest u^(1/w) are a weighted draw without replacement
    selection_key = [*np.frombuffer(key, dtype=np.uint32).tolist(), index]
    keys = np.log(np.random.default_rng(selection_key).random(len(pool))) * np.exp(-log_w)
    rows = np.argpartition(-keys, size - 1)[:size] if size < len(pool) else np.arange(len(pool))
    return np.sort(rows).astype(np.int64)
