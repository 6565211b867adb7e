"""compare/data/neuromorphic.py: real event datasets read from tiny files written
here in each dataset's own on-disk format, with frames checked by hand."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest
import torch

pytest.importorskip("tonic")

from adali_plugins.compare.data import neuromorphic as nm
from adali_plugins.compare.data.datasets import load_dataset

AEDAT3_HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"
AEDAT2_HEADER = b"#!AER-DAT2.0\r\n# This is a raw AE data file\r\n"


def write_nmnist(path, events):
    """N-MNIST's 40-bit records: x, y, polarity bit + 23-bit time (us)."""
    raw = bytearray()
    for x, y, p, t in events:
        raw += bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(raw))


OVERFLOW = (0, 240, 0, 0)


def write_aedat3(path, packets):
    """AEDAT 3.1: text header, then packets of a 28-byte header and 8-byte events."""
    body = bytearray(AEDAT3_HEADER)
    for kind, overflow, events in packets:
        n = len(events)
        body += struct.pack("<hhiiiiii", kind, 1, 8, 4, overflow, n, n, n)
        for x, y, p, t, valid in events:
            body += struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | valid, t)
    path.write_bytes(bytes(body))


def write_aedat2(path, events):
    """AEDAT 2.0 of a DVS128: big-endian address and timestamp words."""
    body = bytearray(AEDAT2_HEADER)
    for x, y, p, t in events:
        body += struct.pack(">II", (x << 8) | (y << 1) | p, t)
    path.write_bytes(bytes(body))


def test_nmnist_records_overflow_and_frames(tmp_path):
    write_nmnist(
        tmp_path / "Train/3/00001.bin",
        [(1, 2, 1, 0), (3, 4, 0, 100), OVERFLOW, (5, 6, 1, 0)],
    )
    events = nm.read_nmnist_events(tmp_path / "Train/3/00001.bin")
    assert events.tolist() == [
        (0.0, 1, 2, 1),
        (100 / 8192, 3, 4, -1),
        (1.0, 5, 6, 1),
    ]
    for part in ("Train", "Test"):
        for digit in range(10):
            write_nmnist(
                tmp_path / f"{part}/{digit}/{digit:05d}.bin",
                [(digit, 0, 1, 0), (0, digit, 0, 50)],
            )
    split = nm.load_nmnist(tmp_path, time_steps=2)
    assert split.x_train.shape == (11, 2, 2, 34, 34)
    assert split.y_train.tolist() == [0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9]
    expected = torch.zeros(2, 2, 34, 34)
    expected[0, 1, 0, 7] = 1
    expected[1, 0, 7, 0] = 1
    assert torch.equal(split.x_test[7], expected)
    assert split.x_train[3].sum() == 3 and split.x_train[4].sum() == 2


def _gesture_files(root):
    write_aedat3(
        root / "user01_led.aedat",
        [
            (0, 0, [(9, 9, 1, 1500, 1)]),
            (1, 0, [(10, 20, 1, 1000, 1), (11, 21, 0, 1999, 1), (12, 22, 1, 1500, 0)]),
            (1, 0, [(13, 23, 0, 2000, 1), (14, 24, 1, 2999, 1), (15, 25, 1, 3000, 1)]),
        ],
    )
    (root / "user01_led_labels.csv").write_text(
        "class,startTime_usec,endTime_usec\n3,1000,2000\n11,2000,3000\n"
    )
    write_aedat3(
        root / "user02_led.aedat", [(1, 1, [(1, 2, 1, 5, 1), (3, 4, 0, 9, 1)])]
    )
    (root / "user02_led_labels.csv").write_text(
        "class,startTime_usec,endTime_usec\n1,0,2147483658\n"
    )
    (root / "trials_to_train.txt").write_text("user01_led.aedat\n")
    (root / "trials_to_test.txt").write_text("user02_led.aedat\n")


def test_aedat3_skips_other_packets_and_invalid_events(tmp_path):
    _gesture_files(tmp_path)
    events = nm.read_aedat3_polarity(tmp_path / "user01_led.aedat")
    assert events["t"].tolist() == [1000, 1999, 2000, 2999, 3000]
    assert events["x"].tolist() == [10, 11, 13, 14, 15]
    assert events["y"].tolist() == [20, 21, 23, 24, 25]
    assert events["p"].tolist() == [1, 0, 0, 1, 1]
    overflowed = nm.read_aedat3_polarity(tmp_path / "user02_led.aedat")
    assert overflowed["t"].tolist() == [2**31 + 5, 2**31 + 9]


