"""The escaping of the combination (`;`) and column/value (`:`) delimiters in names and values, and its inverse for
outputs where they are not delimiters (DuckDB, CSV).
"""

from __future__ import annotations


def norm(text: str) -> str:
    """docs/method.md, "Reading the input": trim, then escape the combination (`;`) and column/value (`:`)
    delimiters."""
    return text.strip().replace(";", "<semicolon>").replace(":", "<colon>")


def unescape(text: str) -> str:
    """Undo `norm`'s escaping, for output where `;`/`:` are not delimiters (DuckDB, CSV)."""
    return text.replace("<colon>", ":").replace("<semicolon>", ";")
