"""The escaping of names and values, and its inverse for outputs where the escaped characters are not delimiters.

`;` separates the attributes of a combination and `:` a column from its value in the reference's files
(aggregates.tsv, combination keys); a tab separates fields and a line break rows. Each is written as a token
(`<semicolon>`, `<colon>`, `<tab>`, `<newline>`, `<return>`), so every line of aggregates.tsv stays one
combination; DuckDB, Parquet and the synthetic CSV hold the original text (`unescape`).

>>> norm(" a;b:c\\nd ")
'a<semicolon>b<colon>c<newline>d'
>>> unescape(norm("x\\ty"))
'x\\ty'
"""

from __future__ import annotations

ESCAPES = ((";", "<semicolon>"), (":", "<colon>"), ("\t", "<tab>"), ("\n", "<newline>"), ("\r", "<return>"))


def norm(text: str) -> str:
    """docs/method.md, "Reading the input": trim, then escape the delimiters (see the module)."""
    text = text.strip()
    for raw, token in ESCAPES:
        text = text.replace(raw, token)
    return text


def unescape(text: str) -> str:
    """Undo `norm`'s escaping, for output where the escaped characters are not delimiters (DuckDB, CSV)."""
    for raw, token in reversed(ESCAPES):
        text = text.replace(token, raw)
    return text
