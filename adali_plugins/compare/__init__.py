"""The side-by-side comparison harness: AdaLi against the hosts' built-ins.

Run it as ``adali-compare`` or ``python -m adali_plugins.compare``; from code,
``adali_plugins.compare.main(["--host", "snntorch"])``. On your own model and
data: ``adali_plugins.compare.compare(model=..., train=..., test=...)``.
The harness needs the ``[compare]`` extra (scikit-learn, tqdm, matplotlib).
"""

import importlib.util

if importlib.util.find_spec("tqdm") is None:
    # name=__name__ lets `python -m adali_plugins.compare` print this as one
    # line (runpy reports a package's own ImportError without a traceback).
    raise ImportError(
        "adali_plugins.compare (the comparison harness) needs the [compare] extra: "
        "pip install 'adali_plugins[compare]'",
        name=__name__,
    )

from .cli import main
from .spec import BUILTINS, SurrogateSpec, parse_surrogate
from .train import RunConfig, run
from .user import CompareError, Comparison, compare

__all__ = [
    "BUILTINS",
    "CompareError",
    "Comparison",
    "RunConfig",
    "SurrogateSpec",
    "compare",
    "main",
    "parse_surrogate",
    "run",
]
