"""Writing a table as CSV, TSV or Parquet by its file name."""

from __future__ import annotations

from pathlib import Path

import polars as pl


def write_table(frame: pl.DataFrame, path: str | Path, suffix: str | None = None) -> None:
    """CSV or Parquet by extension (`.parquet`/`.pq` → Parquet, `.tsv` → tab-separated, anything else → CSV).

    `suffix` overrides the extension of `path` (for temporary files that are renamed afterwards).
    """
    path = Path(path)
    kind = (suffix or path.suffix).lower()
    if kind in {".parquet", ".pq"}:
        frame.write_parquet(path, compression="zstd")
    else:
        frame.write_csv(path, separator="\t" if kind in {".tsv", ".tab"} else ",")
