"""hosts.py: the package works with one host, and names the extra for the other."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules[{hidden!r}] = None   # this host is not importable in this process
    import torch
    import adali_plugins as ap
    assert ap.installed_hosts() == [{kept!r}], ap.installed_hosts()
    {use}
    try:
        import adali_plugins.{hidden}
    except ImportError as err:
        assert isinstance(err, ap.MissingHostError)
        print("MESSAGE:", err)
    else:
        raise SystemExit("importing the missing adapter did not fail")
    """
)

USE = {
    "snntorch": (
        "import snntorch as snn\n"
        "from adali_plugins.snntorch import adali\n"
        "lif = snn.Leaky(beta=0.9, init_hidden=True)\n"
        "net = torch.nn.Sequential(torch.nn.Linear(2, 2), lif)\n"
        "assert ap.attach(net, output='adali').paths == ['1']"
    ),
    "spikingjelly": (
        "from spikingjelly.activation_based import neuron\n"
        "from adali_plugins.spikingjelly import AdaLi\n"
        "net = torch.nn.Sequential(torch.nn.Linear(2, 2), neuron.LIFNode())\n"
        "assert ap.attach(net, output='adali').paths == ['1']"
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kept", "hidden"), [("snntorch", "spikingjelly"), ("spikingjelly", "snntorch")]
)
def test_one_host_only(kept, hidden):
    code = SCRIPT.format(hidden=hidden, kept=kept, use=USE[kept])
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    message = run.stdout.split("MESSAGE:", 1)[1]
    assert f"adali_plugins[{hidden}]" in message
    assert hidden in message


def test_unknown_host_name():
    from adali_plugins.hosts import require

    with pytest.raises(ValueError, match="host must be one of"):
        require("norse")
