"""Fuzzing the readers, the CLI's validation and AdaLi's ``load_state_dict``.

Bounded (small inputs, few examples, about 30 s in all). Each target may only
succeed or raise its documented error types; it must not hang (an alarm fails
it after a few seconds) and allocates only what its small input allows.
"""

from __future__ import annotations

import gzip
import math
import struct

import pytest
import torch
from conftest import deadline
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adali_plugins.compare import cli
from adali_plugins.compare.data import DataFormatError
from adali_plugins.compare.data import neuromorphic as nm
from adali_plugins.compare.data.idx import read_idx

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
AEDAT3_HEADER = b"#!AER-DAT3.1\r\n#!END-HEADER\r\n"
AEDAT2_HEADER = b"#!AER-DAT2.0\r\n"


# ------------------------------------------------------------------------ IDX

_idx_header = st.builds(
    lambda code, dims: (
        bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    ),
    st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07]),
    st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 6), min_size=0, max_size=4),
)


@FUZZ
@given(
    head=_idx_header | st.binary(max_size=12),
    body=st.binary(max_size=256),
    gz=st.booleans(),
)
def test_idx_reader_returns_or_raises_data_format_error(tmp_path, head, body, gz):
    raw = head + body
    path = tmp_path / "f.idx"
    path.write_bytes(gzip.compress(raw, mtime=0) if gz else raw)
    with deadline():
        try:
            out = read_idx(path, max_bytes=1 << 20)
        except DataFormatError as err:
            assert str(path) in str(err)
            return
    assert out.nbytes <= len(raw)


# --------------------------------------------------------------------- events

_packet = st.builds(
    lambda kind, size, cap, num, body: (
        struct.pack("<hhiiiiii", kind, 1, size, 0, 0, cap, num, num) + body
    ),
    st.sampled_from([0, 1, 1, 7]),
    st.integers(-(2**31), 2**31 - 1) | st.sampled_from([-8, 0, 4, 8, 12]),
    st.integers(-(2**31), 2**31 - 1) | st.integers(0, 4),
    st.integers(-(2**31), 2**31 - 1) | st.integers(0, 4),
    st.binary(max_size=48),
)


@FUZZ
@given(packets=st.lists(_packet, max_size=4), tail=st.binary(max_size=30))
def test_aedat3_reader_never_loops(tmp_path, packets, tail):
    path = tmp_path / "x.aedat"
    path.write_bytes(AEDAT3_HEADER + b"".join(packets) + tail)
    with deadline():
        try:
            events = nm.read_aedat3_polarity(path)
        except DataFormatError as err:
            assert str(path) in str(err)
            return
    assert len(events) * 8 <= path.stat().st_size


@FUZZ
@given(content=st.binary(max_size=200), prefix=st.sampled_from([b"", b"#", b"#!AER"]))
def test_aedat_readers_on_garbage(tmp_path, content, prefix):
    path = tmp_path / "g.aedat"
    path.write_bytes(prefix + content)
    for reader in (nm.read_aedat3_polarity, nm.read_aedat2_dvs128):
        with deadline():
            try:
                reader(path)
            except DataFormatError as err:
                assert str(path) in str(err)


@FUZZ
@given(body=st.binary(max_size=64))
def test_aedat2_reader(tmp_path, body):
    path = tmp_path / "c.aedat"
    path.write_bytes(AEDAT2_HEADER + body)
    with deadline():
        try:
            events = nm.read_aedat2_dvs128(path)
        except DataFormatError as err:
            assert str(path) in str(err)
            return
    assert len(events) <= len(body) // 8  # a leading "#" extends the header


@FUZZ
@given(content=st.binary(max_size=60))
def test_nmnist_reader(tmp_path, content):
    pytest.importorskip("tonic")
    path = tmp_path / "n.bin"
    path.write_bytes(content)
    with deadline():
        try:
            events = nm.read_nmnist_events(path)
        except DataFormatError as err:
            assert str(path) in str(err)
            return
    assert len(events) <= len(content) // 5


# ------------------------------------------------------------------------ CLI

