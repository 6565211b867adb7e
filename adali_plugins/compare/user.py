"""``compare()``: AdaLi beside the host built-ins on the user's own model and data.

For every candidate surrogate and seed the model comes fresh from the user's
factory (the global RNG seeded first, so the same seed gives the same initial
weights; checked by hash across candidates), every spiking layer gets the
candidate (AdaLi through ``attach``, a host built-in through
``replace_surrogates``), and each epoch sees the batches in the same order (the
global RNG is seeded per seed and epoch before the loader is iterated, which is
what a shuffling ``DataLoader`` draws from). AdaLi's window follows
``set_epoch``; a candidate with ``calibrate=`` is calibrated at the start of
every epoch on the first batches of that epoch (``calibrate_on``, as
``adali-compare`` does). With ``out=`` every epoch is checkpointed and an
interrupted comparison resumes from the last finished epoch of each candidate,
but only if every argument that changes the numbers is the same (the run
identity: host, candidate, seed, epochs, initial weights, a hash of the train
and test data, the optimizer's class and hyperparameters, the loss, the
forward, the device); otherwise it stops before training anything.

Everything is checked before the first epoch: counts, device, ``out``, every
candidate (on the model's host), and one train batch through every candidate's
model, forward, loss and backward; a problem is one ``CompareError`` line.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..attach import attach, replace_surrogates, spiking_layers
from ..callback import calibrate_on
from ..checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ..epochs import set_epoch
from ..fileio import atomic_write, folder_lock
from ..monitor import MembraneMonitor
from ..state import AdaLiState
from .classes import format_never_predicted, never_predicted, prediction_counts
from .hosts import profile
from .report import Row, aggregate, format_table
from .spec import LABEL_WIDTH, SurrogateSpec, parse_surrogate
from .verdict import Verdict, format_verdicts, verdicts

Batch = Any
Forward = Callable[[nn.Module, Batch], torch.Tensor]
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


MAX_COUNTS = {"epochs": 1000, "seeds": 100}
"""Largest ``epochs`` and ``seeds`` (``adali-compare``'s budget reads them)."""
CALIBRATION_BATCHES = 4
"""Batches a ``calibrate=`` candidate watches before each epoch (as the CLI)."""
OUR_FILES = ("config.json", "checkpoints", "runs", "results.json", ".lock")
"""Names that mark a folder as holding a comparison (``check_out_folder``)."""


class CompareError(ValueError):
    """The model factory, data or candidate list cannot be compared as given."""


def check_out_folder(out: Path, flag: str = "out=") -> None:
    """Refuse an output folder a careful user would not want written into.

    The filesystem root, and an existing folder that holds other files but none
    of a comparison's (``OUR_FILES``): results, checkpoints and plots would land
    among the user's own files and could replace one of the same name.

    Raises:
        CompareError: naming ``flag`` and what to do.
    """
    resolved = out.resolve()
    if resolved == Path(resolved.anchor):
        raise CompareError(
            f"{flag}{out} is the filesystem root; choose a new or empty folder"
        )
    if resolved.is_dir():
        try:
            names = {p.name for p in resolved.iterdir()}
        except OSError as exc:
            raise CompareError(f"{flag}{out}: cannot list it ({exc})") from None
        if names and not names & set(OUR_FILES):
            raise CompareError(
                f"{flag}{out} holds other files and no comparison; choose a new "
                "or empty folder"
            )


_HELD: set[Path] = set()


@contextlib.contextmanager
def claim_folder(out: Path) -> Iterator[None]:
    """Lock ``out`` against other processes (re-entrant in this process), so a
    CLI that already holds it can call ``compare()`` into it."""
    key = out.resolve()
    if key in _HELD:
        yield
        return
    with folder_lock(out):
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)


def default_forward(model: nn.Module, batch: Batch) -> torch.Tensor:
    """Logits ``[B, classes]`` for the two common shapes of a host network.

    Calls ``model(batch[0])``, floating inputs cast to the dtype of the model's
    first floating parameter (a bfloat16 model gets bfloat16 inputs); a tuple
    output (snnTorch's ``spk_rec, mem_rec``) contributes its first element; a
    time-major ``[T, B, classes]`` output (an snnTorch net stepped over time, a
    SpikingJelly net in multi-step mode) is averaged over T. Pass your own
    ``forward(model, batch)`` otherwise.
    """
    x = batch[0]
    param = next((p for p in model.parameters() if p.is_floating_point()), None)
    if (
        param is not None
        and isinstance(x, torch.Tensor)
        and x.is_floating_point()
        and x.dtype != param.dtype
    ):
        x = x.to(param.dtype)
    out = model(x)
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise CompareError(
            f"the model returned {type(out).__name__}; pass forward=... that "
            "returns logits [batch, classes]"
        )
    return out.mean(0) if out.dim() == 3 else out


