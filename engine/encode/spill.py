"""Encoded records kept on disk, so passes over large data cost neither re-parsing nor memory.

A release reads its input many times (the DP loop makes a pass per combination length; evaluation makes more). For
files that do not fit in memory, the first pass writes each batch's CSR arrays (record offsets and attribute ids)
into a folder; later passes memory-map them back. The folder lives inside the private output being written (the
records are sensitive) and is removed before that output is completed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdsynth.encode.attributes import AttributeTable


@dataclass
class SpilledRecords:
    """Records in CSR chunks on disk; `batches()` yields (offsets, ids) like EncodedData and EncodedStream."""

    attributes: AttributeTable
    folder: Path
    source_name: str = "input"
    _chunks: list[tuple[Path, Path]] = field(default_factory=list)
    n_records: int = 0
    n_ids: int = 0

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def append(self, offsets: np.ndarray, ids: np.ndarray) -> None:
        i = len(self._chunks)
        paths = (self.folder / f"offsets-{i:06d}.npy", self.folder / f"ids-{i:06d}.npy")
        np.save(paths[0], np.asarray(offsets, dtype=np.int64))
        np.save(paths[1], np.asarray(ids, dtype=np.int32))
        self._chunks.append(paths)
        self.n_records += len(offsets) - 1
        self.n_ids += len(ids)

    def batches(self, batch_rows: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        del batch_rows  # chunks keep the size they were written with
        for offsets_path, ids_path in self._chunks:
            # np.asarray: a plain (read-only) view of the memory map, which Numba kernels accept
            yield np.asarray(np.load(offsets_path, mmap_mode="r")), np.asarray(np.load(ids_path, mmap_mode="r"))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self._chunks.clear()


def spill(records: object, folder: Path) -> SpilledRecords:
    """Write every batch of `records` (EncodedData or a stream) to `folder`, in one pass."""
    out = SpilledRecords(records.attributes, folder, getattr(records, "source_name", "input"))  # type: ignore[attr-defined]
    for offsets, ids in records.batches():  # type: ignore[attr-defined]
        out.append(offsets, ids)
    return out
