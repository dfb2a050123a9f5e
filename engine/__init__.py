"""sdsynth: safe-to-share aggregate counts and synthetic records from sensitive case data.

The user's API is small (`create`, `release`, `evaluate`, `load_release`; see `sdsynth.api`) and runs the command
line's jobs; the stage packages below it (docs/architecture.md) are the library.

>>> import sdsynth
>>> sdsynth.__version__ == sdsynth._version.__version__
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sdsynth._utils import threads as _threads  # noqa: F401  (first: sizes the thread pool before any kernel runs)
from sdsynth._utils.blas_probe import skip_numba_blas_probe
from sdsynth._utils.cache import use_user_numba_cache
from sdsynth._utils.lazy import lazy_names
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

use_user_numba_cache()  # before any kernel: compiled kernels go to the per-user cache, never into the package
skip_numba_blas_probe()  # 0.1 s of every command; no kernel uses BLAS

# imported on first use, so `import sdsynth` (and `sdsynth --help`) does not load Numba and its kernels
_LAZY = {
    "create": "api",
    "release": "api",
    "evaluate": "api",
    "load_release": "api",
    "Release": "api",
    "Synthesizer": "api",
    "DpParameters": "protect.dp.params",
    "Schema": "schema.model",
    "load_schema": "schema.files",
    "RunContext": "_utils.context",
}


__getattr__ = lazy_names(__name__, _LAZY)


def __dir__() -> list[str]:
    """The lazy names too, so tab completion and `dir(sdsynth)` show the API before its first use."""
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:
    from sdsynth._utils.context import RunContext
    from sdsynth.api import Release, Synthesizer, create, evaluate, load_release, release
    from sdsynth.protect.dp.params import DpParameters
    from sdsynth.schema.files import load_schema
    from sdsynth.schema.model import Schema

__all__ = [
    "BudgetExceededError",
    "DpParameters",
    "InputError",
    "OutputError",
    "ParameterError",
    "PrivacyParameterError",
    "Release",
    "RunContext",
    "Schema",
    "SchemaError",
    "SdsynthError",
    "Synthesizer",
    "__version__",
    "create",
    "evaluate",
    "load_release",
    "load_schema",
    "release",
]