def _tensor_bytes(value: torch.Tensor) -> bytes:
    """dtype, shape and raw bytes of a tensor of any dtype (bfloat16 included)."""
    t = value.detach()
    if t.is_sparse:
        t = t.to_dense()
    if t.device.type == "meta":
        return f"{t.dtype}{tuple(t.shape)}meta".encode()
    t = t.cpu().contiguous().reshape(-1)
    raw = t.to(torch.uint8) if t.dtype == torch.bool else t.view(torch.uint8)
    return f"{t.dtype}{tuple(value.shape)}".encode() + raw.numpy().tobytes()


def weights_hash(model: nn.Module) -> str:
    """SHA-256 of every parameter and buffer (dtype, shape, bytes), in
    ``state_dict`` order."""
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        if isinstance(value, torch.Tensor):
            digest.update(key.encode())
            digest.update(_tensor_bytes(value))
    return digest.hexdigest()


def data_hash(source: Iterable[Batch]) -> dict[str, Any]:
    """SHA-256 of every batch ``source`` yields, with the batch and sample counts.

    Iterated once under fixed seeds of torch, numpy and ``random`` (their states
    restored afterwards), so a shuffling ``DataLoader`` or a seeded augmentation
    hashes the same on every call; two sources with other samples, labels,
    order under that seed or length hash differently.
    """
    digest = hashlib.sha256()
    batches = samples = 0
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            random.seed(0)
            np.random.seed(0)
            for batch in source:
                parts = batch if isinstance(batch, (tuple, list)) else [batch]
                for part in parts:
                    if isinstance(part, torch.Tensor):
                        digest.update(_tensor_bytes(part))
                    else:
                        digest.update(repr(part).encode())
                batches += 1
                if isinstance(batch, (tuple, list)) and len(batch) > 1:
                    with contextlib.suppress(TypeError):
                        samples += len(batch[1])
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {"sha256": digest.hexdigest(), "batches": batches, "samples": samples}


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _plain(value: Any) -> Any:
    """A JSON-able stand-in for a hyperparameter value (tensors as numbers)."""
    if isinstance(value, torch.Tensor):
        return value.tolist() if value.numel() <= 16 else _tensor_bytes(value).hex()
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return _ADDRESS.sub("", repr(value))


def callable_id(fn: Any) -> str:
    """What a callable computes, as text stable across processes: its qualified
    name plus its code and constants (functions), its arguments (partials),
    or its repr (modules and other objects), memory addresses removed."""
    if isinstance(fn, functools.partial):
        return (
            f"partial({callable_id(fn.func)}, {_plain(list(fn.args))}, "
            f"{_plain(dict(fn.keywords))})"
        )
    name = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', '')}"
    code = getattr(fn, "__code__", None)
    if code is not None:
        cells = [
            _plain(c.cell_contents) for c in (getattr(fn, "__closure__", None) or ())
        ]
        text = repr((code.co_code, _plain(list(code.co_consts)), code.co_names, cells))
        return f"{name}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    kind = type(fn)
    return f"{kind.__module__}.{kind.__qualname__}:{_ADDRESS.sub('', repr(fn))}"


def optimizer_id(opt: torch.optim.Optimizer) -> dict[str, Any]:
    """An optimizer's class and every hyperparameter of every parameter group."""
    kind = type(opt)
    return {
        "class": f"{kind.__module__}.{kind.__qualname__}",
        "groups": [
            {k: _plain(v) for k, v in sorted(g.items()) if k != "params"}
            for g in opt.param_groups
        ],
    }


