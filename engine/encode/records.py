"""Encoded records: CSR arrays of attribute ids (`offsets` int64 of length N+1, `ids` int32 ascending within each
record), held in memory (`EncodedData`) or produced again at every pass (`EncodedStream`), and `BatchEncoder`, which
turns normalised batches into them with a fixed attribute dictionary (docs/method.md, "Records").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from sdsynth.encode.attributes import (
    AttributeTable,
)
from sdsynth.errors import InputError
from sdsynth.kernels.csr import build_csr, gather_rows
from sdsynth.read.normalize import NormalizedBatch
from sdsynth.read.plan import ColumnPlan
from sdsynth.read.sources import DEFAULT_BATCH_ROWS


class BatchEncoder:
    """Turns normalised batches into CSR arrays of attribute ids with a fixed dictionary."""

    def __init__(self, plan: ColumnPlan, attributes: AttributeTable) -> None:
        self.plan = plan
        self.attributes = attributes
        # per planned column: value (or part) -> attribute id
        self._ids: list[dict[str, int]] = [{} for _ in plan.columns]
        for a, (c, v) in enumerate(zip(attributes.column_of.tolist(), attributes.values, strict=True)):
            col = attributes.columns[c]
            self._ids[col.source_position][col.part if col.is_part else v] = a  # type: ignore[index]
        self._single = [p for p, c in enumerate(plan.columns) if c.multi_delimiter is None]
        self._multi = [p for p, c in enumerate(plan.columns) if c.multi_delimiter is not None]

    def encode(self, nb: NormalizedBatch) -> tuple[np.ndarray, np.ndarray]:
        n = nb.height
        codes = np.empty((n, len(self._single)), dtype=np.int32)
        unknown = False  # a value missing from the dictionary (-2): checked on the distinct cells, not every row
        for j, pos in enumerate(self._single):
            lookup = self._ids[pos]
            column = nb.columns[pos]
            table = np.array([-1 if v is None else lookup.get(v, -2) for v in column.values] or [-1], dtype=np.int32)
            codes[:, j] = table[column.indices]
            unknown |= bool((table == -2).any())
        multi_index = np.empty((n, len(self._multi)), dtype=np.int32)
        dict_lists: list[list[list[int]]] = []
        for m, pos in enumerate(self._multi):
            lookup = self._ids[pos]
            column = nb.columns[pos]
            dict_lists.append([[lookup.get(p, -2) for p in parts] for parts in column.values])
            multi_index[:, m] = column.indices
        width = max([len(d) for d in dict_lists], default=0)
        length = max([sum(len(x) for x in d) for d in dict_lists], default=0)
        dict_offsets = np.zeros((len(dict_lists), width + 1), dtype=np.int64)
        dict_ids = np.zeros((len(dict_lists), max(length, 1)), dtype=np.int32)
        for m, entries in enumerate(dict_lists):
            flat = [a for parts in entries for a in parts]
            dict_offsets[m, 1 : len(entries) + 1] = np.cumsum([len(p) for p in entries])
            dict_ids[m, : len(flat)] = flat
        offsets, ids = build_csr(codes, multi_index, dict_offsets, dict_ids)
        if unknown or (dict_ids < 0).any():
            raise InputError(f"{self.plan.source_name}: a value changed between the two reading passes")
        return offsets, ids


@dataclass
class EncodedData:
    """Encoded records held in memory (see the module docstring)."""

    attributes: AttributeTable
    offsets: np.ndarray
    ids: np.ndarray
    source_name: str = "input"

    @property
    def n_records(self) -> int:
        return len(self.offsets) - 1

    def record(self, r: int) -> np.ndarray:
        return self.ids[self.offsets[r] : self.offsets[r + 1]]

    def record_lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The records as CSR batches (offsets rebased to 0), as a streamed source would yield them."""
        for start in range(0, self.n_records, batch_rows):
            stop = min(start + batch_rows, self.n_records)
            lo, hi = self.offsets[start], self.offsets[stop]
            yield self.offsets[start : stop + 1] - lo, self.ids[lo:hi]

    def take(self, rows: np.ndarray) -> EncodedData:
        offsets, ids = gather_rows(self.offsets, self.ids, np.asarray(rows, dtype=np.int64))
        return EncodedData(self.attributes, offsets, ids, self.source_name)


@dataclass
class EncodedStream:
    """Encoded records that are read again from the source at each pass, so memory does not grow with N.

    Records are produced in batches of CSR arrays; `attributes` is known up front (from a first pass).
    """

    attributes: AttributeTable
    make_batches: Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]
    source_name: str = "input"
    n_records: int = 0  # from the dictionary pass
    n_ids: int = 0  # attributes over all records, from the dictionary pass

    def batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        del batch_rows
        return self.make_batches()


Records = EncodedData | EncodedStream


def _concat_csr(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    if not parts:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32)
    if len(parts) == 1:
        return parts[0]
    offsets = [parts[0][0]]
    base = parts[0][0][-1]
    for off, _ in parts[1:]:
        offsets.append(off[1:] + base)
        base += off[-1]
    return np.concatenate(offsets), np.concatenate([ids for _, ids in parts])
