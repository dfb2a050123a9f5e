"""A tree of column pairs chosen with DP, for `column_pairs` tree (docs/privacy.md, "A tree of column pairs").

Releasing every pair of columns makes a record's contribution bound at length 2 grow with C(n, 2), and every pair
cell's noise with its square root. MST (McKenna et al. 2021) measures only n − 1 pairs, chosen privately, and keeps
far more signal per cell at low ε. This module makes the same choice from the released single values:

- every pair of expanded columns (A, B) is scored by how far its true joint table (released values, and one category
  for empty or unreleased) lies from the table the released single counts predict under independence,
  score = Σ |true − round(N̂·p̂_A·p̂_B)|, in integers. Adding or removing a record moves one cell of the true table
  by one and the prediction not at all (it reads released numbers only), so the score moves by at most 1;
- the pairs of parts of one multi-value column are always kept (a public choice: the schema lists the parts),
  since a tree would keep only a path through them and lose which parts are held together;
- a spanning tree is grown from them as Kruskal's algorithm would, one edge per round among the pairs that join two
  components, picked by the exponential mechanism: P(pair) ∝ exp(ε_r·score/2), sampled exactly (uniform proposals
  accepted with the exact Bernoulli(exp(−γ)) sampler, ε_r rounded down to a multiple of 2^-20); then as many more
  rounds as the tree had (or `extra_column_pairs`) pick among all pairs not chosen yet: one tree keeps too few
  dependences (adult at ε 0.5: 952 with the tree, 959 with as many pairs again; docs/synthesis.md). Each round
  is ε_r-DP and, being a bounded-range mechanism, ε_r²/8-zCDP (Cesar and Rogers 2021), so r rounds (the number of
  components less one, plus the extra pairs: public) spend ρ_sel = r·ε_r²/8: ε_r = √(8ρ_sel/r).

The tree is part of the release (release_info `released_column_pairs`): it is the mechanism's output, like a noisy
count. Only the pairs of its columns are counted, noised and released at length 2.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from sdsynth.encode.attributes import AttributeTable
from sdsynth.errors import PrivacyParameterError
from sdsynth.kernels.chacha import uniform_below
from sdsynth.kernels.keys import KeyLayout
from sdsynth.protect.dp.random import bernoulli_exp

EPSILON_DENOMINATOR = 1 << 20
MAX_TABLE_CELLS = 1 << 24  # public cap on the cells of all pair tables together (128 MiB of counts per thread)


@njit(cache=True, nogil=True)
def _add_pair_tables(
    offsets: np.ndarray, ids: np.ndarray, lo: int, hi: int, column_of: np.ndarray, category: np.ndarray,
    n_categories: np.ndarray, table_offset: np.ndarray, tables: np.ndarray,
) -> None:  # fmt: skip
    """Adds rows [lo, hi) to the joint tables of every pair of columns (pairs in itertools.combinations order, cell
    = category_A·n_categories[B] + category_B, category 0 = empty or unreleased)."""
    n_columns = n_categories.shape[0]
    codes = np.zeros(n_columns, dtype=np.int64)
    for r in range(lo, hi):
        for t in range(offsets[r], offsets[r + 1]):
            c = column_of[ids[t]]
            if c >= 0:
                codes[c] = category[ids[t]]
        p = 0
        for i in range(n_columns):
            row = codes[i]
            for j in range(i + 1, n_columns):
                tables[table_offset[p] + row * n_categories[j] + codes[j]] += 1
                p += 1
        for t in range(offsets[r], offsets[r + 1]):
            c = column_of[ids[t]]
            if c >= 0:
                codes[c] = 0


@dataclass(frozen=True)
class PairTablesJob:
    """The joint table of every pair of expanded columns over the released single values (a `parallel.BatchJob`):
    what the scores read. Never released."""

    column_of: np.ndarray
    category: np.ndarray
    n_categories: np.ndarray
    table_offset: np.ndarray
    n_cells: int

    def begin(self, n_threads: int, partition: int) -> list[np.ndarray]:
        del partition
        return [np.zeros(self.n_cells, dtype=np.int64) for _ in range(n_threads)]

    def work(
        self, state: list[np.ndarray], thread: int, offsets: np.ndarray, ids: np.ndarray, lo: int, hi: int
    ) -> None:
        _add_pair_tables(
            offsets, ids, lo, hi, self.column_of, self.category, self.n_categories, self.table_offset, state[thread]
        )

    def end(self, state: list[np.ndarray]) -> np.ndarray:
        return self.combine(state)

    def combine(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        return functools.reduce(np.add, parts)


@dataclass(frozen=True)
class PairLayout:
    """Categories of the released single values per expanded column (0: empty or unreleased) and where each pair's
    table sits in the flat array of all pair tables."""

    column_of: np.ndarray  # per attribute: its expanded column
    category: np.ndarray  # per attribute: 1.. if released, else 0
    n_categories: np.ndarray  # per column: released values + 1
    released_counts: list[np.ndarray]  # per column: the released noisy counts of categories 1..
    pairs: list[tuple[int, int]]
    table_offset: np.ndarray

    @property
    def n_cells(self) -> int:
        return int(self.table_offset[-1])

    def job(self) -> PairTablesJob:
        return PairTablesJob(self.column_of, self.category, self.n_categories, self.table_offset[:-1], self.n_cells)


def pair_layout(column_of: np.ndarray, n_columns: int, single_ids: np.ndarray, single_counts: np.ndarray) -> PairLayout:
    """The layout of the pair tables over the released single values `single_ids` (their noisy counts
    `single_counts`): public inputs only."""
    column_of = column_of.astype(np.int64)
    category = np.zeros(len(column_of), dtype=np.int64)
    released_counts: list[np.ndarray] = []
    n_categories = np.ones(n_columns, dtype=np.int64)
    single_columns = column_of[single_ids]
    for c in range(n_columns):
        mine = single_columns == c
        category[single_ids[mine]] = np.arange(1, int(mine.sum()) + 1)
        n_categories[c] = int(mine.sum()) + 1
        released_counts.append(single_counts[mine].astype(np.float64))
    pairs = list(itertools.combinations(range(n_columns), 2))
    sizes = np.array([n_categories[a] * n_categories[b] for a, b in pairs], dtype=np.int64)
    table_offset = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    if table_offset[-1] > MAX_TABLE_CELLS:
        raise PrivacyParameterError(
            f"`column_pairs` tree would score {int(table_offset[-1]):,} cells of pair tables (at most "
            f"{MAX_TABLE_CELLS:,}): bin the widest columns in the schema, or release every pair"
        )
    return PairLayout(column_of, category, n_categories, released_counts, pairs, table_offset)


def _shares(released: np.ndarray, n_protected: int) -> np.ndarray:
    """Predicted shares of one column's categories (empty first) from its released counts and N̂."""
    values = np.clip(released, 0.0, None)
    empty = max(float(n_protected) - float(values.sum()), 0.0)
    out = np.concatenate([[empty], values])
    total = out.sum()
    return out / total if total > 0 else np.eye(len(out))[0]


