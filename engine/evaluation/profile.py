"""A table's profile for cross-tool scores, accumulated batch by batch: the marginal histograms, a row sample and
record fingerprints, on the table as users load it.

Scores comparable across tools (marginal TVD, SDNist k-marginal, propensity MSE, unique exact matches) see one
categorical variable per *source* column: an empty cell is a category, a multi-value cell is one category (its set of
parts). `SourceColumns` turns encoded records (attribute ids) into such category codes without ever building
strings; `TableProfile` accumulates what the scores need in one pass, so tables of any size can be compared in
bounded memory. Tables given as data frames get codes from their strings instead (`category_codes`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from numba import njit

from sdsynth.encode.attributes import AttributeTable
from sdsynth.kernels.csr import read_only
from sdsynth.kernels.marginal_counts import MarginalHistograms
from sdsynth.read.escape import unescape

MAX_MULTI_VALUE_PARTS = 30  # a cell's set of parts is coded as a bit mask in an int32
SAMPLE_ROWS = 500_000  # rows kept per table for the propensity score


@dataclass(frozen=True)
class SourceColumns:
    """The source columns of an attribute dictionary, as categorical variables (category 0 = empty)."""

    names: list[str]
    sizes: list[int]
    labels: list[list[str]]  # label of each category (multi-value: parts joined by the delimiter)
    attr_source: np.ndarray  # attribute id → source column index (−1: not representable)
    attr_code: np.ndarray  # attribute id → category (single-value) or bit (multi-value part)
    multi: np.ndarray  # per source column: multi-value?

    @classmethod
    def from_attributes(cls, attributes: AttributeTable) -> SourceColumns:
        sources = attributes.source_columns
        index = {name: i for i, name in enumerate(sources)}
        attr_source = np.full(attributes.n_attributes, -1, dtype=np.int64)
        attr_code = np.zeros(attributes.n_attributes, dtype=np.int64)
        values: list[list[str]] = [[] for _ in sources]
        parts: list[list[str]] = [[] for _ in sources]
        delimiter = [";"] * len(sources)
        multi = np.zeros(len(sources), dtype=np.bool_)
        for a in range(attributes.n_attributes):
            col = attributes.columns[int(attributes.column_of[a])]
            s = index[col.source]
            if col.is_part:
                multi[s] = True
                delimiter[s] = col.delimiter or ";"
                if len(parts[s]) < MAX_MULTI_VALUE_PARTS:
                    parts[s].append(unescape(col.part or ""))
                    attr_source[a] = s
                    attr_code[a] = 1 << (len(parts[s]) - 1)
            else:
                values[s].append(unescape(attributes.values[a]))
                attr_source[a] = s
                attr_code[a] = len(values[s])
        sizes, labels = [], []
        for s in range(len(sources)):
            if multi[s]:
                sizes.append(1 << len(parts[s]))
                labels.append([delimiter[s].join(p for j, p in enumerate(parts[s]) if m >> j & 1)
                               for m in range(1 << len(parts[s]))])  # fmt: skip
            else:
                sizes.append(len(values[s]) + 1)
                labels.append(["", *values[s]])
        names = [unescape(s) for s in sources]
        return cls(names, sizes, labels, attr_source, attr_code, multi)

    def codes(self, offsets: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """(source columns, records) int32 category codes of a batch of CSR records."""
        return _record_codes(read_only(offsets), read_only(ids), self.attr_source, self.attr_code, self.multi,
                             len(self.names))  # fmt: skip


@njit(cache=True, nogil=True)
def _record_codes(
    offsets: np.ndarray, ids: np.ndarray, attr_source: np.ndarray, attr_code: np.ndarray, multi: np.ndarray,
    n_sources: int,
) -> np.ndarray:  # fmt: skip
    n = offsets.shape[0] - 1
    out = np.zeros((n_sources, n), dtype=np.int32)
    for r in range(n):
        for i in range(offsets[r], offsets[r + 1]):
            a = ids[i]
            s = attr_source[a]
            if s < 0:
                continue
            if multi[s]:
                out[s, r] |= attr_code[a]
            else:
                out[s, r] = attr_code[a]
    return out


def record_hashes(codes: np.ndarray) -> np.ndarray:
    """A 64-bit fingerprint of each record's categories (all columns), for exact-match counting (NumPy, a column at
    a time: uint64 arithmetic wraps as in a loop)."""
    codes = np.asarray(codes)
    h = np.full(codes.shape[1], 0xCBF29CE484222325, dtype=np.uint64)
    for c in range(codes.shape[0]):
        h ^= codes[c].astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15) + (h << np.uint64(6)) + (h >> np.uint64(2))
        h *= np.uint64(0x100000001B3)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return h


def shared_codes(a: pl.Series, b: pl.Series) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Two string columns as int32 codes of one sorted dictionary (the union of their values) and its labels."""
    categories = pl.concat([a, b]).unique().sort().to_list()
    enum = pl.Enum(categories)
    code_a = a.cast(enum).to_physical().to_numpy().astype(np.int32)
    code_b = b.cast(enum).to_physical().to_numpy().astype(np.int32)
    return code_a, code_b, categories