@dataclass
class Comparison:
    """What ``compare()`` measured: per-epoch records of every (candidate, seed).

    Attributes:
        host: ``"snntorch"`` or ``"spikingjelly"``.
        results: ``(host, candidate label, seed)`` -> that run's epoch
            records (test accuracy, loss, density, predictions per
            class, ...).
        initial_hashes: Seed -> SHA-256 of the model's initial weights,
            the same for every candidate.
        target: The accuracy whose first epoch the table reports.
        config: The settings of the comparison, as saved in JSON.
    """

    host: str
    results: dict[tuple[str, str, int], list[dict[str, Any]]]
    initial_hashes: dict[int, str]
    target: float = 0.9
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> list[Row]:
        """One aggregated row per candidate (mean and std over seeds)."""
        return aggregate(self.results, self.target)

    def table(self) -> str:
        """The comparison table, as ``adali-compare`` prints it."""
        return format_table(self.rows, self.target)

    def verdicts(self) -> list[Verdict]:
        """AdaLi against the best built-in of this comparison, paired by seed."""
        return verdicts(self.results)

    def summary(self) -> str:
        """The table, the verdict lines, and any class never predicted."""
        parts = [
            self.table(),
            format_verdicts(self.verdicts()),
            format_never_predicted(never_predicted(self.results)),
        ]
        return "\n".join(filter(None, parts))

    def records(self, surrogate: str) -> list[list[dict[str, Any]]]:
        """The per-epoch records of one candidate, one list per seed."""
        return [r for (_, s, _), r in sorted(self.results.items()) if s == surrogate]

    def to_json(self, path: str | Path | None = None) -> str:
        """JSON text of the configuration, the records and the table's rows."""
        text = json.dumps(
            {
                "host": self.host,
                "config": self.config,
                "initial_weights_sha256": {
                    str(k): v for k, v in self.initial_hashes.items()
                },
                "rows": [row.__dict__ for row in self.rows],
                "verdict": [v.as_dict() for v in self.verdicts()],
                "runs": [
                    {"surrogate": s, "seed": seed, "records": recs}
                    for (_, s, seed), recs in sorted(self.results.items())
                ],
            },
            indent=1,
            default=float,
        )
        if path is not None:
            atomic_write(path, text)  # a full disk leaves the old file whole
        return text

    def plot(self, path: str | Path) -> Path:
        """Test accuracy per epoch, mean over seeds with a ±std band (PNG)."""
        from .plots import plot_accuracy

        return plot_accuracy(self.results, Path(path))


