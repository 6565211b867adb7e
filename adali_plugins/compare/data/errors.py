"""The one error type of the data readers."""

from __future__ import annotations


class DataFormatError(ValueError):
    """A data file is malformed, truncated, out of bounds or not safe to read.

    Every reader of a user's data raises this and only this for a bad file: a
    malformed or truncated file, a size it declares but does not hold or that
    exceeds the budget (``safe_open.MAX_FILE_BYTES``, 1 GiB per file), a FIFO, a
    device or a link leading out of the data folder, a listing naming a path
    outside it, labels that are not integers in range. The message always starts
    with the file (and names the record, where there is one), so a user can
    find and replace it; the CLI prints it as one line. The shared checks live
    in :mod:`adali_plugins.compare.data.safe_open`.
    """
