"""compare/: the harness is deterministic, resumable, and writes what it promises."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_whole_and_resumed

from adali_plugins.compare import main, parse_surrogate
from adali_plugins.compare.data.datasets import load_dataset
from adali_plugins.compare.spec import default_surrogates
from adali_plugins.compare.train import RunConfig, run

pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly")

TINY = ["--epochs", "2", "--channels", "4", "8", "--batch-size", "128", "--no-plots"]


def _numbers(payload):
    """Every number of every run, with wall-clock times removed."""
    runs = payload["runs"]
    for r in runs:
        for e in r["epochs"]:
            e.pop("train_seconds")
    return runs


@pytest.mark.slow
def test_same_seed_gives_bit_identical_numbers(tmp_path):
    args = [*TINY, "--surrogates", "AdaLi:calibrate=both", "atan", "ATan"]
    first = main([*args, "--out", str(tmp_path / "a")])
    second = main([*args, "--out", str(tmp_path / "b")])
    assert _numbers(first) == _numbers(second)
    assert {(r["host"], r["surrogate"]) for r in first["runs"]} == {
        ("snntorch", "AdaLi:calibrate=both"),
        ("snntorch", "atan"),
        ("spikingjelly", "AdaLi:calibrate=both"),
        ("spikingjelly", "ATan"),
    }


@pytest.mark.slow
@pytest.mark.parametrize("host", ["snntorch", "spikingjelly"])
def test_resume_after_interruption_gives_the_same_run(tmp_path, host):
    data = load_dataset("digits")
    cfg = RunConfig(
        host=host,
        dataset="digits",
        surrogate="AdaLi:calibrate=mass",
        seed=1,
        epochs=3,
        time_steps=3,
        batch_size=128,
        lr=2e-3,
        encoding="rate",
        channels=(4, 8),
    )
    whole, resumed = run_whole_and_resumed(cfg, data, tmp_path)
    assert resumed == whole


@pytest.mark.slow
def test_outputs_table_csv_json_and_plots(tmp_path, capsys):
    out = tmp_path / "o"
    main(
        [
            "--epochs",
            "1",
            "--channels",
            "4",
            "8",
            "--batch-size",
            "256",
            "--host",
            "spikingjelly",
            "--surrogates",
            "AdaLi",
            "Sigmoid",
            "--seeds",
            "2",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert "final acc %" in printed and "AdaLi" in printed and "Sigmoid" in printed
    assert "Verdict:" in printed and "spikingjelly: AdaLi - Sigmoid" in printed
    for name in (
        "results.csv",
        "results.json",
        "table.txt",
        "accuracy.png",
        "gradients.png",
        "window_share.png",
        "membrane_adali.png",
        "curves_spikingjelly.png",
        "summary.md",
    ):
        assert (out / name).stat().st_size > 0, name
    payload = json.loads((out / "results.json").read_text())
    assert [row["seeds"] for row in payload["table"]] == [2, 2]
    epoch = payload["runs"][0]["epochs"][0]
    assert {
        "grad_norm_by_layer",
        "grad_norm_by_step",
        "firing_rate",
        "density",
        "test_acc",
    } <= set(epoch)
    assert all(len(v) == 4 for v in epoch["grad_norm_by_step"].values())
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 4


@pytest.mark.slow
def test_mnist1d_runs_as_a_sequence_and_rejects_bad_time_steps(tmp_path, capsys):
    pytest.importorskip("mnist1d")
    args = ["--dataset", "mnist1d", "--epochs", "1", "--seeds", "1", "--no-plots"]
    args += ["--train-limit", "400", "--test-limit", "200", "--threads", "1"]
    ok = ["--time-steps", "10", "--out", str(tmp_path / "ok")]
    threads = torch.get_num_threads()
    try:
        payload = main([*args, *ok, "--surrogates", "AdaLi", "atan", "ATan"])
    finally:
        torch.set_num_threads(threads)
    assert {r["surrogate"] for r in payload["runs"]} == {"AdaLi", "atan", "ATan"}
    assert all(len(r["epochs"][0]["density"]) == 3 for r in payload["runs"])
    assert all(0 <= r["epochs"][0]["test_acc"] <= 1 for r in payload["runs"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--time-steps", "7", "--out", str(tmp_path / "bad")])
    assert exit_.value.code == 2
    assert "--time-steps must divide" in capsys.readouterr().err


def test_resume_refuses_a_different_configuration(tmp_path):
    data = load_dataset("digits")
    cfg = RunConfig(
        host="snntorch",
        dataset="digits",
        surrogate="atan",
        seed=0,
        epochs=1,
        time_steps=2,
        batch_size=256,
        lr=1e-3,
        encoding="direct",
        channels=(4, 8),
    )
    run(cfg, data, tmp_path)
    other = RunConfig(**{**cfg.__dict__, "lr": 5e-3})
    with pytest.raises(ValueError, match="different configuration"):
        run(other, data, tmp_path)


def test_surrogate_spec_parsing():
    spec = parse_surrogate("AdaLi:p=1,calibrate=both,schedule=cosine")
    assert spec.options == {"p": 1, "calibrate": "both", "schedule": "cosine"}
    assert spec.label == "AdaLi:calibrate=both,p=1,schedule=cosine"
    with pytest.raises(ValueError, match="key=value"):
        parse_surrogate("AdaLi:p")
    with pytest.raises(ValueError, match="calibrate"):
        parse_surrogate("AdaLi:calibrate=always")
    with pytest.raises(ValueError, match="not compared on snntorch"):
        parse_surrogate("ATan").factory("snntorch")
    with pytest.raises(ValueError, match="unknown AdaLi option"):
        parse_surrogate("AdaLi:slope=3").factory("snntorch")
    assert [s.label for s in default_surrogates("spikingjelly")][:2] == [
        "AdaLi",
        "AdaLi:calibrate=both",
    ]


@pytest.mark.slow
def test_console_script_exits_zero(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("adali-compare")
    if not script.exists():
        pytest.skip("package not installed with its console script (pip install -e .)")
    run = subprocess.run(
        [
            str(script),
            *TINY,
            "--epochs",
            "1",
            "--host",
            "snntorch",
            "--surrogates",
            "atan",
            "--seeds",
            "1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "final acc %" in run.stdout