def pair_scores(layout: PairLayout, tables: np.ndarray, n_protected: int) -> np.ndarray:
    """L1 distance between each pair's true table and the independence prediction from released numbers, rounded
    to whole records: integers throughout, so one record moves a score by at most 1 exactly (no float rounding)."""
    shares = [_shares(counts, n_protected) for counts in layout.released_counts]
    scores = np.zeros(len(layout.pairs), dtype=np.int64)
    for p, (a, b) in enumerate(layout.pairs):
        true = tables[layout.table_offset[p] : layout.table_offset[p + 1]]
        predicted = np.rint(float(n_protected) * np.outer(shares[a], shares[b]).ravel()).astype(np.int64)
        scores[p] = int(np.abs(true - predicted).sum())
    return scores


@njit(cache=True, nogil=True)
def _exponential_mechanism(state: np.ndarray, t: np.ndarray, eps_num: np.int64, eps_den: np.int64) -> np.int64:
    """Index i with probability ∝ exp(−(eps_num/eps_den)·t[i]/2), exactly (uniform proposals, exact acceptance)."""
    m = t.shape[0]
    t_min = t[0]
    for i in range(1, m):
        t_min = min(t_min, t[i])
    while True:
        i = uniform_below(state, m)
        if bernoulli_exp(state, eps_num * (t[i] - t_min), 2 * eps_den):
            return i


