"""Two floors: the library never imports the harness, and the old paths still work.

The library (``adali_plugins`` minus ``compare``) needs torch, numpy and one
host; the comparison harness (``adali_plugins.compare``: models, bench, data,
cli, ...) brings scikit-learn and tqdm. The former homes of models, bench and
data are deprecated shims for one release.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest
from conftest import run_python

LIBRARY = [
    "attach",
    "calibrate",
    "callback",
    "checkpoint",
    "epochs",
    "fileio",
    "hosts",
    "kernels",
    "lif",
    "monitor",
    "plots",
    "registry",
    "state",
    "stats",
    "support",
    "surrogate",
    "window",
]
"""The library floor's modules that need no host (adapters are tested below)."""

HARNESS = ("adali_plugins.compare", "sklearn", "tqdm")

DATA_MODULES = [
    "datasets",
    "digits",
    "dvs",
    "errors",
    "fashion_mnist",
    "idx",
    "mnist1d",
    "neuromorphic",
]

OLD_PATHS = {
    "adali_plugins.models": "adali_plugins.compare.models",
    "adali_plugins.bench": "adali_plugins.compare.bench",
    "adali_plugins.data": "adali_plugins.compare.data",
    **{
        f"adali_plugins.data.{m}": f"adali_plugins.compare.data.{m}"
        for m in DATA_MODULES
    },
}


def _loaded(prefixes: tuple[str, ...]) -> str:
    """Code for the sorted list of loaded modules under any of ``prefixes``."""
    return (
        f"sorted(m for m in sys.modules if any(m == p or m.startswith(p + '.') "
        f"for p in {prefixes!r}))"
    )


@pytest.mark.slow
def test_the_library_alone_imports_no_harness_module():
    imports = "\n".join(f"import adali_plugins.{m}" for m in LIBRARY)
    # torch imports tqdm itself; what counts is what the library adds.
    run_python(
        "import sys\n"
        "import numpy, torch\n"
        "before = set(sys.modules)\n"
        "import adali_plugins\n"
        f"{imports}\n"
        f"found = [m for m in {_loaded(HARNESS)} if m not in before]\n"
        "assert not found, found\n"
    )


@pytest.mark.slow
def test_attach_monitor_calibrate_on_both_hosts_import_no_harness_module():
    pytest.importorskip("snntorch")
    pytest.importorskip("spikingjelly")
    # torch and the hosts import tqdm themselves; what counts is what we add.
    run_python(
        "import sys\n"
        "import torch, snntorch as snn\n"
        "from spikingjelly.activation_based import neuron\n"
        "before = set(sys.modules)\n"
        "import adali_plugins as ap, adali_plugins.snntorch, "
        "adali_plugins.spikingjelly\n"
        "nets = [\n"
        "    torch.nn.Sequential(torch.nn.Linear(4, 4),"
        " snn.Leaky(beta=0.9, init_hidden=True)),\n"
        "    torch.nn.Sequential(torch.nn.Linear(4, 4), neuron.LIFNode()),\n"
        "]\n"
        "for net in nets:\n"
        "    ap.attach(net)\n"
        "    with ap.MembraneMonitor(net) as mon:\n"
        "        net(torch.randn(8, 4))\n"
        "    ap.calibrate(net, mon)\n"
        f"found = [m for m in {_loaded(HARNESS)} if m not in before]\n"
        "assert not found, found\n"
        "assert 'sklearn' not in sys.modules\n"
    )


@pytest.mark.slow
def test_the_library_works_without_the_harness_dependencies():
    pytest.importorskip("snntorch")
    # Only torch, numpy and one host: the compare extra and the other host blocked.
    run_python(
        "import sys\n"
        "for m in ('sklearn', 'tqdm', 'matplotlib', 'spikingjelly', 'mnist1d',"
        " 'tonic'):\n"
        "    sys.modules[m] = None\n"
        "import torch, snntorch as snn\n"
        "import adali_plugins as ap, adali_plugins.snntorch\n"
        "net = torch.nn.Sequential(torch.nn.Linear(4, 4),"
        " snn.Leaky(beta=0.9, init_hidden=True))\n"
        "ap.attach(net)\n"
        "with ap.MembraneMonitor(net) as mon:\n"
        "    net(torch.randn(8, 4))\n"
        "ap.calibrate(net, mon)\n"
        "ap.set_epoch(net, epoch=1, total_epochs=3)\n"
    )


@pytest.mark.parametrize("old,new", sorted(OLD_PATHS.items()))
def test_old_paths_warn_and_give_the_same_objects(old: str, new: str):
    fresh = importlib.import_module(new)
    for name in [n for n in sys.modules if n == old or n.startswith(old + ".")]:
        del sys.modules[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        shim = importlib.import_module(old)
    assert any(
        issubclass(w.category, DeprecationWarning) and new in str(w.message)
        for w in caught
    ), [str(w.message) for w in caught]
    public = getattr(fresh, "__all__", None) or [
        n
        for n, v in vars(fresh).items()
        if not n.startswith("_") and getattr(v, "__module__", new).startswith(new)
    ]
    assert public
    for name in public:
        assert getattr(shim, name) is getattr(fresh, name), name


def test_old_bench_keeps_the_private_name_its_tests_used():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from adali_plugins import bench as old
    from adali_plugins.compare import bench

    assert old._step_candidates is bench._step_candidates
    assert old.main is bench.main


@pytest.mark.slow
def test_the_old_bench_path_still_runs_as_a_script(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            "-W",
            "always::DeprecationWarning",
            "-m",
            "adali_plugins.bench",
            "--sizes",
            "4K",
            "--repeats",
            "1",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "deprecated" in done.stderr
    assert out.exists()


@pytest.mark.slow
def test_harness_without_its_extra_names_the_extra():
    code = (
        "import sys\n"
        "sys.modules['tqdm'] = None\n"
        "try:\n"
        "    import adali_plugins.compare\n"
        "except ImportError as err:\n"
        '    assert "adali_plugins[compare]" in str(err), err\n'
        "else:\n"
        "    raise SystemExit('imported without tqdm')\n"
    )
    run_python(code)
