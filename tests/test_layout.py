"""Two floors: the library never imports the harness.

The library (``adali_plugins`` minus ``compare``) needs torch, numpy and one
host; the comparison harness (``adali_plugins.compare``: models, bench, data,
cli, ...) brings scikit-learn and tqdm. Nothing was released before 0.1.0, so
the development-time homes of these modules are gone, not kept as shims.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_python

import adali_plugins

LIBRARY = [
    "_console",
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

GONE = [
    "adali_plugins.schedule",
    "adali_plugins.scheduler",
    "adali_plugins.models",
    "adali_plugins.bench",
    "adali_plugins.data",
]
"""Development-time paths removed before the first release (now ``window``,
``epochs`` and ``compare.models`` / ``compare.bench`` / ``compare.data``)."""


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
        "    ap.attach(net, output='adali')\n"
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
        "ap.attach(net, output='adali')\n"
        "with ap.MembraneMonitor(net) as mon:\n"
        "    net(torch.randn(8, 4))\n"
        "ap.calibrate(net, mon)\n"
        "ap.set_epoch(net, epoch=1, total_epochs=3)\n"
    )


@pytest.mark.parametrize("old", GONE, ids=GONE)
def test_the_development_paths_are_gone(old: str):
    assert importlib.util.find_spec(old) is None, old


def test_the_package_ships_no_deprecation_shim():
    root = Path(adali_plugins.__file__).resolve().parent
    found = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "is deprecated" in p.read_text(encoding="utf-8")
    ]
    assert not found, found


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


@pytest.mark.slow
@pytest.mark.parametrize(
    "blocked,argv",
    [
        ("tqdm", ["--help"]),
        ("sklearn", ["--dataset", "digits", "--epochs", "1", "--seeds", "1"]),
    ],
    ids=["harness-without-tqdm", "digits-without-sklearn"],
)
def test_adali_compare_without_its_extra_says_so_in_one_line(blocked, argv, tmp_path):
    # What the console script runs, with one module of the [compare] extra
    # missing: exit 2 and one line naming the extra, no traceback.
    code = (
        "import sys\n"
        f"sys.modules[{blocked!r}] = None\n"
        "from adali_plugins._console import adali_compare\n"
        f"raise SystemExit(adali_compare({[*argv, '--out', str(tmp_path)]!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "adali_plugins[compare]" in lines[0], lines


def _imports_of(path: Path, module: str, known: set[str]) -> set[str]:
    """The package modules ``path`` (module ``module``) imports anywhere in its
    code, at the top or inside a function."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            found.update(
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                for a in node.names
            )
    return (found & known) - {module}


@pytest.mark.parametrize("floor", ["library", "compare"])
def test_no_import_circle(floor: str):
    # Lazy imports inside functions count too: the circles this replaced
    # (compare.hosts <-> compare.models; state -> starvation -> attach -> state)
    # each had one lazy side.
    root = Path(adali_plugins.__file__).resolve().parent
    paths = {}
    files = (
        root.glob("*.py") if floor == "library" else (root / "compare").rglob("*.py")
    )
    for path in files:
        parts = path.relative_to(root.parent).with_suffix("").parts
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {m: _imports_of(p, m, set(paths)) for m, p in paths.items()}
    circles = []
    for start in graph:  # a module that can reach itself is on a circle
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])
        if start in seen:
            circles.append(start)
    assert not circles, sorted(circles)
