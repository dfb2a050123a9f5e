"""Step 2 of the calibrated law, and the parent sets of step 4's free order: the Bayesian network records are drawn
from, flattened into the arrays the drawing kernel reads.

The structure is greedy, as PrivBayes builds one: the first column has the largest entropy; then, repeatedly, the
column and up to R − 1 parents (two at R = 2: `model.max_parents`) among the placed columns with the largest mutual
information. Parts of a multi-value column are placed together, each conditioned on its siblings first, so the
combinations of parts ("Female;Male") keep their released rates. The free order (step 4) instead gives each column a
ranked list of parent sets, and a record draws each column given the best-ranked set it has already drawn
(`_parent_sets`). Either way the network is a function of the aggregates only.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from sdsynth.protect.aggregates import Aggregates
from sdsynth.synth.calibrated.model import ReleaseModel, release_model, shares
from sdsynth.synth.calibrated.parameters import CalibratedParameters


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


def build_network(
    aggs: Aggregates,
    counts: np.ndarray | None = None,
    free_order: bool = False,
    parameters: CalibratedParameters | None = None,
) -> Network:
    """The calibrated law's model of a release (deterministic: a function of the aggregates only)."""
    return build_networks(aggs, counts, (free_order,), parameters=parameters)[0]


def build_networks(
    aggs: Aggregates,
    counts: np.ndarray | None = None,
    free_orders: tuple[bool, ...] = (False, True),
    model: ReleaseModel | None = None,
    parameters: CalibratedParameters | None = None,
) -> list[Network]:
    """One network per `free_orders` flag, sharing the joint tables and the greedy structure (those of `model`, a
    `release_model` of `aggs` already in use, or of a new one built with `parameters`)."""
    model = model or release_model(aggs, counts, parameters)
    released = model.released
    columns = aggs.attributes.columns
    source = [c.source for c in columns]
    is_part = [c.is_part for c in columns]
    order, parents = _greedy_structure(model, source, is_part)
    targets = [shares(model.table([c])) for c in range(released.n_columns)]
    networks = []
    for free in free_orders:
        if free:
            sets = [_parent_sets(model, c, source, is_part, model.max_parents) for c in range(released.n_columns)]
        else:
            sets = [[parents[c]] for c in range(released.n_columns)]
        networks.append(_flatten(model, order, free, sets, targets, max(1, model.max_parents)))
    return networks


def _greedy_structure(
    model: ReleaseModel, source: list[int], is_part: list[bool]
) -> tuple[list[int], dict[int, tuple[int, ...]]]:
    """Column order and parents of the greedy network (module docstring)."""
    order: list[int] = []
    parents: dict[int, tuple[int, ...]] = {}
    remaining = set(range(model.released.n_columns))
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
            pa = _parents_for(model, c, order, siblings)
            score = model.mutual_information(pa, c) if pa else 0.0
            if best is None or score > best[0]:
                best = (score, c, pa)
        assert best is not None
        _, child, pa = best
        order.append(child)
        parents[child] = pa
        remaining.discard(child)
    return order, parents


def _parents_for(model: ReleaseModel, child: int, placed: list[int], siblings: list[int]) -> tuple[int, ...]:
    """Up to the model's max_parents parents among `placed`: siblings first (by MI), then greedily by conditional MI,
    each later parent among the second_parent_candidates best single parents."""
    if model.max_parents == 0 or not placed:
        return ()
    candidates = model.parameters.second_parent_candidates
    siblings = [p for p in siblings if model.fits((p, child))]
    chosen = sorted(siblings, key=lambda p: -model.mutual_information((p,), child))[: model.max_parents]
    while len(chosen) < model.max_parents:
        rest = [p for p in placed if p not in chosen and model.fits((*chosen, p, child))]  # bounded tables only
        if not rest:
            break
        if chosen:  # condition on the parents already chosen; only the best few by pairwise MI are tried
            rest = sorted(rest, key=lambda p: -model.mutual_information((p,), child))[:candidates]
        best = max(rest, key=lambda p: model.mutual_information(tuple(sorted([*chosen, p])), child))
        chosen.append(best)
    return tuple(sorted(chosen))


def _parent_sets(
    model: ReleaseModel, c: int, source: list[int], is_part: list[bool], max_parents: int
) -> list[tuple[int, ...]]:
    """Column c's parent sets for a free order, best first: every single column and every pair of the
    free_parent_candidates best single parents, ranked by mutual information with c (sets holding more siblings
    of a multi-value part first, so combinations of parts keep their rates), then the empty set. The kernel uses
    the first set whose columns a record has drawn; MI grows with the set, so that is the best available one."""
    others = [p for p in range(model.released.n_columns) if p != c and model.fits((p, c))]
    if max_parents < 1 or not others:
        return [()]
    single = sorted(others, key=lambda p: (-model.mutual_information((p,), c), p))
    sets: list[tuple[int, ...]] = [(p,) for p in single]
    if max_parents >= 2:
        best = single[: model.parameters.free_parent_candidates]
        sets += [tuple(sorted(pair)) for pair in itertools.combinations(best, 2) if model.fits((*pair, c))]
    siblings = {p for p in others if is_part[c] and source[p] == source[c]}
    sets.sort(key=lambda pa: (-len(siblings.intersection(pa)), -model.mutual_information(pa, c), pa))
    return [*sets, ()]


def _flatten(
    model: ReleaseModel,
    order: list[int],
    free_order: bool,
    sets: list[list[tuple[int, ...]]],
    targets: list[np.ndarray],
    width: int,
) -> Network:
    """The kernel's arrays: per entry (column, parent set), its parents, strides and conditional table."""
    released = model.released
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
