"""The one definition of the AdaLi regions, checked against the documented table.

The oracle here is the table in ``regions.py``'s docstring, written out as plain
Python comparisons on floats; every backend (eager, compiled, multi-step LIF,
CUDA text) is checked against independent formulas in its own test file.
"""

from __future__ import annotations

import math

import pytest
import torch

from adali_plugins import regions

LEFT, RIGHT, H_LO, H_HI = 1.25, 0.75, 0.4, 0.6


def expected_code(x: float) -> int:
    if math.isnan(x) or x < -LEFT:
        return 0
    if x < 0:
        return 1
    if x <= RIGHT:
        return 2
    return 3


POINTS = [
    -math.inf,
    -LEFT - 1e-6,
    -LEFT,
    -0.3,
    -1e-30,
    -0.0,
    0.0,
    1e-30,
    0.5,
    RIGHT,
    RIGHT + 1e-6,
    math.inf,
    math.nan,
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_region_code_matches_the_documented_table(dtype):
    x = torch.tensor(POINTS, dtype=dtype)
    got = regions.region_code(x, LEFT, RIGHT)
    want = [expected_code(float(v)) for v in x.tolist()]
    assert got.dtype == torch.uint8
    assert got.tolist() == want


def test_fired_exactly_when_code_reaches_fired_from_code():
    x = torch.cat([torch.randn(4000) * 2, torch.tensor(POINTS)])
    code = regions.region_code(x, LEFT, RIGHT)
    assert torch.equal(code >= regions.FIRED_FROM_CODE, x >= 0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_heights_from_code_are_exact(dtype):
    code = torch.tensor([0, 1, 2, 3, 2, 1, 0], dtype=torch.uint8)
    table = {0: 0.0, 1: H_LO, 2: H_HI, 3: 0.0}
    want = torch.tensor([table[c] for c in code.tolist()], dtype=dtype)
    as_tensor = (torch.tensor(H_LO, dtype=dtype), torch.tensor(H_HI, dtype=dtype))
    for h_lo, h_hi in ((H_LO, H_HI), as_tensor):
        got = regions.heights_from_code(code, h_lo, h_hi, dtype)
        assert got.dtype == dtype
        assert torch.equal(got, want)
    assert code.tolist() == [0, 1, 2, 3, 2, 1, 0]  # the input is left alone


def test_cuda_source_names_every_edge_and_height():
    src = regions.cuda_source("const float g", "u", "float", (LEFT, RIGHT, H_LO, H_HI))
    for literal in (f"{-LEFT!r}f", "0.0f", f"{RIGHT!r}f", f"{H_LO!r}f", f"{H_HI!r}f"):
        assert literal in src
    assert src.count(">=") == 2 and src.count(" > ") == 1
    with pytest.raises(NotImplementedError, match="dtype"):
        regions.cuda_source("g", "u", "double", (LEFT, RIGHT, H_LO, H_HI))
