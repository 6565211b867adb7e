"""Progress of a comparison with tqdm: one bar over runs, one over a run's epochs.

The bars go to stderr and are disabled when stderr is not a terminal or with
``-q``; a log handler that writes through :func:`tqdm.write` keeps warnings from
tearing the bars.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

from tqdm import tqdm


class TqdmHandler(logging.StreamHandler):
    """A stream handler that prints above the progress bars."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # logging must never raise
            self.handleError(record)


class Progress:
    """Overall runs and the current run's epochs, accuracy in the postfix."""

    def __init__(
        self,
        total_runs: int,
        *,
        quiet: bool = False,
        stream: TextIO | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.disable = quiet or not isatty()
        self.runs = tqdm(
            total=total_runs,
            desc="runs",
            unit="run",
            file=self.stream,
            disable=self.disable,
            position=0,
            dynamic_ncols=True,
        )
        self.epochs: Any = None

    def start(self, label: str, epochs: int) -> None:
        """A run begins: a fresh epoch bar under the runs bar."""
        self.epochs = tqdm(
            total=epochs,
            desc=label,
            unit="epoch",
            file=self.stream,
            disable=self.disable,
            position=1,
            leave=False,
            dynamic_ncols=True,
        )

    def epoch(self, record: dict[str, Any]) -> None:
        """An epoch finished (the harness's ``on_epoch`` hook)."""
        if self.epochs is None:
            return
        self.epochs.n = record["epoch"] + 1
        self.epochs.set_postfix(
            acc=f"{record['test_acc']:.3f}", loss=f"{record['train_loss']:.3f}"
        )

    def finish(self, label: str, records: list[dict[str, Any]]) -> None:
        """A run ended: close its bar, advance the runs bar."""
        if self.epochs is not None:
            self.epochs.close()
            self.epochs = None
        if records:
            self.runs.set_postfix_str(
                f"{label} acc {records[-1]['test_acc']:.3f}", refresh=False
            )
        self.runs.update(1)

    def close(self) -> None:
        if self.epochs is not None:
            self.epochs.close()
        self.runs.close()
