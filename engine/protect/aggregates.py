"""`Aggregates`: combination counts that may be released, with the parameters that made them safe.

Both protections produce it (k-anonymity in `kanon`, differential privacy in `dp/`); the bundle writer, the
synthesizers and the public evaluation read it. It never holds a true count: `record_count` is rounded down to k or
noisy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np

from sdsynth.count.combinations import (
    _CombinationTable,
)
from sdsynth.errors import InputError

Table = TypeVar("Table", bound=_CombinationTable)


@dataclass(frozen=True)
class Aggregates(_CombinationTable):
    """Releasable aggregate counts and the parameters that made them safe.

    `record_count` is the record count as released (rounded down to k, or DP-noised); the true count is not kept.
    `parameters` and `levels` are written into the release so a reviewer can re-check every privacy figure.
    """

    mode: str = "k-anonymity"
    record_count: int = 0
    parameters: dict[str, Any] = field(default_factory=dict)
    levels: list[dict[str, Any]] = field(default_factory=list)

    def column_pairs(self) -> frozenset[tuple[int, int]] | None:
        """The pairs of expanded columns (a < b) whose value pairs the release holds, when it holds a chosen tree of
        them (`column_pairs` tree, `released_column_pairs` in release_info); None when every pair was counted."""
        named = self.parameters.get("released_column_pairs")
        if named is None:
            return None
        index = {c.name: i for i, c in enumerate(self.attributes.columns)}
        unknown = sorted({n for pair in named for n in pair if n not in index})
        if unknown:
            raise InputError(f"release_info names column pairs of unknown columns: {', '.join(map(repr, unknown))}")
        return frozenset((min(index[a], index[b]), max(index[a], index[b])) for a, b in named)

    def within_release(self, table: Table) -> Table:
        """The combinations of `table` (same attributes) that this release could hold: with a tree of column pairs,
        the pairs of its columns only (other pairs were never counted, so they are neither missing nor made up)."""
        pairs = self.column_pairs()
        if pairs is None:
            return table
        from sdsynth.protect.dp.pair_tree import in_column_pairs

        keep = table.lengths != 2
        twos = np.flatnonzero(~keep)
        keep[twos] = in_column_pairs(table.keys[twos], pairs, table.attributes, table.layout)
        return replace(table, keys=table.keys[keep], counts=table.counts[keep])
