"""Issue 15: nothing runs from a file, nothing gets mixed, nothing half-changes.

Every file here is written by the test itself in the real format; nothing of
snnTorch or SpikingJelly is mocked.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import deadline

from adali_plugins.checkpoint import (
    MAGIC,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from adali_plugins.compare import cli
from adali_plugins.compare.data import DataFormatError
from adali_plugins.compare.data import neuromorphic as nm
from adali_plugins.compare.data.idx import read_idx
from adali_plugins.fileio import FolderBusyError, atomic_path, atomic_write, folder_lock

AEDAT3_HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#!END-HEADER\r\n"
AEDAT2_HEADER = b"#!AER-DAT2.0\r\n# raw\r\n"


class _Touch:
    """Unpickling this creates ``path``: the marker of code run from a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def _forged_checkpoint(path: Path, payload_obj) -> Path:
    """A file with a valid header and SHA-256 around a pickled object."""
    buf = io.BytesIO()
    torch.save(payload_obj, buf)
    payload = buf.getvalue()
    header = struct.pack(
        ">8sQ32s", MAGIC, len(payload), hashlib.sha256(payload).digest()
    )
    path.write_bytes(header + payload)
    return path


# ---------------------------------------------------------------- checkpoints


def test_pickled_object_in_a_valid_checkpoint_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = _forged_checkpoint(tmp_path / "evil.pt", {"model": _Touch(marker)})
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert not marker.exists()
    message = str(err.value)
    assert str(path) in message and "delete it" in message and "\n" not in message
    # the forged file really carries code: the unrestricted loader runs it
    torch.load(io.BytesIO(path.read_bytes()[48:]), weights_only=False)
    assert marker.exists()


def test_everything_the_package_saves_loads_weights_only(tmp_path):
    pytest.importorskip("snntorch")
    from adali_plugins import AdaLiScheduler, MembraneMonitor
    from adali_plugins.checkpoint import restore_training_state, training_state
    from adali_plugins.compare.models import conv_net
    from adali_plugins.snntorch import adali

    model = conv_net("snntorch", adali, size=8, channels=(2, 4))
    opt = torch.optim.Adam(model.parameters())
    model(torch.rand(2, 3, 1, 8, 8)).sum().backward()
    opt.step()
    sched, mon = AdaLiScheduler(model, 3, steps_per_epoch=2), MembraneMonitor(model)
    state = training_state(
        model=model, optimizer=opt, scheduler=sched, monitor=mon, phase="x", n=[1, 2]
    )
    path = save_checkpoint(tmp_path / "c.pt", state)
    torch.load(io.BytesIO(path.read_bytes()[48:]), weights_only=True)
    extra = restore_training_state(
        load_checkpoint(path), model=model, optimizer=opt, scheduler=sched, monitor=mon
    )
    assert extra == {"phase": "x", "n": [1, 2]}
    with pytest.raises(TypeError, match="plain containers"):
        save_checkpoint(tmp_path / "c.pt", {"x": np.float64(1.0)})
    assert load_checkpoint(path)["extra"] == extra


def test_harness_refuses_a_pickled_checkpoint_before_running_it(tmp_path, capsys):
    pytest.importorskip("snntorch")
    marker = tmp_path / "pwned"
    out = tmp_path / "out"
    name = "snntorch-atan-seed0"
    (out / "checkpoints").mkdir(parents=True)
    # the old harness saved with plain torch.save, no header: also refused
    torch.save({"config": _Touch(marker)}, out / "checkpoints" / f"{name}.pt")
    argv = ["--host", "snntorch", "--surrogates", "atan", "--seeds", "1"]
    argv += ["--epochs", "1", "--channels", "2", "4", "--no-plots", "--out", str(out)]
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an adali_plugins checkpoint" in err[0], err
    assert not marker.exists()
    _forged_checkpoint(out / "checkpoints" / f"{name}.pt", {"config": _Touch(marker)})
    with pytest.raises(SystemExit):
        cli.main(argv)
    assert "refused" in capsys.readouterr().err
    assert not marker.exists()
    assert not (out / "results.json").exists()