def compare(
    *,
    model: Callable[[int], nn.Module],
    train: Iterable[Batch],
    test: Iterable[Batch],
    surrogates: Sequence[str | SurrogateSpec] | None = None,
    epochs: int = 3,
    seeds: int = 3,
    optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | None = None,
    loss: Loss | None = None,
    forward: Forward | None = None,
    device: str | torch.device = "cpu",
    out: str | Path | None = None,
    on_epoch: Callable[[str, int, dict[str, Any]], None] | None = None,
) -> Comparison:
    """Train ``model(seed)`` once per candidate surrogate and seed; compare them.

    Args:
        model: factory ``seed -> nn.Module``; must build the same weights for
            the same seed (checked).
        train, test: re-iterable sources of ``(inputs, labels)`` batches (a
            ``DataLoader``, a list).
        surrogates: candidate names or specs (``"AdaLi"``,
            ``"AdaLi:schedule=sqrt"``, ``"atan"``, ``"ATan"``); default: AdaLi
            and the host's own default surrogate.
        epochs, seeds: training epochs per run, number of seeds (0..seeds-1).
        optimizer: factory ``params -> Optimizer``; default Adam, lr 1e-3.
        loss: ``loss(logits, labels)``; default cross-entropy.
        forward: ``forward(model, batch) -> logits [B, classes]``; default
            :func:`default_forward`.
        device: where to train.
        out: a folder for per-epoch checkpoints (resume) and ``results.json``.
        on_epoch: called as ``on_epoch(label, seed, record)`` after each epoch.

    Raises:
        CompareError: a bad factory, candidate, count, device, ``out`` folder or
            data source, a candidate whose first train batch fails, or an
            ``out`` holding a comparison with another run identity; all
            raised before the first epoch trains.
    """
    _check_count("epochs", epochs)
    _check_count("seeds", seeds)
    dev = check_device(device)
    probe = _build(model, 0)
    hosts = {layer.family.host for layer in spiking_layers(probe)}
    if len(hosts) != 1:
        raise CompareError(
            "the model must hold spiking neurons of exactly one host; found "
            f"{sorted(hosts) or 'none'}"
        )
    (host,) = hosts
    specs = [_spec(s) for s in (surrogates or ["AdaLi", profile(host).default_builtin])]
    labels = [s.label for s in specs]
    twice = sorted({x for x in labels if labels.count(x) > 1})
    if twice:
        raise CompareError(f"surrogates: {', '.join(twice)} given twice")
    shown: dict[str, str] = {}
    for label in labels:
        if shown.setdefault(label[:LABEL_WIDTH], label) != label:
            raise CompareError(
                f"surrogates {shown[label[:LABEL_WIDTH]]!r} and {label!r} look the "
                f"same in the table (first {LABEL_WIDTH} characters); shorten one"
            )
    for spec in specs:
        _check_candidate(spec, host)
    for name, source in (("train", train), ("test", test)):
        if not isinstance(source, Iterable) or isinstance(source, Iterator):
            raise CompareError(
                f"{name} must be re-iterable (a DataLoader, a list of batches), "
                f"got {type(source).__name__}: it is read once per epoch"
            )
    forward = forward or default_forward
    loss = loss or nn.functional.cross_entropy
    make_opt = optimizer or (lambda params: torch.optim.Adam(params, lr=1e-3))
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        check_out_folder(out_dir)
    hashes = {0: weights_hash(probe)}
    hashes.update((seed, weights_hash(_build(model, seed))) for seed in range(1, seeds))
    opts = [
        _dry_run(model, s, host, make_opt, forward, loss, train, dev) for s in specs
    ]
    common: dict[str, Any] = {}
    if out_dir is not None:
        common = {
            "host": host,
            "epochs": epochs,
            "device": str(dev),
            "data": {"train": data_hash(train), "test": data_hash(test)},
            "optimizer": optimizer_id(opts[0]),
            "loss": callable_id(loss),
            "forward": callable_id(forward),
            "calibration_batches": CALIBRATION_BATCHES,
        }
    lock: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CompareError(f"out={out_dir}: {exc}") from None
        lock = claim_folder(out_dir)
    with lock:
        if out_dir is not None:
            for seed in range(seeds):
                for spec in specs:
                    ident = _identity(common, spec, seed, hashes[seed])
                    _check_resumable(_ckpt_path(out_dir, spec, seed), ident)
            (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        results: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        reset = profile(host).reset()  # the host's way to clear neuron state
        for seed in range(seeds):
            for spec in specs:
                net = _build(model, seed)
                initial = weights_hash(net)
                if hashes[seed] != initial:
                    raise CompareError(
                        f"model({seed}) built different initial weights for "
                        f"{spec.label!r} than before; the factory must be "
                        "deterministic given its seed"
                    )
                _use(net, spec, host)
                net.to(dev)
                opt = make_opt(net.parameters())
                results[(host, spec.label, seed)] = _train(
                    net,
                    opt,
                    spec,
                    seed,
                    epochs=epochs,
                    train=train,
                    test=test,
                    forward=forward,
                    loss=loss,
                    reset=reset,
                    device=dev,
                    ckpt=_ckpt_path(out_dir, spec, seed),
                    identity=_identity(common, spec, seed, initial),
                    on_epoch=on_epoch,
                )
        comparison = Comparison(
            host=host,
            results=results,
            initial_hashes=hashes,
            config={
                "epochs": epochs,
                "seeds": seeds,
                "surrogates": labels,
                "device": str(dev),
            },
        )
        if out_dir is not None:
            comparison.to_json(out_dir / "results.json")
    return comparison


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device``, refused unless it exists here.

    Raises:
        CompareError: an unknown device name, or CUDA / MPS not available.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise CompareError(f"device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CompareError(f"device {device}: CUDA is not available here")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise CompareError(f"device {device}: MPS (Apple GPU) is not available here")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise CompareError(f"device {device}: only cpu, cuda and mps are supported")
    return dev


def _spec(candidate: object) -> SurrogateSpec:
    if isinstance(candidate, SurrogateSpec):
        return candidate
    if not isinstance(candidate, str):
        raise CompareError(
            f"surrogates: each candidate is a name or SurrogateSpec, got "
            f"{type(candidate).__name__}"
        )
    try:
        return parse_surrogate(candidate)
    except ValueError as exc:
        raise CompareError(f"surrogates {candidate[:80]!r}: {exc}") from None


def _identity(
    common: dict[str, Any], spec: SurrogateSpec, seed: int, initial: str
) -> dict[str, Any]:
    return {
        "surrogate": spec.label,
        "seed": seed,
        "initial_weights": initial,
        **common,
    }


def _check_resumable(ckpt: Path | None, identity: dict[str, Any]) -> None:
    """Refuse a checkpoint of another run identity, naming what differs."""
    if ckpt is None or not ckpt.exists():
        return
    saved = load_checkpoint(ckpt).get("identity")
    if not isinstance(saved, dict):
        raise CompareError(f"{ckpt} is not a checkpoint of compare(); use another out=")
    differ = sorted(
        k for k in set(saved) | set(identity) if saved.get(k) != identity.get(k)
    )
    if differ:
        raise CompareError(
            f"{ckpt} belongs to another comparison (differs in {', '.join(differ)}); "
            "rerun with the same arguments to resume it, or use another out="
        )


def _dry_run(
    factory: Callable[[int], nn.Module],
    spec: SurrogateSpec,
    host: str,
    make_opt: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer],
    forward: Forward,
    loss: Loss,
    train: Iterable[Batch],
    device: torch.device,
) -> torch.optim.Optimizer:
    """One train batch through ``spec``'s model, forward, loss and backward;
    returns the optimizer built on that model (untouched)."""
    net = _build(factory, 0)
    try:
        _use(net, spec, host)
        net.to(device)
        opt = make_opt(net.parameters())
        if not isinstance(opt, torch.optim.Optimizer):
            raise CompareError(
                f"optimizer must return a torch.optim.Optimizer, got {_describe(opt)}"
            )
        with torch.random.fork_rng(devices=[]):
            batch = next(iter(train), None)
        if batch is None:
            raise CompareError("the train source yielded no batch")
        batch = _to(batch, device)
        profile(host).reset()(net)
        logits = _logits(forward(net, batch), batch)
        value = loss(logits, batch[1])
        if not (isinstance(value, torch.Tensor) and value.numel() == 1):
            raise CompareError(
                f"loss must return a one-element tensor, got {_describe(value)}"
            )
        value.backward()
        return opt
    except CompareError as exc:
        raise CompareError(f"{spec.label}: {exc}") from None
    except Exception as exc:  # the user's model, forward or loss: one line
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise CompareError(
            f"{spec.label}: the first train batch fails ({type(exc).__name__}: {first})"
        ) from None


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {list(value.shape)}"
    return type(value).__name__


def _logits(out: object, batch: Batch) -> torch.Tensor:
    """``out`` if it is ``[batch, classes]`` logits for ``batch``'s labels."""
    labels = batch[1]
    n = len(labels) if hasattr(labels, "__len__") else None
    if not (
        isinstance(out, torch.Tensor)
        and out.dim() == 2
        and (n is None or out.shape[0] == n)
    ):
        raise CompareError(
            f"forward returned {_describe(out)}; it must return logits "
            f"[batch, classes] ({n} rows here): pass forward=... (the CLI: make "
            "the model return [batch, classes] or [time, batch, classes])"
        )
    return out


def _check_count(name: str, value: object) -> None:
    top = MAX_COUNTS[name]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
        raise CompareError(f"{name} must be an int from 1 to {top}, got {value!r}")


def _build(factory: Callable[[int], nn.Module], seed: int) -> nn.Module:
    if not callable(factory):
        raise CompareError(
            f"model must be a factory seed -> nn.Module, got {type(factory).__name__}"
        )
    torch.manual_seed(seed)
    net = factory(seed)
    if not isinstance(net, nn.Module):
        raise CompareError(
            f"the model factory returned {type(net).__name__}, not an nn.Module"
        )
    return net


def _check_candidate(spec: SurrogateSpec, host: str) -> None:
    if not spec.is_adali:
        builtins = profile(host).builtins
        if spec.name not in builtins:
            raise CompareError(
                f"surrogate {spec.name!r} is not a {host} built-in compare() can "
                f"set; choose AdaLi or one of {list(builtins)}"
            )
    try:
        spec.factory(host)()  # the constructor checks the options
    except Exception as exc:  # any constructor's refusal is a user error
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise CompareError(f"surrogates {spec.label!r} on {host}: {first}") from None


def _use(net: nn.Module, spec: SurrogateSpec, host: str) -> None:
    if spec.is_adali:
        attach(net, output=spec.output, **spec.adali_params)
    else:
        make = spec.factory(host)
        replace_surrogates(net, lambda layer: make())


def _ckpt_path(out_dir: Path | None, spec: SurrogateSpec, seed: int) -> Path | None:
    if out_dir is None:
        return None
    return out_dir / "checkpoints" / f"{spec.stem}-seed{seed}.pt"


def _train(
    net: nn.Module,
    opt: torch.optim.Optimizer,
    spec: SurrogateSpec,
    seed: int,
    *,
    epochs: int,
    train: Iterable[Batch],
    test: Iterable[Batch],
    forward: Forward,
    loss: Loss,
    reset: Callable[[nn.Module], None],
    device: torch.device,
    ckpt: Path | None,
    identity: dict[str, Any],
    on_epoch: Callable[[str, int, dict[str, Any]], None] | None,
) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    if ckpt is not None and ckpt.exists():
        _check_resumable(ckpt, identity)
        state = load_checkpoint(ckpt)
        try:
            net.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            records = json.loads(state["records"])
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"{ckpt}: its state does not fit this model ({type(exc).__name__}); "
                "delete it or use another out="
            ) from None
    params = [p for p in net.parameters() if p.requires_grad]

    def watch(model: nn.Module, batch: Batch) -> torch.Tensor:
        batch = _to(batch, device)
        reset(model)
        return forward(model, batch)

    for epoch in range(len(records), epochs):
        set_epoch(net, epoch, epochs, strict=False)
        net.train()
        calibrated = {}
        if spec.calibration:
            torch.manual_seed(seed * 100_003 + epoch)  # the epoch's first batches
            found, _ = calibrate_on(
                net,
                train,
                watch,
                num_batches=CALIBRATION_BATCHES,
                mode=spec.calibration,
                coverage=float(spec.options.get("coverage", 0.9)),
                layers=_adali_layers(net),
            )
            calibrated = {k: r.as_dict() for k, r in found.items()}
        torch.manual_seed(seed * 100_003 + epoch)
        total, seen, first, last, batches = 0.0, 0, 0.0, 0.0, 0
        began = time.perf_counter()
        for batch in train:
            batch = _to(batch, device)
            reset(net)
            value = loss(_logits(forward(net, batch), batch), batch[1])
            opt.zero_grad(set_to_none=True)
            value.backward()
            first += _grad_norm(params[0])
            last += _grad_norm(params[-1])
            batches += 1
            opt.step()
            total += float(value.detach()) * len(batch[1])
            seen += len(batch[1])
        if not seen:
            raise CompareError("the train source yielded no batch")
        seconds = time.perf_counter() - began
        accuracy, density, predicted = _evaluate(net, test, forward, reset, device)
        record = {
            "epoch": epoch,
            "train_loss": total / seen,
            "test_acc": accuracy,
            "predicted": predicted,
            "train_seconds": seconds,
            "grad_norm_first_last_ratio": first / last if last > 0 else math.nan,
            "density": density,
            "calibrated": calibrated,
        }
        records.append(record)
        if ckpt is not None:
            save_checkpoint(
                ckpt,
                {
                    "identity": identity,
                    "model": net.state_dict(),
                    "optimizer": opt.state_dict(),
                    "records": json.dumps(records),
                },
            )
        if on_epoch is not None:
            on_epoch(spec.label, seed, record)
    return records


