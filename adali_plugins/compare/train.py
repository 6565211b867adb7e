"""One run of the comparison: one host, one surrogate, one seed.

Runs differ only in the surrogate. For a seed, every run builds the same
initial weights (the surrogate draws no random numbers), sees the same batches
in the same order (the permutation of epoch e comes from a generator seeded by
``(seed, e)``), the same rate-encoding draws, and the same optimizer.

After every epoch the run rewrites ``<out>/runs/<run>.jsonl`` and its checkpoint
(model, optimizer, AdaLi state, the records as JSON text) atomically, through
:mod:`..checkpoint` and :mod:`..fileio`; a rerun resumes after the last finished
epoch and yields the same numbers. A checkpoint resumes only the identical
:class:`RunConfig` (data folder and subset limits included); any difference is
refused with the differing fields named.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..attach import attach, spiking_layers
from ..callback import calibrate_on
from ..checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
)
from ..epochs import AdaLiScheduler
from ..fileio import atomic_write
from ..monitor import MembraneMonitor
from ..state import AdaLiState
from . import baselines
from .architectures import build_arch
from .classes import prediction_counts
from .data.datasets import Dataset
from .diagnostics import GradientHealth
from .hosts import profile
from .models import conv_net, mlp_net
from .recipes import RECIPES, recipe_loss
from .spec import HOST_DEFAULT, SurrogateSpec, parse_surrogate, run_stem


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run (and must match to resume it).

    ``data_dir``, ``train_limit`` and ``test_limit`` say which examples the run
    trains and is scored on, so they are part of its identity too.
    ``adali_output`` is documented below.

    Attributes:
        host: ``"snntorch"`` or ``"spikingjelly"``.
        dataset: A name in ``compare.data.LOADERS``.
        surrogate: A surrogate spec (``"AdaLi:p=1"``, ``"atan"``).
        seed: Seeds the weights, the data order and the encoding.
        epochs: Training epochs.
        time_steps: T, the simulation steps per sample.
        batch_size: Training batch size.
        lr: Learning rate.
        encoding: ``"direct"`` or ``"rate"`` input coding.
        channels: Channels of the reference conv net's two layers.
        calibration_batches: Batches watched by ``calibrate=`` runs.
        probe_size: Test samples the per-epoch membrane statistics are
            measured on.
        device: Where to train (``"cpu"``, ``"cuda"``).
        data_dir: Folder of on-disk datasets.
        train_limit: Training examples kept (None: all).
        test_limit: Test examples kept (None: all).
        recipe: ``"host"`` or ``"paper"`` (``compare.recipes``).
        arch: A name in ``compare.architectures.ARCHS``.
        width: Channel multiplier of the paper architectures.
        loss: ``"ce"`` or ``"mix"`` (paper recipe).
        mix_lambda: The MSE weight of the ``mix`` loss.
        amp: ``"none"`` or ``"bf16"`` autocast.
    """

    host: str
    dataset: str
    surrogate: str
    seed: int
    epochs: int
    time_steps: int
    batch_size: int
    lr: float
    encoding: str
    channels: tuple[int, int]
    calibration_batches: int = 4
    probe_size: int = 256
    device: str = "cpu"
    data_dir: str | None = None
    train_limit: int | None = None
    test_limit: int | None = None
    recipe: str = "host"
    arch: str = "ref"
    width: float = 1.0
    loss: str = "ce"
    mix_lambda: float = 0.05
    amp: str = "none"
    adali_output: str | None = None
    """Where AdaLi sits on a spiking output layer under the host recipe
    (``host``: the output layer keeps the host's default surrogate, as
    ``attach(model)`` does; ``adali``: every layer). Derived from the surrogate
    spec; None for other surrogates and under the paper recipe (whose head does
    not spike). Saved runs from before it existed lack it, so an old ``AdaLi``
    checkpoint (every layer) is refused rather than resumed as the new default."""

    def __post_init__(self) -> None:
        if self.adali_output is None and self.recipe == "host":
            output = parse_surrogate(self.surrogate).output
            object.__setattr__(self, "adali_output", output)

    @property
    def name(self) -> str:
        """The run's file stem: path-safe, and distinct for distinct labels."""
        return f"{self.host}-{run_stem(self.surrogate)}-seed{self.seed}"

    @property
    def legacy_name(self) -> str:
        """The stem releases before the injective one gave this run."""
        safe = self.surrogate.replace(":", "_").replace(",", "_").replace("=", "-")
        return f"{self.host}-{safe}-seed{self.seed}"


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists, to compare a saved config with a new one."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


