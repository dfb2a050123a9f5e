"""sdsynth: safe-to-share aggregate counts and synthetic records from sensitive case data.

The user's API is small and documented where each name is defined; the stage packages below it (docs/architecture.md)
are the library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sdsynth._utils import threads as _threads  # noqa: F401  (first: sizes the thread pool before any kernel runs)
from sdsynth._version import __version__
from sdsynth.errors import (
    BudgetExceededError,
    InputError,
    OutputError,
    ParameterError,
    PrivacyParameterError,
    SchemaError,
    SdsynthError,
)

# imported on first use, so `import sdsynth` (and `sdsynth --help`) does not load Numba and its kernels
_LAZY = {
    "DpParameters": "protect.dp.params",
    "IngestOptions": "read.options",
    "Schema": "schema.model",
    "load_schema": "schema.files",
    "load_release": "bundle.read",
    "run_query": "bundle.query",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"sdsynth.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from sdsynth.bundle.query import run_query
    from sdsynth.bundle.read import load_release
    from sdsynth.protect.dp.params import DpParameters
    from sdsynth.read.options import IngestOptions
    from sdsynth.schema.files import load_schema
    from sdsynth.schema.model import Schema

__all__ = [
    "BudgetExceededError",
    "DpParameters",
    "IngestOptions",
    "InputError",
    "OutputError",
    "ParameterError",
    "PrivacyParameterError",
    "Schema",
    "SchemaError",
    "SdsynthError",
    "__version__",
    "load_release",
    "load_schema",
    "run_query",
]
