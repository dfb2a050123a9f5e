"""sdsynth: safe-to-share aggregate counts and synthetic records from sensitive case data.

The public API is small; each name is documented where it is defined.

>>> import polars as pl
>>> from sdsynth.engine import encode, count_combinations, protect_k_anonymity
>>> data = pl.DataFrame({"A": ["a1", "a1", "a2"], "B": ["b1", "b1", ""]})
>>> counts = count_combinations(encode(data), reporting_length=2)
>>> protect_k_anonymity(counts, resolution=2).as_dict()
{'A:a1': 2, 'A:a1;B:b1': 2, 'B:b1': 2}
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from . import _threads  # noqa: F401  (first: configures the thread pool before any kernel runs)
from ._version import __version__
from .errors import (
    BudgetExceededError,
    InputError,
    OutputError,
    ParameterError,
    PrivacyParameterError,
    SchemaError,
    SdsynthError,
)

# The rest is imported on first use, so light commands (`sdsynth query`, `--help`) do not load Numba and its kernels.
_LAZY = {
    "Aggregates": "aggregate",
    "CombinationCounts": "aggregate",
    "count_combinations": "aggregate",
    "protect_k_anonymity": "aggregate",
    "RecordsAnalysis": "analysis",
    "SensitiveStatistics": "analysis",
    "sensitive_statistics": "analysis",
    "DpResult": "dp.marginals",
    "dp_marginals": "dp.marginals",
    "AccuracyMode": "dp.params",
    "DpParameters": "dp.params",
    "FabricationMode": "dp.params",
    "AttributeTable": "encode",
    "EncodedData": "encode",
    "encode": "encode",
    "stream_encoded": "encode",
    "IngestOptions": "ingest",
    "query_notes": "query",
    "run_query": "query",
    "write_aggregates_release": "release",
    "load_release": "release_reader",
    "Bins": "schema",
    "ColumnSpec": "schema",
    "Schema": "schema",
    "load_schema": "schema",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """Importing the submodule `encode` would bind the package attribute `encode` to the module, hiding the function
    of the same name; keep exported names for the exported objects."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:
    from .aggregate import Aggregates, CombinationCounts, count_combinations, protect_k_anonymity
    from .analysis import RecordsAnalysis, SensitiveStatistics, sensitive_statistics
    from .dp.marginals import DpResult, dp_marginals
    from .dp.params import AccuracyMode, DpParameters, FabricationMode
    from .encode import AttributeTable, EncodedData, encode, stream_encoded
    from .ingest import IngestOptions
    from .query import query_notes, run_query
    from .release import write_aggregates_release
    from .release_reader import load_release
    from .schema import Bins, ColumnSpec, Schema, load_schema

__all__ = [
    "AccuracyMode",
    "Aggregates",
    "AttributeTable",
    "Bins",
    "BudgetExceededError",
    "ColumnSpec",
    "CombinationCounts",
    "DpParameters",
    "DpResult",
    "EncodedData",
    "FabricationMode",
    "IngestOptions",
    "InputError",
    "OutputError",
    "ParameterError",
    "PrivacyParameterError",
    "RecordsAnalysis",
    "Schema",
    "SchemaError",
    "SdsynthError",
    "SensitiveStatistics",
    "__version__",
    "count_combinations",
    "dp_marginals",
    "encode",
    "load_release",
    "load_schema",
    "protect_k_anonymity",
    "query_notes",
    "run_query",
    "sensitive_statistics",
    "stream_encoded",
    "write_aggregates_release",
]
