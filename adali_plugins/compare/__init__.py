"""The side-by-side comparison harness: AdaLi against the hosts' built-ins.

Run it as ``adali-compare`` or ``python -m adali_plugins.compare``; from code,
``adali_plugins.compare.main(["--host", "snntorch"])``.
"""

from .cli import main
from .spec import BUILTINS, SurrogateSpec, parse_surrogate
from .train import RunConfig, run

__all__ = ["BUILTINS", "RunConfig", "SurrogateSpec", "main", "parse_surrogate", "run"]
