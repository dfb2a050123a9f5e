"""Step 3 of the calibrated law: records drawn from a network, in parallel, one ChaCha20 stream per record, and what
the drawing kernel looks up about the release to keep them to released combinations.

Each column's category is drawn from its conditional table given its parents, restricted to values that keep every
sub-combination of length ≤ R released; empty is always allowed, so only released combinations ever appear, as with
the reference law (drawing_kernels.py says how). Columns come in the network's order, or (free order, step 4) each
record draws next the column least blocked by what it holds. Coverage (step 7) draws its seeds here too, from preset
values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdsynth.encode.records import EncodedData
from sdsynth.kernels.counting import build_lookup_table, table_lookup
from sdsynth.kernels.csr import build_csr, category_codes
from sdsynth.protect.aggregates import Aggregates
from sdsynth.protect.dp.pair_tree import pair_matrix
from sdsynth.synth.calibrated.drawing_kernels import sample_categories
from sdsynth.synth.calibrated.network import Network
from sdsynth.synth.calibrated.parameters import CalibratedParameters

NO_PRESETS = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class ReleaseLookups:
    """The release as the kernels look it up: released combinations by packed key (tkeys, tidx: key → index + 1),
    their released extensions (ext[i]: the attributes v such that key i ∪ {v} was released; ext_empty: the released
    attributes), a dense index of released attributes and pairs (single, pair; empty arrays: hashed lookups only),
    each attribute's column and category (for presets), and the key layout."""

    tkeys: np.ndarray
    tidx: np.ndarray
    ext: np.ndarray
    ext_empty: np.ndarray
    single: np.ndarray
    pair: np.ndarray
    attribute_column: np.ndarray
    attribute_category: np.ndarray
    max_length: int  # max(R, 1)
    bits: int
    slots: int


