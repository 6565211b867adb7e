"""Logging for the comparison: quiet by default, through standard ``logging``.

* :func:`quiet_third_party` drops the one third-party message a normal run
  prints, torch's ``Triton not available, find_triton_kernels = []`` (logged by
  ``torch._library.triton`` when SpikingJelly registers its Triton ops on a
  machine without Triton). It is a filter on that logger, so it works whatever
  handlers are configured; call it again in any worker process you start.
* :class:`DedupeFilter` lets each distinct warning of ours through once per run
  and layer and counts the repeats it drops; :func:`setup` installs it on the
  ``adali_plugins`` loggers, sets their level from ``-v``/``-q`` and adds a
  stderr handler only when the root logger has none (so your own logging
  configuration routes everything).
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

THIRD_PARTY: tuple[tuple[str, str], ...] = (
    ("torch._library.triton", "Triton not available"),
)
"""(logger, message prefix) of the third-party messages dropped on a normal run."""

FORMAT = "%(levelname)s %(name)s: %(message)s"


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def quiet_third_party() -> None:
    """Drop the known third-party noise at its logger (idempotent)."""
    for name, prefix in THIRD_PARTY:
        target = logging.getLogger(name)
        if not any(
            isinstance(f, _DropMessage) and f.prefix == prefix for f in target.filters
        ):
            target.addFilter(_DropMessage(prefix))


def _layer_of(record: logging.LogRecord) -> str | None:
    """Our warnings name the layer in their first argument."""
    args = record.args
    if isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0]
    return None


class DedupeFilter(logging.Filter):
    """Passes a warning once per (run, logger, message template, layer).

    ``context`` names the current run; repeats are counted in ``suppressed``.
    Records below ``level`` always pass.
    """

    def __init__(self, level: int = logging.WARNING) -> None:
        super().__init__()
        self.level = level
        self.context: str = ""
        self.seen: set[tuple[str, str, str, str | None]] = set()
        self.suppressed: Counter[tuple[str, str]] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return True
        key = (self.context, record.name, str(record.msg), _layer_of(record))
        if key in self.seen:
            self.suppressed[(record.name, str(record.msg))] += 1
            return False
        self.seen.add(key)
        return True

    def report(self) -> str | None:
        """One line counting the dropped repeats, or None when there were none."""
        total = sum(self.suppressed.values())
        if not total:
            return None
        kinds = len(self.suppressed)
        return (
            f"{total} repeat{'s' * (total != 1)} of {kinds} warning"
            f"{'s' * (kinds != 1)} suppressed (each is shown once per run and layer)"
        )


def _our_loggers() -> list[logging.Logger]:
    names = [
        n
        for n, obj in logging.root.manager.loggerDict.items()
        if isinstance(obj, logging.Logger)
        and (n == "adali_plugins" or n.startswith("adali_plugins."))
    ]
    return [logging.getLogger(n) for n in sorted({"adali_plugins", *names})]


@dataclass
class LogSetup:
    """What :func:`setup` changed; :meth:`close` puts it back."""

    dedupe: DedupeFilter
    loggers: list[logging.Logger]
    level: int | None
    handler: logging.Handler | None = None
    _undo: list[Callable[[], Any]] = field(default_factory=list)

    def refresh(self) -> None:
        """Put the filter on loggers of ours created since (lazy imports)."""
        for logger in _our_loggers():
            if logger not in self.loggers:
                self._watch(logger)

    def _watch(self, logger: logging.Logger) -> None:
        self.loggers.append(logger)
        logger.addFilter(self.dedupe)
        self._undo.append(lambda: logger.removeFilter(self.dedupe))

    def close(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


def setup(verbosity: int = 0, *, handler: logging.Handler | None = None) -> LogSetup:
    """Configure logging for one comparison run.

    ``verbosity``: -1 errors only (``-q``), 0 warnings, 1 info (``-v``), 2 debug
    and third-party noise shown (``-vv``). ``handler`` (e.g. one that writes
    through the progress bars) is added to the root logger when it has none.
    """
    if verbosity < 2:
        quiet_third_party()
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        max(verbosity, -1), logging.DEBUG
    )
    dedupe = DedupeFilter()
    base = logging.getLogger("adali_plugins")
    result = LogSetup(dedupe=dedupe, loggers=[], level=level)
    old_level = base.level
    base.setLevel(level)
    result._undo.append(lambda: base.setLevel(old_level))
    result.refresh()
    if not logging.root.handlers:
        added = handler or logging.StreamHandler(sys.stderr)
        added.setFormatter(logging.Formatter(FORMAT))
        logging.root.addHandler(added)
        result.handler = added
        result._undo.append(lambda: logging.root.removeHandler(added))
    return result