def test_run_refuses_a_checkpoint_of_other_limits(tmp_path):
    pytest.importorskip("snntorch")
    from dataclasses import asdict, replace

    from adali_plugins.compare.data.datasets import load_dataset
    from adali_plugins.compare.train import RunConfig, run

    cfg = RunConfig(
        host="snntorch",
        dataset="digits",
        surrogate="atan",
        seed=0,
        epochs=2,
        time_steps=2,
        batch_size=64,
        lr=1e-3,
        encoding="direct",
        channels=(2, 4),
        train_limit=200,
        test_limit=60,
    )
    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    save_checkpoint(
        ckpts / f"{cfg.name}.pt",
        {"config": asdict(cfg), "model": {}, "optimizer": {}, "records": "[]"},
    )
    unlimited = replace(cfg, train_limit=None, test_limit=None)
    with pytest.raises(ValueError, match=r"differs in test_limit, train_limit"):
        run(unlimited, load_dataset("digits"), tmp_path)


# ------------------------------------------------------- identity and the lock


def _flags(*extra: str) -> list[str]:
    return ["--host", "snntorch", "--surrogates", "atan", "--seeds", "1", *extra]


def test_rerun_with_other_flags_is_refused_naming_them(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    first = cli.build_parser().parse_args(
        _flags("--train-limit", "200", "--test-limit", "60", "--out", str(out))
    )
    atomic_write(out / "config.json", json.dumps(cli.identity(first)))
    with pytest.raises(SystemExit) as exit_:
        cli.main(_flags("--out", str(out)))
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--test-limit, --train-limit" in err[0] and "another --out" in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]


@pytest.mark.slow
def test_interrupted_limited_run_is_not_mixed_with_a_full_rerun(tmp_path, capsys):
    pytest.importorskip("snntorch")
    out = str(tmp_path / "out")
    small = _flags("--epochs", "1", "--channels", "2", "4", "--no-plots")
    small += ["--batch-size", "256", "--time-steps", "2", "--out", out]
    payload = cli.main([*small, "--train-limit", "200", "--test-limit", "60"])
    assert len(payload["runs"]) == 1
    before = (tmp_path / "out/results.json").read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli.main(small)
    assert exit_.value.code == 2
    assert "--test-limit, --train-limit" in capsys.readouterr().err
    assert (tmp_path / "out/results.json").read_bytes() == before


def test_second_run_on_a_locked_out_fails_in_one_line(tmp_path, capsys):
    pytest.importorskip("snntorch")
    out = tmp_path / "out"
    out.mkdir()
    with folder_lock(out):
        with pytest.raises(SystemExit) as exit_:
            cli.main(_flags("--epochs", "1", "--channels", "2", "4", "--out", str(out)))
        with pytest.raises(FolderBusyError):
            with folder_lock(out):
                pass
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "in use by another run" in err[0]
    with folder_lock(out):  # released with its holder
        pass


# ------------------------------------------------------------- atomic writes


@pytest.mark.parametrize("how", ["raise", "disk-full"])
def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, how):
    target = atomic_write(tmp_path / "results.json", '{"good": true}\n')

    def failing_writer(path: Path) -> None:
        with open(path, "w") as fh:
            fh.write('{"half": ')
            fh.flush()
            if how == "raise":
                raise RuntimeError("writer died")
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises((RuntimeError, OSError)):
        with atomic_path(target) as tmp:
            failing_writer(tmp)
    assert json.loads(target.read_text()) == {"good": True}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_concurrent_writers_use_distinct_temporaries(tmp_path):
    target = tmp_path / "c.pt"
    with atomic_path(target) as a, atomic_path(target) as b:
        assert a != b and a.parent == b.parent == tmp_path
        assert a.suffix == ".pt"
        a.write_bytes(b"a")
        b.write_bytes(b"b")
    assert target.read_bytes() == b"a"  # the outer one finished last


# ------------------------------------------------------------------ bad flags

