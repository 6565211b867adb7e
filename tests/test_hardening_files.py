"""Issue 24, the file side: locks that follow no link, readers that trust no size.

Each attack of the issue is reproduced as written (the hostile file built here
in the real format) and the new behaviour asserted: one error naming the file,
nothing written through a link, nothing allocated beyond the file's own size.
Memory bombs run in a fresh interpreter whose address space is capped
(``RLIMIT_AS``), so a regression fails the test instead of the machine.
"""

from __future__ import annotations

import gzip
import os
import pickle
import stat
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import deadline

from adali_plugins.compare import cli
from adali_plugins.compare.data import DataFormatError
from adali_plugins.compare.data import neuromorphic as nm
from adali_plugins.compare.data.cifar10 import read_batch
from adali_plugins.compare.data.fashion_mnist import load_fashion_mnist
from adali_plugins.compare.data.idx import read_idx, write_idx
from adali_plugins.compare.data.safe_open import inside, read_bytes
from adali_plugins.fileio import (
    FolderBusyError,
    UnsafeLockError,
    atomic_path,
    atomic_write,
    folder_lock,
)

AEDAT3_HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#!END-HEADER\r\n"
AEDAT2_HEADER = b"#!AER-DAT2.0\r\n# raw\r\n"
CAP = 2 << 30
"""Address-space cap of the subprocesses that meet a memory bomb (2 GiB)."""

A = ["--host", "snntorch", "--surrogates", "AdaLi", "--seeds", "1", "--epochs", "1"]
A += ["--threads", "1", "--train-limit", "200", "--test-limit", "60", "--no-plots"]
A += ["-q"]
"""The issue's ``$A``."""


def _one_line_exit_2(capsys, exit_) -> str:
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def run_capped(code: str, cap: int = CAP) -> str:
    """Run ``code`` in a fresh interpreter whose address space is capped at
    ``cap`` bytes once the imports in ``code``'s first block are done; return
    its stdout. The cap is set by the helper ``cap()`` the code calls."""
    prelude = textwrap.dedent(
        f"""
        import resource, sys, tracemalloc
        def cap():
            resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
        """
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=Path(__file__).parents[1],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


# ---------------------------------------------------------------- row 1: locks


def test_lock_symlink_attack_through_the_cli_writes_nothing(tmp_path, capsys):
    pytest.importorskip("snntorch")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".lock").symlink_to(victim)  # ln -s $PWD/victim.txt out/.lock
    with pytest.raises(SystemExit) as exit_:
        cli.main([*A, "--out", str(out)])
    line = _one_line_exit_2(capsys, exit_)
    assert str(out / ".lock") in line and "symbolic link" in line
    assert victim.read_text() == "precious\n"
    assert (out / ".lock").is_symlink()  # refused, not removed: the user decides
    assert not (out / "runs").exists()


@pytest.mark.parametrize("kind", ["link", "dangling-link", "fifo", "directory"])
def test_lock_refuses_anything_but_a_regular_file(tmp_path, kind):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    lock = tmp_path / ".lock"
    if kind == "link":
        lock.symlink_to(victim)
    elif kind == "dangling-link":
        lock.symlink_to(tmp_path / "created-through-the-link")
    elif kind == "fifo":
        os.mkfifo(lock)
    else:
        lock.mkdir()
    with deadline(5), pytest.raises(UnsafeLockError) as err:
        with folder_lock(tmp_path):
            pass
    assert isinstance(err.value, FolderBusyError)  # what the CLI already catches
    message = str(err.value)
    assert str(lock) in message and "\n" not in message
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "created-through-the-link").exists()