def _adali_layers(net: nn.Module) -> list[str]:
    """Paths of the spiking layers that hold AdaLi (the ones to calibrate: a
    spiking output layer may keep the host's surrogate)."""
    return [
        layer.path
        for layer in spiking_layers(net)
        if isinstance(getattr(layer.neuron, layer.family.attr, None), AdaLiState)
    ]


def _to(batch: Batch, device: torch.device) -> Batch:
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise CompareError(
            f"each batch must be (inputs, labels), got {type(batch).__name__}"
        )
    return [b.to(device) if isinstance(b, torch.Tensor) else b for b in batch]


def _grad_norm(p: nn.Parameter) -> float:
    return float(p.grad.norm()) if p.grad is not None else 0.0


def _evaluate(
    net: nn.Module,
    test: Iterable[Batch],
    forward: Forward,
    reset: Callable[[nn.Module], None],
    device: torch.device,
) -> tuple[float, dict[str, float], list[int]]:
    """Test accuracy, the density per layer on the first test batch, and how
    many test samples went to each class."""
    net.eval()
    correct = seen = classes = 0
    density: dict[str, float] = {}
    predictions = []
    with torch.no_grad():
        for i, batch in enumerate(test):
            batch = _to(batch, device)
            reset(net)
            if i == 0:
                with MembraneMonitor(net, reference="own") as mon:
                    logits = _logits(forward(net, batch), batch)
                density = {r.layer: r.density for r in mon.summary() if r.count}
            else:
                logits = _logits(forward(net, batch), batch)
            predictions.append(logits.argmax(1))
            correct += int((predictions[-1] == batch[1]).sum())
            seen += len(batch[1])
            classes = max(classes, logits.shape[1])
    net.train()
    if not seen:
        raise CompareError("the test source yielded no batch")
    counts = prediction_counts(torch.cat(predictions), classes)
    return correct / seen, density, counts
