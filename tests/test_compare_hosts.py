"""compare/hosts.py: one profile per host, and the harness's tables are views on it."""

from __future__ import annotations

import pytest
import torch
from conftest import run_python

from adali_plugins.compare import bench
from adali_plugins.compare.hosts import PROFILES, HostProfile, profile
from adali_plugins.compare.models import CONV_NETS, MLP_NETS, conv_net
from adali_plugins.compare.spec import BEST_BUILTIN, BUILTINS, HOST_DEFAULT
from adali_plugins.hosts import HOSTS, is_installed


def test_every_library_host_has_one_profile():
    assert set(PROFILES) == set(HOSTS)
    for name, prof in PROFILES.items():
        assert isinstance(prof, HostProfile)
        assert prof.name == name
        assert prof.default_builtin in prof.builtins
        assert prof.best_builtin in prof.builtins
        assert set(prof.bench_builtins) <= set(prof.builtins)
        assert prof.bench_builtins[0] == prof.default_builtin
    assert set(CONV_NETS) == set(MLP_NETS) == set(PROFILES)


def test_the_old_tables_are_views_on_the_profiles():
    assert {h: p.builtins for h, p in PROFILES.items()} == BUILTINS
    assert {h: p.default_builtin for h, p in PROFILES.items()} == HOST_DEFAULT
    assert {h: p.best_builtin for h, p in PROFILES.items()} == BEST_BUILTIN
    assert {h: p.default_builtin for h, p in PROFILES.items()} == (
        bench.DEFAULT_SURROGATE
    )


def test_an_unknown_host_is_refused_by_name():
    with pytest.raises(ValueError, match="snntorch"):
        profile("brian2")


@pytest.mark.parametrize("host", sorted(PROFILES))
def test_a_profile_builds_what_it_names(host: str):
    if not is_installed(host):
        pytest.skip(f"{host} not installed")
    prof = PROFILES[host]
    x = torch.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    for name in prof.builtins:
        try:
            prof.builtin(name)()
        except AttributeError:
            # spikingjelly 0.0.0.0.14 has no Rect; the host's defaults must exist
            assert name not in (prof.default_builtin, prof.best_builtin), name
    spikes = prof.adali()()(x)
    assert spikes.tolist() == [0.0, float(prof.inclusive), 1.0]
    net = conv_net(host, prof.adali())
    prof.reset()(net)


@pytest.mark.slow
def test_reading_the_profiles_imports_no_host():
    code = (
        "import sys\n"
        "from adali_plugins.compare.hosts import PROFILES\n"
        "assert [p.default_builtin for p in PROFILES.values()]\n"
        "assert not {'snntorch', 'spikingjelly'} & set(sys.modules)\n"
    )
    run_python(code)
