"""Which host libraries are installed, and a clear error when one is missing."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Literal

HostName = Literal["snntorch", "spikingjelly"]

HOSTS: dict[str, str] = {
    "snntorch": "pip install 'adali_plugins[snntorch]'",
    "spikingjelly": "pip install 'adali_plugins[spikingjelly]'",
}


class MissingHostError(ImportError):
    """A host library needed for the requested feature is not installed."""


def is_installed(host: str) -> bool:
    """True if ``host`` can be imported (without importing it)."""
    if host in sys.modules:
        return sys.modules[host] is not None
    return importlib.util.find_spec(host) is not None


def installed_hosts() -> list[str]:
    """The host libraries present in this environment."""
    return [h for h in HOSTS if is_installed(h)]


def require(host: str) -> ModuleType:
    """Import ``host`` or raise :class:`MissingHostError` naming the extra."""
    if host not in HOSTS:
        raise ValueError(f"host must be one of {sorted(HOSTS)}, got {host!r}")
    try:
        return importlib.import_module(host)
    except ModuleNotFoundError as err:
        if err.name is not None and err.name.split(".")[0] != host:
            raise
        raise MissingHostError(
            f"adali_plugins.{host} needs {host}, which is not installed; "
            f"install it with: {HOSTS[host]}"
        ) from err


def adapter(host: str) -> ModuleType:
    """Import and return ``adali_plugins.<host>`` (the adapter for ``host``)."""
    require(host)
    return importlib.import_module(f"adali_plugins.{host}")