BAD_FLAGS = [
    ["--surrogates", "no_such_name"],
    ["--surrogates", "ATan", "--host", "snntorch"],
    ["--surrogates", "atan", "AdaLi:p=5"],
    ["--surrogates", "atan", "atan"],
    ["--surrogates", "AdaLi:p"],
    [
        "--surrogates",
        "AdaLi:calibrate=both,coverage=0.5",
        "AdaLi:calibrate=both,coverage=0.9",
    ],
    ["--epochs", "0"],
    ["--epochs", "-3"],
    ["--epochs", "100000"],
    ["--seeds", "0"],
    ["--time-steps", "0"],
    ["--batch-size", "0"],
    ["--batch-size", "4096", "--time-steps", "256"],
    ["--channels", "0", "8"],
    ["--channels", "100000", "100000"],
    ["--lr", "nan"],
    ["--lr", "inf"],
    ["--lr", "-1"],
    ["--lr", "0"],
    ["--train-limit", "0"],
    ["--test-limit", "-5"],
    ["--threads", "0"],
    ["--target", "1.5"],
    ["--device", "no-such-device"],
    ["--epochs", "two"],
    ["--dataset", "imagenet"],
    ["--no-such-flag"],
]


@pytest.mark.parametrize("argv", BAD_FLAGS, ids=lambda a: " ".join(a))
def test_bad_flag_exits_2_with_one_line_and_writes_nothing(
    argv, tmp_path, capsys, monkeypatch
):
    pytest.importorskip("snntorch")
    pytest.importorskip("spikingjelly")

    def never(*_a, **_k):
        raise AssertionError("training started")

    monkeypatch.setattr(cli, "_train_and_report", never)
    out = tmp_path / "out"
    began = time.perf_counter()
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--out", str(out)])
    elapsed = time.perf_counter() - began
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("adali-compare: error: "), err
    assert not out.exists()
    assert elapsed < 10, elapsed


def test_out_that_is_a_file_or_under_a_file(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    for out in (afile, afile / "sub"):
        with pytest.raises(SystemExit) as exit_:
            cli.main(["--out", str(out)])
        assert exit_.value.code == 2
        assert "is a file" in capsys.readouterr().err
    assert afile.read_text() == "keep"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(SystemExit) as exit_:
            cli.main(["--out", str(ro / "x")])
    finally:
        ro.chmod(0o755)
    assert exit_.value.code == 2 and "not writable" in capsys.readouterr().err


def test_unknown_surrogate_names_the_host_that_lacks_it(capsys):
    pytest.importorskip("snntorch")
    pytest.importorskip("spikingjelly")
    with pytest.raises(SystemExit):
        cli.main(["--surrogates", "Erf", "--host", "snntorch"])
    err = capsys.readouterr().err
    assert "snntorch lacks it" in err and "spikingjelly built-in" in err


@pytest.mark.slow
def test_console_bad_flag_is_one_line_exit_2_and_fast(tmp_path):
    out = tmp_path / "out"
    began = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "adali_plugins.compare", "--epochs", "0", "--out", out],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    elapsed = time.perf_counter() - began
    lines = [ln for ln in proc.stderr.splitlines() if "Triton" not in ln]
    assert proc.returncode == 2, proc.stderr
    assert lines == ["adali-compare: error: --epochs must be from 1 to 1000, got 0"]
    assert not out.exists()
    print(f"subprocess bad flag -> error: {elapsed:.2f} s")
    assert elapsed < 60


def test_bench_bad_flags_exit_2_one_line(tmp_path, capsys):
    from adali_plugins.compare import bench

    for argv in (
        ["--sizes", "4096M"],
        ["--step-size", "2"],
        ["--threads", "0"],
        ["--json", str(tmp_path)],
        ["--json", str(tmp_path / "no" / "x.json")],
    ):
        with pytest.raises(SystemExit) as exit_:
            bench.main(argv)
        assert exit_.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and argv[0] in err[0], err


# -------------------------------------------------------------------- readers


@pytest.mark.slow
def test_idx_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(bytes([0, 0, 8, 1]) + struct.pack(">I", 10))
        zeros = bytes(1 << 24)
        for _ in range(64):  # 1 GiB of zeros, about 1 MB on disk
            fh.write(zeros)
    tracemalloc.start()
    try:
        with pytest.raises(DataFormatError, match="unexpected trailing bytes"):
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak


