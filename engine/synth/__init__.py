"""Synthesizers: one `fit(data)` / `sample(n, seed)` contract, and a registry so the CLI names them by string."""

from .aggregate_seeded import AggregateSeededParameters
from .base import SYNTHESIZERS, AggregateSeeded, RowSeeded, Synthesizer, Unseeded, ValueSeeded, create

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
