"""``compare()``: AdaLi beside the host built-ins on the user's own model and data.

For every candidate surrogate and seed the model comes fresh from the user's
factory (the global RNG seeded first, so the same seed gives the same initial
weights; checked by hash across candidates), every spiking layer gets the
candidate (AdaLi through ``attach``, a host built-in through
``replace_surrogates``), and each epoch sees the batches in the same order (the
global RNG is seeded per seed and epoch before the loader is iterated, which is
what a shuffling ``DataLoader`` draws from). AdaLi's window follows
``set_epoch``. With ``out=`` every epoch is checkpointed and an interrupted
comparison resumes from the last finished epoch of each candidate.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..attach import attach, replace_surrogates, spiking_layers
from ..checkpoint import load_checkpoint, save_checkpoint
from ..epochs import set_epoch
from ..monitor import MembraneMonitor
from .classes import format_never_predicted, never_predicted, prediction_counts
from .hosts import profile
from .report import Row, aggregate, format_table
from .spec import HARNESS_OPTIONS, SurrogateSpec, parse_surrogate
from .verdict import Verdict, format_verdicts, verdicts

Batch = Any
Forward = Callable[[nn.Module, Batch], torch.Tensor]
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class CompareError(ValueError):
    """The model factory, data or candidate list cannot be compared as given."""


def default_forward(model: nn.Module, batch: Batch) -> torch.Tensor:
    """Logits ``[B, classes]`` for the two common shapes of a host network.

    Calls ``model(batch[0])``; a tuple output (snnTorch's ``spk_rec, mem_rec``)
    contributes its first element; a time-major ``[T, B, classes]`` output
    (an snnTorch net stepped over time, a SpikingJelly net in multi-step mode)
    is averaged over T. Pass your own ``forward(model, batch)`` otherwise.
    """
    out = model(batch[0])
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise CompareError(
            f"the model returned {type(out).__name__}; pass forward=... that "
            "returns logits [batch, classes]"
        )
    return out.mean(0) if out.dim() == 3 else out


def weights_hash(model: nn.Module) -> str:
    """SHA-256 of every parameter and buffer, in ``state_dict`` order."""
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        if isinstance(value, torch.Tensor):
            digest.update(key.encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@dataclass
class Comparison:
    """What ``compare()`` measured: per-epoch records of every (candidate, seed)."""

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
            Path(path).write_text(text)
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
        CompareError: a bad factory, candidate, count or data source.
    """
    _check_count("epochs", epochs)
    _check_count("seeds", seeds)
    probe = _build(model, 0)
    hosts = {layer.family.host for layer in spiking_layers(probe)}
    if len(hosts) != 1:
        raise CompareError(
            "the model must hold spiking neurons of exactly one host; found "
            f"{sorted(hosts) or 'none'}"
        )
    (host,) = hosts
    specs = [
        s if isinstance(s, SurrogateSpec) else parse_surrogate(s)
        for s in (surrogates or ["AdaLi", profile(host).default_builtin])
    ]
    for spec in specs:
        _check_candidate(spec, host)
    forward = forward or default_forward
    loss = loss or nn.functional.cross_entropy
    make_opt = optimizer or (lambda params: torch.optim.Adam(params, lr=1e-3))
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    results: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    hashes: dict[int, str] = {}
    reset = profile(host).reset()  # the host's way to clear neuron state
    for seed in range(seeds):
        for spec in specs:
            net = _build(model, seed)
            initial = weights_hash(net)
            if hashes.setdefault(seed, initial) != initial:
                raise CompareError(
                    f"model({seed}) built different initial weights for "
                    f"{spec.label!r} than for the first candidate; the factory "
                    "must be deterministic given its seed"
                )
            _use(net, spec, host)
            net.to(device)
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
                device=torch.device(device),
                ckpt=_ckpt_path(out_dir, spec, seed),
                identity={
                    "surrogate": spec.label,
                    "seed": seed,
                    "epochs": epochs,
                    "initial_weights": initial,
                },
                on_epoch=on_epoch,
            )
    comparison = Comparison(
        host=host,
        results=results,
        initial_hashes=hashes,
        config={
            "epochs": epochs,
            "seeds": seeds,
            "surrogates": [s.label for s in specs],
            "device": str(device),
        },
    )
    if out_dir is not None:
        comparison.to_json(out_dir / "results.json")
    return comparison


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CompareError(f"{name} must be an int >= 1, got {value!r}")


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
    if spec.is_adali:
        spec.factory(host)()  # validates the options
        return
    builtins = profile(host).builtins
    if spec.name not in builtins:
        raise CompareError(
            f"surrogate {spec.name!r} is not a {host} built-in compare() can set; "
            f"choose AdaLi or one of {list(builtins)}"
        )
    spec.factory(host)()


def _use(net: nn.Module, spec: SurrogateSpec, host: str) -> None:
    if spec.is_adali:
        params = {k: v for k, v in spec.options.items() if k not in HARNESS_OPTIONS}
        attach(net, **params)
    else:
        make = spec.factory(host)
        replace_surrogates(net, lambda layer: make())


def _ckpt_path(out_dir: Path | None, spec: SurrogateSpec, seed: int) -> Path | None:
    if out_dir is None:
        return None
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in spec.label)
    return out_dir / "checkpoints" / f"{safe}-seed{seed}.pt"


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
        state = load_checkpoint(ckpt)
        if state.get("identity") != identity:
            raise CompareError(
                f"{ckpt} belongs to another comparison ({state.get('identity')}); "
                "use another out= folder"
            )
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        records = json.loads(state["records"])
    params = [p for p in net.parameters() if p.requires_grad]
    for epoch in range(len(records), epochs):
        set_epoch(net, epoch, epochs, strict=False)
        torch.manual_seed(seed * 100_003 + epoch)
        net.train()
        total, seen, first, last, batches = 0.0, 0, 0.0, 0.0, 0
        began = time.perf_counter()
        for batch in train:
            batch = _to(batch, device)
            reset(net)
            value = loss(forward(net, batch), batch[1])
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
                    logits = forward(net, batch)
                density = {r.layer: r.density for r in mon.summary() if r.count}
            else:
                logits = forward(net, batch)
            predictions.append(logits.argmax(1))
            correct += int((predictions[-1] == batch[1]).sum())
            seen += len(batch[1])
            classes = max(classes, logits.shape[1])
    net.train()
    if not seen:
        raise CompareError("the test source yielded no batch")
    counts = prediction_counts(torch.cat(predictions), classes)
    return correct / seen, density, counts