def test_lock_holds_the_pid_and_is_removed_after_use(tmp_path):
    with folder_lock(tmp_path) as lock:
        assert lock.read_text() == f"{os.getpid()}\n"
        assert stat.S_ISREG(os.lstat(lock).st_mode)
        with pytest.raises(FolderBusyError, match="in use by another run"):
            with folder_lock(tmp_path):
                pass
        assert lock.exists()  # the refused second holder removed nothing
    assert not lock.exists()
    with folder_lock(tmp_path):  # and the folder can be locked again
        pass
    assert not lock.exists()


def test_lock_is_released_and_removed_when_the_body_raises(tmp_path):
    with pytest.raises(RuntimeError), folder_lock(tmp_path):
        raise RuntimeError("run died")
    assert not (tmp_path / ".lock").exists()


def test_lock_held_by_another_process_is_respected(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parents[1])!r})
        from adali_plugins.fileio import folder_lock
        with folder_lock({str(tmp_path)!r}):
            print("held", flush=True)
            sys.stdin.readline()
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusyError, match="in use by another run"):
            with folder_lock(tmp_path):
                pass
    finally:
        holder.communicate("\n", timeout=60)
    assert holder.returncode == 0
    assert not (tmp_path / ".lock").exists()
    with folder_lock(tmp_path):
        pass


# ------------------------------------------------- smaller: modes of written files


@pytest.mark.parametrize(
    ("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)]
)
def test_written_files_get_the_mode_a_plain_open_would(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")  # what the user's umask gives any program
        made = atomic_write(tmp_path / "results.json", "{}\n")
        with atomic_path(tmp_path / "figure.png") as tmp:
            tmp.write_bytes(b"png")
    finally:
        os.umask(old)
    assert stat.S_IMODE(plain.stat().st_mode) == mode
    assert stat.S_IMODE(made.stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "figure.png").stat().st_mode) == mode


def test_replacing_a_file_keeps_its_mode_like_a_plain_open(tmp_path):
    target = atomic_write(tmp_path / "summary.md", "old\n")
    target.chmod(0o640)
    atomic_write(target, "new\n")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["summary.md"]


def test_a_cli_run_leaves_no_lock_and_umask_modes(tmp_path):
    pytest.importorskip("snntorch")
    out = tmp_path / "out"
    old = os.umask(0o022)
    try:
        small = ["--train-limit", "40", "--test-limit", "20", "--channels", "2", "4"]
        cli.main([*A[:10], *small, "--no-plots", "-q", "--out", str(out)])
    finally:
        os.umask(old)
    assert not (out / ".lock").exists()
    written = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "results.json" for p in written)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in written}
    assert set(modes.values()) == {0o644}, modes


# ----------------------------------------------------- row 2: CIFAR-10 pickle bombs

BOMB_SHAPE = (300000, 3, 32, 32)


def _tuple(items: list[bytes]) -> bytes:
    return b"(" + b"".join(items) + b"t"


def _int(v: int) -> bytes:
    if v < 256:
        return b"K" + bytes([v])
    return b"J" + struct.pack("<i", v)


def _str(s: str) -> bytes:
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _u1_dtype() -> bytes:
    return b"cnumpy\ndtype\n" + _tuple([_str("u1"), b"\x89", b"\x88"]) + b"R"


def _batch(data_ops: bytes, labels_ops: bytes = b"]") -> bytes:
    """A pickle of ``{b"data": <data_ops>, b"labels": <labels_ops>}``."""
    return b"\x80\x02}(" + b"C\x04data" + data_ops + b"C\x06labels" + labels_ops + b"u."


def cifar_bombs() -> dict[str, bytes]:
    """Small pickles whose ``data`` a plain unpickler makes 0.86 GiB."""
    shape = _tuple([_int(d) for d in BOMB_SHAPE])
    return {
        # numpy.ndarray((300000, 3, 32, 32), uint8) through REDUCE
        "reduce": _batch(b"cnumpy\nndarray\n" + _tuple([shape, b"C\x01B"]) + b"R"),
        # numpy's own _reconstruct, asked for that shape directly
        "reconstruct": _batch(
            b"cnumpy.core.multiarray\n_reconstruct\n"
            + _tuple([b"cnumpy\nndarray\n", shape, b"C\x01B"])
            + b"R"
        ),
    }


