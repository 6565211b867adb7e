"""checkpoint.py: killed runs resume bit for bit; damaged files fail clearly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from adali_plugins.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

WORKER = Path(__file__).with_name("resume_worker.py")


def _run(host, ckpt, out, delay=0.0):
    return subprocess.Popen(
        [sys.executable, str(WORKER), host, str(ckpt), str(out), "--delay", str(delay)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _phase(ckpt):
    try:
        extra = load_checkpoint(ckpt)["extra"]
    except (FileNotFoundError, CheckpointError):
        return None
    return extra["phase"], extra["batch"]


def _kill_when(proc, ckpt, condition, timeout=120):
    start = time.time()
    while time.time() - start < timeout:
        state = _phase(ckpt)
        if state is not None and condition(*state):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return state
        if proc.poll() is not None:
            raise AssertionError(
                f"worker ended before the kill: {proc.stderr.read()[-2000:]}"
            )
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("condition never reached")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The losses of one uninterrupted worker run per host, run once per module."""
    done: dict[str, list[str]] = {}

    def losses(host: str) -> list[str]:
        if host not in done:
            root = tmp_path_factory.mktemp(f"whole-{host}")
            whole = _run(host, root / "a.pt", root / "a.txt")
            _, err = whole.communicate(timeout=300)
            assert whole.returncode == 0, err[-2000:]
            done[host] = (root / "a.txt").read_text().split()
        return done[host]

    return losses


@pytest.mark.slow
@pytest.mark.parametrize("host", ["snntorch", "spikingjelly"])
@pytest.mark.parametrize(
    "where",
    [
        lambda phase, batch: phase == "calibrate" and batch >= 2,
        lambda phase, batch: phase == "train" and batch >= 5,
    ],
    ids=["mid-calibration", "mid-epoch"],
)
def test_sigkill_then_resume_matches_uninterrupted_run(
    tmp_path, host, where, uninterrupted
):
    pytest.importorskip(host)
    expected = uninterrupted(host)
    victim = _run(host, tmp_path / "b.pt", tmp_path / "b.txt", delay=0.3)
    killed_at = _kill_when(victim, tmp_path / "b.pt", where)
    assert victim.returncode == -signal.SIGKILL
    assert not (tmp_path / "b.txt").exists()
    resumed = _run(host, tmp_path / "b.pt", tmp_path / "b.txt")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-2000:]
    assert len(expected) > 10
    assert (tmp_path / "b.txt").read_text().split() == expected, (
        f"killed at {killed_at}"
    )


def test_truncated_corrupt_and_foreign_files(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"w": torch.arange(10.0)})
    data = path.read_bytes()
    assert torch.equal(load_checkpoint(path)["w"], torch.arange(10.0))
    (tmp_path / "cut.pt").write_bytes(data[:-7])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "tiny.pt").write_bytes(data[:10])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(tmp_path / "tiny.pt")
    flipped = bytearray(data)
    flipped[-20] ^= 0xFF
    (tmp_path / "bad.pt").write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "bad.pt")
    torch.save({"w": 1}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not an adali_plugins checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")


def test_failed_save_keeps_the_previous_file(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"epoch": 1})
    with pytest.raises(Exception, match=r"pickle|lambda|local"):
        save_checkpoint(path, {"epoch": 2, "bad": lambda: None})
    assert load_checkpoint(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
