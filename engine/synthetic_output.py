"""Writing synthetic records into a release: in memory with the reference's global row order, or batch by batch
for outputs larger than memory.

Up to IN_MEMORY_RECORDS records the whole table is built at once and sorted as the reference sorts its output
(spec §4.1). Beyond, records are generated, converted and written one batch at a time, in the order they are
drawn (not sorted; the next batch is drawn while one is written), and their encoded form is spilled to a scratch
folder so the release can count and evaluate them afterwards. DuckDB loads its `synthetic` table from the Parquet
file either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .encode import AttributeTable, EncodedData
from .parallel import prefetched
from .progress import Progress
from .spill import SpilledRecords
from .synth.output import SyntheticWriter, records_to_frame, write_synthetic

IN_MEMORY_RECORDS = 2_000_000


@dataclass
class SyntheticOutput:
    """What was written: the records again (in memory, or spilled to disk) for counting and evaluation."""

    records: Any  # EncodedData | SpilledRecords
    n_records: int
    parquet: Path
    streamed: bool


def write_synthetic_files(
    synthetic: EncodedData | Iterable[EncodedData],
    attributes: AttributeTable,
    folder: Path,
    scratch: Path,
    progress: Progress,
    expected: int | None = None,
) -> SyntheticOutput:
    """`synthetic.csv` and `synthetic.parquet` in `folder`; batches are spilled to `scratch` (remove it later)."""
    if isinstance(synthetic, EncodedData):
        with progress.stage("writing synthetic records"):
            write_synthetic(records_to_frame(synthetic), folder)
        return SyntheticOutput(synthetic, synthetic.n_records, folder / "synthetic.parquet", streamed=False)
    writer = SyntheticWriter(folder, SpilledRecords(attributes, scratch, "synthetic"))
    try:
        with progress.stage("synthesizing and writing records", total=expected, unit="records") as bar:
            for batch in prefetched(synthetic):  # the next batch is drawn while this one is written
                writer.add(batch)
                bar.advance(batch.n_records)
    finally:
        writer.close()
    assert writer.spill is not None
    return SyntheticOutput(writer.spill, writer.n_records, writer.parquet_path, streamed=True)


def streamed(expected_records: int | None) -> bool:
    """Whether an output of this many records is written batch by batch."""
    return expected_records is not None and expected_records > IN_MEMORY_RECORDS
