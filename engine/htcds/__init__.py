"""HTCDS case-management exports: flattening them into one row per victim (`prepare_htcds`) and generating
realistic fictitious exports for tests and benchmarks (`generate_htcds`)."""

from .prepare import PREPARED_COLUMNS, PrepareReport, prepare_htcds
from .sample import generate_htcds, write_htcds

__all__ = ["PREPARED_COLUMNS", "PrepareReport", "generate_htcds", "prepare_htcds", "write_htcds"]