def test_dvs_gesture_ibm_release_is_cut_by_the_label_csv(tmp_path):
    _gesture_files(tmp_path)
    split = nm.load_dvs_gesture(tmp_path, time_steps=2, downsample=4)
    assert split.x_train.shape == (2, 2, 2, 32, 32)
    assert split.y_train.tolist() == [2, 10]
    assert split.y_test.tolist() == [0]
    first = torch.zeros(2, 2, 32, 32)
    first[0, 1, 20 // 4, 10 // 4] = 1
    first[1, 0, 21 // 4, 11 // 4] = 1
    assert torch.equal(split.x_train[0], first)
    second = torch.zeros(2, 2, 32, 32)
    second[0, 0, 23 // 4, 13 // 4] = 1
    second[1, 1, 24 // 4, 14 // 4] = 1
    assert torch.equal(split.x_train[1], second)


def test_dvs_gesture_tonic_release(tmp_path):
    for folder, user, label in (("ibmGestureTrain", 1, 4), ("ibmGestureTest", 2, 7)):
        target = tmp_path / folder / f"user{user:02d}_led"
        target.mkdir(parents=True)
        rows = np.array([[0, 0, 1, 0.0], [127, 127, 0, 5.0]])
        np.save(target / f"{label}.npy", rows)
    split = nm.load_dvs_gesture(tmp_path, time_steps=1, downsample=1)
    assert split.y_train.tolist() == [4] and split.y_test.tolist() == [7]
    assert split.x_train[0, 0, 1, 0, 0] == 1 and split.x_train[0, 0, 0, 127, 127] == 1
    assert split.x_train.sum() == 2


def test_cifar10_dvs_original_release(tmp_path):
    for label, name in enumerate(nm.CIFAR10_DVS_CLASSES):
        (tmp_path / name).mkdir()
        for i in range(2):
            write_aedat2(
                tmp_path / name / f"cifar10_{name}_{i}.aedat",
                [(label, i, 1, 10), (label + 100, 3, 0, 30)],
            )
    events = nm.read_aedat2_dvs128(tmp_path / "bird/cifar10_bird_1.aedat")
    assert events.tolist() == [(10, 2, 1, 1), (30, 102, 3, 0)]
    split = nm.load_cifar10_dvs(tmp_path, time_steps=2, downsample=1, test_fraction=0.5)
    assert split.y_train.tolist() == list(range(10)) == split.y_test.tolist()
    frames = split.x_test[2]
    assert frames.shape == (2, 2, 128, 128)
    assert frames[0, 1, 1, 2] == 1 and frames[1, 0, 3, 102] == 1 and frames.sum() == 2


def test_limits_are_stratified_and_errors_are_clear(tmp_path):
    for part in ("Train", "Test"):
        for digit in range(10):
            for i in range(3):
                write_nmnist(tmp_path / f"{part}/{digit}/{i:05d}.bin", [(1, 1, 1, i)])
    split = nm.load_nmnist(tmp_path, time_steps=1, train_limit=20, test_limit=10)
    assert torch.bincount(split.y_train).tolist() == [2] * 10
    assert torch.bincount(split.y_test).tolist() == [1] * 10
    with pytest.raises(FileNotFoundError, match=r"N-MNIST: no data .* Train/<digit>"):
        nm.load_nmnist(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="time_steps must be a positive integer"):
        nm.load_nmnist(tmp_path, time_steps=0)
    with pytest.raises(ValueError, match="downsample must be a positive integer"):
        nm.load_dvs_gesture(tmp_path, downsample=0)
    with pytest.raises(ValueError, match="test_fraction must be in"):
        nm.load_cifar10_dvs(tmp_path, test_fraction=1.0)
    with pytest.raises(ValueError, match="pass --data-dir"):
        load_dataset("nmnist")
    data = load_dataset("nmnist", data_dir=tmp_path, time_steps=3)
    assert data.time_major_frames and data.x_train.shape[1:] == (3, 2, 34, 34)


def test_harness_trains_on_an_on_disk_dataset(tmp_path, capsys):
    pytest.importorskip("spikingjelly")
    from adali_plugins.compare import main

    root = tmp_path / "nmnist"
    rng = np.random.default_rng(0)
    for part, n in (("Train", 4), ("Test", 2)):
        for digit in range(10):
            for i in range(n):
                xy = rng.integers(0, 34, size=(20, 2))
                events = [
                    (int(x), int(y), int(k % 2), 10 * k) for k, (x, y) in enumerate(xy)
                ]
                write_nmnist(root / f"{part}/{digit}/{i:05d}.bin", events)
    args = ["--dataset", "nmnist", "--data-dir", str(root), "--time-steps", "3"]
    args += ["--host", "spikingjelly", "--surrogates", "AdaLi", "ATan", "--epochs", "1"]
    args += ["--seeds", "1", "--channels", "4", "8", "--no-plots"]
    payload = main([*args, "--out", str(tmp_path / "out")])
    assert len(payload["runs"]) == 2
    assert all(len(r["epochs"]) == 1 for r in payload["runs"])
    (tmp_path / "none").mkdir()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["--dataset", "nmnist", "--data-dir", str(tmp_path / "none")])
    assert exit_.value.code == 2
    assert re.search(r"nmnist: .*no data", capsys.readouterr().err)
