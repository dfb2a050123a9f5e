"""Spec §1: reading, normalising, expanding and joining records (exact vectors of §1.11)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from helpers import DATA

from sdsynth.encode.tables import encode
from sdsynth.engine import IngestOptions, InputError, ParameterError, SchemaError
from sdsynth.read.escape import norm
from sdsynth.schema.model import ColumnSpec, Schema


def records(data) -> list[list[tuple[int, str]]]:
    a = data.attributes
    return [sorted((int(a.column_of[i]), a.values[i]) for i in data.record(r)) for r in range(data.n_records)]


def headers(data) -> list[str]:
    return [c.name for c in data.attributes.columns]


def test_norm_trims_and_escapes_semicolon_before_colon() -> None:
    assert norm("  a;b:c  ") == "a<semicolon>b<colon>c"
    assert norm("\u2003x\t") == "x"


def test_data_block_all_columns() -> None:
    data = encode(DATA / "test_data_block.csv")
    assert headers(data) == ["A", "B", "C", "D<semicolon>h", "E<colon>h"]
    assert records(data) == [
        [(0, "a1"), (2, "c1"), (3, "d1")],
        [(0, "a2"), (1, "b2"), (3, "d3<semicolon>D"), (4, "e2")],
        [(0, "a3<colon>A"), (1, "b3")],
        [(3, "d4")],
    ]


def test_data_block_selected_columns_sensitive_zeros_and_limit() -> None:
    options = IngestOptions(use_columns=["A", "B", "D;h"], sensitive_zeros=["B"])
    data = encode(DATA / "test_data_block.csv", options)
    assert headers(data) == ["A", "B", "D<semicolon>h"]
    assert records(data) == [
        [(0, "a1"), (1, "0"), (2, "d1")],
        [(0, "a2"), (1, "b2"), (2, "d3<semicolon>D")],
        [(0, "a3<colon>A"), (1, "b3")],
        [(1, "0"), (2, "d4")],
    ]
    limited = encode(DATA / "test_data_block.csv", IngestOptions(use_columns=["A", "B", "D;h"], record_limit=2))
    assert limited.n_records == 2


def test_column_names_match_case_and_whitespace_insensitively() -> None:
    frame = pl.DataFrame({"A": ["a1", "0"], "B": ["b1;0", "b3"], "G:SenseZeros": ["0", "1"]})
    options = IngestOptions(
        use_columns=["a", "  g:senseZeros ", "b"], sensitive_zeros=["b", "  g:senseZeros "], multi_value={"B": ";"}
    )
    data = encode(frame, options)
    assert headers(data) == ["A", "B_0", "B_b1", "B_b3", "G<colon>SenseZeros"]
    assert records(data) == [[(0, "a1"), (1, "1"), (2, "1"), (4, "0")], [(3, "1"), (4, "1")]]


def test_only_the_exact_string_zero_is_absent() -> None:
    frame = pl.DataFrame({"A": ["0", " 0 ", "0.0", "00", "false"]})
    data = encode(frame)
    assert [len(r) for r in records(data)] == [0, 0, 1, 1, 1]


def test_multi_value_expansion_orders_parts_by_name_and_drops_empty_parts() -> None:
    frame = pl.DataFrame({"X": ["x"] * 3, "D": ["d1||d4", "d10|d3", " d1 "]})
    data = encode(frame, IngestOptions(multi_value={"D": "|"}))
    assert headers(data) == ["X", "D_d1", "D_d10", "D_d3", "D_d4"]
    assert records(data)[0] == [(0, "x"), (1, "1"), (4, "1")]


def test_attribute_ids_follow_human_string_order() -> None:
    frame = pl.DataFrame({f"H{i}": ["1"] for i in (1, 3, 10)})
    data = encode(frame)
    assert data.attributes.labels == ["H10:1", "H1:1", "H3:1"]
    assert data.attributes.labels == sorted(data.attributes.labels)


def test_subject_id_join_unions_multi_values_and_orders_by_id() -> None:
    options = IngestOptions(
        subject_id="ID",
        use_columns=["ID", "A", "B", "C", "F", "G", "D"],
        multi_value={"A": ";", "B": ";", "C": ";", "D": "|"},
    )
    data = encode(DATA / "duplicated_id_valid.csv", options)
    assert data.n_records == 9
    labels = data.attributes.labels
    got = [sorted(labels[i] for i in data.record(r)) for r in range(data.n_records)]
    assert got[0] == sorted(
        ["ID:1", "A_a1:1", "B_b1:1", "B_b3:1", "B_b4:1", "C_c1:1", "C_c2:1", "C_c3:1", "D_d1:1", "D_d3:1"]
    )
    assert got[8] == sorted(
        [
            "ID:9",
            "A_a1:1",
            "A_a2:1",
            "A_b2:1",
            "B_b1:1",
            "B_b2:1",
            "C_c2:1",
            "G:1",
            "D_d1:1",
            "D_d10:1",
            "D_d3:1",
            "D_d7:1",
        ]
    )


def test_subject_id_conflicts_name_every_single_valued_column() -> None:
    with pytest.raises(InputError, match=r"as multi value .*: A, B, C, D$"):
        encode(DATA / "duplicated_id_valid.csv", IngestOptions(subject_id="id"))


def test_subject_id_is_not_an_attribute_unless_listed() -> None:
    data = encode(
        DATA / "duplicated_id_valid.csv",
        IngestOptions(subject_id="ID", use_columns=None, multi_value={"A": ";", "B": ";", "C": ";", "D": "|"}),
    )
    assert "ID" not in [c.name for c in data.attributes.columns]
    # nor when a schema lists the id column as an ordinary (used) column
    multi = [
        ColumnSpec(n, kind="multi_value", delimiter=d) for n, d in (("A", ";"), ("B", ";"), ("C", ";"), ("D", "|"))
    ]
    schema = Schema(columns=(*multi, ColumnSpec("F"), ColumnSpec("G"), ColumnSpec("ID")), subject_id="ID")
    with_schema = encode(DATA / "duplicated_id_valid.csv", IngestOptions(schema=schema))
    assert "ID" not in [c.name for c in with_schema.attributes.columns]
    listed = encode(DATA / "duplicated_id_valid.csv", IngestOptions(schema=schema, use_columns=["ID", "A"]))
    assert "ID" in [c.name for c in listed.attributes.columns]


def test_missing_subject_id_is_an_error_with_its_row() -> None:
    with pytest.raises(InputError, match=r"row 2, column 'ID'.*missing/empty Subject ID"):
        encode(DATA / "duplicated_id_missing.csv", IngestOptions(subject_id="ID"))


def test_unknown_column_names_are_errors() -> None:
    with pytest.raises(ParameterError, match="'nope'"):
        encode(DATA / "test_data_block.csv", IngestOptions(use_columns=["A", "nope"]))


def test_reserved_column_names_are_refused() -> None:
    with pytest.raises(InputError, match="reserved"):
        encode(pl.DataFrame({"Count": ["1"], "A": ["a"]}))


def test_missing_tokens_and_schema_values() -> None:
    schema = Schema(
        columns=(
            ColumnSpec("A", values=("a", "b")),
            ColumnSpec("M", kind="multi_value", delimiter=";", values=("x", "y")),
        ),
        missing_values=("N",),
    )
    frame = pl.DataFrame({"A": ["a", "N", " b "], "M": ["x;N", "N", "y"]})
    data = encode(frame, IngestOptions(schema=schema))
    assert [len(r) for r in records(data)] == [2, 0, 2]
    bad = pl.DataFrame({"A": ["a", "c"], "M": ["x", "z"]})
    with pytest.raises(SchemaError, match=r"row 2, column 'A'.*'c'"):
        encode(bad, IngestOptions(schema=schema))


def test_aliases_read_published_spellings_as_the_schema_values() -> None:
    schema = Schema(
        columns=(
            ColumnSpec("A", values=("0-29", "48 +"), aliases=(("0--29", "0-29"), ("48+", "48 +"))),
            ColumnSpec("M", kind="multi_value", delimiter=";", values=("x", "y"), aliases=(("X", "x"),)),
            ColumnSpec("F", kind="flag", aliases=(("Yes", "1"),)),
        ),
    )
    frame = pl.DataFrame({"A": [" 48+ ", "0--29", "48 +"], "M": ["X;x", "y; X", ""], "F": ["Yes", "1", ""]})
    data = encode(frame, IngestOptions(schema=schema))
    assert headers(data) == ["A", "M_x", "M_y", "F"]
    assert records(data) == [
        [(0, "48 +"), (1, "1"), (3, "1")],  # `X;x` is one part: x
        [(0, "0-29"), (1, "1"), (2, "1"), (3, "1")],
        [(0, "48 +")],
    ]
    with pytest.raises(SchemaError, match=r"row 1, column 'A'.*'48'"):
        encode(pl.DataFrame({"A": ["48"], "M": ["x"], "F": ["1"]}), IngestOptions(schema=schema))


def test_numeric_bins_put_values_in_left_closed_intervals() -> None:
    from sdsynth.schema.model import Bins

    schema = Schema(
        columns=(ColumnSpec("age", kind="numeric", bins=Bins((0, 18, 65, 120), ("child", "adult", "old"))),)
    )
    frame = pl.DataFrame({"age": ["17.9", "18", "64", "65", "120", ""]})
    data = encode(frame, IngestOptions(schema=schema))
    values = data.attributes.values
    assert [[values[i] for i in data.record(r)] for r in range(data.n_records)] == [
        ["child"],
        ["adult"],
        ["adult"],
        ["old"],
        ["old"],
        [],
    ]
    with pytest.raises(SchemaError, match="outside the bins"):
        encode(pl.DataFrame({"age": ["121"]}), IngestOptions(schema=schema))
    with pytest.raises(SchemaError, match="not a number"):
        encode(pl.DataFrame({"age": ["abc"]}), IngestOptions(schema=schema))


def test_frames_of_every_kind_give_the_same_records() -> None:
    import pyarrow as pa

    frame = pl.DataFrame({"A": ["a1", None, "a2"], "N": [1, 2, 0]})
    expected = records(encode(frame))
    assert expected == [[(0, "a1"), (1, "1")], [(1, "2")], [(0, "a2")]]
    assert records(encode(frame.to_arrow())) == expected
    assert isinstance(frame.to_arrow(), pa.Table)
    assert records(encode(frame.to_pandas())) == expected
    # like the reference's from_data_frame, pandas floats keep their text form
    assert records(encode(pl.DataFrame({"N": [1.0, None]}).to_pandas())) == [[(0, "1.0")], []]


def test_parquet_and_csv_inputs_agree(tmp_path: Path) -> None:
    from sdsynth.sample_data import generate_ctdc

    frame = generate_ctdc(500, seed=3)
    frame.write_csv(tmp_path / "x.csv")
    frame.write_parquet(tmp_path / "x.parquet")
    options = IngestOptions(multi_value={"IP_Gender": ";"})
    assert records(encode(tmp_path / "x.csv", options)) == records(encode(tmp_path / "x.parquet", options))


def test_drop_columns_leaves_columns_out_with_or_without_a_schema() -> None:
    frame = pl.DataFrame({"id": ["1", "2"], "a": ["x", "y"], "b": ["u", "v"], "c": ["p", "q"]})
    assert headers(encode(frame, IngestOptions(drop_columns=["id", "C"]))) == ["a", "b"]
    assert headers(encode(frame, IngestOptions(use_columns=["a", "b", "c"], drop_columns=["b"]))) == ["a", "c"]
    schema = Schema(columns=(ColumnSpec("a"), ColumnSpec("b"), ColumnSpec("c")))
    with pytest.raises(SchemaError, match="`drop_columns`"):  # id is not in the schema: drop it or list it
        encode(frame, IngestOptions(schema=schema))
    assert headers(encode(frame, IngestOptions(schema=schema, drop_columns=["id"]))) == ["a", "b", "c"]
    with pytest.raises(ParameterError, match=r"`drop_columns` name\(s\) 'idd' are not columns"):
        encode(frame, IngestOptions(drop_columns=["idd"]))


def test_a_schema_column_not_used_may_be_absent_from_the_input() -> None:
    schema = Schema(columns=(ColumnSpec("a"), ColumnSpec("weight", use=False)))
    assert headers(encode(pl.DataFrame({"a": ["x", "y"]}), IngestOptions(schema=schema))) == ["a"]
    with pytest.raises(SchemaError, match=r"'b'.*missing from the input"):
        encode(pl.DataFrame({"a": ["x"]}), IngestOptions(schema=Schema(columns=(ColumnSpec("a"), ColumnSpec("b")))))
