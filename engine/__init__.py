"""sdsynth: safe-to-share aggregate counts and synthetic records from sensitive case data.

The public API is small; each name is documented where it is defined.

>>> import polars as pl
>>> from sdsynth.engine import encode, count_combinations, protect_k_anonymity
>>> data = pl.DataFrame({"A": ["a1", "a1", "a2"], "B": ["b1", "b1", ""]})
>>> counts = count_combinations(encode(data), reporting_length=2)
>>> protect_k_anonymity(counts, resolution=2).as_dict()
{'A:a1': 2, 'A:a1;B:b1': 2, 'B:b1': 2}
"""

from . import _threads  # noqa: F401  (first: configures the thread pool before any kernel runs)
from ._version import __version__
from .aggregate import (
    Aggregates,
    CombinationCounts,
    count_combinations,
    protect_k_anonymity,
)
from .analysis import RecordsAnalysis, SensitiveStatistics, sensitive_statistics
from .dp.marginals import DpResult, dp_marginals
from .dp.params import AccuracyMode, DpParameters, FabricationMode
from .encode import AttributeTable, EncodedData, encode, stream_encoded
from .errors import (
    BudgetExceededError,
    InputError,
    OutputError,
    ParameterError,
    PrivacyParameterError,
    SchemaError,
    SdsynthError,
)
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
