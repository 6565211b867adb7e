"""Packaging: what a user installs is what this repository tests.

The sdist is built from a copy of the tree, and the wheel from that sdist (as
``python -m build`` does), in a throwaway environment; the sdist must carry its
own test suite (conftest, the worker modules, the examples, the pins), and the
wheel must install into a fresh environment with one host (snnTorch) and work
from outside the source tree. A missing extra is one line, never a traceback.
(README images by relative path are refused by tests/test_readme.py.)
pip reaches the package index here and in CI; its cache makes torch quick.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds, creates environments, installs

ROOT = Path(__file__).resolve().parent.parent
VERSION = "0.1.0"
BUILD_TOOL = "build==1.6.1"
"""The PyPA front end used to build both distributions (test-time only)."""

SUPPORT = ["tests/conftest.py", "tests/ddp_worker.py", "tests/resume_worker.py"]
"""Modules the tests import or start that are not test files themselves."""

NOT_COPIED = (
    ".git",
    ".venvs",
    "runs",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
)


def _run(args: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess:
    """Run ``args``, require exit 0 and return the finished process."""
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=900, **kwargs
    )
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
    return done


def _fresh_env(path: Path) -> Path:
    """A new virtual environment with pip; returns its python."""
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin" / "python"


def _pip(python: Path, *args: str | Path) -> subprocess.CompletedProcess:
    return _run([python, "-m", "pip", "install", "--quiet", *args])


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The sdist and wheel built from a copy of this tree, and the build log."""
    base = tmp_path_factory.mktemp("packaging")
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*NOT_COPIED))
    python = _fresh_env(base / "build-env")
    _pip(python, BUILD_TOOL)
    out = base / "dist"
    built = _run([python, "-m", "build", "--outdir", out, src], cwd=base)
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel, "log": built.stdout + built.stderr}


def test_the_build_prints_no_deprecation_warning(dists):
    log = str(dists["log"])
    assert "Successfully built" in log, log[-2000:]
    for needle in ("DeprecationWarning", "deprecated", "License classifiers"):
        assert needle not in log, log[log.find(needle) - 1500 : log.find(needle) + 500]