def sibling_pairs(attributes: AttributeTable) -> list[tuple[int, int]]:
    """The pairs of parts of one multi-value column (public: the schema's parts). They are always released: a tree
    would keep only a path through a column's parts, and with it lose which parts are held together."""
    by_source: dict[int, list[int]] = {}
    for c, column in enumerate(attributes.columns):
        if column.is_part:
            by_source.setdefault(column.source_position, []).append(c)
    return [pair for parts in by_source.values() for pair in itertools.combinations(parts, 2)]


def _components(n_columns: int, joined: Collection[tuple[int, int]]) -> np.ndarray:
    """Per column, a label of its component once the `joined` pairs connect columns."""
    component = np.arange(n_columns)
    for a, b in joined:
        component[component == component[b]] = component[a]
    return component


def pair_matrix(pairs: Collection[tuple[int, int]], n_columns: int) -> np.ndarray:
    """A symmetric boolean matrix: whether columns a and b form one of `pairs`."""
    matrix = np.zeros((n_columns, n_columns), dtype=bool)
    for a, b in pairs:
        matrix[a, b] = matrix[b, a] = True
    return matrix


def tree_rounds(n_columns: int, joined: Collection[tuple[int, int]]) -> int:
    """Edges the tree adds to the `joined` pairs to connect every column: one per round of the choice."""
    return len(np.unique(_components(n_columns, joined))) - 1 if n_columns else 0


def round_epsilon(rho_selection: float, rounds: int) -> float:
    """ε_r of each round: `rounds` rounds of ε_r²/8-zCDP spend ρ_sel."""
    return math.sqrt(8.0 * rho_selection / rounds) if rounds > 0 else 0.0


def extra_rounds(n_columns: int, joined: Collection[tuple[int, int]], extra: int | None) -> int:
    """The extra pairs asked for (None: as many as the tree's edges), within the pairs a tree over the `joined`
    ones leaves (public)."""
    rounds = tree_rounds(n_columns, joined)
    left = math.comb(n_columns, 2) - len(set(joined)) - rounds
    return max(0, min(rounds if extra is None else extra, left))


def choose_tree(
    scores: np.ndarray, n_columns: int, rho_selection: float, state: np.ndarray,
    joined: Collection[tuple[int, int]] = (), extra: int | None = 0,
) -> list[tuple[int, int]]:  # fmt: skip
    """The `joined` pairs, the edges that connect them into one tree, and `extra` more pairs (pairs ascending): each
    tree edge picked by the exponential mechanism among the pairs joining two components, each extra pair among the
    pairs not chosen yet (scores in itertools.combinations order, sensitivity 1)."""
    extra = extra_rounds(n_columns, joined, extra)
    rounds = tree_rounds(n_columns, joined)
    pairs = list(itertools.combinations(range(n_columns), 2))
    a_of = np.array([a for a, _ in pairs], dtype=np.int64)
    b_of = np.array([b for _, b in pairs], dtype=np.int64)
    component = _components(n_columns, joined)
    chosen = sorted(set(joined))
    if rounds + extra == 0:
        return chosen
    eps_num = math.floor(round_epsilon(rho_selection, rounds + extra) * EPSILON_DENOMINATOR)
    if eps_num <= 0:
        raise PrivacyParameterError("the share of the budget that chooses the pairs is too small to represent")
    taken = np.zeros(len(pairs), dtype=bool)
    taken[[pairs.index(pair) for pair in chosen]] = True

    def pick(candidates: np.ndarray) -> int:
        t = scores[candidates].max() - scores[candidates]
        choice = int(candidates[_exponential_mechanism(state, t, np.int64(eps_num), np.int64(EPSILON_DENOMINATOR))])
        taken[choice] = True
        chosen.append(pairs[choice])
        return choice

    for _ in range(rounds):
        a, b = pairs[pick(np.flatnonzero(component[a_of] != component[b_of]))]
        component[component == component[b]] = component[a]
    for _ in range(extra):
        pick(np.flatnonzero(~taken))
    return sorted(chosen)


def in_column_pairs(
    keys: np.ndarray, pairs: Collection[tuple[int, int]], attributes: AttributeTable, layout: KeyLayout
) -> np.ndarray:
    """Which length-2 `keys` join the two columns of one of `pairs`."""
    chosen = pair_matrix(pairs, len(attributes.columns))
    ab = layout.unpack(keys, 2).astype(np.int64)
    column_of = attributes.column_of.astype(np.int64)
    return chosen[column_of[ab[:, 0]], column_of[ab[:, 1]]]
