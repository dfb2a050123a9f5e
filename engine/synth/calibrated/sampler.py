"""The calibrated law of one release, ready to produce output batches: the steps put together.

Built once per release (and seed): the model of the release (step 1), its networks (steps 2 and 4), the order and
calibration weights chosen on a pilot (steps 4 and 5) and the balancing tables (step 6). Each output batch then
draws a pool of candidates (step 3), selects and balances its records (steps 5 and 6) and covers the released
combinations it lacks (step 7). Batch i is a function of (seed, i) only: its pool comes from ChaCha20 record streams
of its own, its selection from a generator keyed by (seed, i), and coverage from streams of its own
(streams.py), so batches can be drawn in any order, or on other machines, and concatenate to the same records.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sdsynth.encode.records import EncodedData
from sdsynth.errors import ParameterError
from sdsynth.kernels.chacha import key_words, stream_key
from sdsynth.protect.aggregates import Aggregates
from sdsynth.synth.calibrated.balancing import BalanceTables, balance_tables, select_each
from sdsynth.synth.calibrated.calibration import pool_factor
from sdsynth.synth.calibrated.coverage import Coverage
from sdsynth.synth.calibrated.drawing import NO_PRESETS, draw, empty_records, release_lookups, to_records
from sdsynth.synth.calibrated.model import ReleaseModel, release_model
from sdsynth.synth.calibrated.network import Network
from sdsynth.synth.calibrated.parameters import CalibratedParameters, coverage_share, resolved
from sdsynth.synth.calibrated.pilot import choose_order


class CalibratedSampler:
    """The calibrated law of one release, ready to produce batches: batch i is a function of (seed, i) only, so
    batches can be drawn in any order, or on different machines, and concatenate to the same records."""

    def __init__(
        self, aggs: Aggregates, target: int, seed: int | None = None, model: ReleaseModel | None = None,
        coverage: float | None = None, parameters: CalibratedParameters | None = None,
    ) -> None:  # fmt: skip
        """`model`: a `release_model` of `aggs` the caller also uses (its tables are computed once); not kept, so
        the sampler shipped to other machines holds only what drawing needs. `coverage`: the share of each batch's
        records that may be seeded with released combinations it lacks (None: the parameters' cover_share).
        `parameters`: the law's tuning (None: DEFAULT_PARAMETERS)."""
        if target < 0:
            raise ParameterError(f"the number of records must be >= 0, got {target}")
        if target and (aggs.record_count <= 0 or len(aggs.keys) == 0):
            raise ParameterError("the aggregates hold no record: nothing to synthesize from")
        parameters = resolved(parameters)
        self.aggs = aggs
        self.target = target
        self.parameters = parameters
        self.lookups = release_lookups(aggs, parameters)
        self.key = stream_key(seed)
        self.words = key_words(self.key)
        self.network: Network | None = None
        self.factors: list[np.ndarray] = []
        self.fits: dict[str, tuple[float, float]] = {}
        self.pool_factor = pool_factor(target, parameters)
        self.coverage = coverage_share(coverage, parameters)
        self.balance: BalanceTables | None = None
        if target:
            model = model or release_model(aggs, parameters=parameters)
            self.balance = balance_tables(model)
            chosen = choose_order(
                aggs, model, target, self.pool_factor, self.lookups, self.key, self.words, self.balance, parameters
            )
            self.network, self.factors, self.fits = chosen.network, chosen.factors, chosen.fits

    def batch_sizes(self) -> list[int]:
        full, rest = divmod(self.target, self.parameters.batch_records)
        return [self.parameters.batch_records] * full + ([rest] if rest else [])

    def batch(self, index: int, size: int) -> EncodedData:
        """Output batch `index` (`size` records): a pool of pool_factor·size candidates from record streams of
        its own, of which `size` are drawn without replacement with probability ∝ Π_c f_c and balanced, then
        covered."""
        if size == 0 or self.network is None:
            return empty_records(self.aggs)
        first = index * self.pool_factor * self.parameters.batch_records
        pool = self._draw(self.network, first, self.pool_factor * size)
        rows = self._select(pool, self.factors, index, size)
        chosen = self._cover(pool, rows, index)
        return to_records(self.aggs, self.network, chosen)

    def _draw(
        self, net: Network, first: int, count: int, preset_offsets: np.ndarray = NO_PRESETS,
        preset_ids: np.ndarray = NO_PRESETS,
    ) -> np.ndarray:  # fmt: skip
        """Records first..first + count − 1 of `net` (drawing.draw)."""
        return draw(net, self.lookups, self.words, first, count, preset_offsets, preset_ids)

    def _select(
        self, pool: np.ndarray, factors: list[np.ndarray], index: int, size: int, balance: bool = True
    ) -> np.ndarray:
        """Rows of `pool` (sorted): `size` drawn without replacement with probability ∝ Π_c f_c, from a generator
        keyed by (seed, index), then, with `balance`, exchanged with other rows of the pool towards the released
        tables (ChaCha20 stream BALANCE_STREAM + index)."""
        return self._select_each([pool], [factors], index, size, balance)[0]

    def _select_each(
        self, pools: list[np.ndarray], factors: list[list[np.ndarray]], index: int, size: int, balance: bool = True
    ) -> list[np.ndarray]:
        """`_select` of each pool with its factors, from the same generator, balanced in one parallel call
        (balancing.select_each)."""
        return select_each(pools, factors, index, size, self.key, self.words, self.balance, self.parameters, balance)

    def _coverage(self) -> Coverage | None:
        """The coverage step with the network kept (None before one is, or without balancing tables)."""
        if self.network is None or self.balance is None:
            return None
        return Coverage(self.aggs, self.network, self.balance, self.lookups, self.words, self.parameters)

    def _cover(self, pool: np.ndarray, rows: np.ndarray, index: int) -> np.ndarray:
        """The selected rows of batch `index`, with coverage (step 7) at the sampler's share."""
        coverage = self._coverage()
        return pool[rows] if coverage is None else coverage.cover(pool, rows, index, self.coverage)


def calibrated_batches(
    aggs: Aggregates, target: int, seed: int | None = None, coverage: float | None = None,
    parameters: CalibratedParameters | None = None,
) -> Iterator[EncodedData]:  # fmt: skip
    """`target` records drawn with the calibrated law, in batches of at most the parameters' batch_records."""
    sampler = CalibratedSampler(aggs, target, seed, coverage=coverage, parameters=parameters)
    for index, size in enumerate(sampler.batch_sizes()):
        yield sampler.batch(index, size)
