"""Names a package exports but loads on first use (PEP 562): importing the package loads none of the modules behind
them, so `import sdsynth` and `sdsynth --help` do not load Numba and its kernels."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` for `package`: each name of `homes` is read from its module (under `sdsynth.`)
    when first asked for, then kept in the package."""

    def attribute(name: str) -> Any:
        module = homes.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"sdsynth.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return attribute
