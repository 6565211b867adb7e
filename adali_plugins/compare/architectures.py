"""The authors' architectures, built from either host's neurons.

Layouts and initialisation follow the authors' released code (``paran-ia/AdaLi``:
``models/resnet_cifar.py``, ``models/vgg.py``), written here in our own code:

* ``resnet18``: CIFAR-style spiking ResNet-18. A conv3x3-BN-neuron stem, four
  stages of two BasicBlocks (conv-BN-neuron-conv-BN, plus the shortcut, then a
  neuron after the add) with 64, 128, 256, 512 channels and strides 1, 2, 2, 2,
  a 1x1 conv-BN shortcut where the shape changes, global average pooling and a
  linear head.
* ``vgg11``: VGG-11 with BN: blocks [64], [128], [256, 256], [512, 512],
  [512, 512] of conv3x3(bias)-BN-neuron, each block followed by a 2x2 average
  pool, then adaptive average pooling to 7x7 and a linear head. Our change: the
  pools use ``ceil_mode`` so that 28x28 images (28, 14, 7, 4, 2, 1) survive five
  of them; on 32x32 images this is the same as the authors' pools.
* ``ref``: the harness's reference conv net (conv-BN-neuron-maxpool twice,
  linear head), to run the paper recipe on the small net too.

``width`` scales every channel count (ours, so the nets fit a CPU). The input is
time-major ``(T, B, C, H, W)``; convolutions, BN and pools run on the ``T * B``
samples folded together, like SpikingJelly's multi-step layers, and neurons run
over the time axis. The head is a plain linear layer (the authors' non-spiking
readout) unless ``spiking_output`` adds a neuron after it (the host recipe).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

NeuronFactory = Callable[[], nn.Module]
"""Builds one multi-step spiking layer: ``(T, B, ...) -> (T, B, ...)`` spikes."""


class StepOverTime(nn.Module):
    """Runs a single-step neuron (snnTorch's) over the leading time axis.

    Each call starts the neuron from rest through its own ``reset_mem()``:
    snnTorch's ``utils.reset`` only looks at a net's direct children.
    """

    def __init__(self, neuron: nn.Module) -> None:
        super().__init__()
        self.neuron = neuron

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.neuron.reset_mem()  # type: ignore[operator]
        return torch.stack([self.neuron(x_t) for x_t in x])


class Folded(nn.Module):
    """Applies a stateless layer to ``(T, B, ...)`` as one batch of ``T * B``."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x.flatten(0, 1)).unflatten(0, x.shape[:2])


def _conv_bn(c_in: int, c_out: int, stride: int = 1, kernel: int = 3) -> nn.Module:
    return Folded(
        nn.Sequential(
            nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )
    )


class BasicBlock(nn.Module):
    """conv-BN-neuron-conv-BN, plus the shortcut, then a neuron after the add."""

    def __init__(
        self, c_in: int, c_out: int, stride: int, neuron: NeuronFactory
    ) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            _conv_bn(c_in, c_out, stride), neuron(), _conv_bn(c_out, c_out)
        )
        self.shortcut = (
            _conv_bn(c_in, c_out, stride, kernel=1)
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )
        self.fire = neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fire(self.branch(x) + self.shortcut(x))


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


def resnet18_body(
    in_channels: int, width: float, neuron: NeuronFactory, size: int
) -> tuple[nn.Module, int]:
    """The ResNet-18 trunk up to global pooling, and its feature count (global
    pooling makes it independent of the image ``size``)."""
    stages = [_scaled(c, width) for c in (64, 128, 256, 512)]
    layers: list[nn.Module] = [_conv_bn(in_channels, stages[0]), neuron()]
    c_in = stages[0]
    for i, c_out in enumerate(stages):
        stride = 1 if i == 0 else 2
        layers += [
            BasicBlock(c_in, c_out, stride, neuron),
            BasicBlock(c_out, c_out, 1, neuron),
        ]
        c_in = c_out
    layers.append(Folded(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())))
    return nn.Sequential(*layers), c_in


