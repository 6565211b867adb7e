"""Two gloo ranks on CPU: identical statistics and calibration, equal to one process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("spikingjelly")
pytestmark = [pytest.mark.distributed, pytest.mark.slow]  # spawns 2 processes

WORKER = Path(__file__).with_name("ddp_worker.py")


def _launch(world, tmp_path, tag, state_in=None):
    rendezvous = tmp_path / f"rendezvous-{tag}"
    procs = []
    for rank in range(world):
        cmd = [
            sys.executable,
            str(WORKER),
            str(rank),
            str(world),
            str(rendezvous),
            str(tmp_path / f"{tag}-{rank}.json"),
        ]
        if state_in is not None:
            cmd.append(str(state_in))
        procs.append(
            subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    return [
        json.loads((tmp_path / f"{tag}-{r}.json").read_text()) for r in range(world)
    ]


def test_two_ranks_agree_and_match_single_process(tmp_path):
    rank0, rank1 = _launch(2, tmp_path, "ddp")
    for rank in (rank0, rank1):  # attach on a DDP-wrapped model is refused
        assert "attach AdaLi before wrapping" in rank["attach_refused"]
    assert rank0["weights_sum"] == rank1["weights_sum"]
    assert rank0["summary"] == rank1["summary"]
    assert rank0["hist"] == rank1["hist"]
    assert rank0["calibrated"] == rank1["calibrated"]
    (single,) = _launch(
        1, tmp_path, "single", state_in=tmp_path / "ddp-0.json.weights.pt"
    )
    assert single["hist"] == rank0["hist"]
    for a, b in zip(single["summary"], rank0["summary"], strict=True):
        assert a["count"] == b["count"]
        assert a["mean"] == pytest.approx(b["mean"], rel=1e-9)
        assert a["std"] == pytest.approx(b["std"], rel=1e-9)
    for layer, got in single["calibrated"].items():
        for key in ("alpha", "beta", "left", "right"):
            assert got[key] == pytest.approx(rank0["calibrated"][layer][key], rel=1e-9)


def test_two_rank_training_is_bit_identical_across_runs(tmp_path):
    first = _launch(2, tmp_path, "one")
    second = _launch(2, tmp_path, "two")
    assert first == second
