"""`sdsynth.engine`: the library's public names under the module they had before the stage packages, kept so that
scripts written against it keep working. New code imports from `sdsynth` (the user's API) or from the stage packages
(docs/architecture.md).

>>> import polars as pl
>>> from sdsynth.engine import encode, count_combinations, protect_k_anonymity
>>> data = pl.DataFrame({"A": ["a1", "a1", "a2"], "B": ["b1", "b1", ""]})
>>> counts = count_combinations(encode(data), reporting_length=2)
>>> protect_k_anonymity(counts, resolution=2).as_dict()
{'A:a1': 2, 'A:a1;B:b1': 2, 'B:b1': 2}
"""

from __future__ import annotations

from sdsynth._utils.lazy import lazy_names

_PUBLIC = {
    "Aggregates": "protect.aggregates",
    "CombinationCounts": "count.combinations",
    "count_combinations": "count.combinations",
    "protect_k_anonymity": "protect.kanon",
    "RecordsAnalysis": "count.analysis",
    "SensitiveStatistics": "count.analysis",
    "sensitive_statistics": "count.analysis",
    "DpResult": "protect.dp.marginals",
    "dp_marginals": "protect.dp.marginals",
    "AccuracyMode": "protect.dp.params",
    "DpParameters": "protect.dp.params",
    "FabricationMode": "protect.dp.params",
    "AttributeTable": "encode.attributes",
    "EncodedData": "encode.records",
    "encode": "encode.tables",
    "stream_encoded": "encode.tables",
    "IngestOptions": "read.options",
    "query_notes": "bundle.query",
    "run_query": "bundle.query",
    "write_aggregates_release": "bundle.write",
    "load_release": "bundle.read",
    "Bins": "schema.model",
    "ColumnSpec": "schema.model",
    "Schema": "schema.model",
    "load_schema": "schema.files",
    "BudgetExceededError": "errors",
    "InputError": "errors",
    "OutputError": "errors",
    "ParameterError": "errors",
    "PrivacyParameterError": "errors",
    "SchemaError": "errors",
    "SdsynthError": "errors",
    "__version__": "_version",
}
__all__ = sorted(_PUBLIC)


__getattr__ = lazy_names(__name__, _PUBLIC)
