"""dvs.py: the event-camera emulator and the neuromorphic digits built with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import adali_plugins.compare.data as data
from adali_plugins.compare.data.digits import load_digits_split
from adali_plugins.compare.data.dvs import (
    EVENT_DTYPE,
    emulate_events,
    events_to_frames,
    load_dvs_digits,
    render_shifted,
    saccade_path,
)


def events(rows: list[tuple[float, int, int, int]]) -> np.ndarray:
    return np.array(rows, dtype=EVENT_DTYPE)


@pytest.fixture(scope="module")
def digits():
    return load_digits_split(seed=0)


@pytest.fixture(scope="module")
def dvs_digits():
    return load_dvs_digits(seed=0)


def test_public_names_are_exported():
    for name in (
        "EVENT_DTYPE",
        "emulate_events",
        "events_to_frames",
        "load_dvs_digits",
        "render_shifted",
        "saccade_path",
    ):
        assert name in data.__all__
        assert getattr(data, name) is not None


@pytest.mark.parametrize(
    ("steps", "amplitude"), [(1, 1.0), (8, 1.0), (5, 2.5)], ids=["s1", "s8", "s5-a2.5"]
)
def test_saccade_path_is_a_closed_triangle(steps, amplitude):
    path = saccade_path(steps, amplitude)
    assert path.shape == (3 * steps + 1, 2)
    np.testing.assert_array_equal(path[0], [0.0, 0.0])
    np.testing.assert_array_equal(path[-1], [0.0, 0.0])
    corners = path[[0, steps, 2 * steps]]
    np.testing.assert_allclose(
        corners, [[0, 0], [amplitude / 2, amplitude], [-amplitude / 2, amplitude]]
    )
    for s in range(3):
        segment = path[s * steps : (s + 1) * steps + 1]
        moves = np.diff(segment, axis=0)
        np.testing.assert_allclose(moves, np.broadcast_to(moves[0], moves.shape))
    assert np.abs(path).max() <= amplitude


def test_saccade_path_rejects_bad_arguments():
    with pytest.raises(ValueError, match="steps_per_saccade"):
        saccade_path(0, 1.0)
    with pytest.raises(ValueError, match="amplitude"):
        saccade_path(4, -1.0)


def test_render_shifted_whole_and_half_pixel():
    image = np.array([[1.0, 2.0], [3.0, 4.0]])
    still = render_shifted(image, 0.0, 0.0, 1)
    expected = np.zeros((4, 4))
    expected[1:3, 1:3] = image
    np.testing.assert_array_equal(still, expected)
    right_down = render_shifted(image, 1.0, 1.0, 1)
    np.testing.assert_array_equal(right_down[2:4, 2:4], image)
    assert right_down.sum() == image.sum()
    half = render_shifted(np.array([[1.0]]), 0.5, 0.0, 1)
    np.testing.assert_array_equal(half, [[0, 0, 0], [0, 0.5, 0.5], [0, 0, 0]])
    quarter = render_shifted(np.array([[1.0]]), -0.25, 0.5, 1)
    np.testing.assert_allclose(
        quarter, [[0, 0, 0], [0.125, 0.375, 0], [0.125, 0.375, 0]]
    )


@pytest.mark.parametrize(
    ("dx", "dy"), [(0.3, -0.7), (-1.0, 0.45), (0.999, 1.0)], ids=["a", "b", "c"]
)
def test_render_shifted_conserves_intensity_and_batches(dx, dy):
    rng = np.random.default_rng(1)
    batch = rng.random((3, 5, 6))
    out = render_shifted(batch, dx, dy, 1)
    assert out.shape == (3, 7, 8)
    np.testing.assert_allclose(out.sum(axis=(1, 2)), batch.sum(axis=(1, 2)))
    np.testing.assert_allclose(out[1], render_shifted(batch[1], dx, dy, 1))


def test_render_shifted_refuses_to_leave_the_canvas():
    with pytest.raises(ValueError, match="pad"):
        render_shifted(np.ones((3, 3)), 1.5, 0.0, 1)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            [(0.0, 0.0), (1.0, 0.0)],
            [(0.5, 1, 1, -1)] * 4 + [(0.5, 2, 1, +1)] * 4,
        ),
        (
            [(0.0, 0.0), (0.0, 1.0)],
            [(0.5, 1, 1, -1)] * 4 + [(0.5, 1, 2, +1)] * 4,
        ),
        (
            [(0.0, 0.0), (0.5, 0.0), (1.0, 0.0)],
            [(0.25, 1, 1, -1)] * 1
            + [(0.25, 2, 1, +1)] * 3
            + [(0.75, 1, 1, -1)] * 3
            + [(0.75, 2, 1, +1)] * 1,
        ),
    ],
    ids=["one-pixel-right", "one-pixel-down", "two-half-steps-right"],
)
def test_single_bright_pixel_by_hand(path, expected):
    """A 1x1 image of intensity 1 on a 3x3 canvas (pad 1), eps 0.1, C 0.5.

    The pixel starts at canvas (x=1, y=1); every other pixel is 0.

    One whole pixel right: (1, 1) goes 1 -> 0 and (2, 1) goes 0 -> 1.
      (1, 1): log(0.1) - log(1.1) = -log 11 = -2.398; -2.398 / 0.5 = -4.80 -> 4 OFF
      (2, 1): log(1.1) - log(0.1) = +2.398; 4.80 -> 4 ON
    One step of one, so both are stamped at the step's middle, t = 0.5.
    Moving down instead puts the ON events at (1, 2).

    Two half-pixel steps right (K = 2, stamps 0.25 and 0.75):
      step 1, both pixels 0.5:
        (1, 1): log(0.6 / 1.1) = -0.606; -1.21 C -> 1 OFF, ref = log 1.1 - 0.5
        (2, 1): log(0.6 / 0.1) = +1.792; +3.58 C -> 3 ON,  ref = log 0.1 + 1.5
      step 2, (1, 1) = 0 and (2, 1) = 1:
        (1, 1): log 0.1 - ref = -2.398 + 0.5 = -1.898; -3.80 C -> 3 OFF
        (2, 1): log 1.1 - ref = +2.398 - 1.5 = +0.898; +1.80 C -> 1 ON
      Same totals as one whole step, split by the reference carried over.
    """
    got = emulate_events(
        np.array([[1.0]]),
        contrast_threshold=0.5,
        eps=0.1,
        pad=1,
        path=np.array(path),
    )
    np.testing.assert_array_equal(got, events(expected))


@pytest.mark.parametrize("value", [0.0, 0.4, 1.0], ids=["black", "grey", "white"])
def test_constant_scene_gives_no_events(value):
    image = np.full((8, 8), value)
    got = emulate_events(image, background=value, contrast_threshold=0.01)
    assert got.dtype == EVENT_DTYPE
    assert len(got) == 0


def test_no_motion_gives_no_events(digits):
    got = emulate_events(digits.x_train[0, 0].numpy(), amplitude=0.0)
    assert len(got) == 0


def test_events_are_sorted_and_on_the_canvas(digits):
    got = emulate_events(digits.x_train[3, 0].numpy())
    assert len(got) > 0
    assert (np.diff(got["t"]) >= 0).all()
    assert ((got["t"] > 0) & (got["t"] < 1)).all()
    assert set(np.unique(got["p"]).tolist()) == {-1, 1}
    assert got["x"].min() >= 0 and got["x"].max() < 10
    assert got["y"].min() >= 0 and got["y"].max() < 10


@pytest.mark.parametrize("noise_rate", [0.0, 0.2], ids=["clean", "noisy"])
def test_events_are_deterministic_for_a_seed(digits, noise_rate):
    image = digits.x_train[7, 0].numpy()
    first = emulate_events(image, noise_rate=noise_rate, seed=3)
    again = emulate_events(image, noise_rate=noise_rate, seed=3)
    np.testing.assert_array_equal(first, again)


def test_noise_seed_changes_only_the_noise(digits):
    image = digits.x_train[7, 0].numpy()
    clean = emulate_events(image)
    a = emulate_events(image, noise_rate=0.2, seed=3)
    b = emulate_events(image, noise_rate=0.2, seed=4)
    assert not np.array_equal(a, b)
    assert len(a) > len(clean) and len(b) > len(clean)
    np.testing.assert_array_equal(emulate_events(image, seed=3), clean)
    np.testing.assert_array_equal(emulate_events(image, seed=4), clean)


def test_closed_path_balances_polarity_per_pixel(digits):
    """Back at the start, a pixel's reference is within C of log I_0 and is
    log I_0 + m C, so m = ON - OFF = 0: the tolerance is zero, pixel by pixel."""
    for i in range(0, len(digits.x_train), 67):
        got = emulate_events(digits.x_train[i, 0].numpy())
        frames = events_to_frames(got, n_frames=1, height=10, width=10)
        torch.testing.assert_close(frames[0, 1], frames[0, 0], rtol=0, atol=0)


def test_noise_keeps_polarity_roughly_balanced(digits):
    """Noise polarity is a fair coin: ON - OFF within 4 standard deviations."""
    image = digits.x_train[0, 0].numpy()
    got = emulate_events(image, noise_rate=5.0, seed=0)
    clean = len(emulate_events(image))
    n_noise = len(got) - clean
    assert n_noise > 300
    assert abs(int((got["p"] > 0).sum()) - int((got["p"] < 0).sum())) <= 4 * np.sqrt(
        n_noise
    )


def test_lower_threshold_gives_more_events(digits):
    image = digits.x_train[5, 0].numpy()
    counts = [len(emulate_events(image, contrast_threshold=c)) for c in (0.6, 0.3)]
    assert counts[1] > counts[0] > 0


@pytest.mark.parametrize(
    ("n_frames", "noise_rate"), [(1, 0.0), (8, 0.0), (5, 0.3)], ids=["T1", "T8", "T5"]
)
def test_frames_count_every_event(digits, n_frames, noise_rate):
    got = emulate_events(digits.x_test[2, 0].numpy(), noise_rate=noise_rate, seed=1)
    frames = events_to_frames(got, n_frames=n_frames, height=10, width=10)
    assert frames.shape == (n_frames, 2, 10, 10)
    assert frames.dtype == torch.float32
    assert (frames >= 0).all()
    torch.testing.assert_close(frames, frames.round())
    assert frames.sum().item() == len(got)
    assert frames[:, 1].sum().item() == int((got["p"] > 0).sum())
    assert frames[:, 0].sum().item() == int((got["p"] < 0).sum())


def test_frames_bin_time_and_polarity():
    rows = [(0.0, 0, 0, 1), (0.49, 1, 0, -1), (0.5, 1, 0, -1), (1.0, 2, 1, 1)]
    frames = events_to_frames(events(rows), n_frames=2, height=2, width=3)
    expected = torch.zeros(2, 2, 2, 3)
    expected[0, 1, 0, 0] = 1
    expected[0, 0, 0, 1] = 1
    expected[1, 0, 0, 1] = 1
    expected[1, 1, 1, 2] = 1
    torch.testing.assert_close(frames, expected)
    plain = np.array([list(r) for r in rows], dtype=np.float64)
    torch.testing.assert_close(
        events_to_frames(plain, n_frames=2, height=2, width=3), expected
    )


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([(0.5, 3, 0, 1)], "outside"),
        ([(1.5, 0, 0, 1)], "times"),
        ([(0.5, 0, 0, 0)], "polarity"),
    ],
    ids=["off-canvas", "late", "zero-polarity"],
)
def test_frames_reject_bad_events(rows, match):
    with pytest.raises(ValueError, match=match):
        events_to_frames(events(rows), n_frames=2, height=2, width=3)


def test_emulate_events_rejects_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        emulate_events(np.ones((1, 8, 8)))
    with pytest.raises(ValueError, match="contrast_threshold"):
        emulate_events(np.ones((8, 8)), contrast_threshold=0.0)
    with pytest.raises(ValueError, match=">= 0"):
        emulate_events(-np.ones((8, 8)))


def test_load_dvs_digits_shapes_and_split(digits, dvs_digits):
    assert dvs_digits.x_train.shape == (len(digits.x_train), 8, 2, 10, 10)
    assert dvs_digits.x_test.shape == (len(digits.x_test), 8, 2, 10, 10)
    assert len(dvs_digits.x_train) + len(dvs_digits.x_test) == 1797
    assert dvs_digits.x_train.dtype == torch.float32
    torch.testing.assert_close(dvs_digits.y_train, digits.y_train)
    torch.testing.assert_close(dvs_digits.y_test, digits.y_test)
    per_image = dvs_digits.x_train.sum(dim=(1, 2, 3, 4))
    assert (per_image > 0).all()
    for frames in (dvs_digits.x_train, dvs_digits.x_test):
        assert (frames >= 0).all()
        torch.testing.assert_close(frames, frames.round())
        torch.testing.assert_close(frames[:, :, 1].sum(1), frames[:, :, 0].sum(1))


@pytest.mark.parametrize("index", [0, 100, 449], ids=["i0", "i100", "i449"])
def test_load_dvs_digits_matches_per_image_emulation(digits, dvs_digits, index):
    expected = events_to_frames(
        emulate_events(digits.x_test[index, 0].numpy()),
        n_frames=8,
        height=10,
        width=10,
    )
    torch.testing.assert_close(dvs_digits.x_test[index], expected, rtol=0, atol=0)


def test_load_dvs_digits_noise_matches_per_image_seeds(digits):
    noisy = load_dvs_digits(seed=0, n_frames=4, noise_rate=0.5, test_fraction=0.25)
    again = load_dvs_digits(seed=0, n_frames=4, noise_rate=0.5, test_fraction=0.25)
    torch.testing.assert_close(noisy.x_train, again.x_train, rtol=0, atol=0)
    for part, x_images, x_frames in (
        (0, digits.x_train, noisy.x_train),
        (1, digits.x_test, noisy.x_test),
    ):
        for i in (0, 11):
            got = emulate_events(
                x_images[i, 0].numpy(), noise_rate=0.5, seed=[0, part, i]
            )
            expected = events_to_frames(got, n_frames=4, height=10, width=10)
            torch.testing.assert_close(x_frames[i], expected, rtol=0, atol=0)


def test_load_dvs_digits_follows_the_split_seed():
    other = load_dvs_digits(seed=1, n_frames=2)
    torch.testing.assert_close(other.y_test, load_digits_split(seed=1).y_test)
    assert other.x_test.shape[1:] == (2, 2, 10, 10)
