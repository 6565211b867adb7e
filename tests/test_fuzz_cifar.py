"""Fuzzing the CIFAR-10 reader's restricted unpickler, opcode by opcode.

Hypothesis writes pickle programs from the opcodes a batch file can hold
(containers, numbers, bytes and strings with honest or lying lengths, frames,
memo access, REDUCE and BUILD, the numpy globals the reader allows and some it
must refuse), plus byte flips and cuts of a real batch. For each,
``read_batch`` may only return a well-formed batch or raise
``DataFormatError`` naming the file; it must not hang, and it may allocate no
more than a small multiple of the file's own size.

It runs in a fresh interpreter whose address space is capped (``RLIMIT_AS``,
2 GiB), so a size check that regresses fails the test with a ``MemoryError`` or
an oversized peak instead of exhausting the machine. Bounded: derandomized,
a fixed number of examples, about 10 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = 500
CAP = 2 << 30

FUZZ_PROGRAM = r"""
import pickle, resource, signal, struct, sys, tracemalloc
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from adali_plugins.compare.data import DataFormatError
from adali_plugins.compare.data.cifar10 import read_batch

FOLDER = Path(sys.argv[1])
EXAMPLES = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[3]), int(sys.argv[3])))

GLOBALS = [
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
    ("builtins", "eval"),
    ("os", "system"),
    ("numpy", "uint8"),
    ("builtins", "list"),
]
INTS = [0, 1, 2, 3, 9, 10, -1, 32, 3072, 300000, 2**31 - 1, -(2**31)]
TEXTS = ["u1", "B", "b", "<f8", "O", "V9999999", "latin1", "rot13", "nope", "C", "data",
         "labels", "|", "S2147483647"]


def text(s):
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def blob(data):
    return b"C" + bytes([len(data)]) + data


opcode = st.one_of(
    st.sampled_from([b"(", b"t", b"\x85", b"\x86", b"\x87", b")", b"]", b"}", b"a",
                     b"e", b"s", b"u", b"R", b"b", b"N", b"\x88", b"\x89", b"0",
                     b"2", b"\x94", b"l", b"d", b"\x93"]),
    st.sampled_from(INTS).map(lambda v: b"J" + struct.pack("<i", v)),
    st.integers(0, 255).map(lambda v: b"K" + bytes([v])),
    st.integers(0, 2**80).map(lambda v: b"\x8a" + bytes([(v.bit_length() + 8) // 8])
                              + v.to_bytes((v.bit_length() + 8) // 8, "little")),
    st.floats(allow_nan=True).map(lambda v: b"G" + struct.pack(">d", v)),
    st.sampled_from(TEXTS).map(text),
    st.binary(max_size=40).map(blob),
    st.integers(0, 12).map(lambda n: b"h" + bytes([n])),
    st.integers(0, 12).map(lambda n: b"q" + bytes([n])),
    st.sampled_from(GLOBALS).map(lambda g: b"c" + f"{g[0]}\n{g[1]}\n".encode()),
    # lengths that lie: far more than the file holds
    st.sampled_from([b"X\xff\xff\xff\x7f", b"B\xff\xff\xff\x7f", b"C\xff",
                     b"\x8e\xff\xff\xff\xff\xff\xff\x00\x00", b"\x8d" + b"\xff" * 8,
                     b"\x95" + b"\xff" * 7 + b"\x00", b"\x8b\xff\xff\xff\x7f",
                     b"\x96\xff\xff\xff\xff\xff\xff\xff\x00"]),
)

programs = st.builds(
    lambda proto, ops, stop: proto + b"".join(ops) + stop,
    st.sampled_from([b"", b"\x80\x02", b"\x80\x04", b"\x80\x05"]),
    st.lists(opcode, max_size=40),
    st.sampled_from([b".", b""]),
)


def real_batch(n, protocol):
    data = np.arange(n * 3072, dtype=np.uint8).reshape(n, 3072)
    return pickle.dumps({b"data": data, b"labels": [i % 10 for i in range(n)]},
                        protocol=protocol)


SEEDS = [real_batch(n, p) for n in (0, 1, 2) for p in (2, 4, 5)]


@st.composite
def mutated(draw):
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(raw) - 1))
        raw[i] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(raw)))
    return bytes(raw[:cut]) if draw(st.booleans()) else bytes(raw)


def expire(*_):
    raise TimeoutError("read_batch still running after 2 s")


signal.signal(signal.SIGALRM, expire)
count = {"examples": 0, "read": 0, "refused": 0}


@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(raw=st.one_of(programs, mutated()))
def target(raw):
    count["examples"] += 1
    path = FOLDER / "data_batch_1"
    path.write_bytes(raw)
    tracemalloc.start()
    signal.setitimer(signal.ITIMER_REAL, 2.0)
    try:
        x, y = read_batch(path)
    except DataFormatError as err:
        assert str(err).startswith(str(path)), err
        assert "\n" not in str(err), err
        count["refused"] += 1
    else:
        assert x.dtype == np.uint8 and x.shape[1:] == (3, 32, 32), (x.dtype, x.shape)
        assert y.dtype == np.int64 and y.shape == (len(x),)
        assert y.size == 0 or 0 <= y.min() <= y.max() <= 9
        count["read"] += 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak <= (64 << 10) + 16 * len(raw), (peak, len(raw))


target()
print(count["examples"], count["read"], count["refused"])
"""


def test_cifar_reader_on_fuzzed_pickle_programs(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", FUZZ_PROGRAM, str(tmp_path), str(EXAMPLES), str(CAP)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=Path(__file__).parents[1],
    )
    assert done.returncode == 0, done.stderr[-4000:]
    examples, read, refused = map(int, done.stdout.split())
    print(f"\nCIFAR pickle fuzz: {examples} examples, {read} read, {refused} refused")
    assert examples >= EXAMPLES // 2  # hypothesis may stop early on a small space
    assert read > 0 and refused > 0  # both outcomes were reached
