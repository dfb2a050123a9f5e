"""The exceptions sdsynth raises on purpose.

Every message is written for the person running the tool: it names the file, row and column when the problem is in
the input, and says what to do. Messages never quote a whole record and never print a true count, because these
exceptions end up in terminals and logs next to victim data.
"""

from __future__ import annotations


class SdsynthError(Exception):
    """Base class: anything the CLI should print as one clear line (exit code 2)."""


class InputError(SdsynthError):
    """The input file or frame cannot be read as a table of records (format, encoding, shape)."""


class SchemaError(SdsynthError):
    """A schema file is malformed, or the data does not match the schema it was given."""


class ParameterError(SdsynthError):
    """An option has an invalid value or an invalid combination with another option."""


class PrivacyParameterError(ParameterError):
    """A differential-privacy or k-anonymity parameter is invalid."""


class BudgetExceededError(SdsynthError):
    """A release would spend more privacy budget than the ledger allows."""


class OutputError(SdsynthError):
    """An output location cannot be written (exists without --overwrite, not writable, ...)."""


def location(file: str | None, row: int | None = None, column: str | None = None) -> str:
    """Format 'file, row N, column C' for error messages (rows are data rows counted from 1)."""
    parts = [str(file) if file else "input"]
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column {column!r}")
    return ", ".join(parts)
