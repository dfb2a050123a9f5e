"""Estimating, before counting, how many combinations a run will meet and how much memory each stage will need
(the memory guard and `--dry-run`).

Distinct combinations: for every set of l ≤ R columns, the number of its cells that N records are expected to fill
if the columns were independent, Σ_cells 1 − exp(−N·p_cell), with p_cell the product of the values' shares (on the
shared datasets within 1.3× of the true number, above it: real columns are dependent, which leaves more cells
empty; a bound by cells alone, min(Π cardinality, N), was 3–6× too high on tables with a wide column). Each
column's shares are kept as a histogram over powers of 2^(1/4) (values of about the same share fall in one bin), so
a set's cells are a few thousand products whatever its columns' cardinalities; with very many column sets, a random
sample of them is summed and scaled.

Memory per stage: a model fitted on measured peaks (bench/memory.py prints the estimate against the peak of every
stage): the interpreter with its libraries, plus bytes per combination and per record cell for each stage.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sdsynth.encode.tables import IN_MEMORY_BYTES_PER_CELL, IN_MEMORY_CELLS

BINS_PER_OCTAVE = 4
MAX_COLUMN_SETS = 5_000  # column sets summed one by one; beyond, a random sample of this many (scaled)

# The memory model (MiB and bytes), fitted on bench/memory.py's measurements (2 cores, Python 3.11):
BASE_MIB = 370  # Python, NumPy, Polars, PyArrow, DuckDB and the loaded kernels
READING_BYTES_PER_CELL = 16  # a batch being read and normalised, per row and column
STAGE_MIB = {"reading": 0, "counting": 90, "synthesis": 40, "evaluation": 130}
STAGE_BYTES_PER_COMBINATION = {"reading": 0, "counting": 150, "synthesis": 110, "evaluation": 340}
STAGE_BYTES_PER_CELL = {"reading": 0, "counting": 8, "synthesis": 45, "evaluation": 45}  # per record and column
STAGES = ("reading", "counting", "synthesis", "evaluation")
COUNTING_STAGES = STAGES[:2]  # `aggregate`
SYNTHESIS_STAGES = STAGES[:3]  # `synthesize`


@dataclass(frozen=True)
class StageMemory:
    """The estimated peak resident memory of a run while in one stage (bytes; the interpreter included)."""

    stage: str
    bytes: int


def _share_histogram(counts: np.ndarray, n_records: int) -> tuple[np.ndarray, np.ndarray]:
    """(shares, weights): the values' shares of the records, grouped into bins of a quarter octave; each bin is
    its mean share and its number of values."""
    shares = np.asarray(counts, dtype=np.float64)
    shares = shares[shares > 0] / max(n_records, 1)
    if len(shares) == 0:
        return np.zeros(0), np.zeros(0)
    bins = np.floor(np.log2(shares) * BINS_PER_OCTAVE).astype(np.int64)
    keys, inverse, weights = np.unique(bins, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=shares, minlength=len(keys)) / weights
    return means, weights.astype(np.float64)


def _product(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The cells of two independent columns as one share histogram (products of shares, weights multiplied)."""
    shares = np.outer(a[0], b[0]).ravel()
    weights = np.outer(a[1], b[1]).ravel()
    if len(shares) == 0:
        return shares, weights
    bins = np.floor(np.log2(np.maximum(shares, 1e-300)) * BINS_PER_OCTAVE).astype(np.int64)
    keys, inverse = np.unique(bins, return_inverse=True)
    total = np.bincount(inverse, weights=weights, minlength=len(keys))
    mass = np.bincount(inverse, weights=weights * shares, minlength=len(keys))
    return mass / np.maximum(total, 1e-300), total


def _filled(histogram: tuple[np.ndarray, np.ndarray], n_records: int) -> float:
    shares, weights = histogram
    return float(np.sum(weights * -np.expm1(-n_records * shares)))


def expected_combinations(value_counts: Sequence[np.ndarray], n_records: int, reporting_length: int) -> list[int]:
    """The distinct combinations of each length 1..R that `n_records` records are expected to hold, from each
    column's value counts (multi-value parts as columns of one value each). Length 1 is exact."""
    columns = [_share_histogram(c, n_records) for c in value_counts if np.any(np.asarray(c) > 0)]
    out = [sum(int(np.count_nonzero(np.asarray(c) > 0)) for c in value_counts)]
    rng = np.random.default_rng(0)  # which column sets are sampled: fixed, so the estimate is too
    for length in range(2, reporting_length + 1):
        total_sets = math.comb(len(columns), length)
        if total_sets == 0:
            out.append(0)
            continue
        if total_sets <= MAX_COLUMN_SETS:
            sets: list[tuple[int, ...]] = list(itertools.combinations(range(len(columns)), length))
        else:
            sets = [tuple(sorted(rng.choice(len(columns), size=length, replace=False))) for _ in range(MAX_COLUMN_SETS)]
        filled = 0.0
        for columns_set in sets:
            histogram = columns[columns_set[0]]
            for c in columns_set[1:]:
                histogram = _product(histogram, columns[c])
            filled += _filled(histogram, n_records)
        out.append(round(filled * total_sets / len(sets)))
    return out


def combinations_bound(cardinalities: Sequence[int], reporting_length: int) -> int:
    """At most this many distinct combinations of length ≤ R exist: the cells of every set of up to R columns (Σ of
    the elementary symmetric polynomials of the cardinalities). Cheap; `expected_combinations` is close to the truth."""
    e = [1] + [0] * reporting_length
    for k in cardinalities:
        for length in range(reporting_length, 0, -1):
            e[length] += e[length - 1] * int(k)
    return sum(e[1:])


def uniform_counts(cardinalities: Sequence[int], n_records: int) -> list[np.ndarray]:
    """Value counts for columns known only by their number of values (records spread evenly: the most cells)."""
    return [np.full(k, n_records / k) for k in cardinalities if k > 0]


def stage_memory(
    combinations: int,
    n_records: int,
    n_columns: int,
    stages: Sequence[str] = STAGES,
    synthesis_extra: int = 0,
    batch_rows: int = 1_000_000,
) -> list[StageMemory]:
    """The estimated peak of each of `stages` (of STAGES) for a run that meets `combinations` distinct
    combinations, over `n_records` records of `n_columns` columns (reading holds at most `batch_rows` at once, and
    the whole input encoded when it has at most IN_MEMORY_CELLS cells);
    `synthesis_extra`: bytes the chosen synthesis holds besides (the reference law's candidate lists)."""
    out = []
    for stage in stages:
        cells = (min(n_records, batch_rows) if stage == "reading" else n_records) * n_columns
        per_cell = READING_BYTES_PER_CELL if stage == "reading" else STAGE_BYTES_PER_CELL[stage]
        need = (BASE_MIB + STAGE_MIB[stage]) * 2**20 + STAGE_BYTES_PER_COMBINATION[stage] * combinations
        extra = synthesis_extra if stage == "synthesis" else 0
        if stage == "reading" and n_records * n_columns <= IN_MEMORY_CELLS:
            # encoded into memory from the first read: the file's normalised batches, then its encoded records
            extra = IN_MEMORY_BYTES_PER_CELL * n_records * n_columns
        out.append(StageMemory(stage, int(need + per_cell * cells + extra)))
    return out


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"
