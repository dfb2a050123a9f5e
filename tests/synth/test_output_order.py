"""The reference's row order of synthetic output (docs/method.md, "Synthetic output"): the packed-word sort against
the definition, rows compared cell by cell as strings (empty first), then by non-empty cells, descending."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings

from sdsynth.encode.records import EncodedData
from sdsynth.encode.tables import encode
from sdsynth.read.options import IngestOptions
from sdsynth.synth.output import _cell_matrix, reference_order
from sdsynth.testing import categorical_tables


def _by_definition(data: EncodedData) -> list[int]:
    cells = _cell_matrix(data.attributes, data.offsets, data.ids)
    values = data.attributes.values
    rows = [[values[a] if a >= 0 else "" for a in row] for row in cells.tolist()]
    return sorted(range(len(rows)), key=lambda r: (-sum(v != "" for v in rows[r]), rows[r]))


@settings(max_examples=60, deadline=None)
@given(table=categorical_tables(max_rows=60, max_columns=12, max_values=70))
def test_reference_order_is_the_definition(table: tuple[pl.DataFrame, dict[str, str]]) -> None:
    """Up to 12 columns of up to 70 values: more than 64 bits of ranks, so rows span several packed words."""
    frame, multi = table
    data = encode(frame, IngestOptions(multi_value=multi))
    assert reference_order(data.attributes, data.offsets, data.ids).tolist() == _by_definition(data)


def test_one_packed_word_per_64_bits() -> None:
    """Twenty columns of 200 values (8 bits each): three words, the order still the definition's."""
    generator = np.random.default_rng(5)
    frame = pl.DataFrame({f"c{c:02d}": generator.choice([f"v{k:03d}" for k in range(200)] + [""], 500)
                          for c in range(20)})  # fmt: skip
    data = encode(frame)
    assert reference_order(data.attributes, data.offsets, data.ids).tolist() == _by_definition(data)
