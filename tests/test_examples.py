"""Every integration example runs as a user would run it (few epochs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "integration_examples"
CASES = {
    "snntorch_spike_grad.py": ["--epochs", "1"],
    "snntorch_attach.py": ["--epochs", "1"],
    "spikingjelly_conv_multistep.py": ["--epochs", "1"],
    "calibrate_then_train.py": ["--epochs", "1"],
    "compare_in_40_lines.py": ["--epochs", "1"],
    "compare_your_model.py": ["--epochs", "1", "--seeds", "1", "--train-limit", "500"],
    "ddp_two_processes.py": ["--epochs", "1"],
    "calibrated_values_digits.py": ["--batches", "1"],
}


SMOKED_ELSEWHERE = {"compare_notebook.py"}  # tests/test_compare_cli.py


def test_every_example_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(
        {*CASES, *SMOKED_ELSEWHERE}
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES), ids=sorted(CASES))
def test_example_runs(name, tmp_path):
    args = list(CASES[name])
    if name == "calibrate_then_train.py":
        args += ["--plots", str(tmp_path), "--checkpoint", str(tmp_path / "model.pt")]
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert (
        "alpha" if name == "calibrated_values_digits.py" else "test accuracy"
    ) in run.stdout
    if name == "calibrate_then_train.py":
        assert (tmp_path / "window_history.png").stat().st_size > 0
        assert (tmp_path / "model.pt").stat().st_size > 0