def category_codes(
    real: pl.DataFrame, synthetic: pl.DataFrame, columns: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[int], list[list[str]]]:
    """Both frames (strings, empty = "") as (columns, rows) int32 codes sharing one dictionary per column."""
    real_codes = np.empty((len(columns), real.height), dtype=np.int32)
    syn_codes = np.empty((len(columns), synthetic.height), dtype=np.int32)
    labels = []
    for j, col in enumerate(columns):
        real_codes[j], syn_codes[j], categories = shared_codes(real.get_column(col), synthetic.get_column(col))
        labels.append(categories)
    return real_codes, syn_codes, [len(x) for x in labels], labels


class TableProfile:
    """Everything the cross-tool scores need from one table, accumulated with `add(codes)`.

    - histograms of every set of `orders` columns (the 1-, 2- and 3-way marginals of the TVD);
    - with `kmarginal_bins` (per column, a category → SDNist bin map, or None to keep the categories), pair
      histograms of the binned table for the k-marginal score, split by nested subsample when
      `subsample_fractions` are given (a row with uniform u belongs to every fraction f > u): the "scores like a
      p % sample" baseline;
    - a uniform sample of about SAMPLE_ROWS binned rows (propensity score), given the expected number of rows;
    - a fingerprint of every record (unique exact matches).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        orders: Iterable[int] = (1, 2, 3),
        kmarginal_bins: Sequence[np.ndarray | None] | None = None,
        subsample_fractions: Sequence[float] = (),
        expected_rows: int = 0,
        rng: np.random.Generator | None = None,
        rows_hint: int | None = None,
    ) -> None:
        """`rows_hint`: the rows of the larger of the tables to be compared (MarginalHistograms); the same for both
        profiles."""
        n = len(sizes)
        self.sizes = list(sizes)
        self.rng = rng or np.random.default_rng(0)
        self.histograms: dict[int, MarginalHistograms] = {}
        for order in orders:
            combos = list(itertools.combinations(range(n), order))
            if combos:
                self.histograms[order] = MarginalHistograms(sizes, combos, rows_hint=rows_hint)
        self.bins = list(kmarginal_bins) if kmarginal_bins is not None else [None] * n
        self.binned_sizes = [len(b) and int(b.max()) + 1 if b is not None else size
                             for b, size in zip(self.bins, sizes, strict=True)]  # fmt: skip
        self.fractions = np.asarray(subsample_fractions, dtype=np.float64)
        self.kmarginal: MarginalHistograms | None = None
        if kmarginal_bins is not None and n >= 2:
            pairs = list(itertools.combinations(range(n), 2))
            self.kmarginal = MarginalHistograms(self.binned_sizes, pairs, len(self.fractions) + 1, rows_hint)
        self.sample_rate = min(1.0, SAMPLE_ROWS / expected_rows) if expected_rows > 0 else 1.0
        self._sample: list[np.ndarray] = []
        self._hashes: list[np.ndarray] = []
        self.rows = 0

    def binned(self, codes: np.ndarray) -> np.ndarray:
        """Codes with numeric columns put into their SDNist bins."""
        if all(b is None for b in self.bins):
            return codes
        out = codes.copy()
        for c, b in enumerate(self.bins):
            if b is not None:
                out[c] = b[codes[c]]
        return out

    def add(self, codes: np.ndarray) -> TableProfile:
        codes = np.ascontiguousarray(codes, dtype=np.int32)
        n = codes.shape[1]
        self.rows += n
        for hist in self.histograms.values():
            hist.add(codes)
        u = self.rng.random(n)
        binned = self.binned(codes)
        if self.kmarginal is not None:
            layer = np.searchsorted(self.fractions, u, side="right") if len(self.fractions) else None
            self.kmarginal.add(binned, layer)
        keep = u < self.sample_rate if self.sample_rate < 1.0 else slice(None)
        self._sample.append(binned[:, keep])
        self._hashes.append(record_hashes(codes))
        return self

    @property
    def sample(self) -> np.ndarray:
        """The sampled rows, binned (columns × rows)."""
        return np.hstack(self._sample) if self._sample else np.zeros((len(self.sizes), 0), dtype=np.int32)

    @property
    def hashes(self) -> np.ndarray:
        return np.concatenate(self._hashes) if self._hashes else np.zeros(0, dtype=np.uint64)


def encoded_profile(
    records: object,
    columns: SourceColumns,
    orders: Iterable[int] = (1, 2, 3),
    kmarginal_bins: Sequence[np.ndarray | None] | None = None,
    subsample_fractions: Sequence[float] = (),
    expected_rows: int = 0,
    rows_hint: int | None = None,
) -> TableProfile:
    """The profile of encoded records (EncodedData or a stream), batch by batch."""
    profile = TableProfile(
        columns.sizes, orders, kmarginal_bins, subsample_fractions, expected_rows, rows_hint=rows_hint
    )
    for offsets, ids in records.batches():  # type: ignore[attr-defined]
        profile.add(columns.codes(offsets, ids))
    return profile