def cifar_short_states() -> dict[str, bytes]:
    """Pickles whose array *state* declares the bomb's shape with 3 data bytes."""
    shape = _tuple([_int(d) for d in BOMB_SHAPE])
    empty = b"cnumpy\nndarray\n" + _tuple([_tuple([_int(0)]), b"C\x01b"]) + b"R"
    state = _tuple([_int(1), shape, _u1_dtype(), b"\x89", b"C\x03abc"])
    frombuffer = (
        b"cnumpy._core.numeric\n_frombuffer\n"
        + _tuple([b"C\x03abc", _u1_dtype(), shape, _str("C")])
        + b"R"
    )
    return {"setstate": _batch(empty + state + b"b"), "frombuffer": _batch(frombuffer)}


def test_cifar_bombs_are_small_and_really_bombs():
    for name, raw in {**cifar_bombs(), **cifar_short_states()}.items():
        assert len(raw) <= 120, (name, len(raw))
    # the plain unpickler makes the 0.86 GiB array (lazily: pages untouched)
    for raw in cifar_bombs().values():
        data = pickle.loads(raw, encoding="bytes")[b"data"]
        assert data.shape == BOMB_SHAPE and data.nbytes == 921_600_000
        del data


def test_cifar_bombs_are_refused_before_allocating(tmp_path):
    files = {**cifar_bombs(), **cifar_short_states()}
    for name, raw in files.items():
        (tmp_path / name).write_bytes(raw)
    out = run_capped(
        f"""
        import pickle
        from pathlib import Path
        from adali_plugins.compare.data import DataFormatError
        from adali_plugins.compare.data.cifar10 import read_batch
        cap()
        for name in {sorted(files)!r}:
            path = Path({str(tmp_path)!r}) / name
            tracemalloc.start()
            try:
                read_batch(path)
            except DataFormatError as err:
                message = str(err)
            else:
                raise AssertionError(name + " was read")
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert message.startswith(str(path)), message
            assert "\\n" not in message
            print(name, peak, message)
        """
    )
    lines = out.splitlines()
    assert len(lines) == len(files)
    for line in lines:
        name, peak, message = line.split(" ", 2)
        assert int(peak) < 64 << 10, line
        assert "holds only" in message or "data bytes" in message, line


def test_six_cifar_bombs_through_the_cli_give_one_line(tmp_path):
    data = tmp_path / "cifar-10-batches-py"
    data.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (data / name).write_bytes(cifar_bombs()["reduce"])
    out = run_capped(
        f"""
        import contextlib, io
        from adali_plugins.compare import cli
        cap()
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                cli.main(["--dataset", "cifar10", "--data-dir", {str(tmp_path)!r},
                          "--out", {str(tmp_path / "out")!r}, "--host", "snntorch",
                          "--surrogates", "AdaLi", "--epochs", "1", "-q"])
            except SystemExit as exit_:
                print(exit_.code)
        print(err.getvalue().strip())
        """
    )
    code, line = out.strip().split("\n")
    assert code == "2"
    assert str(data / "data_batch_1") in line and "holds only" in line