def test_idx_header_claiming_too_much_is_refused_from_the_header(tmp_path):
    huge = bytes([0, 0, 8, 3]) + struct.pack(">3I", 60000, 28, 2800) + b"\x00" * 100
    (tmp_path / "big.idx").write_bytes(huge)
    with pytest.raises(DataFormatError, match="over the limit"):
        read_idx(tmp_path / "big.idx")
    (tmp_path / "big.gz").write_bytes(gzip.compress(huge[:20]))
    with pytest.raises(DataFormatError, match=r"big\.gz.*over the limit"):
        read_idx(tmp_path / "big.gz")
    claim = bytes([0, 0, 8, 1]) + struct.pack(">I", 1 << 20) + b"\x00" * 10
    (tmp_path / "lie.idx").write_bytes(claim)
    with pytest.raises(DataFormatError, match="truncated IDX data"):
        read_idx(tmp_path / "lie.idx")


def _packet(kind: int, size: int, capacity: int, number: int) -> bytes:
    return struct.pack("<hhiiiiii", kind, 1, size, 4, 0, capacity, number, number)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (_packet(1, -8, 1, 1) + b"\x00" * 8, "impossible event size -8"),
        (_packet(1, 8, -1, 0), "impossible event size"),
        (_packet(1, 8, 1 << 28, 1), "remain"),
        (_packet(1, 8, 2, 3) + b"\x00" * 16, "number 3"),
        (_packet(1, 6, 1, 1) + b"\x00" * 6, "multiple of 4"),
        (_packet(1, 8, 1, 1) + b"\x00" * 8 + b"\x01\x02", "header cut after 2"),
    ],
    ids=["negative-size", "negative-capacity", "oversized", "number", "odd", "cut"],
)
def test_aedat3_lengths_are_checked_and_never_loop(tmp_path, payload, problem):
    path = tmp_path / "user01_led.aedat"
    path.write_bytes(AEDAT3_HEADER + payload)
    with deadline(10), pytest.raises(DataFormatError) as err:
        nm.read_aedat3_polarity(path)
    assert str(path) in str(err.value) and "packet " in str(err.value)
    assert problem in str(err.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty file"),
        (b"\x00\x01garbage\xff" * 10, "not an AEDAT file"),
        (b"# a comment\r\n# no version\r\n\x00\x00", "not an AEDAT file"),
        (b"#" + b"x" * (2 << 20), "longer than"),
    ],
    ids=["empty", "garbage", "no-version", "endless-line"],
)
def test_aedat_headers(tmp_path, content, problem):
    path = tmp_path / "x.aedat"
    path.write_bytes(content)
    for reader in (nm.read_aedat3_polarity, nm.read_aedat2_dvs128):
        with deadline(10), pytest.raises(DataFormatError) as err:
            reader(path)
        assert str(path) in str(err.value) and problem in str(err.value)


def test_aedat2_record_cut_midway(tmp_path):
    path = tmp_path / "c.aedat"
    path.write_bytes(AEDAT2_HEADER + struct.pack(">II", 1, 2) + b"\x00\x00\x00")
    with pytest.raises(DataFormatError, match=r"c\.aedat: AEDAT 2 event 1 is cut"):
        nm.read_aedat2_dvs128(path)


def test_nmnist_cut_and_empty_files(tmp_path):
    pytest.importorskip("tonic")
    cut = tmp_path / "cut.bin"
    cut.write_bytes(bytes([1, 2, 0, 0, 5, 3, 4]))
    with pytest.raises(DataFormatError, match=r"cut\.bin: N-MNIST record 1 is cut"):
        nm.read_nmnist_events(cut)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(DataFormatError, match=r"empty\.bin: empty"):
        nm.read_nmnist_events(empty)


