"""The examples in docstrings run: every module of sdsynth whose docstrings hold `>>>` examples (the user's API,
the compatibility module, the run context, the job settings, the synthesizer registry, ...)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import sdsynth


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(sdsynth.__path__, "sdsynth."):
        if info.name.startswith("sdsynth.cli"):
            continue
        spec = importlib.util.find_spec(info.name)
        if spec is not None and spec.origin and ">>> " in Path(spec.origin).read_text(encoding="utf-8"):
            names.append(info.name)
    return sorted({"sdsynth", *names})


@pytest.mark.parametrize("name", _modules_with_examples())
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
