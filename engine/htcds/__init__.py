"""HTCDS case-management exports: flattening them into one row per victim (`prepare_htcds`, written with
`write_prepared`) and generating realistic fictitious exports for tests and benchmarks (`generate_htcds`)."""

from __future__ import annotations

from sdsynth.htcds.prepare import KEEPABLE_VICTIM_FIELDS, PREPARED_COLUMNS, PrepareReport, prepare_htcds, write_prepared
from sdsynth.htcds.sample import generate_htcds, write_htcds

__all__ = [
    "KEEPABLE_VICTIM_FIELDS",
    "PREPARED_COLUMNS",
    "PrepareReport",
    "generate_htcds",
    "prepare_htcds",
    "write_htcds",
    "write_prepared",
]