def release_lookups(aggs: Aggregates, parameters: CalibratedParameters) -> ReleaseLookups:
    """What the kernels look up about `aggs`, built once per sampler (the dense index only where it is small
    enough: direct_index_attributes)."""
    n_words = max(1, (aggs.attributes.n_attributes + 63) // 64)
    tkeys, tidx = build_lookup_table(aggs.keys, np.arange(1, len(aggs.keys) + 1, dtype=np.int64))
    ext, ext_empty = _extension_bits(aggs, n_words, tkeys, tidx)
    single, pair = _direct_index(aggs, parameters.direct_index_attributes)
    attribute_column, attribute_category = _attribute_categories(aggs)
    return ReleaseLookups(
        tkeys, tidx, ext, ext_empty, single, pair, attribute_column, attribute_category,
        max(aggs.reporting_length, 1), aggs.layout.bits, aggs.layout.slots,
    )  # fmt: skip


def _extension_bits(
    aggs: Aggregates, n_words: int, tkeys: np.ndarray, tidx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """ext[i]: the attributes v such that key i ∪ {v} was released; and the same for the empty combination."""
    R = max(aggs.reporting_length, 1)
    ext = np.zeros((len(aggs.keys), n_words), dtype=np.uint64)
    empty = np.zeros(n_words, dtype=np.uint64)
    single = aggs.layout.unpack(aggs.keys[aggs.lengths == 1], 1)[:, 0].astype(np.int64)
    np.bitwise_or.at(empty, single // 64, np.left_shift(np.uint64(1), (single % 64).astype(np.uint64)))
    shifts = aggs.layout.shifts()
    for length in range(2, R + 1):
        rows = aggs.layout.unpack(aggs.keys[aggs.lengths == length], length).astype(np.int64)
        for drop in range(length):
            kept = np.delete(rows, drop, axis=1)
            sub_keys = ((kept + 1).astype(np.uint64) << shifts[: length - 1]).sum(axis=1, dtype=np.uint64)
            parent = table_lookup(tkeys, tidx, sub_keys) - 1
            ok = parent >= 0
            v = rows[ok, drop]
            np.bitwise_or.at(ext, (parent[ok], v // 64), np.left_shift(np.uint64(1), (v % 64).astype(np.uint64)))
    pairs = aggs.column_pairs()
    if pairs is not None:  # a released tree of column pairs: values of two columns it does not join are free
        _free_outside_tree(aggs, pairs, ext, single, n_words)
    return ext, empty


def _free_outside_tree(
    aggs: Aggregates, pairs: frozenset[tuple[int, int]], ext: np.ndarray, single: np.ndarray, n_words: int
) -> None:
    """ext[{a}] gains every released value of the columns that no released pair joins to a's column: the release
    says nothing about those pairs, so no value of them is blocked (only the tree's pairs are kept to released
    combinations). Only at R = 2, the one length a tree is released at."""
    column_of = aggs.attributes.column_of.astype(np.int64)
    n_columns = len(aggs.attributes.columns)
    by_column = np.zeros((n_columns, n_words), dtype=np.uint64)
    bit = np.left_shift(np.uint64(1), (single % 64).astype(np.uint64))
    np.bitwise_or.at(by_column, (column_of[single], single // 64), bit)
    joined = pair_matrix(pairs, n_columns) | np.eye(n_columns, dtype=bool)
    free = np.zeros((n_columns, n_words), dtype=np.uint64)
    for c in range(n_columns):
        free[c] = np.bitwise_or.reduce(by_column[~joined[c]], axis=0) if (~joined[c]).any() else 0
    ext[np.flatnonzero(aggs.lengths == 1)] |= free[column_of[single]]  # `single`: the same keys, in the same order


def _direct_index(aggs: Aggregates, max_attributes: int) -> tuple[np.ndarray, np.ndarray]:
    """The row of each released attribute and pair of attributes among the aggregates (−1: not released), for the
    kernel's lookups when R ≤ 3 and the attributes are at most `max_attributes` (a dense pair table); otherwise
    empty arrays (hashed lookups)."""
    n = aggs.attributes.n_attributes
    if aggs.reporting_length > 3 or n > max_attributes:
        return np.zeros(0, dtype=np.int32), np.zeros((0, 0), dtype=np.int32)
    single = np.full(n, -1, dtype=np.int32)
    pair = np.full((n, n), -1, dtype=np.int32)
    rows = np.arange(len(aggs.keys), dtype=np.int32)
    ones = aggs.lengths == 1
    single[aggs.layout.unpack(aggs.keys[ones], 1)[:, 0].astype(np.int64)] = rows[ones]
    twos = aggs.lengths == 2
    if twos.any():
        ab = aggs.layout.unpack(aggs.keys[twos], 2).astype(np.int64)
        pair[ab[:, 0], ab[:, 1]] = rows[twos]
        pair[ab[:, 1], ab[:, 0]] = rows[twos]
    return single, pair


def _attribute_categories(aggs: Aggregates) -> tuple[np.ndarray, np.ndarray]:
    """Per attribute: its expanded column (−1: none) and its category there (1.., in the order of its ids)."""
    n_attributes = aggs.attributes.n_attributes
    column_of = aggs.attributes.column_of.astype(np.int64)
    attribute_column = np.full(n_attributes, -1, dtype=np.int64)
    attribute_category = np.zeros(n_attributes, dtype=np.int64)
    for c in range(len(aggs.attributes.columns)):
        ids = np.flatnonzero(column_of == c)
        attribute_column[ids] = c
        attribute_category[ids] = np.arange(1, len(ids) + 1)
    return attribute_column, attribute_category


def draw(
    network: Network, lookups: ReleaseLookups, words: np.ndarray, first: int, count: int,
    preset_offsets: np.ndarray = NO_PRESETS, preset_ids: np.ndarray = NO_PRESETS,
) -> np.ndarray:  # fmt: skip
    """Records first..first + count − 1 (their streams) as categories per column (0 = empty); with presets, record b
    starts from preset_ids[preset_offsets[b]:preset_offsets[b + 1]] and comes back as −1 in every column if those
    do not form a released combination (`sample_categories`)."""
    net, look = network, lookups
    return sample_categories(
        np.int64(first), count, net.order, net.free_order, net.column_first, net.entry_column, net.parent_first,
        net.parent_entries, net.parents, net.strides, net.cpt, net.cpt_offset, net.n_categories, net.value_ids,
        net.value_offset, look.ext, look.ext_empty, look.max_length, look.bits, look.slots, look.tkeys, look.tidx,
        words, look.single, look.pair, preset_offsets, preset_ids, look.attribute_column, look.attribute_category,
    )  # fmt: skip


def to_records(aggs: Aggregates, network: Network, categories: np.ndarray) -> EncodedData:
    """Drawn categories (0 = empty) as records: attribute ids per column, gathered into sorted CSR rows."""
    n = categories.shape[0]
    codes = category_codes(categories, network.value_ids, network.value_offset)
    no_multi = np.zeros((n, 0), dtype=np.int32)
    offsets, ids = build_csr(codes, no_multi, np.zeros((0, 1), dtype=np.int64), np.zeros((0, 0), dtype=np.int32))
    return EncodedData(aggs.attributes, offsets, ids, "synthetic")


def empty_records(aggs: Aggregates) -> EncodedData:
    return EncodedData(aggs.attributes, np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32), "synthetic")
