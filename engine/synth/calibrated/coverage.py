"""Step 7 of the calibrated law: the released combinations a balanced batch still lacks, brought in by seeded records.

Matching the 1- and 2-way tables still leaves out combinations the release counts many times (on CTDC-like 17 k, 240
released combinations of median count 26 were absent from a balanced batch). Up to the coverage share of each
batch's records are replaced by seeded records that hold released combinations it lacks, each drawn by the law
starting from them (drawing with presets), in two steps. *Dense seeds* first (up to dense_part of that budget): each
missing combination alone, drawn a few times; the draws that leave fewest cells empty in the columns the release
says are never empty are taken first (`pick_seeds`), since such empty cells, which a seed's rare values block, are
most of what coverage costs in fit. Then *packed seeds*, largest released counts first, each holding several
missing combinations where they fit together (`pack_seeds`: one value per column, every sub-combination released,
no combination created with a released count below cover_floor × that of the last combination seeds of one each
would reach), so a few records cover many. Each seed replaces a row that holds no released combination alone, the
one whose exchange moves the batch least from the released tables (`insert_least_harm`). Last, the other rows are
balanced again against the pool's unselected candidates, never giving up a combination no other row holds
(`rebalance_keeping`), which takes back part of what the seeds cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdsynth.count.combinations import count_combinations
from sdsynth.kernels.counting import table_lookup
from sdsynth.protect.aggregates import Aggregates
from sdsynth.synth.calibrated.balancing import BalanceTables
from sdsynth.synth.calibrated.coverage_kernels import insert_least_harm, pack_seeds, pick_seeds, rebalance_keeping
from sdsynth.synth.calibrated.drawing import ReleaseLookups, draw, to_records
from sdsynth.synth.calibrated.network import Network
from sdsynth.synth.calibrated.parameters import CalibratedParameters
from sdsynth.synth.calibrated.streams import (
    COVER_STREAM,
    COVER_SWAP_STREAM,
    DENSE_STREAM,
    DENSE_SWAP_STREAM,
    REBALANCE_STREAM,
)


@dataclass(frozen=True)
class Coverage:
    """The coverage step of one sampler: what it draws seeds with (the network kept, the release's lookups, the
    key's words) and what it keeps the batch close to (the balancing tables)."""

    aggs: Aggregates
    network: Network
    tables: BalanceTables
    lookups: ReleaseLookups
    words: np.ndarray
    parameters: CalibratedParameters

    def cover(self, pool: np.ndarray, rows: np.ndarray, index: int, share: float) -> np.ndarray:
        """Batch `index`, the rows `rows` of `pool`, with the released combinations it lacks brought in by seeded
        records that each replace a row, at most `share` × the batch's size in all. First dense seeds
        (`dense_seeds`), for up to dense_part of that budget; then packed seeds (`packed_seeds`) for what is left
        of it; last, the other rows are exchanged with the pool's unselected rows (not `rows`) towards the released
        tables, never giving up a combination no other row holds (`rebalance_keeping`, rebalance_rounds proposals
        per seeded record, stream REBALANCE_STREAM + batch index)."""
        tables, aggs, lookups = self.tables, self.aggs, self.lookups
        chosen = pool[rows]
        budget = int(share * len(chosen))
        if budget == 0:
            return chosen
        present = count_combinations(to_records(aggs, self.network, chosen), aggs.reporting_length)
        counts = np.zeros(len(aggs.keys), dtype=np.int64)  # per released combination: the rows holding it
        held = table_lookup(lookups.tkeys, lookups.tidx, present.keys) - 1  # −1: not released (cannot happen)
        counts[held[held >= 0]] = present.counts[held >= 0]
        dense = self.dense_seeds(counts, len(chosen), index, int(self.parameters.dense_part * budget))
        chosen = self.insert(chosen, dense, counts, DENSE_SWAP_STREAM + index)
        packed = self.packed_seeds(counts, index, budget - len(dense))
        covered = self.insert(chosen, packed, counts, COVER_SWAP_STREAM + index)
        network = self.network
        movable = np.flatnonzero((covered == chosen).all(axis=1))
        return rebalance_keeping(
            covered, movable, np.delete(pool, rows, axis=0), tables.first, tables.second, tables.cell_offset,
            tables.n_categories, len(chosen) * tables.shares,
            self.parameters.rebalance_rounds * (len(chosen) - len(movable)), self.words,
            np.int64(REBALANCE_STREAM + index), network.value_ids, network.value_offset, aggs.reporting_length,
            aggs.layout.bits, aggs.layout.slots, lookups.tkeys, lookups.tidx, counts,
        )  # fmt: skip

    def missing(self, counts: np.ndarray) -> np.ndarray:
        """The released combinations no row holds, largest released counts first."""
        missing = np.flatnonzero(counts == 0)
        return missing[np.argsort(-self.aggs.counts[missing], kind="stable")]

    def dense_seeds(self, counts: np.ndarray, size: int, index: int, budget: int) -> np.ndarray:
        """Seeded records that each start from one missing combination and leave few cells empty where the release
        says cells are (almost) never empty: what coverage costs in the 1-way TVD is mostly such cells, which a
        seed's rare values block. Each missing combination (the first dense_candidate_factor × `size` by released
        count) is drawn by the law dense_draws times, or dense_draw_factor × `size` ÷ the number missing if fewer
        (the draws are the step's cost; on NIST at R = 3, 168,000 missing, one draw of the first 27,000 fit as well
        as one of 109,000), keeping the draw with the fewest never-empty columns empty (released empty share below
        dense_empty_share); the draws are taken fewest first, then by released count, skipping those whose
        combination an earlier one already holds (`pick_seeds`). Streams DENSE_STREAM + (batch × dense_draws +
        draw) · 2^32 + candidate."""
        network, tables, aggs, lookups, p = self.network, self.tables, self.aggs, self.lookups, self.parameters
        missing = self.missing(counts)
        candidates = missing[: p.dense_candidate_factor * size]
        if budget == 0 or len(candidates) == 0:
            return np.zeros((0, len(network.order)), dtype=np.int16)
        combos = aggs.layout.unpack(aggs.keys[candidates], aggs.reporting_length).astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum((combos >= 0).sum(axis=1))]).astype(np.int64)
        ids = combos[combos >= 0]
        single = np.flatnonzero(tables.second < 0)
        never_empty = np.zeros(len(network.order), dtype=np.bool_)
        never_empty[tables.first[single]] = tables.shares[tables.cell_offset[single]] < p.dense_empty_share
        unproducible = len(network.order) + 1  # above any count of empty cells: presets forming no released combination
        best, fewest = np.zeros(0, dtype=np.int16), np.zeros(0, dtype=np.int64)
        for attempt in range(max(1, min(p.dense_draws, p.dense_draw_factor * size // len(missing)))):
            first = DENSE_STREAM + ((index * p.dense_draws + attempt) << 32)
            drawn = draw(network, lookups, self.words, first, len(candidates), offsets, ids)
            empty = np.where((drawn >= 0).all(axis=1), (drawn[:, never_empty] == 0).sum(axis=1), unproducible)
            if attempt == 0:
                best, fewest = drawn, empty
            else:
                better = empty < fewest
                best[better], fewest[better] = drawn[better], empty[better]
        order = np.lexsort((np.arange(len(candidates)), fewest))
        order = order[fewest[order] < unproducible]
        taken = pick_seeds(
            best, candidates, order, budget, counts.copy(), network.value_ids, network.value_offset,
            aggs.reporting_length, aggs.layout.bits, aggs.layout.slots, lookups.tkeys, lookups.tidx,
        )  # fmt: skip
        return best[taken]

    def packed_seeds(self, counts: np.ndarray, index: int, budget: int) -> np.ndarray:
        """The missing released combinations, largest released counts first, packed into at most `budget` seeds
        (`pack_seeds`), each drawn as a record by the law given its values (streams COVER_STREAM + batch × batch
        records + seed). A combination whose sub-combinations were not all released is skipped, so the guarantee
        holds."""
        network, aggs, look, p = self.network, self.aggs, self.lookups, self.parameters
        missing = self.missing(counts)
        if budget <= 0 or len(missing) == 0:
            return np.zeros((0, len(network.order)), dtype=np.int16)
        combos = aggs.layout.unpack(aggs.keys[missing], aggs.reporting_length).astype(np.int64)
        floor = p.cover_floor * aggs.counts[missing[min(budget, len(missing)) - 1]]
        offsets, ids = pack_seeds(
            combos, budget, p.cover_window, float(floor), len(network.order), look.attribute_column,
            look.attribute_category, look.ext, look.ext_empty, max(aggs.reporting_length, 1), aggs.layout.bits,
            aggs.layout.slots, look.tkeys, look.tidx, look.single, look.pair, aggs.counts.astype(np.float64),
        )  # fmt: skip
        first = COVER_STREAM + index * p.batch_records
        seeded = draw(network, look, self.words, first, len(offsets) - 1, offsets, ids)
        return seeded[(seeded >= 0).all(axis=1)]

    def insert(self, chosen: np.ndarray, seeded: np.ndarray, counts: np.ndarray, stream: int) -> np.ndarray:
        """Each seeded record replaces the row whose exchange moves the batch least from the released tables and
        that is not the only holder of a released combination (`insert_least_harm`, cover_tries rows tried each),
        so the batch gains combinations and loses none (`counts` kept up to date)."""
        tables, network, aggs, lookups = self.tables, self.network, self.aggs, self.lookups
        if len(seeded) == 0:
            return chosen
        return insert_least_harm(
            chosen, seeded, tables.first, tables.second, tables.cell_offset, tables.n_categories,
            len(chosen) * tables.shares, self.parameters.cover_tries, self.words, np.int64(stream), network.value_ids,
            network.value_offset, aggs.reporting_length, aggs.layout.bits, aggs.layout.slots, lookups.tkeys,
            lookups.tidx, counts,
        )  # fmt: skip
