"""Synthesizers: one `fit(data)` / `sample(n, seed)` contract, and a registry so the CLI names them by string."""

from .base import SYNTHESIZERS, RowSeeded, Synthesizer, Unseeded, ValueSeeded, create

__all__ = ["SYNTHESIZERS", "RowSeeded", "Synthesizer", "Unseeded", "ValueSeeded", "create"]
