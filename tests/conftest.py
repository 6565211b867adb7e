"""Shared fixtures: independent reference formulas and host availability."""

from __future__ import annotations

import math
import signal
from contextlib import contextmanager

import numpy as np
import pytest
import torch


def reference_factor(q: float, p: float, schedule: str) -> float:
    """Width factor f(q) of our lag-free schedules, restated independently."""
    if schedule == "linear_lagfree":
        return 1 - (1 - p) * q
    if schedule == "cosine":
        return p + (1 - p) * (1 + math.cos(math.pi * q)) / 2
    if schedule == "exp":
        return math.exp(q * math.log(p))
    if schedule == "step":
        return 1 - (1 - p) * min(int(q * 4), 4) / 4
    raise AssertionError(schedule)


def reference_grad(x: np.ndarray, *, alpha, beta, left, right, p, q, schedule, keep):
    """g(x) element by element from the spec's piecewise definition."""
    f = schedule(q) if callable(schedule) else reference_factor(q, p, schedule)
    big_l, big_r = left * f, right * f
    if keep == "area":
        lo, hi = alpha / big_l, beta / big_r
    else:
        lo, hi = alpha / left, beta / right
    out = np.zeros_like(x, dtype=np.float64)
    for i, v in np.ndenumerate(x):
        if -big_l <= v < 0:
            out[i] = lo
        elif 0 <= v <= big_r:
            out[i] = hi
    return out


def boundary_free_grid(n: int, bounds: list[float], lo=-3.0, hi=3.0) -> torch.Tensor:
    """float64 points in [lo, hi] kept at least 1e-6 away from every boundary."""
    x = torch.linspace(lo, hi, n, dtype=torch.float64)
    for b in bounds:
        near = (x - b).abs() < 1e-6
        x[near] = b + 1e-3
    return x


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@contextmanager
def deadline(seconds: float = 5.0):
    """Fail with TimeoutError (instead of hanging) if the body runs too long."""

    def expire(*_):
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class Interrupt(Exception):
    """Raised from ``on_epoch`` to stop a harness run as a crash would."""


def run_whole_and_resumed(cfg, data, root):
    """One harness run straight through, and the same run stopped after its
    first epoch then resumed; both epoch-record lists, wall times removed."""
    import json

    from adali_plugins.compare.train import run

    def stop_after_first(record):
        if record["epoch"] == 0:
            raise Interrupt

    whole = run(cfg, data, root / "whole")
    try:
        run(cfg, data, root / "cut", on_epoch=stop_after_first)
    except Interrupt:
        pass
    else:
        raise AssertionError("the run was not interrupted")
    log = root / "cut" / "runs" / f"{cfg.name}.jsonl"
    assert len(log.read_text().splitlines()) == 1
    resumed = run(cfg, data, root / "cut")

    def strip(records):
        return json.dumps(
            [{k: v for k, v in r.items() if k != "train_seconds"} for r in records]
        )

    return strip(whole), strip(resumed)


def run_python(code: str) -> None:
    """Run ``code`` in a fresh interpreter (nothing imported yet) and require
    that it exits 0, showing the end of its stderr otherwise."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
