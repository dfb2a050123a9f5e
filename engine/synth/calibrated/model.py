"""Step 1 of the calibrated law: joint tables over values *and empty* of any set of at most R expanded columns,
derived from the released counts only.

Released counts are "at least these values" counts (the released record count is that of the empty combination).
Möbius inversion along each column turns them into a joint table (#(A = a, B empty) = #(A = a) − Σ_b #(A = a,
B = b)), exact where every combination of the columns was released; negative cells (noise) are clamped to 0. Where
combinations may have been left out of the release, inversion would count every unreleased combination as empty
cells, so tables of two or more columns are instead completed from their margins, each unreleased combination
holding at most what the release allows it (`ReleaseModel._completed`). Every later step reads these tables: the
network (step 2), the calibration targets (step 5), the balancing targets (step 6) and the fit that chooses the order
(step 4) and the sampling law.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np

from sdsynth.protect.aggregates import Aggregates
from sdsynth.synth.calibrated.fitting_kernels import fit_to_margins, least_squares_table
from sdsynth.synth.calibrated.parameters import CalibratedParameters, resolved


@dataclass(frozen=True)
class _Released:
    """The aggregates regrouped by the set of columns each combination touches."""

    n_columns: int
    n_categories: np.ndarray  # per expanded column: values + 1 (category 0 = empty)
    value_ids: list[np.ndarray]  # per column: attribute ids of its categories 1..
    groups: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]]  # columns → (categories (n, |cols|), counts)
    record_count: int
    unreleased_bound: tuple[float, ...]  # per length − 1 (to R + 1): records an unreleased combination may hold
    column_pairs: frozenset[tuple[int, int]] | None = None  # chosen column pairs released (None: every pair)
    pair_noise_sd: float = 0.0  # DP: the noise SD of a released pair cell (0: none, or k-anonymity)
    single_noise_sd: float = 0.0  # DP: the noise SD of a released single count
    count_noise_sd: float = 0.0  # DP: the noise SD of the released record count

    def pair_released(self, a: int, b: int) -> bool:
        """Whether the release counted the value pairs of columns a and b (every pair unless pairs were chosen)."""
        return self.column_pairs is None or (min(a, b), max(a, b)) in self.column_pairs


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
    # one length beyond the release: nothing bounds those combinations, their tables are completed from the margins
    bounds = (*(_unreleased_bound(aggs, length) for length in range(1, R + 1)), math.inf)
    sds = {int(lvl.get("length", 0)): float(lvl.get("noise_sd") or 0.0) for lvl in aggs.levels}
    dp = aggs.mode == "dp"
    count_sd = math.sqrt(float(aggs.parameters.get("variance_record_count") or 0.0)) if dp else 0.0
    return _Released(
        n_columns, n_categories, value_ids, groups, int(aggs.record_count), bounds, aggs.column_pairs(),
        sds.get(2, 0.0) if dp else 0.0, sds.get(1, 0.0) if dp else 0.0, count_sd,
    )  # fmt: skip


class ReleaseModel:
    """Joint tables of column sets (computed as asked, then kept), and the information measures the network is built
    with (step 2)."""

    def __init__(self, released: _Released, max_parents: int, parameters: CalibratedParameters) -> None:
        self.released = released
        self.max_parents = max_parents
        self.parameters = parameters
        self.mutual_information = cache(self._mutual_information)
        self._tables: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self._table_bytes = 0

    def cells(self, cols: tuple[int, ...] | list[int]) -> int:
        """The number of cells of the joint table over `cols` (values and empty)."""
        return math.prod(int(self.released.n_categories[c]) for c in cols)

    def fits(self, cols: tuple[int, ...] | list[int]) -> bool:
        """Whether the joint table over `cols` is small enough to be asked for (`max_table_cells`)."""
        return self.cells(cols) <= self.parameters.max_table_cells

    def joint(self, cols: tuple[int, ...]) -> np.ndarray:
        """`_joint`, kept for reuse within `table_cache_bytes` (least recently used tables dropped first)."""
        table = self._tables.get(cols)
        if table is not None:
            self._tables.move_to_end(cols)
            return table
        table = self._joint(cols)
        self._tables[cols] = table
        self._table_bytes += table.nbytes
        while self._table_bytes > self.parameters.table_cache_bytes and len(self._tables) > 1:
            _, dropped = self._tables.popitem(last=False)
            self._table_bytes -= dropped.nbytes
        return table

    def _joint(self, cols: tuple[int, ...]) -> np.ndarray:
        """Joint counts over `cols` (sorted), categories 0 = empty, clamped at 0: by inversion of the released counts
        (`_inverted`) where an unreleased combination of all of `cols` has a true count of 0, else completed from
        the margins (`_completed`)."""
        bounds = self.released.unreleased_bound
        if len(cols) == 2 and not self.released.pair_released(*cols):  # not a chosen pair: along the chosen ones
            return self._along_tree(cols)
        if not 2 <= len(cols) <= len(bounds) or bounds[len(cols) - 1] <= 0:
            table = self._inverted(cols)
        else:
            table = self._completed(cols)
        if self._least_squares_applies(cols):
            table = self._least_squares(cols, table)
        return table

    def _least_squares_applies(self, cols: tuple[int, ...]) -> bool:
        """Released pairs of a DP release of lengths 1 and 2 only. With length 3 released, the triples' tables keep
        their released cells exact and are completed to the pair tables: re-estimated pairs then disagree with them
        (CTDC-like 17 k at ε 4, R = 3, four releases each: k-marginal 960.2 against 969.0 without)."""
        released = self.released
        return (
            len(cols) == 2 and self.parameters.least_squares_iterations > 0
            and len(released.unreleased_bound) == 3  # R = 2: the bounds of lengths 1, 2 and 3
            and released.pair_noise_sd > 0 and released.single_noise_sd > 0 and released.pair_released(*cols)
        )  # fmt: skip

    def _least_squares(self, cols: tuple[int, ...], start: np.ndarray) -> np.ndarray:
        """A released pair's table re-estimated from every noisy number that measures it (`least_squares_table`):
        its value cells, both columns' single counts and the record count, each weighted by its noise, instead of
        keeping the released cells exact and fitting the rest (the empty cells then took the sum of every cell's
        noise). DP releases only: the noise SDs come from release_levels."""
        released = self.released
        a, b = cols
        na, nb = int(released.n_categories[a]), int(released.n_categories[b])
        y = np.zeros((na, nb))
        group = released.groups.get((a, b))
        if group is not None:
            y[group[0][:, 0], group[0][:, 1]] = group[1]
        r, c = np.zeros(na), np.zeros(nb)
        for values, col in ((r, a), (c, b)):
            single = released.groups.get((col,))
            if single is not None:
                values[single[0][:, 0]] = single[1]
        w2, w1 = 1 / released.pair_noise_sd**2, 1 / released.single_noise_sd**2
        wN = 1 / max(released.count_noise_sd, 1e-9) ** 2
        return least_squares_table(
            start.astype(np.float64), y, r, c, float(released.record_count), w2, w1, wN,
            self.parameters.least_squares_iterations, self.parameters.least_squares_tolerance,
        )  # fmt: skip

    def _along_tree(self, cols: tuple[int, ...]) -> np.ndarray:
        """The joint table of two columns a release of chosen column pairs does not join, as the chosen pairs imply
        it: the table of the first pair on the shortest path between them, times the conditional table of each next
        pair (with a tree, the Chow–Liu model of the release). Independence would lose every dependence that passes
        through other columns, and the tables that are completed from these (two parents) with it."""
        path = self._tree_path(*cols)
        if path is None:  # no path (a release with no pair of these columns' components): independence
            a, b = self.joint(cols[:1]), self.joint(cols[1:])
            return np.outer(a, b) / max(float(a.sum()), 1e-300)
        table = self.table([path[0], path[1]])
        for u, v in itertools.pairwise(path[1:]):
            edge = self.table([u, v])
            rows = edge.sum(axis=1, keepdims=True)
            fallback = shares(edge.sum(axis=0))  # a category of u that holds no record: v's own shares
            table = table @ np.where(rows > 0, edge / np.where(rows > 0, rows, 1.0), fallback)
        return table

    @cached_property
    def _neighbours(self) -> dict[int, list[int]]:
        """The columns each column is paired with in the release's chosen pairs (computed once)."""
        neighbours: dict[int, list[int]] = {}
        for u, v in sorted(self.released.column_pairs or frozenset()):
            neighbours.setdefault(u, []).append(v)
            neighbours.setdefault(v, []).append(u)
        return neighbours

    def _tree_path(self, a: int, b: int) -> list[int] | None:
        """The columns on a shortest path from a to b through the chosen pairs (None: not connected)."""
        neighbours = self._neighbours
        previous = {a: a}
        queue = [a]
        for u in queue:
            for v in neighbours.get(u, []):
                if v not in previous:
                    previous[v] = u
                    queue.append(v)
        if b not in previous:
            return None
        path = [b]
        while path[-1] != a:
            path.append(previous[path[-1]])
        return path[::-1]

    def _at_least(self, cols: tuple[int, ...]) -> np.ndarray:
        """The released "at least these values" counts of every sub-combination of `cols` (0 where unreleased)."""
        released = self.released
        shape = tuple(int(released.n_categories[c]) for c in cols)
        at_least = np.zeros(shape, dtype=np.float64)
        at_least[(0,) * len(cols)] = released.record_count
        for k in range(1, len(cols) + 1):
            for sub in itertools.combinations(range(len(cols)), k):
                group = released.groups.get(tuple(cols[i] for i in sub))
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
        bound = self.released.unreleased_bound[len(cols) - 1]
        targets = []
        for axis in range(len(cols)):
            margin = self.joint(tuple(c for j, c in enumerate(cols) if j != axis))
            targets.append(np.clip(margin - fixed.sum(axis=axis), 0.0, None))
        free = fit_to_margins(
            free.reshape(-1), capped.reshape(-1), np.array(free.shape, dtype=np.int64),
            np.concatenate([target.reshape(-1) for target in targets]), float(bound),
            self.parameters.completion_iterations, self.parameters.completion_tolerance,
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


def shares(counts: np.ndarray) -> np.ndarray:
    """A table of counts as shares of its total; all on the first cell (empty) when the total is 0."""
    total = counts.sum()
    return counts / total if total > 0 else np.eye(len(counts))[0]


def release_model(
    aggs: Aggregates, counts: np.ndarray | None = None, parameters: CalibratedParameters | None = None
) -> ReleaseModel:
    """The joint tables of a release (computed as asked, then kept) and what the network is built with: one model
    serves the structure, the conditional tables and every `release_fit` against the same release."""
    counts = aggs.counts.astype(np.float64) if counts is None else counts
    return ReleaseModel(_regroup(aggs, counts), max_parents(aggs.reporting_length), resolved(parameters))


def max_parents(reporting_length: int) -> int:
    """Parents per column in the network: R − 1 (its tables hold released combinations only), except at R = 2:
    two, their 3-column tables completed from the released pairs (maximum entropy). One parent cannot keep the
    joint rates of three or more parts of a multi-value column (at ε 4 on 17 k CTDC-like records, one pair of
    IP_Relation's parts came out 2.4 times too often, and balancing cannot undo it); two can (bench/README.md,
    "Strong privacy at low ε")."""
    R = max(reporting_length, 1)
    return 2 if R == 2 else R - 1
