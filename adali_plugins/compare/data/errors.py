"""The one error type of the data readers."""

from __future__ import annotations


class DataFormatError(ValueError):
    """A data file is malformed, truncated or out of bounds.

    The message always names the file (and the record, where there is one), so
    a user can find and replace it.
    """
