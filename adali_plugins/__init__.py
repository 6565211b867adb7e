"""adali_plugins: the AdaLi surrogate gradient for snnTorch and SpikingJelly models.

>>> import adali_plugins as ap
>>> import snntorch as snn
>>> from adali_plugins.snntorch import adali
>>> lif = snn.Leaky(beta=0.9, spike_grad=adali())      # a new model
>>> handle = ap.attach(model)                           # doctest: +SKIP
>>> ap.set_epoch(model, epoch=3, total_epochs=10)       # doctest: +SKIP

Statistics and calibration::

    with ap.MembraneMonitor(model) as mon:
        for x, _ in calib_batches:
            model(x)
    print(mon.summary())
    ap.calibrate(model, mon)  # mode="both": window, then mass split

The host adapters live in ``adali_plugins.snntorch`` (``adali()``) and
``adali_plugins.spikingjelly`` (``AdaLi``); importing this package imports
neither host, so it works with only one of them installed.
"""

from .attach import (
    AttachError,
    AttachHandle,
    NoAdaLiError,
    NoSpikingLayerError,
    WrappedModelError,
    adali_modules,
    attach,
    replace_surrogates,
    spiking_layers,
)
from .calibrate import CalibrationError, CalibrationResult, calibrate
from .callback import CalibrationCallback, calibrate_on
from .checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model_state,
    restore_training_state,
    save_checkpoint,
    training_state,
)
from .epochs import AdaLiScheduler, set_epoch, set_progress
from .hosts import MissingHostError, installed_hosts
from .monitor import MembraneMonitor, MonitorSummary
from .starvation import StarvedUnitsWarning
from .state import AdaLiState, AdaLiStateError, strip_adali
from .window import KEEP_MODES, SCHEDULES, AdaLiParams, Window

__version__ = "0.1.0"

__all__ = [
    "KEEP_MODES",
    "SCHEDULES",
    "AdaLiParams",
    "AdaLiScheduler",
    "AdaLiState",
    "AdaLiStateError",
    "AttachError",
    "AttachHandle",
    "CalibrationCallback",
    "CalibrationError",
    "CalibrationResult",
    "CheckpointError",
    "MembraneMonitor",
    "MissingHostError",
    "MonitorSummary",
    "NoAdaLiError",
    "NoSpikingLayerError",
    "StarvedUnitsWarning",
    "Window",
    "WrappedModelError",
    "adali_modules",
    "attach",
    "calibrate",
    "calibrate_on",
    "installed_hosts",
    "load_checkpoint",
    "load_model_state",
    "replace_surrogates",
    "restore_training_state",
    "save_checkpoint",
    "set_epoch",
    "set_progress",
    "spiking_layers",
    "strip_adali",
    "training_state",
]
