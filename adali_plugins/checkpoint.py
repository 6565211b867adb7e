"""Checkpoints that survive being killed mid-write and say so when they are damaged.

``save_checkpoint`` writes to a temporary file in the same folder, flushes it to
disk, then renames it over the target: a crash at any point leaves either the
previous checkpoint or the new one, never half of one. The file carries a
header with the payload's length and SHA-256, so ``load_checkpoint`` tells a
truncated or corrupt file apart from a good one with a clear error.

``training_state`` / ``restore_training_state`` gather what a resumed run needs
to continue bit for bit on the CPU: model (AdaLi schedule position and calibrated
values live in its buffers), optimizer, ``AdaLiScheduler`` (including
per-iteration progress), an in-progress ``MembraneMonitor`` and the torch RNG.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .epochs import AdaLiScheduler
from .monitor import MembraneMonitor

MAGIC = b"ADALICK1"
_HEADER = struct.Struct(">8sQ32s")


class CheckpointError(ValueError):
    """A checkpoint file is truncated, corrupt, or not an adali_plugins checkpoint."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(_HEADER.pack(MAGIC, len(payload), hashlib.sha256(payload).digest()))
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint``, verifying length and hash.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file is truncated, corrupt or of another format.
    """
    path = Path(path)
    data = path.read_bytes()
    if len(data) < _HEADER.size:
        raise CheckpointError(
            f"{path}: truncated ({len(data)} bytes, header is {_HEADER.size})"
        )
    magic, length, digest = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CheckpointError(
            f"{path}: not an adali_plugins checkpoint (bad magic {magic!r})"
        )
    payload = data[_HEADER.size :]
    if len(payload) != length:
        raise CheckpointError(
            f"{path}: truncated or padded: payload is {len(payload)} bytes, "
            f"header says {length}"
        )
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointError(f"{path}: corrupt: SHA-256 of the payload does not match")
    return torch.load(io.BytesIO(payload), weights_only=False)


def training_state(
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: AdaLiScheduler | None = None,
    monitor: MembraneMonitor | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Everything a run needs to continue exactly, for ``save_checkpoint``."""
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
    """Load ``state`` into the given objects; returns its ``extra`` entries."""
    model.load_state_dict(state["model"])
    if optimizer is not None and state["optimizer"] is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    if monitor is not None and state["monitor"] is not None:
        monitor.load_state_dict(state["monitor"])
    torch.set_rng_state(state["torch_rng"])
    return state["extra"]
