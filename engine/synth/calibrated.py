"""The calibrated sampling law: synthetic records from released aggregates that keep empty cells and multi-value
parts at their released rates (post-processing only; see docs/synthesis.md for the law and its evidence).

The reference law (spec §4.9) never samples absence and resets its budget when the target exceeds it, so records
come out denser than real ones. Here every expanded column (a single-value column, or one part of a multi-value
column) is a categorical variable whose categories are its values *and empty*, and records are drawn column by
column from conditional tables:

1. **Joint tables from released counts.** For a set of at most R columns, the released counts of its
   sub-combinations (and the released record count for the empty combination) are "at least these values" counts;
   Möbius inversion along each column turns them into the joint table over values and empty (e.g. #(A = a,
   B empty) = #(A = a) − Σ_b #(A = a, B = b)); counts below zero (noise) are clamped to 0. Where combinations may
   have been left out of the release, tables of two or more columns are instead completed from their margins
   (`_Model._completed`), so that the records of unreleased combinations do not all count as empty cells.
2. **Structure.** A greedy Bayesian network (as PrivBayes builds one): the first column has the largest entropy;
   then, repeatedly, the column and ≤ R − 1 parents among the placed columns with the largest mutual information.
   Parts of a multi-value column are placed together, each conditioned on its siblings first, so the combinations
   of parts ("Female;Male") keep their released rates.
3. **Sampling** (Numba, records in parallel, one ChaCha20 stream per record): each column's category is drawn from
   its conditional table given its parents, restricted to values that keep every sub-combination of length ≤ R
   released. Empty is always allowed, so only released combinations ever appear, as with the reference law.
   Columns come in the network's order, or (free order) each record draws next the column least blocked by what it
   holds, conditioned on its best-ranked parent set already drawn (`_parent_sets`): where few long combinations are
   released, blocking then falls on few columns instead of on the last ones. Both orders are fitted on a pilot and
   the one closer to the release is kept, the free order only if clearly closer (`CalibratedSampler._choose_order`).
4. **Calibration.** Weights f_c[category] per column are fitted by iterative proportional fitting on a pilot draw so
   that the weighted single-column distributions (empty included) match the released ones; each output batch is
   then drawn without replacement, with probability ∝ Π_c f_c, from a pool of POOL_FACTOR× as many candidates
   (8: where blocking leaves many cells empty, as on NIST, the factor caps only reach the released shares with a
   pool that large; 2 → 8 took the 1-way TVD of NIST from 0.161 to 0.138 and of adult from 0.057 to 0.042). The
   pool holds at most POOL_CANDIDATES in all, down to 2× per record: for outputs of a million records or more
   drawing dominates the cost, and there the release's counts are large and blocking rare.
5. **Balancing.** A weighted draw matches the released shares only in expectation: its sampling noise alone puts
   the 1-way TVD of 27,000 records near 0.008. The selection is then improved by exchanges with the rest of the
   pool (`balance_selection`), each kept when it brings the selection's counts closer (L1) to the released tables
   of one column and of every pair of columns (R ≥ 2): BALANCE_ROUNDS proposals per selected record. Pools of
   2 × BALANCE_PART_ROWS candidates or more are balanced in fixed parts, in parallel (`balance_in_parts`; the
   parts' leftover deviations add up, so parts smaller than that cost TVD).
6. **Coverage.** Matching the 1- and 2-way tables still leaves out combinations the release counts many times
   (on CTDC-like 17 k, 240 released combinations of median count 26 were absent from a balanced batch). Up to
   COVER_SHARE of each batch's records are replaced by seeded records that hold released combinations it lacks,
   each drawn by the law starting from them (`sample_categories` presets), in two steps. *Dense seeds* first (up to
   DENSE_PART of that share): each missing combination alone, drawn a few times; the draws that leave fewest cells
   empty in the columns the release says are never empty are taken first (`pick_seeds`), since such empty cells,
   which a seed's rare values block, are most of what coverage costs in fit. Then *packed seeds*, largest released
   counts first, each holding several missing combinations where they fit together (`pack_seeds`: one value per
   column, every sub-combination released, no combination created with a released count below COVER_FLOOR × that
   of the last combination seeds of one each would reach), so a few records cover many. Each seed replaces a row
   that holds no released combination alone, the one whose exchange moves the batch least from the released tables
   (`insert_least_harm`). Last, the other rows are balanced again against the pool's unselected candidates, never
   giving up a combination no other row holds (`rebalance_keeping`), which takes back part of what the seeds cost.

Everything is a function of the aggregates and a post-processing seed: no sensitive data, no privacy cost.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np

from sdsynth.count.combinations import count_combinations
from sdsynth.encode.records import EncodedData
from sdsynth.errors import ParameterError
from sdsynth.kernels.chacha import key_words, stream_key
from sdsynth.kernels.counting import build_lookup_table, table_lookup
from sdsynth.kernels.csr import build_csr, category_codes
from sdsynth.protect.aggregates import Aggregates
from sdsynth.synth.calibrated_kernels import (
    balance_in_parts,
    calibration_factors_in_parts,
    fit_to_margins,
    insert_least_harm,
    pack_seeds,
    pick_seeds,
    rebalance_keeping,
    sample_categories,
)

POOL_FACTOR = 8  # candidates per output record, up to POOL_CANDIDATES in all
MIN_POOL_FACTOR = 2
POOL_CANDIDATES = 2_000_000  # beyond 250,000 records the pool shrinks towards 2×: drawing is most of the cost
PILOT_FACTOR = 2
FREE_ORDER_GAIN = 0.95  # the free order (several times slower to draw) must fit the release 5 % better
FREE_ORDER_MIN_GAIN = 0.005  # and by this much at least (sum of the 1- and 2-way mean TVDs)
PILOT_RECORDS = 100_000
CHOICE_RECORDS = 10_000
BATCH_RECORDS = 250_000  # a pool of at most POOL_FACTOR × 250,000 = 2 M candidates per batch
IPF_ITERATIONS = 50
IPF_TOLERANCE = 1e-4
COMPLETION_ITERATIONS = 20
COMPLETION_TOLERANCE = 0.05  # records: a sweep that moves no cell by more stops the fitting
FACTOR_CAP = 4.0
SECOND_PARENT_CANDIDATES = 8
FREE_PARENT_CANDIDATES = 8
BALANCE_ROUNDS = 20  # exchanges proposed per selected record (balancing, step 5 above)
BALANCE_PART_ROWS = 65_536  # pool rows per part balanced on its own, in parallel (at least)
BALANCE_PARTS = 16  # at most
COVER_SHARE = 0.15  # default share of a batch's records that seeded records may replace (coverage)
DENSE_PART = 2 / 3  # of that budget, the share first offered to dense seeds (coverage)
DENSE_DRAWS = 4  # draws of each missing combination, the one leaving fewest never-empty columns empty kept
DENSE_CANDIDATE_FACTOR = 1  # missing combinations drawn as dense seeds, per batch record at most
DENSE_DRAW_FACTOR = 4  # draws per combination: DENSE_DRAWS, or this × the batch's size ÷ the missing, if fewer
DENSE_EMPTY_SHARE = 0.01  # a column whose released empty share is below this is "never empty" (dense seeds)
REBALANCE_ROUNDS = 50  # exchanges proposed per seeded record once coverage is done
COVER_WINDOW = 1024  # missing combinations tried for each seeded record after its first (coverage)
COVER_FLOOR = 0.25  # × the released count of the budget-th missing combination: the rarest a join may create
COVER_TRIES = 64  # rows considered for each replacement (coverage, step 6 above)
DIRECT_INDEX_ATTRIBUTES = 2048  # a dense pair table of at most 16 MiB


@dataclass(frozen=True)
class _Released:
    """The aggregates regrouped by the set of columns each combination touches."""

    n_columns: int
    n_categories: np.ndarray  # per expanded column: values + 1 (category 0 = empty)
    value_ids: list[np.ndarray]  # per column: attribute ids of its categories 1..
    groups: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]]  # columns → (categories (n, |cols|), counts)
    record_count: int
    unreleased_bound: tuple[float, ...]  # per length − 1: how many records an unreleased combination may hold


def _unreleased_bound(aggs: Aggregates, length: int) -> float:
    """The most records a combination of `length` attributes left out of the release plausibly holds: k − 1 under
    k-anonymity (counts are rounded down to multiples of k), the threshold plus one noise standard deviation under DP
    (its noisy count fell below the threshold, or post-processing removed it); 0 where the release does not say."""
    if aggs.mode == "k-anonymity":
        return float(max(int(aggs.parameters.get("resolution", 1)) - 1, 0))
    level = next((lvl for lvl in aggs.levels if int(lvl.get("length", 0)) == length), None)
    if level is None:
        return 0.0
    threshold = float(level.get("threshold") or 0.0)
    noise = float(level.get("noise_sd") or 0.0)
    return max(threshold, 0.0) + noise if math.isfinite(threshold + noise) else 0.0


def _regroup(aggs: Aggregates, counts: np.ndarray) -> _Released:
    attrs = aggs.attributes
    n_columns = len(attrs.columns)
    column_of = attrs.column_of.astype(np.int64)
    value_ids = [np.flatnonzero(column_of == c) for c in range(n_columns)]
    category = np.zeros(attrs.n_attributes, dtype=np.int64)
    for ids in value_ids:
        category[ids] = np.arange(1, len(ids) + 1)
    R = max(aggs.reporting_length, 1)
    ids = aggs.layout.unpack(aggs.keys, R).astype(np.int64)
    groups: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}
    for length in range(1, R + 1):
        sel = aggs.lengths == length
        if not sel.any():
            continue
        rows = ids[sel, :length]
        cols = column_of[rows]  # ascending ids → columns in canonical order, but not necessarily sorted
        order = np.argsort(cols, axis=1, kind="stable")
        cols = np.take_along_axis(cols, order, axis=1)
        cats = np.take_along_axis(category[rows], order, axis=1)
        keys, inverse = np.unique(cols, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        sorted_rows = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[sorted_rows], np.arange(len(keys) + 1))
        sel_counts = counts[sel]
        for g, key in enumerate(keys):
            part = sorted_rows[bounds[g] : bounds[g + 1]]
            groups[tuple(int(c) for c in key)] = (cats[part], sel_counts[part])
    n_categories = np.array([len(v) + 1 for v in value_ids], dtype=np.int64)
    bounds = tuple(_unreleased_bound(aggs, length) for length in range(1, R + 1))
    return _Released(n_columns, n_categories, value_ids, groups, int(aggs.record_count), bounds)


class _Model:
    """Joint tables of column sets (from released counts: module docstring, step 1) and the network built on them."""

    def __init__(self, released: _Released, max_parents: int) -> None:
        self.r = released
        self.max_parents = max_parents
        self.joint = cache(self._joint)
        self.mutual_information = cache(self._mutual_information)

    def _joint(self, cols: tuple[int, ...]) -> np.ndarray:
        """Joint counts over `cols` (sorted), categories 0 = empty, clamped at 0: by inversion of the released counts
        (`_inverted`) where an unreleased combination of all of `cols` has a true count of 0, else completed from
        the margins (`_completed`)."""
        if not 2 <= len(cols) <= len(self.r.unreleased_bound) or self.r.unreleased_bound[len(cols) - 1] <= 0:
            return self._inverted(cols)
        return self._completed(cols)

    def _at_least(self, cols: tuple[int, ...]) -> np.ndarray:
        """The released "at least these values" counts of every sub-combination of `cols` (0 where unreleased)."""
        shape = tuple(int(self.r.n_categories[c]) for c in cols)
        at_least = np.zeros(shape, dtype=np.float64)
        at_least[(0,) * len(cols)] = self.r.record_count
        for k in range(1, len(cols) + 1):
            for sub in itertools.combinations(range(len(cols)), k):
                group = self.r.groups.get(tuple(cols[i] for i in sub))
                if group is None:
                    continue
                cats, counts = group
                index = [np.zeros(len(counts), dtype=np.int64) for _ in cols]
                for j, i in enumerate(sub):
                    index[i] = cats[:, j]
                at_least[tuple(index)] = counts
        return at_least

    def _inverted(self, cols: tuple[int, ...]) -> np.ndarray:
        """Möbius inversion of `_at_least` along each column, clamped at 0: exact where every combination of the
        columns was released; an unreleased one's count lands in the cells where some of its values are empty."""
        joint = self._at_least(cols)
        for axis in range(len(cols)):
            joint = np.moveaxis(joint, axis, 0).copy()
            joint[0] -= joint[1:].sum(axis=0)
            joint = np.moveaxis(joint, 0, axis)
        return np.clip(joint, 0.0, None)

    def _completed(self, cols: tuple[int, ...]) -> np.ndarray:
        """The joint table that keeps the released combinations of all of `cols` at their counts and fits its
        margins over one column fewer (empty included) by iterative proportional fitting of the other cells, an
        unreleased combination of all of `cols` holding at most `unreleased_bound` records. Inversion alone would
        put the count of every unreleased combination in the cells where some of its values are empty (e.g.
        #(A = a, B = b, C empty) = #(a, b) − Σ released #(a, b, c)): at ε = 4 over 22 columns most triples are
        unreleased, and the tables then told the sampler to leave most cells empty."""
        at_least = self._at_least(cols)
        full = tuple(slice(1, None) for _ in cols)
        fixed = np.zeros(at_least.shape)
        fixed[full] = at_least[full]
        free = (fixed == 0).astype(np.float64)
        capped = np.zeros(at_least.shape, dtype=np.bool_)
        capped[full] = fixed[full] == 0
        bound = self.r.unreleased_bound[len(cols) - 1]
        targets = []
        for axis in range(len(cols)):
            margin = self.joint(tuple(c for j, c in enumerate(cols) if j != axis))
            targets.append(np.clip(margin - fixed.sum(axis=axis), 0.0, None))
        free = fit_to_margins(
            free.reshape(-1), capped.reshape(-1), np.array(free.shape, dtype=np.int64),
            np.concatenate([target.reshape(-1) for target in targets]), float(bound), COMPLETION_ITERATIONS,
            COMPLETION_TOLERANCE,
        ).reshape(free.shape)  # fmt: skip
        return fixed + free

    def table(self, cols: list[int]) -> np.ndarray:
        """Joint counts with axes in the order of `cols`."""
        key = tuple(sorted(cols))
        table = self.joint(key)
        return np.transpose(table, [key.index(c) for c in cols])

    def _mutual_information(self, parents: tuple[int, ...], child: int) -> float:
        p = self.table([*parents, child])
        total = p.sum()
        if total <= 0:
            return 0.0
        p = p / total
        pa = p.sum(axis=-1, keepdims=True)
        ch = p.sum(axis=tuple(range(p.ndim - 1)), keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = p * (np.log(p) - np.log(pa) - np.log(ch))
        return float(np.nansum(terms))

    def entropy(self, c: int) -> float:
        p = self.table([c])
        p = p[p > 0] / max(p.sum(), 1e-300)
        return float(-(p * np.log(p)).sum())

    def parents_for(self, child: int, placed: list[int], siblings: list[int]) -> tuple[int, ...]:
        """Up to max_parents parents among `placed`: siblings first (by MI), then greedily by conditional MI."""
        if self.max_parents == 0 or not placed:
            return ()
        chosen = sorted(siblings, key=lambda p: -self.mutual_information((p,), child))[: self.max_parents]
        while len(chosen) < self.max_parents:
            rest = [p for p in placed if p not in chosen]
            if not rest:
                break
            if chosen:  # condition on the parents already chosen; only the best few by pairwise MI are tried
                rest = sorted(rest, key=lambda p: -self.mutual_information((p,), child))[:SECOND_PARENT_CANDIDATES]
            best = max(rest, key=lambda p: self.mutual_information(tuple(sorted([*chosen, p])), child))
            chosen.append(best)
        return tuple(sorted(chosen))


@dataclass(frozen=True)
class Network:
    """Column order, parent sets (−1 padded) and flattened conditional tables: what the sampling kernel reads.

    Entries column_first[c]..column_first[c + 1] are column c's parent sets, best first; with a fixed order there is
    one, the network's, and with `free_order` a ranked list ending with the empty set (see `_parent_sets`)."""

    order: np.ndarray
    free_order: bool
    column_first: np.ndarray
    entry_column: np.ndarray  # per entry: its column
    parent_first: np.ndarray  # parent_entries[parent_first[p]:parent_first[p + 1]]: the entries with parent p
    parent_entries: np.ndarray
    parents: np.ndarray  # per entry
    strides: np.ndarray  # per entry
    cpt: np.ndarray
    cpt_offset: np.ndarray  # per entry
    n_categories: np.ndarray
    value_ids: np.ndarray
    value_offset: np.ndarray
    targets: list[np.ndarray]  # per column: released share of each category (empty first)


def build_network(aggs: Aggregates, counts: np.ndarray | None = None, free_order: bool = False) -> Network:
    """The calibrated law's model of a release (deterministic: a function of the aggregates only)."""
    return build_networks(aggs, counts, (free_order,))[0]


def build_networks(
    aggs: Aggregates,
    counts: np.ndarray | None = None,
    free_orders: tuple[bool, ...] = (False, True),
    model: _Model | None = None,
) -> list[Network]:
    """One network per `free_orders` flag, sharing the joint tables and the greedy structure (those of `model`, a
    `release_model` of `aggs` already in use, or of a new one)."""
    model = model or release_model(aggs, counts)
    released = model.r
    R = max(aggs.reporting_length, 1)
    columns = aggs.attributes.columns
    source = [c.source for c in columns]
    is_part = [c.is_part for c in columns]
    order, parents = _greedy_structure(model, source, is_part)
    targets = [_share(model.table([c])) for c in range(released.n_columns)]
    networks = []
    for free in free_orders:
        if free:
            sets = [_parent_sets(model, c, source, is_part, R - 1) for c in range(released.n_columns)]
        else:
            sets = [[parents[c]] for c in range(released.n_columns)]
        networks.append(_flatten(model, order, free, sets, targets, max(1, R - 1)))
    return networks


def release_model(aggs: Aggregates, counts: np.ndarray | None = None) -> _Model:
    """The joint tables of a release (computed as asked, then kept) and what the network is built with: one model
    serves the structure, the conditional tables and every `release_fit` against the same release."""
    counts = aggs.counts.astype(np.float64) if counts is None else counts
    return _Model(_regroup(aggs, counts), max_parents=max(aggs.reporting_length, 1) - 1)


def _share(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else np.eye(len(counts))[0]


def _greedy_structure(
    model: _Model, source: list[int], is_part: list[bool]
) -> tuple[list[int], dict[int, tuple[int, ...]]]:
    """Column order and parents of the greedy network (module docstring, step 2)."""
    order: list[int] = []
    parents: dict[int, tuple[int, ...]] = {}
    remaining = set(range(model.r.n_columns))
    while remaining:
        if not order:
            child = max(sorted(remaining), key=model.entropy)
            order.append(child)
            parents[child] = ()
            remaining.discard(child)
            continue
        # parts of a multi-value column whose siblings are placed come next, conditioned on them
        waiting = [c for c in sorted(remaining) if is_part[c] and any(source[o] == source[c] for o in order)]
        best: tuple[float, int, tuple[int, ...]] | None = None
        for c in waiting or sorted(remaining):
            siblings = [o for o in order if is_part[c] and source[o] == source[c]]
            pa = model.parents_for(c, order, siblings)
            score = model.mutual_information(pa, c) if pa else 0.0
            if best is None or score > best[0]:
                best = (score, c, pa)
        assert best is not None
        _, child, pa = best
        order.append(child)
        parents[child] = pa
        remaining.discard(child)
    return order, parents


def _parent_sets(
    model: _Model, c: int, source: list[int], is_part: list[bool], max_parents: int
) -> list[tuple[int, ...]]:
    """Column c's parent sets for a free order, best first: every single column and every pair of the
    FREE_PARENT_CANDIDATES best single parents, ranked by mutual information with c (sets holding more siblings
    of a multi-value part first, so combinations of parts keep their rates), then the empty set. The kernel uses
    the first set whose columns a record has drawn; MI grows with the set, so that is the best available one."""
    others = [p for p in range(model.r.n_columns) if p != c]
    if max_parents < 1 or not others:
        return [()]
    single = sorted(others, key=lambda p: (-model.mutual_information((p,), c), p))
    sets: list[tuple[int, ...]] = [(p,) for p in single]
    if max_parents >= 2:
        sets += [tuple(sorted(pair)) for pair in itertools.combinations(single[:FREE_PARENT_CANDIDATES], 2)]
    siblings = {p for p in others if is_part[c] and source[p] == source[c]}
    sets.sort(key=lambda pa: (-len(siblings.intersection(pa)), -model.mutual_information(pa, c), pa))
    return [*sets, ()]


def _flatten(
    model: _Model,
    order: list[int],
    free_order: bool,
    sets: list[list[tuple[int, ...]]],
    targets: list[np.ndarray],
    width: int,
) -> Network:
    """The kernel's arrays: per entry (column, parent set), its parents, strides and conditional table."""
    released = model.r
    n = released.n_columns
    column_first = np.cumsum([0] + [len(s) for s in sets]).astype(np.int64)
    n_entries = int(column_first[-1])
    parent_arr = np.full((n_entries, width), -1, dtype=np.int64)
    strides = np.zeros((n_entries, width), dtype=np.int64)
    offsets = np.zeros(n_entries, dtype=np.int64)
    tables = []
    position = 0
    entries = [(c, pa) for c in range(n) for pa in sets[c]]
    for e, (c, pa) in enumerate(entries):
        joint = model.table([*pa, c])
        rows = joint.sum(axis=-1, keepdims=True)
        cond = np.where(rows > 0, joint / np.where(rows > 0, rows, 1.0), targets[c])
        tables.append(cond.ravel())
        offsets[e] = position
        position += cond.size
        dims = [int(released.n_categories[p]) for p in pa]
        k_c = int(released.n_categories[c])
        for i, p in enumerate(pa):
            parent_arr[e, i] = p
            strides[e, i] = k_c * int(np.prod(dims[i + 1 :], dtype=np.int64))
    value_offset = np.zeros(n, dtype=np.int64)
    value_offset[1:] = np.cumsum([len(v) for v in released.value_ids])[:-1]
    has, entry = np.nonzero(parent_arr.T >= 0) if n_entries else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    with_parent = parent_arr.T[has, entry]
    by_parent = np.lexsort((entry, with_parent))
    return Network(
        order=np.asarray(order, dtype=np.int64),
        free_order=free_order,
        column_first=column_first,
        entry_column=np.repeat(np.arange(n, dtype=np.int64), np.diff(column_first)),
        parent_first=np.searchsorted(with_parent[by_parent], np.arange(n + 1)).astype(np.int64),
        parent_entries=entry[by_parent].astype(np.int64),
        parents=parent_arr,
        strides=strides,
        cpt=np.concatenate(tables) if tables else np.zeros(0),
        cpt_offset=offsets,
        n_categories=released.n_categories,
        value_ids=np.concatenate(released.value_ids).astype(np.int64) if n else np.zeros(0, dtype=np.int64),
        value_offset=value_offset,
        targets=targets,
    )


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
    return ext, empty


def _direct_index(aggs: Aggregates) -> tuple[np.ndarray, np.ndarray]:
    """The row of each released attribute and pair of attributes among the aggregates (−1: not released), for the
    kernel's lookups when R ≤ 3 and the attributes are few enough (DIRECT_INDEX_ATTRIBUTES) for a dense pair table;
    otherwise empty arrays (hashed lookups)."""
    n = aggs.attributes.n_attributes
    if aggs.reporting_length > 3 or n > DIRECT_INDEX_ATTRIBUTES:
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


def _calibration_weights(pools: list[np.ndarray], targets: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Per pool of draws and per column, a factor per category so that the weighted pool's single-column shares
    match `targets` (IPF); the pools are fitted in parallel, each on its own."""
    offsets = _bounds(targets)
    flat = calibration_factors_in_parts(
        np.concatenate(pools), _bounds(pools), np.concatenate(targets).astype(np.float64), offsets, IPF_ITERATIONS,
        IPF_TOLERANCE, FACTOR_CAP,
    )  # fmt: skip
    return [[row[offsets[c] : offsets[c + 1]] for c in range(len(targets))] for row in flat]


def _bounds(arrays: list[np.ndarray]) -> np.ndarray:
    """Where each array starts in their concatenation, and where the last ends."""
    return np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64)


@dataclass(frozen=True)
class BalanceTables:
    """The released tables a selection is balanced to (step 5): table t covers column first[t] alone (second[t] =
    −1) or the pair (first[t], second[t]); its cells, in the pool's category codes, are shares[cell_offset[t]:]."""

    first: np.ndarray
    second: np.ndarray
    cell_offset: np.ndarray
    n_categories: np.ndarray
    shares: np.ndarray


def balance_tables(model: _Model) -> BalanceTables:
    """Every single column and, when pairs were released (R ≥ 2), every pair of columns, as shares of the records."""
    n_columns = model.r.n_columns
    tables = [(c, -1) for c in range(n_columns)]
    if model.max_parents >= 1:
        tables += list(itertools.combinations(range(n_columns), 2))
    shares = [_share(model.table([a] if b < 0 else [a, b]).ravel()) for a, b in tables]
    sizes = np.array([len(x) for x in shares], dtype=np.int64)
    return BalanceTables(
        first=np.array([a for a, _ in tables], dtype=np.int64),
        second=np.array([b for _, b in tables], dtype=np.int64),
        cell_offset=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
        n_categories=np.asarray(model.r.n_categories, dtype=np.int64),
        shares=np.concatenate(shares),
    )


def _to_records(aggs: Aggregates, network: Network, categories: np.ndarray) -> EncodedData:
    """Drawn categories (0 = empty) as records: attribute ids per column, gathered into sorted CSR rows."""
    n = categories.shape[0]
    codes = category_codes(categories, network.value_ids, network.value_offset)
    no_multi = np.zeros((n, 0), dtype=np.int32)
    offsets, ids = build_csr(codes, no_multi, np.zeros((0, 1), dtype=np.int64), np.zeros((0, 0), dtype=np.int32))
    return EncodedData(aggs.attributes, offsets, ids, "synthetic")


NO_PRESETS = np.zeros(0, dtype=np.int64)
PILOT_STREAM = 1 << 62  # record indices of the pilot draw: disjoint from those of the output batches
PILOT_SELECTION = 1 << 62  # selection generator of the pilot: disjoint from those of the output batches
BALANCE_STREAM = 1 << 61  # + selection index: the balancing's streams, disjoint from the records'
COVER_STREAM = 1 << 60  # + batch index × BATCH_RECORDS + i: seeded record i of a batch (coverage)
COVER_SWAP_STREAM = 3 << 59  # + batch index: the choice of the rows the packed seeds replace
DENSE_SWAP_STREAM = COVER_SWAP_STREAM + (1 << 40)  # + batch index: the same for the dense seeds
DENSE_STREAM = 5 << 59  # + (batch index × DENSE_DRAWS + draw) · 2^32 + candidate: dense seed draws
REBALANCE_STREAM = BALANCE_STREAM + (1 << 55)  # + batch index: the balancing after coverage


class CalibratedSampler:
    """The calibrated law of one release, ready to produce batches: batch i is a function of (seed, i) only, so
    batches can be drawn in any order, or on different machines, and concatenate to the same records."""

    def __init__(
        self, aggs: Aggregates, target: int, seed: int | None = None, model: _Model | None = None,
        coverage: float | None = None,
    ) -> None:  # fmt: skip
        """`model`: a `release_model` of `aggs` the caller also uses (its tables are computed once); not kept, so
        the sampler shipped to other machines holds only what drawing needs. `coverage`: the share of each batch's
        records that may be seeded with released combinations it lacks (None: COVER_SHARE)."""
        if target < 0:
            raise ParameterError(f"the number of records must be >= 0, got {target}")
        if target and (aggs.record_count <= 0 or len(aggs.keys) == 0):
            raise ParameterError("the aggregates hold no record: nothing to synthesize from")
        self.aggs = aggs
        self.target = target
        n_words = max(1, (aggs.attributes.n_attributes + 63) // 64)
        self.tkeys, self.tidx = build_lookup_table(aggs.keys, np.arange(1, len(aggs.keys) + 1, dtype=np.int64))
        self.ext, self.ext_empty = _extension_bits(aggs, n_words, self.tkeys, self.tidx)
        self.single, self.pair = _direct_index(aggs)
        self.key = stream_key(seed)
        self.words = key_words(self.key)
        self.network: Network | None = None
        self.factors: list[np.ndarray] = []
        self.fits: dict[str, tuple[float, float]] = {}
        self.pool_factor = pool_factor(target)
        self.coverage = coverage_share(coverage)
        self.balance: BalanceTables | None = None
        self.attribute_column = np.zeros(0, dtype=np.int64)  # per attribute: its column and category (presets)
        self.attribute_category = np.zeros(0, dtype=np.int64)
        if target:
            model = model or release_model(aggs)
            self.balance = balance_tables(model)
            self._choose_order(model)

    def _choose_order(self, model: _Model) -> None:
        """Fit both column orders (fixed, free) on a pilot draw and keep the one whose calibrated and balanced
        selection is closer to the release (sum of the 1- and 2-way mean TVDs of `release_fit`); the free order,
        several times slower to draw, only if it is closer by FREE_ORDER_GAIN and by FREE_ORDER_MIN_GAIN at least:
        on CTDC-like tables both orders fit the release to within 0.001 after balancing, and the free order, a few
        per cent closer there, made drawing 4× slower for no gain against the real data. Post-processing: the
        pilot's streams are disjoint from the output's, and only the aggregates are compared with."""
        size = min(PILOT_RECORDS, max(PILOT_FACTOR * self.target, CHOICE_RECORDS))
        networks = build_networks(self.aggs, model=model)
        pilots = [self._draw(network, PILOT_STREAM, size) for network in networks]
        all_factors = _calibration_weights(pilots, networks[0].targets)
        selections = self._select_each(pilots, all_factors, PILOT_SELECTION, max(1, size // self.pool_factor))
        best: tuple[float, Network, list[np.ndarray]] | None = None
        for network, pilot, factors, rows in zip(networks, pilots, all_factors, selections, strict=True):
            fit = _fit(model, _to_records(self.aggs, network, pilot[rows]))
            self.fits["free" if network.free_order else "fixed"] = fit
            if best is None or sum(fit) < min(FREE_ORDER_GAIN * best[0], best[0] - FREE_ORDER_MIN_GAIN):
                best = (sum(fit), network, factors)
        assert best is not None
        _, self.network, self.factors = best
        n_attributes = self.aggs.attributes.n_attributes
        self.attribute_column = np.full(n_attributes, -1, dtype=np.int64)
        self.attribute_category = np.zeros(n_attributes, dtype=np.int64)
        for c, ids in enumerate(model.r.value_ids):
            self.attribute_column[ids] = c
            self.attribute_category[ids] = np.arange(1, len(ids) + 1)

    def _draw(
        self, net: Network, first: int, count: int, preset_offsets: np.ndarray = NO_PRESETS,
        preset_ids: np.ndarray = NO_PRESETS,
    ) -> np.ndarray:  # fmt: skip
        return sample_categories(
            np.int64(first), count, net.order, net.free_order, net.column_first, net.entry_column, net.parent_first,
            net.parent_entries, net.parents, net.strides, net.cpt,
            net.cpt_offset, net.n_categories, net.value_ids, net.value_offset, self.ext, self.ext_empty,
            max(self.aggs.reporting_length, 1), self.aggs.layout.bits, self.aggs.layout.slots, self.tkeys, self.tidx,
            self.words, self.single, self.pair, preset_offsets, preset_ids, self.attribute_column,
            self.attribute_category,
        )  # fmt: skip

    def _select(
        self, pool: np.ndarray, factors: list[np.ndarray], index: int, size: int, balance: bool = True
    ) -> np.ndarray:
        """Rows of `pool` (sorted): `size` drawn without replacement with probability ∝ Π_c f_c, from a generator
        keyed by (seed, index), then, with `balance`, exchanged with other rows of the pool towards the released
        tables (step 5; ChaCha20 stream BALANCE_STREAM + index)."""
        return self._select_each([pool], [factors], index, size, balance)[0]

    def _select_each(
        self, pools: list[np.ndarray], factors: list[list[np.ndarray]], index: int, size: int, balance: bool = True
    ) -> list[np.ndarray]:
        """`_select` of each pool with its factors, from the same generator; the balancing of the pools larger than
        `size` runs in one parallel call, in parts cut pool by pool (part p of all: stream BALANCE_STREAM + index +
        p·2^40)."""
        selection_key = [*np.frombuffer(self.key, dtype=np.uint32).tolist(), index]
        chosen = []
        for pool, pool_factors in zip(pools, factors, strict=True):
            log_w = np.zeros(len(pool))
            for c, f in enumerate(pool_factors):
                log_w += np.log(np.maximum(f, 1e-300))[pool[:, c]]
            # Efraimidis–Spirakis: the `size` largest u^(1/w) are a weighted draw without replacement
            keys = np.log(np.random.default_rng(selection_key).random(len(pool))) * np.exp(-log_w)
            rows = np.argpartition(-keys, size - 1)[:size] if size < len(pool) else np.arange(len(pool))
            chosen.append(np.sort(rows).astype(np.int64))
        tables = self.balance
        todo = [i for i, pool in enumerate(pools) if size < len(pool)]  # a pool taken whole has nothing to exchange
        if not balance or tables is None or not todo:
            return chosen
        starts = _bounds([pools[i] for i in todo])
        bounds = np.unique(np.concatenate([
            np.linspace(0, len(pools[i]), max(1, min(BALANCE_PARTS, len(pools[i]) // BALANCE_PART_ROWS)) + 1)
            .astype(np.int64) + start for i, start in zip(todo, starts, strict=False)
        ]))  # fmt: skip
        selected = np.concatenate([chosen[i] + start for i, start in zip(todo, starts, strict=False)])
        part_sizes = np.diff(np.searchsorted(selected, bounds))
        joined = pools[todo[0]] if len(todo) == 1 else np.concatenate([pools[i] for i in todo])  # one: no copy
        balanced = balance_in_parts(
            joined, selected, bounds, tables.first, tables.second, tables.cell_offset, tables.n_categories,
            np.outer(part_sizes, tables.shares), BALANCE_ROUNDS, self.words, np.int64(BALANCE_STREAM + index),
        )  # fmt: skip
        for k, i in enumerate(todo):
            chosen[i] = balanced[k * size : (k + 1) * size] - starts[k]
        return chosen

    def batch_sizes(self) -> list[int]:
        full, rest = divmod(self.target, BATCH_RECORDS)
        return [BATCH_RECORDS] * full + ([rest] if rest else [])

    def batch(self, index: int, size: int) -> EncodedData:
        """Output batch `index` (`size` records): a pool of pool_factor·size candidates from record streams of
        its own, of which `size` are drawn without replacement with probability ∝ Π_c f_c."""
        if size == 0 or self.network is None:
            return _empty(self.aggs)
        pool = self._draw(self.network, index * self.pool_factor * BATCH_RECORDS, self.pool_factor * size)
        rows = self._select(pool, self.factors, index, size)
        chosen = self._cover(pool, rows, index)
        return _to_records(self.aggs, self.network, chosen)

    def _cover(self, pool: np.ndarray, rows: np.ndarray, index: int) -> np.ndarray:
        """Coverage (step 6 above): the released combinations the batch lacks, brought in by seeded records that each
        replace a row, at most `coverage` × the batch's size in all. First dense seeds (`_dense_seeds`), for up to
        DENSE_PART of that budget; then packed seeds (`_packed_seeds`) for what is left of it; last, the other rows
        are exchanged with the pool's unselected rows (not `rows`) towards the released tables, never giving
        up a combination no other row holds (`rebalance_keeping`, REBALANCE_ROUNDS proposals per seeded record,
        stream REBALANCE_STREAM + batch index)."""
        tables = self.balance
        chosen = pool[rows]
        budget = int(self.coverage * len(chosen))
        if tables is None or budget == 0 or self.network is None:
            return chosen
        aggs = self.aggs
        present = count_combinations(_to_records(aggs, self.network, chosen), aggs.reporting_length)
        counts = np.zeros(len(aggs.keys), dtype=np.int64)  # per released combination: the rows holding it
        held = table_lookup(self.tkeys, self.tidx, present.keys) - 1  # −1: not released (cannot happen)
        counts[held[held >= 0]] = present.counts[held >= 0]
        dense = self._dense_seeds(counts, len(chosen), index, int(DENSE_PART * budget))
        chosen = self._insert(chosen, dense, counts, DENSE_SWAP_STREAM + index)
        packed = self._packed_seeds(counts, index, budget - len(dense))
        covered = self._insert(chosen, packed, counts, COVER_SWAP_STREAM + index)
        network = self.network
        movable = np.flatnonzero((covered == chosen).all(axis=1))
        return rebalance_keeping(
            covered, movable, np.delete(pool, rows, axis=0), tables.first, tables.second, tables.cell_offset,
            tables.n_categories,
            len(chosen) * tables.shares, REBALANCE_ROUNDS * (len(chosen) - len(movable)), self.words,
            np.int64(REBALANCE_STREAM + index), network.value_ids, network.value_offset, aggs.reporting_length,
            aggs.layout.bits, aggs.layout.slots, self.tkeys, self.tidx, counts,
        )  # fmt: skip

    def _missing(self, counts: np.ndarray) -> np.ndarray:
        """The released combinations no row holds, largest released counts first."""
        missing = np.flatnonzero(counts == 0)
        return missing[np.argsort(-self.aggs.counts[missing], kind="stable")]

    def _dense_seeds(self, counts: np.ndarray, size: int, index: int, budget: int) -> np.ndarray:
        """Seeded records that each start from one missing combination and leave few cells empty where the release
        says cells are (almost) never empty: what coverage costs in the 1-way TVD is mostly such cells, which a
        seed's rare values block. Each missing combination (the first DENSE_CANDIDATE_FACTOR × `size` by released
        count) is drawn by the law DENSE_DRAWS times, or DENSE_DRAW_FACTOR × `size` ÷ the number missing if fewer
        (the draws are the step's cost; on NIST at R = 3, 168,000 missing, one draw of the first 27,000 fit as well
        as one of 109,000), keeping the draw with the fewest never-empty columns empty (released empty share below
        DENSE_EMPTY_SHARE); the draws are taken fewest first, then by released count, skipping those whose
        combination an earlier one already holds (`pick_seeds`). Streams DENSE_STREAM + (batch × DENSE_DRAWS +
        draw) · 2^32 + candidate."""
        network, tables, aggs = self.network, self.balance, self.aggs
        assert network is not None and tables is not None
        missing = self._missing(counts)
        candidates = missing[: DENSE_CANDIDATE_FACTOR * size]
        if budget == 0 or len(candidates) == 0:
            return np.zeros((0, len(network.order)), dtype=np.int16)
        combos = aggs.layout.unpack(aggs.keys[candidates], aggs.reporting_length).astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum((combos >= 0).sum(axis=1))]).astype(np.int64)
        ids = combos[combos >= 0]
        single = np.flatnonzero(tables.second < 0)
        never_empty = np.zeros(len(network.order), dtype=np.bool_)
        never_empty[tables.first[single]] = tables.shares[tables.cell_offset[single]] < DENSE_EMPTY_SHARE
        unproducible = len(network.order) + 1  # above any count of empty cells: presets forming no released combination
        best, fewest = np.zeros(0, dtype=np.int16), np.zeros(0, dtype=np.int64)
        for draw in range(max(1, min(DENSE_DRAWS, DENSE_DRAW_FACTOR * size // len(missing)))):
            first = DENSE_STREAM + ((index * DENSE_DRAWS + draw) << 32)
            drawn = self._draw(network, first, len(candidates), offsets, ids)
            empty = np.where((drawn >= 0).all(axis=1), (drawn[:, never_empty] == 0).sum(axis=1), unproducible)
            if draw == 0:
                best, fewest = drawn, empty
            else:
                better = empty < fewest
                best[better], fewest[better] = drawn[better], empty[better]
        order = np.lexsort((np.arange(len(candidates)), fewest))
        order = order[fewest[order] < unproducible]
        taken = pick_seeds(
            best, candidates, order, budget, counts.copy(), network.value_ids, network.value_offset,
            aggs.reporting_length, aggs.layout.bits, aggs.layout.slots, self.tkeys, self.tidx,
        )  # fmt: skip
        return best[taken]

    def _packed_seeds(self, counts: np.ndarray, index: int, budget: int) -> np.ndarray:
        """The missing released combinations, largest released counts first, packed into at most `budget` seeds
        (`pack_seeds`), each drawn as a record by the law given its values. A combination whose sub-combinations
        were not all released is skipped, so the guarantee holds."""
        network, aggs = self.network, self.aggs
        assert network is not None
        missing = self._missing(counts)
        if budget <= 0 or len(missing) == 0:
            return np.zeros((0, len(network.order)), dtype=np.int16)
        combos = aggs.layout.unpack(aggs.keys[missing], aggs.reporting_length).astype(np.int64)
        floor = COVER_FLOOR * aggs.counts[missing[min(budget, len(missing)) - 1]]
        offsets, ids = pack_seeds(
            combos, budget, COVER_WINDOW, float(floor), len(network.order), self.attribute_column,
            self.attribute_category, self.ext, self.ext_empty, max(aggs.reporting_length, 1), aggs.layout.bits,
            aggs.layout.slots, self.tkeys, self.tidx, self.single, self.pair, aggs.counts.astype(np.float64),
        )  # fmt: skip
        seeded = self._draw(network, COVER_STREAM + index * BATCH_RECORDS, len(offsets) - 1, offsets, ids)
        return seeded[(seeded >= 0).all(axis=1)]

    def _insert(self, chosen: np.ndarray, seeded: np.ndarray, counts: np.ndarray, stream: int) -> np.ndarray:
        """Each seeded record replaces the row whose exchange moves the batch least from the released tables and
        that is not the only holder of a released combination (`insert_least_harm`), so the batch gains
        combinations and loses none (`counts` kept up to date)."""
        tables, network, aggs = self.balance, self.network, self.aggs
        assert tables is not None and network is not None
        if len(seeded) == 0:
            return chosen
        return insert_least_harm(
            chosen, seeded, tables.first, tables.second, tables.cell_offset, tables.n_categories,
            len(chosen) * tables.shares, COVER_TRIES, self.words, np.int64(stream), network.value_ids,
            network.value_offset, aggs.reporting_length, aggs.layout.bits, aggs.layout.slots, self.tkeys, self.tidx,
            counts,
        )  # fmt: skip


def coverage_share(coverage: float | None) -> float:
    """The share of each batch's records that coverage may replace: `coverage`, or COVER_SHARE when not given."""
    return COVER_SHARE if coverage is None else coverage


def pool_factor(target: int) -> int:
    """Candidates drawn per output record: POOL_FACTOR, fewer (down to MIN_POOL_FACTOR) for large outputs."""
    return max(MIN_POOL_FACTOR, min(POOL_FACTOR, POOL_CANDIDATES // max(target, 1)))


def _empty(aggs: Aggregates) -> EncodedData:
    return EncodedData(aggs.attributes, np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32), "synthetic")


def calibrated_batches(
    aggs: Aggregates, target: int, seed: int | None = None, coverage: float | None = None
) -> Iterator[EncodedData]:
    """`target` records drawn with the calibrated law, in batches of at most BATCH_RECORDS."""
    sampler = CalibratedSampler(aggs, target, seed, coverage=coverage)
    for index, size in enumerate(sampler.batch_sizes()):
        yield sampler.batch(index, size)


def release_fit(aggs: Aggregates, records: EncodedData, model: _Model | None = None) -> tuple[float, float]:
    """Mean total variation distance between the records' 1-way and 2-way distributions over expanded columns (empty
    cells included) and the released ones (the calibrated law's own tables of one and two columns, those of `model`
    when given, a `release_model` of `aggs`): how well a law reproduces the release, computed from public
    information only."""
    return _fit(model or release_model(aggs), records)


def _fit(model: _Model, records: EncodedData) -> tuple[float, float]:
    """`release_fit` against the tables of `model` (cached across calls)."""
    n = records.n_records
    released = model.r
    n_columns = released.n_columns
    if n == 0 or n_columns == 0:
        return 0.0, 0.0
    where = np.full(records.attributes.n_attributes, -1, dtype=np.int64)
    column = np.full(records.attributes.n_attributes, -1, dtype=np.int64)
    for c, ids in enumerate(released.value_ids):
        where[ids] = np.arange(1, len(ids) + 1)
        column[ids] = c
    cats = np.zeros((n_columns, n), dtype=np.int64)
    row = np.repeat(np.arange(n), np.diff(records.offsets))
    keep = where[records.ids] > 0
    cats[column[records.ids[keep]], row[keep]] = where[records.ids[keep]]

    def tvd(cols: list[int]) -> float:
        expected = model.table(cols).ravel()
        if expected.sum() <= 0:
            return 0.0
        flat = cats[cols[0]] if len(cols) == 1 else cats[cols[0]] * int(released.n_categories[cols[1]]) + cats[cols[1]]
        seen = np.bincount(flat, minlength=len(expected)) / n
        return 0.5 * float(np.abs(seen - expected / expected.sum()).sum())

    one = np.mean([tvd([c]) for c in range(n_columns)])
    pairs = [tvd([a, b]) for a, b in itertools.combinations(range(n_columns), 2)]
    return float(one), float(np.mean(pairs)) if pairs else 0.0