def _cifar(tmp_path: Path, labels, *, n: int | None = None, codec: str = "latin1"):
    """A real CIFAR-10-layout batch (numpy's own pickling) with ``labels``."""
    n = len(labels) if n is None else n
    data = np.arange(n * 3072, dtype=np.uint8).reshape(n, 3072)
    raw = pickle.dumps({b"data": data, b"labels": labels}, protocol=2)
    raw = raw.replace(
        b"X\x06\x00\x00\x00latin1",
        b"X" + struct.pack("<I", len(codec)) + codec.encode(),
    )
    path = tmp_path / "data_batch_1"
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        (["a"], "label 0 is 'a'"),
        ([None], "label 0 is None"),
        ([2**70], f"label 0 is {2**70}"),
        ([1.9, 2.7], "label 0 is 1.9"),
        ([True], "label 0 is True"),
        ([3, 10], "label 1 is 10"),
        ([3, -1], "label 1 is -1"),
        ("ab", "must be a list"),
    ],
    ids=["text", "none", "2**70", "floats", "bool", "ten", "negative", "bytes"],
)
def test_cifar_labels_must_be_integers_0_to_9(tmp_path, labels, problem):
    path = _cifar(tmp_path, labels, n=max(1, len(labels)))
    with pytest.raises(DataFormatError) as err:
        read_batch(path)
    message = str(err.value)
    assert message.startswith(str(path)) and problem in message, message


def test_cifar_unknown_codec_is_a_data_error(tmp_path):
    path = _cifar(tmp_path, [1], codec="no-such-codec")
    assert b"no-such-codec" in path.read_bytes()
    with pytest.raises(DataFormatError, match=r"data_batch_1: .*no-such-codec"):
        read_batch(path)


def test_cifar_float_labels_through_the_cli_are_one_line(tmp_path, capsys):
    pytest.importorskip("snntorch")
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    _cifar(folder, [1.9, 2.7])
    argv = ["--dataset", "cifar10", "--data-dir", str(tmp_path), "--host", "snntorch"]
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--surrogates", "AdaLi", "--out", str(tmp_path / "o")])
    line = _one_line_exit_2(capsys, exit_)
    assert "data_batch_1" in line and "label 0 is 1.9" in line


def test_cifar_real_batches_still_read(tmp_path):
    labels = [i % 10 for i in range(12)]
    for protocol in (2, 4, 5):
        data = np.random.default_rng(protocol).integers(0, 256, (12, 3072), np.uint8)
        path = tmp_path / f"p{protocol}"
        path.write_bytes(
            pickle.dumps({b"data": data, b"labels": labels}, protocol=protocol)
        )
        x, y = read_batch(path)
        assert x.shape == (12, 3, 32, 32) and x.dtype == np.uint8
        assert np.array_equal(x.reshape(12, -1), data)
        assert y.dtype == np.int64 and y.tolist() == labels


# ----------------------------------------- row 10: AEDAT FIFO, /dev/zero, escapes


def _packet(kind: int, size: int, capacity: int, number: int) -> bytes:
    return struct.pack("<hhiiiiii", kind, 1, size, 4, 0, capacity, number, number)


def _aedat3() -> bytes:
    events = struct.pack("<Ii", (1 << 17) | (2 << 2) | 1, 10)
    return AEDAT3_HEADER + _packet(1, 8, 1, 1) + events


def _gesture(root: Path, names: str = "user01_led.aedat\n") -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "user01_led.aedat").write_bytes(_aedat3())
    (root / "user01_led_labels.csv").write_text("class,start,end\n3,0,100\n")
    (root / "trials_to_train.txt").write_text(names)
    (root / "trials_to_test.txt").write_text("user01_led.aedat\n")


def test_gesture_recording_that_is_a_fifo_is_refused_without_hanging(tmp_path):
    _gesture(tmp_path)
    (tmp_path / "user01_led.aedat").unlink()
    os.mkfifo(tmp_path / "user01_led.aedat")
    with deadline(10), pytest.raises(DataFormatError) as err:
        nm.load_dvs_gesture(tmp_path, time_steps=1)
    message = str(err.value)
    assert message.startswith(str(tmp_path / "user01_led.aedat"))
    assert "a FIFO, not a regular file" in message


