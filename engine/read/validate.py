"""Checking a table against a schema (`sdsynth schema validate`): every cell the schema does not allow, in row order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sdsynth.read.normalize import Violation, iter_normalized
from sdsynth.read.options import IngestOptions
from sdsynth.read.plan import plan_columns
from sdsynth.read.sources import open_table


def validate_table(data: Any, options: IngestOptions) -> Iterator[Violation]:
    """Every cell the schema does not allow, in row order (structural problems raise errors instead)."""
    source = open_table(data, delimiter=options.delimiter)
    plan = plan_columns(source.headers, options, source.name)
    for nb in iter_normalized(source, plan, collect=True):
        yield from nb.violations
