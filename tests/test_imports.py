"""Nothing happens on import; attaching touches only the model's own host."""

from __future__ import annotations

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


def test_importing_the_package_imports_no_host():
    run_python(
        "import sys\n"
        "import adali_plugins\n"
        "assert not {'snntorch', 'spikingjelly'} & set(sys.modules), sys.modules\n"
    )