def test_gesture_recording_linked_to_dev_zero_is_refused(tmp_path):
    _gesture(tmp_path)
    (tmp_path / "user01_led.aedat").unlink()
    (tmp_path / "user01_led.aedat").symlink_to("/dev/zero")
    with deadline(10), pytest.raises(DataFormatError) as err:
        nm.load_dvs_gesture(tmp_path, time_steps=1)
    assert "user01_led.aedat: leads outside the data folder" in str(err.value)
    # even read on its own, with no folder to stay in, a device is no data file
    with deadline(10), pytest.raises(DataFormatError, match="character device"):
        nm.read_aedat3_polarity(tmp_path / "user01_led.aedat")


@pytest.mark.parametrize(
    "name",
    ["../outside/secret.aedat", "sub/../../outside/secret.aedat", "ABS", "link.aedat"],
    ids=["dotdot", "nested-dotdot", "absolute", "link-out"],
)
def test_gesture_listing_cannot_reach_outside_the_data_dir(tmp_path, name):
    root, outside = tmp_path / "data", tmp_path / "outside"
    _gesture(outside)  # a valid recording: the old reader read it happily
    (outside / "secret.aedat").write_bytes(_aedat3())
    (outside / "secret_labels.csv").write_text("class,start,end\n3,0,100\n")
    if name == "ABS":
        name = str(outside / "secret.aedat")
    _gesture(root, names=name + "\n")
    if name == "link.aedat":
        (root / "link.aedat").symlink_to(outside / "secret.aedat")
        (root / "link_labels.csv").write_text("class,start,end\n3,0,100\n")
    with pytest.raises(DataFormatError) as err:
        nm.load_dvs_gesture(root, time_steps=1)
    message = str(err.value)
    assert "\n" not in message
    assert "not a plain relative path" in message or "leads outside" in message


def test_gesture_fifo_through_the_cli_is_one_line(tmp_path, capsys):
    pytest.importorskip("snntorch")
    _gesture(tmp_path / "d")
    (tmp_path / "d" / "user01_led.aedat").unlink()
    os.mkfifo(tmp_path / "d" / "user01_led.aedat")
    argv = ["--dataset", "dvs-gesture", "--data-dir", str(tmp_path / "d")]
    argv += [
        "--host",
        "snntorch",
        "--surrogates",
        "AdaLi",
        "--out",
        str(tmp_path / "out"),
    ]
    with deadline(30), pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    line = _one_line_exit_2(capsys, exit_)
    assert "user01_led.aedat: a FIFO" in line


def test_cifar10_dvs_and_nmnist_refuse_fifos_and_devices(tmp_path):
    for name in ("airplane", "automobile"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "1.aedat").write_bytes(AEDAT2_HEADER)
        os.mkfifo(tmp_path / name / "2.aedat")
    with deadline(10), pytest.raises(DataFormatError, match=r"2\.aedat: a FIFO"):
        nm.load_cifar10_dvs(tmp_path, time_steps=1, test_fraction=0.5)
    for part in ("Train", "Test"):
        (tmp_path / part / "1").mkdir(parents=True)
        (tmp_path / part / "1" / "0.bin").symlink_to("/dev/zero")
    with deadline(10), pytest.raises(DataFormatError, match=r"0\.bin: leads outside"):
        nm.load_nmnist(tmp_path, time_steps=1)
    with deadline(10), pytest.raises(DataFormatError, match="character device"):
        nm.read_nmnist_events(tmp_path / "Train" / "1" / "0.bin")
    fifo = tmp_path / "fifo.bin"
    os.mkfifo(fifo)
    with deadline(10), pytest.raises(DataFormatError, match="a FIFO"):
        nm.read_nmnist_events(fifo)


def test_nmnist_decoding_matches_tonic(tmp_path):
    tonic_io = pytest.importorskip("tonic.io")
    rng = np.random.default_rng(0)
    rec = rng.integers(0, 256, (400, 5), dtype=np.uint8)
    rec[:, 0] %= 34
    rec[:, 1] %= 34
    rec[::37, 1] = 240  # timestamp overflow records
    path = tmp_path / "00001.bin"
    path.write_bytes(rec.tobytes())
    ours = nm.read_nmnist_events(path)
    dtype = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])
    theirs = tonic_io.read_mnist_file(str(path), dtype=dtype)
    expected = nm._events(theirs["t"], theirs["x"], theirs["y"], theirs["p"])
    assert ours.dtype == expected.dtype and np.array_equal(ours, expected)