RUN_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(RunConfig) if f.default is not MISSING
}
"""Defaults of the fields added after a release (recipe, arch, ...): a saved
configuration without one of them means its default."""


def config_differences(
    saved: Any, current: dict[str, Any], defaults: dict[str, Any] | None = None
) -> list[str]:
    """Names of the fields in which ``saved`` and ``current`` differ (sorted).

    A field missing from ``saved`` counts as its value in ``defaults``, so runs
    saved before a field existed still resume.
    """
    if not isinstance(saved, dict):
        return ["<all: the saved configuration is not a mapping>"]
    defaults = defaults or {}
    keys = set(saved) | set(current)
    return sorted(
        str(k)
        for k in keys
        if _plain(saved.get(k, defaults.get(k))) != _plain(current.get(k))
    )


def run_paths(cfg: RunConfig, out_dir: Path) -> tuple[Path, Path]:
    """``(records .jsonl, checkpoint)`` of ``cfg`` in ``out_dir``.

    A run saved under its older, ambiguous stem (``legacy_name``) keeps it, but
    only when no file has the new stem and that checkpoint's configuration
    names this very surrogate; otherwise the new stem is used.
    """
    runs, ckpts = out_dir / "runs", out_dir / "checkpoints"
    new = ckpts / f"{cfg.name}.pt"
    old = ckpts / f"{cfg.legacy_name}.pt"
    if cfg.legacy_name != cfg.name and not new.exists() and old.is_file():
        try:
            saved = load_checkpoint(old).get("config")
        except CheckpointError:
            saved = None
        if isinstance(saved, dict) and saved.get("surrogate") == cfg.surrogate:
            return runs / f"{cfg.legacy_name}.jsonl", old
    return runs / f"{cfg.name}.jsonl", new


def check_resumable(cfg: RunConfig, out_dir: Path) -> None:
    """Refuse now, before any run trains, if ``cfg``'s checkpoint in ``out_dir``
    is damaged, foreign, or of another configuration (no-op if there is none)."""
    _, ckpt = run_paths(cfg, out_dir)
    if ckpt.exists():
        _resume_state(ckpt, cfg)


def _resume_state(ckpt: Path, cfg: RunConfig) -> dict[str, Any]:
    """The checkpoint's state, checked to belong to ``cfg`` before anything loads."""
    state = load_checkpoint(ckpt)
    missing = {"config", "model", "optimizer", "records"} - set(state)
    if missing:
        raise CheckpointError(
            f"{ckpt}: not a checkpoint of adali-compare (no {sorted(missing)}); "
            "delete it or use another --out"
        )
    differ = config_differences(state["config"], asdict(cfg), RUN_DEFAULTS)
    if differ:
        raise CheckpointError(
            f"{ckpt} belongs to a different configuration (differs in "
            f"{', '.join(differ)}); use another --out or the same flags"
        )
    try:
        records = json.loads(state["records"])
        if not isinstance(records, list) or len(records) > cfg.epochs:
            raise ValueError("not a list of at most --epochs records")
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{ckpt}: damaged epoch records ({exc}); delete it or use another --out"
        ) from None
    state["records"] = records
    return state


