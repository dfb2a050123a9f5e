"""Synthesizers: one `fit(data)` / `sample(n, seed)` contract, and a registry so the CLI names them by string.

The names below load on first use (PEP 562): importing a submodule such as `synth.options` must not load every
synthesizer's Numba kernels.
"""

from __future__ import annotations

from sdsynth._utils.lazy import lazy_names

_HOMES = {
    "SYNTHESIZERS": "synth.base",
    "AggregateSeeded": "synth.base",
    "AggregateSeededParameters": "synth.options",
    "RowSeeded": "synth.base",
    "Synthesizer": "synth.base",
    "Unseeded": "synth.base",
    "ValueSeeded": "synth.base",
    "create": "synth.base",
}

__all__ = sorted(_HOMES)
__getattr__ = lazy_names(__name__, _HOMES)