_number = st.sampled_from(
    ["0", "1", "-1", "3", "256", "4096", "1e9", "nan", "inf", "-inf", "x", "", "2e-3"]
)
_flag = st.one_of(
    st.tuples(
        st.sampled_from(
            [
                "--seeds",
                "--epochs",
                "--time-steps",
                "--batch-size",
                "--lr",
                "--train-limit",
                "--test-limit",
                "--threads",
                "--target",
            ]
        ),
        _number,
    ).map(list),
    st.tuples(st.just("--channels"), _number, _number).map(list),
    st.tuples(
        st.just("--surrogates"),
        st.sampled_from(
            [
                "AdaLi",
                "atan",
                "ATan",
                "nope",
                "AdaLi:p=0.5",
                "AdaLi:p=5",
                "ESG",
                ":",
                "",
            ]
        ),
    ).map(list),
    st.tuples(st.just("--host"), st.sampled_from(["snntorch", "both", "x"])).map(list),
    st.tuples(st.just("--device"), st.sampled_from(["cpu", "cuda:9", "?"])).map(list),
    st.just(["--bogus"]),
)


@settings(max_examples=80, deadline=None)
@given(flags=st.lists(_flag, max_size=5))
def test_cli_validation_accepts_or_raises_usage_error(flags):
    pytest.importorskip("snntorch")
    pytest.importorskip("spikingjelly")
    argv = [part for flag in flags for part in flag] + ["--out", "/nonexistent/o"]
    with deadline(10):
        try:
            args = cli.build_parser().parse_args(argv)
            cli.validate(args)
            cli.select_specs(cli._hosts(args.host), args.surrogates)
        except cli.UsageError as err:
            assert "\n" not in str(err).strip() or str(err).count("\n") < 2
            return
    assert 1 <= args.epochs <= cli.BUDGET["epochs"]
    assert math.isfinite(args.lr) and args.lr > 0


# --------------------------------------------------- AdaLi in load_state_dict

_garbage = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64).map(torch.tensor),
    st.integers(-(2**62), 2**62).map(torch.tensor),
    st.lists(st.floats(-1e3, 1e3), min_size=0, max_size=5).map(torch.tensor),
    st.sampled_from(
        [torch.tensor(True), torch.zeros(2, 2), torch.tensor([]), torch.tensor(0.5)]
    ),
)


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if not a.is_floating_point():
        return torch.equal(a, b)
    return torch.equal(a.isnan(), b.isnan()) and torch.equal(
        a.nan_to_num(0.0), b.nan_to_num(0.0)
    )


def _changed(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> list[str]:
    return [k for k in a if not _equal(a[k], b[k])]


@pytest.fixture(scope="module")
def adali_model():
    pytest.importorskip("snntorch")
    from adali_plugins.compare.models import conv_net
    from adali_plugins.snntorch import adali

    torch.manual_seed(0)
    model = conv_net("snntorch", adali, size=8, channels=(2, 4))
    torch.manual_seed(1)
    other = conv_net("snntorch", adali, size=8, channels=(2, 4))
    return model, other.state_dict()


def _fuzz_load(adali_model, data, load, *, only_adali: bool = False) -> None:
    """Load the model's own state, or another seed's, with garbage AdaLi
    entries: only ValueError/TypeError/RuntimeError, and nothing changes then
    (``only_adali``: no AdaLi entry changes; torch's own ``load_state_dict``
    copies the layers before the first AdaLi one before AdaLi can refuse)."""
    model, other = adali_model
    keys = [k for k in model.state_dict() if ".spike_grad." in k]
    chosen = data.draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3))
    before = _snapshot(model)
    state = dict(data.draw(st.sampled_from([before, other])))
    for key in chosen:
        state[key] = data.draw(_garbage)
    try:
        with deadline():
            try:
                load(model, state)
            except (ValueError, TypeError, RuntimeError):
                changed = _changed(before, _snapshot(model))
                if only_adali:
                    changed = [k for k in changed if ".spike_grad." in k]
                assert not changed, f"changed on error: {changed}"
    finally:
        model.load_state_dict(before)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_garbage_adali_entries_through_load_model_state(adali_model, data):
    from adali_plugins.checkpoint import load_model_state

    _fuzz_load(adali_model, data, load_model_state)


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_garbage_adali_entries_through_plain_load_state_dict(adali_model, data):
    _fuzz_load(adali_model, data, lambda m, s: m.load_state_dict(s), only_adali=True)