def _epoch_order(cfg: RunConfig, epoch: int, n: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    return torch.randperm(n, generator=gen)


def _batches(
    cfg: RunConfig, data: Dataset, epoch: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Epoch ``epoch``'s batches, encoded lazily; the same sequence on every call."""
    order = _epoch_order(cfg, epoch, len(data.y_train))
    gen = torch.Generator().manual_seed(cfg.seed * 7_919 + epoch)
    for idx in order.split(cfg.batch_size):
        x = data.encode(
            data.x_train[idx],
            time_steps=cfg.time_steps,
            encoding=cfg.encoding,
            generator=gen,
        )
        yield x.to(cfg.device), data.y_train[idx].to(cfg.device)


def _evaluate(
    model: nn.Module, cfg: RunConfig, data: Dataset
) -> tuple[float, list[int]]:
    """Test accuracy, and how many test samples went to each class."""
    model.eval()
    gen = torch.Generator().manual_seed(cfg.seed)
    predictions = []
    with torch.no_grad():
        for idx in torch.arange(len(data.y_test)).split(256):
            x = data.encode(
                data.x_test[idx],
                time_steps=cfg.time_steps,
                encoding=cfg.encoding,
                generator=gen,
            )
            predictions.append(model(x.to(cfg.device)).sum(0).argmax(1).cpu())
    model.train()
    predicted = torch.cat(predictions)
    correct = int((predicted == data.y_test).sum())
    return correct / len(predicted), prediction_counts(predicted, data.classes)


def _probe(model: nn.Module, cfg: RunConfig, data: Dataset) -> dict[str, Any]:
    """Membrane statistics on a fixed slice of the test set, in eval mode."""
    model.eval()
    gen = torch.Generator().manual_seed(cfg.seed)
    x = data.encode(
        data.x_test[: cfg.probe_size],
        time_steps=cfg.time_steps,
        encoding=cfg.encoding,
        generator=gen,
    )
    with (
        torch.no_grad(),
        MembraneMonitor(model, time_steps=cfg.time_steps, reference="own") as mon,
    ):
        model(x.to(cfg.device))
    model.train()
    summary = mon.summary()
    heights = {}
    for path in mon.layers:
        surrogate = mon.surrogate_of(path)
        if isinstance(surrogate, AdaLiState):
            w = surrogate.current_window()
            heights[path] = [w.h_lo, w.h_hi]
    return {
        "heights": heights,
        "firing_rate": {
            r.layer: r.share["inside_above"] + r.share["outside_above"] for r in summary
        },
        "density": {r.layer: r.in_window for r in summary},
        "window": {r.layer: [r.window_left, r.window_right] for r in summary},
        "membrane": [r.flat() for r in summary],
        "histograms": {p: mon.state(p)["hist"].tolist() for p in mon.layers},
    }


def build_model(cfg: RunConfig, data: Dataset, spec: SurrogateSpec) -> nn.Module:
    """The run's SNN, with weights fixed by the seed.

    Under the host recipe with ``arch="ref"`` this is the reference net (conv
    net for images and frames, MLP for sequences); otherwise the architecture of
    ``compare.architectures`` built from the host's neuron of the recipe.
    """
    torch.manual_seed(cfg.seed)
    keep_output = spec.is_adali and cfg.adali_output == "host"
    # Under the host recipe the AdaLi row is what attach(model) gives a net
    # built with the host's default surrogate: AdaLi on the hidden spiking
    # layers, the spiking output layer left on the host default.
    build_spec = SurrogateSpec(HOST_DEFAULT[cfg.host]) if keep_output else spec
    model = _network(cfg, data, build_spec.factory(cfg.host))
    if keep_output:
        attach(model, output="host", **spec.adali_params)
    return model.to(cfg.device)


def _network(cfg: RunConfig, data: Dataset, factory: Callable[[], Any]) -> nn.Module:
    """The net of ``build_model``, every spiking layer built by ``factory``."""
    if cfg.recipe == "host" and cfg.arch == "ref":
        if data.sequence:
            features = data.size // cfg.time_steps
            return mlp_net(
                cfg.host,
                factory,
                in_features=data.channels * features,
                classes=data.classes,
            )
        return conv_net(
            cfg.host,
            factory,
            in_channels=data.channels,
            size=data.size,
            channels=cfg.channels,
            classes=data.classes,
        )
    if data.sequence:
        raise ValueError(
            f"--recipe {cfg.recipe} --arch {cfg.arch} needs images or frames; "
            f"{data.name} is a 1-D sequence (use --recipe host --arch ref)"
        )
    host, recipe = profile(cfg.host), RECIPES[cfg.recipe]
    return build_arch(
        cfg.arch,
        lambda: host.neuron(recipe.neuron, factory()),
        host.reset(),
        in_channels=data.channels,
        size=data.size,
        classes=data.classes,
        width=cfg.width,
        spiking_output=recipe.spiking_output,
    )


def _forward(
    model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    return model(batch[0])


def _autocast(cfg: RunConfig) -> Any:
    """bf16 autocast of the forward and loss when ``cfg.amp == "bf16"``."""
    device = torch.device(cfg.device).type
    return torch.autocast(device, dtype=torch.bfloat16, enabled=cfg.amp == "bf16")


def run(
    cfg: RunConfig,
    data: Dataset,
    out_dir: Path,
    *,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train one run to ``cfg.epochs`` (resuming if a checkpoint exists).

    Args:
        cfg: The run's configuration (its identity for resuming).
        data: The dataset, as ``compare.data.load_dataset`` returns it.
        out_dir: Folder for the run's ``runs/`` log and ``checkpoints/``.
        on_epoch: Called with each epoch's record once it is saved.

    Returns:
        The epoch records of the run, resumed ones included.
    """
    spec = parse_surrogate(cfg.surrogate)
    runs, ckpts = out_dir / "runs", out_dir / "checkpoints"
    runs.mkdir(parents=True, exist_ok=True)
    ckpts.mkdir(parents=True, exist_ok=True)
    log, ckpt = run_paths(cfg, out_dir)
    model = build_model(cfg, data, spec)
    recipe = RECIPES[cfg.recipe]
    opt = recipe.make_optimizer(model.parameters(), cfg.lr)
    lr_schedule = recipe.make_schedule(opt, cfg.epochs)
    records: list[dict[str, Any]] = []
    start = 0
    if ckpt.exists():
        state = _resume_state(ckpt, cfg)
        try:
            load_model_state(model, state["model"])
            opt.load_state_dict(state["optimizer"])
            if lr_schedule is not None:
                lr_schedule.load_state_dict(state["lr_schedule"])
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"{ckpt}: its model or optimizer state does not fit this run "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                "delete it or use another --out"
            ) from None
        records = state["records"]
        start = len(records)
    scheduler = (
        AdaLiScheduler(model, cfg.epochs, last_epoch=start - 1)
        if spec.is_adali
        else None
    )
    health = GradientHealth(
        model, cfg.time_steps, multi_step=profile(cfg.host).multi_step
    )
    for epoch in range(start, cfg.epochs):
        calibrated = {}
        if spec.calibration:
            results, _ = calibrate_on(
                model,
                _batches(cfg, data, epoch),
                _forward,
                num_batches=cfg.calibration_batches,
                mode=spec.calibration,
                coverage=float(spec.options.get("coverage", 0.9)),
                # only the AdaLi layers: the output layer may keep the host's
                layers=[
                    layer.path
                    for layer in spiking_layers(model)
                    if isinstance(getattr(layer.neuron, layer.family.attr), AdaLiState)
                ],
            )
            calibrated = {k: r.as_dict() for k, r in results.items()}
        adapted = {}
        if spec.is_baseline:
            adapted = baselines.adapt(
                model,
                epoch=epoch,
                total_epochs=cfg.epochs,
                batches=_batches(cfg, data, epoch),
                forward=_forward,
                num_batches=cfg.calibration_batches,
            )
        health.reset()
        total, seen = 0.0, 0
        began = time.perf_counter()
        lr = opt.param_groups[0]["lr"]
        for x, y in _batches(cfg, data, epoch):
            with _autocast(cfg):
                loss = recipe_loss(
                    recipe.logits(model(x)),
                    y,
                    loss=cfg.loss,
                    mix_lambda=cfg.mix_lambda,
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            health.after_backward()
            opt.step()
            total += float(loss.detach()) * len(y)
            seen += len(y)
        seconds = time.perf_counter() - began
        accuracy, predicted = _evaluate(model, cfg, data)
        record = {
            "epoch": epoch,
            "train_loss": total / seen,
            "test_acc": accuracy,
            "predicted": predicted,
            "train_seconds": seconds,
            "lr": lr,
            **health.epoch_record(),
            **_probe(model, cfg, data),
            "calibrated": calibrated,
            "adapted": adapted,
        }
        records.append(record)
        if scheduler is not None:
            scheduler.step()
        if lr_schedule is not None:
            lr_schedule.step()
        save_checkpoint(
            ckpt,
            {
                "config": asdict(cfg),
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "records": json.dumps(records),
                **(
                    {}
                    if lr_schedule is None
                    else {"lr_schedule": lr_schedule.state_dict()}
                ),
            },
        )
        atomic_write(log, "".join(json.dumps(r) + "\n" for r in records))
        if on_epoch is not None:
            on_epoch(record)
    health.remove()
    return records