def test_npy_declaring_a_huge_array_is_refused_before_allocating(tmp_path):
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 4), }"
    header = header.ljust(118) + "\n"
    path = tmp_path / "ibmGestureTrain" / "user01_led" / "3.npy"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", 119) + header.encode())
    assert len(path.read_bytes()) == 129
    out = run_capped(
        f"""
        from adali_plugins.compare.data import DataFormatError, neuromorphic as nm
        cap()
        tracemalloc.start()
        try:
            nm.read_npy_array({str(path)!r})
        except DataFormatError as err:
            print(tracemalloc.get_traced_memory()[1], err)
        """
    )
    peak, message = out.strip().split(" ", 1)
    assert int(peak) < 64 << 10
    assert message.startswith(str(path)) and "needs 32000000000 bytes" in message
    assert "over the budget" in message
    short = header.replace("(1000000000, 4)", "(1000, 4)      ")
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", 119) + short.encode())
    with pytest.raises(DataFormatError) as err:
        nm.read_npy_array(path)
    assert "declares 32000 bytes but the file holds only 0" in str(err.value)


# ----------------------------------------------------------- row 13: empty IDX


def _fashion(folder: Path, n_train: int, n_test: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", np.zeros((n, 28, 28), "u1"))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.zeros(n, "u1"))


@pytest.mark.parametrize(("n_train", "n_test"), [(0, 0), (5, 0)], ids=["all", "test"])
def test_empty_fashion_mnist_set_is_a_data_error(tmp_path, n_train, n_test):
    _fashion(tmp_path, n_train, n_test)
    with pytest.raises(DataFormatError) as err:
        load_fashion_mnist(data_dir=tmp_path)
    part = "train" if n_train == 0 else "t10k"
    assert str(err.value).startswith(str(tmp_path / f"{part}-images-idx3-ubyte"))
    assert "holds no images" in str(err.value)


def test_empty_fashion_mnist_through_the_cli_is_one_line(tmp_path, capsys):
    pytest.importorskip("snntorch")
    _fashion(tmp_path / "d", 0, 0)
    argv = ["--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "d")]
    argv += [
        "--host",
        "snntorch",
        "--surrogates",
        "AdaLi",
        "--out",
        str(tmp_path / "out"),
    ]
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert "holds no images" in _one_line_exit_2(capsys, exit_)


def test_idx_fifo_and_links_out_of_the_folder(tmp_path):
    fifo = tmp_path / "fifo.idx"
    os.mkfifo(fifo)
    with deadline(10), pytest.raises(DataFormatError, match=r"fifo\.idx: a FIFO"):
        read_idx(fifo)
    outside = tmp_path / "elsewhere"
    _fashion(outside, 5, 5)
    data = tmp_path / "data"
    data.mkdir()
    for f in outside.iterdir():
        (data / f.name).symlink_to(f)
    with pytest.raises(DataFormatError, match="leads outside the data folder"):
        load_fashion_mnist(data_dir=data)
    (data / "train-images-idx3-ubyte").unlink()
    os.mkfifo(data / "train-images-idx3-ubyte")
    with deadline(10), pytest.raises(DataFormatError, match="ubyte: a FIFO"):
        load_fashion_mnist(data_dir=data)


# --------------------------------------------------------- the shared rule itself


def test_inside_refuses_escapes_and_allows_plain_names(tmp_path):
    assert inside(tmp_path, "a/b.aedat") == tmp_path / "a" / "b.aedat"
    for bad in ("../x", "/etc/passwd", "a/../../x", "", "."):
        with pytest.raises(DataFormatError, match="not a plain relative path"):
            inside(tmp_path, bad)


def test_read_bytes_refuses_a_file_over_the_budget(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"x" * 1000)
    with pytest.raises(DataFormatError, match="over the budget of 999 bytes"):
        read_bytes(path, max_bytes=999)
    assert read_bytes(path, max_bytes=1000) == b"x" * 1000
    with pytest.raises(DataFormatError, match=r"nothing-here: missing"):
        read_bytes(tmp_path / "nothing-here")


# ------------------------------------- the largest allocation for a 120-byte file

ALLOCATION_PROBE = """
import gzip, os, resource, struct, sys, tracemalloc
from pathlib import Path
from adali_plugins.compare.data import DataFormatError, neuromorphic as nm
from adali_plugins.compare.data.cifar10 import read_batch
from adali_plugins.compare.data.idx import read_idx
folder = Path(sys.argv[1])
readers = {
    "idx": read_idx,
    "idx.gz": read_idx,
    "cifar-reduce": read_batch,
    "cifar-reconstruct": read_batch,
    "cifar-setstate": read_batch,
    "aedat3": nm.read_aedat3_polarity,
    "aedat2": nm.read_aedat2_dvs128,
    "nmnist": nm.read_nmnist_events,
    "npy": nm.read_npy_array,
}
cap()
for name, reader in readers.items():
    path = folder / name
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        reader(path)
        outcome = "read"
    except DataFormatError:
        outcome = "refused"
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss
    print(name, path.stat().st_size, peak, grown, outcome)
"""


def hostile_120_byte_files(folder: Path) -> None:
    """One hostile file of at most 120 bytes per reader, each declaring a
    huge content (the IDX, AEDAT and .npy ones claim gigabytes)."""
    idx = bytes([0, 0, 8, 3]) + struct.pack(">3I", 60000, 28, 28)
    (folder / "idx").write_bytes(idx + b"\x00" * (120 - len(idx)))
    (folder / "idx.gz").write_bytes(gzip.compress(idx + b"\x00" * 60, mtime=0))
    bombs = {**cifar_bombs(), **cifar_short_states()}
    (folder / "cifar-reduce").write_bytes(bombs["reduce"])
    (folder / "cifar-reconstruct").write_bytes(bombs["reconstruct"])
    (folder / "cifar-setstate").write_bytes(bombs["setstate"])
    big = _packet(1, 8, 1 << 27, 1 << 27)
    (folder / "aedat3").write_bytes(AEDAT3_HEADER + big + b"\x00" * 40)
    (folder / "aedat2").write_bytes(AEDAT2_HEADER + b"\x00" * 96)
    (folder / "nmnist").write_bytes(bytes([1, 2, 0, 0, 5]) * 24)
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 4), }"
    (folder / "npy").write_bytes(
        b"\x93NUMPY\x01\x00"
        + struct.pack("<H", 109)
        + (header.ljust(108) + "\n").encode()
    )


def test_largest_allocation_for_a_120_byte_hostile_file(tmp_path):
    """Print with ``pytest -s``: name, file bytes, tracemalloc peak, ru_maxrss
    growth (KiB), outcome."""
    hostile_120_byte_files(tmp_path)
    for f in tmp_path.iterdir():
        assert f.stat().st_size <= 120, (f.name, f.stat().st_size)
    out = run_capped(
        ALLOCATION_PROBE.replace("sys.argv[1]", repr(str(tmp_path)))
    ).splitlines()
    print("\nreader, file bytes, tracemalloc peak bytes, maxrss growth KiB, outcome")
    print("\n".join(out))
    assert len(out) == 9
    for line in out:
        name, _, peak, _, outcome = line.split()
        assert int(peak) < 256 << 10, line  # gzip's own buffers; never the claim
        if name not in ("aedat2", "nmnist"):  # well-formed little files
            assert outcome == "refused", line
