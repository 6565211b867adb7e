"""Gradient health during training: norms by depth and by time step.

* by depth: the norm of each conv/linear weight gradient, in network order, so a
  falling first/last ratio shows vanishing gradients toward the input;
* by time step: the norm of the loss gradient with respect to each spiking
  layer's output spikes at every step t, which shows whether early steps still
  receive gradient through time.

Both are averaged over the batches of an epoch. Hooks are removed by ``remove()``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..attach import spiking_layers


class GradientHealth:
    """Collects gradient norms by depth and by time step for one model."""

    def __init__(self, model: nn.Module, time_steps: int, *, multi_step: bool) -> None:
        self.model = model
        self.time_steps = time_steps
        self.per_call = time_steps if multi_step else 1
        self.weights = [
            (name, m)
            for name, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Conv1d, nn.Linear))
        ]
        self.spiking = [layer.path for layer in spiking_layers(model)]
        self._calls = dict.fromkeys(self.spiking, 0)
        self._handles = [model.register_forward_pre_hook(self._new_forward)]
        for layer in spiking_layers(model):
            self._handles.append(
                layer.neuron.register_forward_hook(self._hook(layer.path))
            )
        self.reset()

    def reset(self) -> None:
        """Start a new averaging period (an epoch)."""
        self.batches = 0
        self.depth = torch.zeros(len(self.weights), dtype=torch.float64)
        self.by_step = {
            p: torch.zeros(self.time_steps, dtype=torch.float64) for p in self.spiking
        }

    def _new_forward(self, module: nn.Module, args: Any) -> None:
        for path in self._calls:
            self._calls[path] = 0

    def _hook(self, path: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            spikes = output[0] if isinstance(output, tuple) else output
            if not (torch.is_tensor(spikes) and spikes.requires_grad):
                return
            start, per_call = self._calls[path], self.per_call
            self._calls[path] += per_call

            def record(
                grad: torch.Tensor, start: int = start, per_call: int = per_call
            ) -> None:
                g = grad.detach().double()
                norms = (
                    g.reshape(per_call, -1).norm(dim=1)
                    if per_call > 1
                    else g.norm().view(1)
                )
                end = min(start + per_call, self.time_steps)
                if start < end:
                    self.by_step[path][start:end] += norms[: end - start].cpu()

            spikes.register_hook(record)

        return hook

    def after_backward(self) -> None:
        """Record weight-gradient norms; call after ``loss.backward()``."""
        for i, (_, module) in enumerate(self.weights):
            if module.weight.grad is not None:
                self.depth[i] += float(module.weight.grad.detach().double().norm())
        self.batches += 1

    def epoch_record(self) -> dict[str, Any]:
        """Per-epoch means: by depth (list) and by time step (layer -> list)."""
        n = max(self.batches, 1)
        depth = (self.depth / n).tolist()
        ratio = depth[0] / depth[-1] if depth and depth[-1] > 0 else float("nan")
        return {
            "grad_norm_by_layer": dict(
                zip([name for name, _ in self.weights], depth, strict=True)
            ),
            "grad_norm_first_last_ratio": ratio,
            "grad_norm_by_step": {p: (v / n).tolist() for p, v in self.by_step.items()},
        }

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