VGG11 = ((64,), (128,), (256, 256), (512, 512), (512, 512))


def vgg11_body(
    in_channels: int, width: float, neuron: NeuronFactory, size: int
) -> tuple[nn.Module, int]:
    """VGG-11-BN up to the 7x7 pooling and flatten, and its feature count (the
    adaptive pooling makes it independent of the image ``size``)."""
    layers: list[nn.Module] = []
    c_in = in_channels
    for block in VGG11:
        for channels in block:
            c_out = _scaled(channels, width)
            conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=True)
            layers += [Folded(nn.Sequential(conv, nn.BatchNorm2d(c_out))), neuron()]
            c_in = c_out
        layers.append(Folded(nn.AvgPool2d(2, 2, ceil_mode=True)))
    layers.append(Folded(nn.Sequential(nn.AdaptiveAvgPool2d(7), nn.Flatten())))
    return nn.Sequential(*layers), c_in * 49


def ref_body(
    in_channels: int, width: float, neuron: NeuronFactory, size: int
) -> tuple[nn.Module, int]:
    """The reference net's two conv-BN-neuron-maxpool blocks, and its features."""
    c1, c2 = _scaled(16, width), _scaled(32, width)
    layers = [
        _conv_bn(in_channels, c1),
        neuron(),
        Folded(nn.MaxPool2d(2)),
        _conv_bn(c1, c2),
        neuron(),
        Folded(nn.Sequential(nn.MaxPool2d(2), nn.Flatten())),
    ]
    return nn.Sequential(*layers), c2 * (size // 4) ** 2


BODIES: dict[str, Callable[[int, float, NeuronFactory, int], tuple[nn.Module, int]]]
BODIES = {"ref": ref_body, "resnet18": resnet18_body, "vgg11": vgg11_body}
"""``--arch`` name -> trunk builder ``(in_channels, width, neuron, size)``."""

ARCHS = tuple(BODIES)
"""Architectures ``--arch`` accepts; ``ref`` under the host recipe is the
reference net of ``models.py`` itself."""


class SpikingNet(nn.Module):
    """A trunk, a linear head over time, optionally a spiking output layer.

    ``reset`` is the host's function clearing neuron state; it runs at the start
    of every forward so that each batch starts from rest.
    """

    def __init__(
        self,
        body: nn.Module,
        features: int,
        classes: int,
        reset: Callable[[nn.Module], None],
        output_neuron: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.body = body
        self.head = nn.Linear(features, classes)
        self.out = output_neuron
        self._reset = reset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._reset(self)
        y = self.head(self.body(x))
        return y if self.out is None else self.out(y)


def _init_like_authors(model: nn.Module, arch: str) -> None:
    """The authors' initialisation: ResNet convs N(0, sqrt(2 / (k*k*out))) and
    linear N(0, 1 / in); VGG convs Kaiming (fan_out, relu), linear N(0, 0.01);
    BN weight 1, bias 0; biases 0."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            if arch == "vgg11":
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            else:
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            std = 0.01 if arch == "vgg11" else 1.0 / m.weight.shape[1]
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)


def build_arch(
    arch: str,
    neuron: NeuronFactory,
    reset: Callable[[nn.Module], None],
    *,
    in_channels: int,
    size: int,
    classes: int,
    width: float = 1.0,
    spiking_output: bool = False,
) -> nn.Module:
    """``arch`` (one of :data:`ARCHS`) built from ``neuron()`` layers."""
    if arch not in BODIES:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    body, features = BODIES[arch](in_channels, width, neuron, size)
    net = SpikingNet(
        body, features, classes, reset, neuron() if spiking_output else None
    )
    if arch != "ref":
        _init_like_authors(net, arch)
    return net


__all__ = [
    "ARCHS",
    "BODIES",
    "BasicBlock",
    "Folded",
    "SpikingNet",
    "StepOverTime",
    "build_arch",
]