def test_the_sdist_carries_its_test_suite(dists):
    with tarfile.open(dists["sdist"]) as tar:
        top = f"adali_plugins-{VERSION}/"
        names = {m.name.removeprefix(top) for m in tar.getmembers()}
    wanted = {
        *SUPPORT,
        *(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py")),
        *(str(p.relative_to(ROOT)) for p in (ROOT / "integration_examples").glob("*")),
        "constraints/current.txt",
        "constraints/legacy.txt",
        "LICENSE",
        "CHANGELOG.md",
        "README.md",
        "pyproject.toml",
        "adali_plugins/py.typed",
    }
    assert not wanted - names, sorted(wanted - names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_sdist_tests_collect_and_run(dists, tmp_path):
    with tarfile.open(dists["sdist"]) as tar:
        tar.extractall(tmp_path, filter="data")
    tree = tmp_path / f"adali_plugins-{VERSION}"
    # Run from the unpacked tree, so its own adali_plugins is the one imported.
    probe = "import adali_plugins; print(adali_plugins.__file__)"
    where = _run([sys.executable, "-c", probe], cwd=tree).stdout.strip()
    assert Path(where).resolve().is_relative_to(tree.resolve()), where
    pytest_cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    collected = _run([*pytest_cmd, "--collect-only"], cwd=tree)  # exit 0: no error
    last = collected.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ tests collected in .*", last), last
    # The files that failed to collect without conftest.py and the workers:
    ran = _run(
        [*pytest_cmd, "-m", "not slow", "tests/test_layout.py", "tests/test_window.py"],
        cwd=tree,
    )
    assert " passed" in ran.stdout and "failed" not in ran.stdout, ran.stdout[-3000:]


def test_the_wheel_holds_the_package_its_types_and_licence(dists):
    with zipfile.ZipFile(dists["wheel"]) as whl:
        names = set(whl.namelist())
        info = f"adali_plugins-{VERSION}.dist-info"
        metadata = whl.read(f"{info}/METADATA").decode()
    assert "adali_plugins/py.typed" in names
    assert f"{info}/licenses/LICENSE" in names
    assert not [n for n in names if n.startswith(("tests/", "integration_examples/"))]
    gone = ("schedule", "scheduler", "models", "bench", "data/__init__")
    assert not {f"adali_plugins/{m}.py" for m in gone} & names
    assert "License-Expression: MIT" in metadata
    assert "License-File: LICENSE" in metadata
    urls = [line for line in metadata.splitlines() if line.startswith("Project-URL:")]
    assert urls and all(", https://" in u for u in urls), urls


def _one_line_error(command: list[str | Path], cwd: Path, extra: str) -> None:
    """``command`` fails with one stderr line naming ``extra``, no traceback."""
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=300, cwd=cwd
    )
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert f"adali_plugins[{extra}]" in done.stderr, done.stderr


_IMPORT_FAILS = (
    "try:\n"
    "    import adali_plugins.{module}\n"
    "except ImportError as err:\n"
    "    message = str(err)\n"
    "else:\n"
    "    raise SystemExit('adali_plugins.{module} imported without its host')\n"
    "assert '\\n' not in message, message\n"
    "assert 'adali_plugins[{module}]' in message, message\n"
)
"""Code that requires ``import adali_plugins.<module>`` to fail with one line
naming the extra to install."""


def test_the_wheel_in_a_fresh_environment_outside_the_tree(dists, tmp_path):
    env = tmp_path / "user-env"
    python = _fresh_env(env)
    constraints = ROOT / "constraints" / "current.txt"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The wheel alone (torch and numpy): every missing extra is one line.
    _pip(python, "-c", constraints, dists["wheel"])
    _one_line_error([python.with_name("adali-compare"), "--help"], elsewhere, "compare")
    _one_line_error(
        [python, "-m", "adali_plugins.compare", "--help"], elsewhere, "compare"
    )
    _run([python, "-c", _IMPORT_FAILS.format(module="snntorch")], cwd=elsewhere)
    # Then one host: adali() works and the other host's module says what to install.
    _pip(python, "-c", constraints, f"{dists['wheel']}[snntorch]")
    code = (
        "import sys, torch, snntorch as snn\n"
        "import adali_plugins as ap\n"
        "from adali_plugins.snntorch import adali\n"
        f"assert ap.__file__.startswith({str(env)!r}), ap.__file__\n"
        "assert 'spikingjelly' not in sys.modules\n"
        # The surrogate against its formula: Heaviside forward, h_lo on
        # [-left, 0), h_hi on [0, right], 0 outside (points away from edges).
        "sg = adali()\n"
        "w = sg.current_window()\n"
        "x = torch.tensor([-w.left - 1, -w.left / 2, w.right / 2, w.right + 1],"
        " requires_grad=True)\n"
        "spikes = sg(x)\n"
        "spikes.sum().backward()\n"
        "assert spikes.tolist() == [0.0, 0.0, 1.0, 1.0], spikes\n"
        "want = torch.tensor([0.0, w.h_lo, w.h_hi, 0.0])\n"
        "assert torch.allclose(x.grad, want), (x.grad, want)\n"
        # One training step of a real snnTorch neuron through attach.
        "torch.manual_seed(0)\n"
        "net = torch.nn.Sequential(torch.nn.Linear(8, 16),"
        " snn.Leaky(beta=0.9, init_hidden=True), torch.nn.Linear(16, 4))\n"
        "ap.attach(net)\n"
        "out = sum(net(torch.randn(32, 8) * 2) for _ in range(4))\n"
        "out.square().mean().backward()\n"
        "g = net[0].weight.grad\n"
        "assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0\n"
        "print('ok')\n"
    )
    done = _run([python, "-c", code], cwd=elsewhere)
    assert done.stdout.strip() == "ok", done.stdout
    _run([python, "-c", _IMPORT_FAILS.format(module="spikingjelly")], cwd=elsewhere)
    shown = _run([python, "-m", "pip", "show", "-f", "adali_plugins"], cwd=elsewhere)
    assert "adali_plugins/py.typed" in shown.stdout
