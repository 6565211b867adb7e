"""Nothing happens on import; attaching touches only the model's own host."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import run_python

pytestmark = pytest.mark.slow  # each case starts a fresh interpreter


def test_importing_the_spikingjelly_adapter_patches_nothing():
    pytest.importorskip("spikingjelly")
    run_python(
        "from spikingjelly.activation_based import functional\n"
        "before = functional.lif_multi_step\n"
        "import adali_plugins.spikingjelly as a\n"
        "assert functional.lif_multi_step is before\n"
        "a.AdaLi()\n"
        "assert a.LEGACY or functional.lif_multi_step is not before\n"
        "a.set_fast_lif(False)\n"
        "assert functional.lif_multi_step is before\n"
    )


def test_attaching_to_an_snntorch_model_never_imports_spikingjelly():
    pytest.importorskip("snntorch")
    pytest.importorskip("spikingjelly")
    run_python(
        "import sys\n"
        "import torch, snntorch as snn\n"
        "import adali_plugins as ap\n"
        "net = torch.nn.Sequential(torch.nn.Linear(2, 2),"
        " snn.Leaky(beta=0.9, init_hidden=True))\n"
        "ap.attach(net, output='adali')\n"
        "ap.MembraneMonitor(net).remove()\n"
        "assert 'spikingjelly' not in sys.modules, 'spikingjelly imported'\n"
        "assert 'adali_plugins.spikingjelly' not in sys.modules\n"
    )


def test_monitoring_a_spikingjelly_model_prints_no_triton_notice():
    # spikingjelly 2.0 imports its operator library at the first call our fast
    # LIF does not take (a monitored neuron); torch then logs "Triton not
    # available" once per operator. We drop it during those calls only.
    pytest.importorskip("spikingjelly")
    code = (
        "import logging, torch\n"
        "from spikingjelly.activation_based import functional, neuron\n"
        "import adali_plugins as ap\n"
        "from adali_plugins.spikingjelly import AdaLi\n"
        "net = torch.nn.Sequential(torch.nn.Linear(4, 4),"
        " neuron.LIFNode(surrogate_function=AdaLi()))\n"
        "with ap.MembraneMonitor(net) as mon:\n"
        "    net(torch.randn(8, 4))\n"
        "functional.reset_net(net)\n"
        "net(torch.randn(8, 4)).sum().backward()\n"
        "assert not logging.getLogger('torch._library.triton').filters\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == "", done.stderr


def test_importing_the_package_imports_no_host():
    run_python(
        "import sys\n"
        "import adali_plugins\n"
        "assert not {'snntorch', 'spikingjelly'} & set(sys.modules), sys.modules\n"
    )
