"""Checkpoints that survive being killed mid-write and say so when they are damaged.

``save_checkpoint`` writes to a uniquely named temporary file in the same
folder, flushes it to disk, then renames it over the target
(:func:`.fileio.atomic_path`): a crash at any point leaves either the previous
checkpoint or the new one, never half of one. The file carries a header with
the payload's length and SHA-256, so ``load_checkpoint`` tells a truncated or
corrupt file apart from a good one with a clear error.

No code runs from a checkpoint: the payload is read with
``torch.load(weights_only=True)``, which accepts tensors and plain containers
(dict, list, tuple, str, numbers, None) only. The SHA-256 is a check against
damage, not a signature (it has no key): safety comes from the restricted
loader, so a forged file with a valid header and hash around a pickled object
is refused like any other foreign file. Everything the package saves
(``training_state``, the harness's state) is made of such plain values.

``training_state`` / ``restore_training_state`` gather what a resumed run needs
to continue bit for bit on the CPU: model (AdaLi schedule position and calibrated
values live in its buffers), optimizer, ``AdaLiScheduler`` (including
per-iteration progress), an in-progress ``MembraneMonitor`` and the torch RNG.
"""

from __future__ import annotations

import copy
import hashlib
import io
import pickle
import struct
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .epochs import AdaLiScheduler
from .fileio import atomic_write
from .monitor import MembraneMonitor

MAGIC = b"ADALICK1"
_HEADER = struct.Struct(">8sQ32s")


class CheckpointError(ValueError):
    """A checkpoint file is truncated, corrupt, or not an adali_plugins checkpoint."""


_WHAT_TO_DO = "delete it or write to another location (adali-compare: another --out)"


def _damaged(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"{path}: {why}; {_WHAT_TO_DO}")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename).

    ``state`` must hold tensors and plain containers only, as
    :func:`load_checkpoint` reads nothing else; anything else fails here, before
    the previous file is touched.
    """
    path = Path(path)
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    try:
        torch.load(io.BytesIO(payload), weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, TypeError) as exc:
        raise TypeError(
            f"{path}: a checkpoint may hold only tensors and plain containers "
            f"(dict, list, tuple, str, numbers, None): {_first_line(exc)}"
        ) from None
    header = _HEADER.pack(MAGIC, len(payload), hashlib.sha256(payload).digest())
    return atomic_write(path, header + payload)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint``, verifying length and hash.

    Only tensors and plain containers are loaded (``weights_only=True``), so a
    file cannot run code, whatever it holds.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file is truncated, corrupt, of another format, or
            holds something other than tensors and plain containers; the
            one-line message names the file and what to do.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(_HEADER.size)
        if len(head) < _HEADER.size:
            raise _damaged(
                path, f"truncated ({len(head)} bytes, header is {_HEADER.size})"
            )
        magic, length, digest = _HEADER.unpack(head)
        if magic != MAGIC:
            raise _damaged(
                path, f"not an adali_plugins checkpoint (bad magic {magic!r})"
            )
        found = size - _HEADER.size
        if found != length:
            raise _damaged(
                path,
                f"truncated or padded: payload is {found} bytes, header says {length}",
            )
        payload = fh.read(length + 1)
    if len(payload) != length:
        raise _damaged(path, "changed while being read")
    if hashlib.sha256(payload).digest() != digest:
        raise _damaged(path, "corrupt: SHA-256 of the payload does not match")
    try:
        state = torch.load(io.BytesIO(payload), weights_only=True)
    except Exception as exc:  # the restricted unpickler raises several types
        raise _damaged(
            path,
            "refused: it holds objects other than tensors and plain containers "
            f"({type(exc).__name__}: {_first_line(exc)[:200]})",
        ) from None
    if not isinstance(state, dict):
        raise _damaged(path, f"holds a {type(state).__name__}, not a dict")
    return state


def load_model_state(model: nn.Module, state: Any) -> None:
    """``model.load_state_dict(state)``, all or nothing.

    PyTorch copies module by module and reports problems at the end, so a bad
    entry for a later layer (a garbage AdaLi buffer, a wrong shape) would leave
    earlier layers already overwritten. Here the model's previous state is put
    back before the error propagates.

    Raises:
        TypeError: ``state`` is not a mapping.
        ValueError, RuntimeError: from ``load_state_dict`` (any other error
            of a module's loader becomes a ValueError); the model is unchanged.
    """
    if not isinstance(state, dict):
        raise TypeError(f"a model state must be a dict, got {type(state).__name__}")
    snapshot = {k: v.detach().clone() for k, v in model.state_dict().items()}
    try:
        model.load_state_dict(state)
    except Exception as exc:
        model.load_state_dict(snapshot)
        if isinstance(exc, (ValueError, TypeError, RuntimeError)):
            raise
        # e.g. OverflowError from an infinite code buffer: still a bad state
        raise ValueError(
            f"invalid model state ({type(exc).__name__}: {exc}); nothing was loaded"
        ) from exc


def training_state(
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: AdaLiScheduler | None = None,
    monitor: MembraneMonitor | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Everything a run needs to continue exactly, for ``save_checkpoint``.

    Args:
        model: Its ``state_dict`` (AdaLi's buffers included).
        optimizer: Its ``state_dict``, if given.
        scheduler: The :class:`AdaLiScheduler`'s counters, if given.
        monitor: The :class:`MembraneMonitor`'s statistics, if given.
        **extra: Your own values (the epoch, a best score), stored under
            ``"extra"``: tensors and plain containers only, as
            ``load_checkpoint`` reads nothing else.

    Returns:
        A dict of tensors and plain containers, with the torch RNG state.
    """
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "monitor": monitor.state_dict() if monitor is not None else None,
        "torch_rng": torch.get_rng_state(),
        "extra": extra,
    }