def test_nmnist_event_outside_the_sensor_names_the_file(tmp_path):
    pytest.importorskip("tonic")
    for part in ("Train", "Test"):
        f = tmp_path / part / "1" / "00001.bin"
        f.parent.mkdir(parents=True)
        f.write_bytes(bytes([200, 3, 0, 0, 1]))
    with pytest.raises(DataFormatError, match=r"00001\.bin: event 0 at x=200"):
        nm.load_nmnist(tmp_path, time_steps=1)


def _gesture(root: Path, csv: str) -> None:
    events = struct.pack("<Ii", (1 << 17) | (2 << 2) | 1, 10)
    (root / "user01_led.aedat").write_bytes(
        AEDAT3_HEADER + _packet(1, 8, 1, 1) + events
    )
    (root / "user01_led_labels.csv").write_text(csv)
    (root / "trials_to_train.txt").write_text("user01_led.aedat\n")
    (root / "trials_to_test.txt").write_text("user01_led.aedat\n")


@pytest.mark.parametrize(
    ("csv", "problem"),
    [
        ("class,startTime_usec,endTime_usec\n0,0,100\n", "row 1: class 0 outside"),
        ("class,startTime_usec,endTime_usec\n12,0,100\n", "class 12 outside"),
        ("class,startTime_usec,endTime_usec\n3,100,100\n", "0 <= start < end"),
        ("class,startTime_usec,endTime_usec\n3,0\n", "columns"),
        ("class,start,end\nthree,0,10\n", "not a label table"),
    ],
    ids=["label-0", "label-12", "empty-span", "columns", "text"],
)
def test_gesture_labels_are_checked_when_listed(tmp_path, csv, problem):
    _gesture(tmp_path, csv)
    with pytest.raises(DataFormatError) as err:
        nm.load_dvs_gesture(tmp_path, time_steps=1)
    assert "user01_led_labels.csv" in str(err.value) and problem in str(err.value)


def test_gesture_npy_must_be_plain_rows_and_named_by_label(tmp_path):
    target = tmp_path / "ibmGestureTrain" / "user01_led"
    target.mkdir(parents=True)
    (tmp_path / "ibmGestureTest" / "user02_led").mkdir(parents=True)
    np.save(tmp_path / "ibmGestureTest/user02_led/1.npy", np.zeros((1, 4)))
    np.save(target / "11.npy", np.zeros((1, 4)))
    with pytest.raises(DataFormatError, match=r"11\.npy: file name must be its label"):
        nm.load_dvs_gesture(tmp_path, time_steps=1)
    (target / "11.npy").unlink()
    np.save(target / "3.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataFormatError, match=r"3\.npy: not a plain \.npy"):
        nm.load_dvs_gesture(tmp_path, time_steps=1)
    np.save(target / "3.npy", np.array([[0, 0, 1, np.nan]]))
    with pytest.raises(DataFormatError, match=r"3\.npy: expected finite"):
        nm.load_dvs_gesture(tmp_path, time_steps=1)


# ----------------------------------------------------- all-or-nothing loading


def _adali_net():
    pytest.importorskip("snntorch")
    from adali_plugins.compare.models import conv_net
    from adali_plugins.snntorch import adali

    torch.manual_seed(0)
    return conv_net("snntorch", adali, size=8, channels=(2, 4))


def _bad_later_layer(model):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["features.0.weight"] = state["features.0.weight"] + 1.0
    state["features.2.spike_grad.left"] = torch.tensor(3.6, dtype=torch.float64)
    state["out.spike_grad.keep_code"] = torch.tensor(3)
    return state


def test_load_model_state_is_all_or_nothing():
    from adali_plugins.checkpoint import load_model_state

    model = _adali_net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="keep_code"):
        load_model_state(model, _bad_later_layer(model))
    after = model.state_dict()
    assert torch.equal(after["features.0.weight"], before["features.0.weight"])
    assert float(after["features.2.spike_grad.left"]) == 1.5


def test_adali_load_state_dict_all_or_nothing_across_layers():
    model = _adali_net()
    with pytest.raises(ValueError, match="keep_code"):
        model.load_state_dict(_bad_later_layer(model))
    assert float(model.state_dict()["features.2.spike_grad.left"]) == 1.5
