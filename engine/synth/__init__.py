"""Synthesizers: one `fit(data)` / `sample(n, seed)` contract, and a registry so the CLI names them by string.

The names below load on first use (PEP 562): importing a submodule such as `synth.options` must not load every
synthesizer's Numba kernels.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "SYNTHESIZERS": "base",
    "AggregateSeeded": "base",
    "AggregateSeededParameters": "options",
    "RowSeeded": "base",
    "Synthesizer": "base",
    "Unseeded": "base",
    "ValueSeeded": "base",
    "create": "base",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
