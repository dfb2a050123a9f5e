"""Co-partitioning by subject id for the Dask engine (docs/method.md, "Subject ids": rows of one subject are joined into
one record).

Each input partition encodes its rows with the global dictionary and cuts them into buckets by a hash of the
normalised subject id (`encode_split`); bucket b of every partition goes to one task, which joins the rows of each
subject (`join_bucket`, i.e. `encode.join_by_subject`). All rows of a subject land in the same bucket, so the joined
records are exactly the local ones (in another order). Contribution bounding then runs per bucket, on whole
subjects: the unit of privacy stays one subject.

The hash is Polars' `Series.hash(seed=0)`, stable for one Polars version: every worker and the client must run the
same version (Dask warns when versions differ).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from sdsynth.encode.attributes import AttributeTable
from sdsynth.encode.records import BatchEncoder, EncodedData, _concat_csr
from sdsynth.encode.subjects import conflicting_columns, join_by_subject
from sdsynth.errors import InputError
from sdsynth.kernels.csr import gather_rows
from sdsynth.read.normalize import NormalizedBatch
from sdsynth.read.plan import ColumnPlan

Piece = tuple[np.ndarray, np.ndarray, pl.Series]  # CSR offsets, ids, normalised subject id per record


def bucket_of(subject_ids: pl.Series, n_buckets: int) -> np.ndarray:
    return (subject_ids.hash(seed=0) % n_buckets).to_numpy().astype(np.int64)


def encode_split(
    batches: list[NormalizedBatch], plan: ColumnPlan, attributes: AttributeTable, n_buckets: int
) -> list[Piece]:
    """One partition's rows encoded and cut into `n_buckets` pieces by subject id."""
    encoder = BatchEncoder(plan, attributes)
    offsets, ids = _concat_csr([encoder.encode(nb) for nb in batches])
    sids = [nb.subject_ids for nb in batches if nb.subject_ids is not None]
    subject_ids = pl.concat(sids) if sids else pl.Series("id", [], dtype=pl.String)
    bucket = bucket_of(subject_ids, n_buckets)
    order = np.argsort(bucket, kind="stable")
    sorted_offsets, sorted_ids = gather_rows(offsets, ids, order.astype(np.int64))
    bounds = np.searchsorted(bucket[order], np.arange(n_buckets + 1))
    pieces: list[Piece] = []
    sorted_sids = subject_ids.gather(order)
    for b in range(n_buckets):
        lo, hi = int(bounds[b]), int(bounds[b + 1])
        a, z = sorted_offsets[lo], sorted_offsets[hi]
        pieces.append((sorted_offsets[lo : hi + 1] - a, sorted_ids[a:z], sorted_sids.slice(lo, hi - lo)))
    return pieces


def join_bucket(
    plan: ColumnPlan, attributes: AttributeTable, source_name: str, *pieces: Piece
) -> EncodedData | list[int]:
    """The joined records of one bucket, or the columns whose values conflict within a subject (sorted indices
    into `attributes.columns`) so the client can name every such column, as a local run does."""
    offsets, ids = _concat_csr([(o, i) for o, i, _ in pieces])
    subject_ids = pl.concat([s for _, _, s in pieces]) if pieces else pl.Series("id", [], dtype=pl.String)
    data = EncodedData(attributes, offsets, ids, source_name)
    if data.n_records == 0:
        return data
    try:
        return join_by_subject(data, subject_ids, plan)
    except InputError:
        return conflicting_columns(data, subject_ids)