def restore_training_state(
    state: dict[str, Any],
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: AdaLiScheduler | None = None,
    monitor: MembraneMonitor | None = None,
) -> dict[str, Any]:
    """Load ``state`` into the given objects, all or nothing; returns ``extra``.

    Every part is loaded in turn; if any part fails (a bad optimizer state
    after a good model, say), the parts already loaded, and the torch RNG,
    are put back before the error propagates.

    Args:
        state: What ``training_state`` built (as ``load_checkpoint``
            returns it).
        model: Receives the model state.
        optimizer: Receives the optimizer state, if given and saved.
        scheduler: Receives the scheduler's counters, if given and saved.
        monitor: Receives the monitor's statistics, if given and saved.

    Raises:
        ValueError: ``state`` is not a ``training_state`` dict, or a part of
            it is invalid (TypeError / RuntimeError from a part propagate
            as they are); nothing is changed then.
    """
    if not isinstance(state, dict):
        raise ValueError(f"a training state must be a dict, got {type(state).__name__}")
    lacking = [k for k in ("model", "torch_rng") if k not in state]
    if lacking:
        raise ValueError(f"the training state lacks {lacking}")
    parts: list[tuple[Any, Any]] = [(model, state["model"])]
    for obj, key in ((optimizer, "optimizer"), (scheduler, "scheduler")):
        if obj is not None and state.get(key) is not None:
            parts.append((obj, state[key]))
    if monitor is not None and state.get("monitor") is not None:
        parts.append((monitor, state["monitor"]))
    undo: list[tuple[Any, Any]] = []
    rng = torch.get_rng_state()
    try:
        for obj, part in parts:
            if obj is model:
                snapshot = {
                    k: v.detach().clone() for k, v in model.state_dict().items()
                }
                load_model_state(model, part)
            else:
                snapshot = copy.deepcopy(obj.state_dict())
                obj.load_state_dict(part)
            undo.append((obj, snapshot))
        torch.set_rng_state(state["torch_rng"])
    except Exception:
        for obj, snapshot in reversed(undo):
            obj.load_state_dict(snapshot)
        torch.set_rng_state(rng)
        raise
    return state.get("extra") or {}
