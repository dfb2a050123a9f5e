"""Synthesizers: one `fit(data)` / `sample(n, seed)` contract, and a registry so the CLI names them by string."""

from __future__ import annotations

from sdsynth.synth.aggregate_seeded import AggregateSeededParameters
from sdsynth.synth.base import SYNTHESIZERS, AggregateSeeded, RowSeeded, Synthesizer, Unseeded, ValueSeeded, create

__all__ = [
    "SYNTHESIZERS",
    "AggregateSeeded",
    "AggregateSeededParameters",
    "RowSeeded",
    "Synthesizer",
    "Unseeded",
    "ValueSeeded",
    "create",
]
