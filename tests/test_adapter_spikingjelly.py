"""adali_plugins.spikingjelly: AdaLi inside real SpikingJelly neurons."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import torch
from conftest import boundary_free_grid, reference_grad

pytest.importorskip("spikingjelly")
from spikingjelly.activation_based import functional, neuron, surrogate
from spikingjelly.activation_based.surrogate import SurrogateFunctionBase

from adali_plugins.spikingjelly import LEGACY, AdaLi

pytestmark = pytest.mark.spikingjelly
PARAMS = {"alpha": 0.6, "beta": 0.4, "left": 0.7, "right": 1.3, "p": 0.3}


def _expected(x, epoch, total=5):
    return torch.from_numpy(
        reference_grad(
            np.asarray(x),
            q=epoch / (total - 1),
            schedule="linear_lagfree",
            keep="area",
            **PARAMS,
        )
    )


def test_is_a_surrogate_function_base_and_registered():
    a = AdaLi()
    assert isinstance(a, SurrogateFunctionBase)
    assert surrogate.AdaLi is AdaLi
    builtin = (
        surrogate.ATan,
        surrogate.Sigmoid,
        surrogate.Rect if hasattr(surrogate, "Rect") else surrogate.ATan,
    )
    assert not isinstance(a, builtin)
    assert not hasattr(a, "reset")


NODES = {
    "LIFNode": (
        lambda g, m: neuron.LIFNode(tau=2.0, surrogate_function=g, step_mode=m),
        0.5,
    ),
    "IFNode": (lambda g, m: neuron.IFNode(surrogate_function=g, step_mode=m), 1.0),
    "ParametricLIFNode": (
        lambda g, m: neuron.ParametricLIFNode(
            init_tau=2.0, surrogate_function=g, step_mode=m
        ),
        0.5,
    ),
}
CASES = [(n, m, e) for n in NODES for m in ("s", "m") for e in (0, 2, 4)]


@pytest.mark.parametrize(
    ("node", "step_mode", "epoch"), CASES, ids=[f"{n}-{m}-e{e}" for n, m, e in CASES]
)
def test_one_step_analytic_derivative(node, step_mode, epoch):
    make, gain = NODES[node]
    g = AdaLi(**PARAMS, schedule="linear_lagfree")
    g.set_epoch(epoch, 5)
    w = g.current_window()
    x = boundary_free_grid(
        801, [1 / gain, (1 - w.left) / gain, (1 + w.right) / gain], lo=-2, hi=6
    )
    x = x.float()
    x_in = (x.reshape(1, -1) if step_mode == "m" else x).clone().requires_grad_()
    spikes = make(g, step_mode)(x_in)
    assert torch.equal(spikes.reshape(-1), (gain * x >= 1.0).float())
    spikes.sum().backward()
    expected = gain * _expected(gain * x.double() - 1.0, epoch).float()
    torch.testing.assert_close(x_in.grad.reshape(-1), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("step_mode", ["s", "m"])
def test_spikes_bit_identical_to_builtin_atan(step_mode):
    torch.manual_seed(0)
    x = torch.randn(8, 16, 32) * 2
    outs = []
    for g in (AdaLi(), surrogate.ATan()):
        node = neuron.LIFNode(surrogate_function=g, step_mode=step_mode)
        out = node(x) if step_mode == "m" else torch.stack([node(xt) for xt in x])
        outs.append(out)
        functional.reset_net(node)
    assert torch.equal(outs[0], outs[1])


def test_fires_at_threshold_like_spikingjelly():
    x = torch.tensor([-0.5, 0.0, 0.5])
    assert AdaLi()(x).tolist() == surrogate.ATan()(x).tolist() == [0.0, 1.0, 1.0]


def test_spiking_false_gives_primitive():
    g = AdaLi(left=0.5, right=1.5, spiking=False)
    x = torch.tensor(
        [-5.0, -0.25, 0.0, 0.75, 5.0], dtype=torch.float64, requires_grad=True
    )
    y = g(x)
    torch.testing.assert_close(
        y, torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64)
    )
    g.set_spiking_mode(True)
    assert g(x.detach()).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


def _window_values(g):
    w = g.current_window()
    return w.left, w.right, w.h_lo, w.h_hi


def test_cuda_codes_equality_follows_window():
    g = AdaLi()
    before = g.cuda_codes
    assert before == g.cuda_codes
    g.set_epoch(1, 3)  # the released log law: epoch 1 keeps the initial window
    assert before == g.cuda_codes
    g.set_epoch(2, 3)
    assert before != g.cuda_codes


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler")
@pytest.mark.parametrize("epoch", [0, 3])
def test_cuda_float_source_computes_the_derivative(tmp_path, epoch):
    g = AdaLi(**PARAMS, schedule="linear_lagfree")
    g.set_epoch(epoch, 5)
    body = g.cuda_codes(y="const float grad", x="over_th", dtype="float")
    fp32 = g.cuda_code(x="over_th", y="grad2", dtype="fp32")
    src = tmp_path / "k.c"
    src.write_text(
        "#include <stdio.h>\n"
        "static float a(float over_th) {" + body + " return grad; }\n"
        "static float b(float over_th) {" + fp32 + " return grad2; }\n"
        'int main(void) { float x; while (scanf("%f", &x) == 1) '
        'printf("%.9g %.9g\\n", a(x), b(x)); return 0; }\n'
    )
    exe = tmp_path / "k"
    subprocess.run(["gcc", "-O0", "-o", str(exe), str(src)], check=True)
    w = g.current_window()
    x = boundary_free_grid(401, [0.0, -w.left, w.right], lo=-2, hi=2).float()
    run = subprocess.run(
        [str(exe)],
        input="\n".join(f"{v:.9g}" for v in x.tolist()),
        capture_output=True,
        text=True,
        check=True,
    )
    got = torch.tensor(
        [[float(t) for t in line.split()] for line in run.stdout.splitlines()]
    )
    expected = _expected(x.double(), epoch).float()
    torch.testing.assert_close(got[:, 0], expected, rtol=1e-6, atol=0)
    torch.testing.assert_close(got[:, 1], expected, rtol=1e-6, atol=0)


def test_cuda_half2_source_uses_current_window():
    g = AdaLi(**PARAMS, schedule="linear_lagfree")
    code = g.cuda_code(x="over_th", y="grad", dtype="fp16")
    w = g.current_window()
    assert f"__float2half2_rn(-{w.left!r}f)" in code
    assert f"__float2half2_rn({w.h_lo!r}f)" in code
    assert code.count("__hge2") == 2 and "const half2 grad =" in code
    with pytest.raises(NotImplementedError, match="dtype"):
        g.cuda_code(x="a", y="b", dtype="fp64")


def test_legacy_flag_matches_installed_version():
    import inspect

    assert LEGACY == (
        "alpha" in inspect.signature(SurrogateFunctionBase.__init__).parameters
    )


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"p": 2}, "p"), ({"right": 0}, "right"), ({"keep": "x"}, "keep")],
    ids=["p", "right", "keep"],
)
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        AdaLi(**kwargs)
