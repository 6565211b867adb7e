"""What a training step of the paper recipe costs, and the GPU time it implies.

    python -m adali_plugins.compare.cost --arch resnet18 --widths 0.125 0.25

For each width it builds the architecture on the host with AdaLi, counts the
floating-point operations of one forward + backward with torch's
``FlopCounterMode`` (convolutions and matrix products; the neurons' elementwise
work is not counted), and times whole SGD steps on this machine (median of
``--steps`` after one warm-up). Convolution FLOPs grow with the square of the
width, so the count at full width is extrapolated from the widest measured one
by ``(1 / width)^2``. Dividing an epoch's FLOPs by an assumed sustained
throughput (``--gpu-tflops``) gives the GPU time per epoch: an estimate, not a
measurement, since no GPU was available where this was written.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from .architectures import ARCHS, build_arch
from .hosts import PROFILES, profile
from .recipes import RECIPES


def _model(
    host: str, arch: str, width: float, size: int, channels: int
) -> torch.nn.Module:
    """``arch`` with AdaLi in the paper recipe's neurons, weights from seed 0."""
    prof = profile(host)
    adali = prof.adali()
    kind = RECIPES["paper"].neuron
    torch.manual_seed(0)
    return build_arch(
        arch,
        lambda: prof.neuron(kind, adali()),
        prof.reset(),
        in_channels=channels,
        size=size,
        classes=10,
        width=width,
    )


def step_cost(
    host: str,
    arch: str,
    width: float,
    *,
    batch: int = 128,
    time_steps: int = 4,
    size: int = 28,
    channels: int = 1,
    steps: int = 3,
) -> dict[str, float]:
    """FLOPs per sample (forward + backward) and median seconds per SGD step."""
    model = _model(host, arch, width, size, channels)
    recipe = RECIPES["paper"]
    opt = recipe.make_optimizer(model.parameters())
    x = torch.rand(time_steps, batch, channels, size, size)
    y = torch.randint(0, 10, (batch,))

    def one_step() -> None:
        loss = torch.nn.functional.cross_entropy(recipe.logits(model(x)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    counter = FlopCounterMode(display=False)
    with counter:
        loss = torch.nn.functional.cross_entropy(recipe.logits(model(x)), y)
        loss.backward()
    flops = counter.get_total_flops() / batch
    one_step()
    times = []
    for _ in range(steps):
        began = time.perf_counter()
        one_step()
        times.append(time.perf_counter() - began)
    return {"flops_per_sample": flops, "seconds_per_step": statistics.median(times)}


def main(argv: list[str] | None = None) -> None:
    """Print FLOPs, CPU seconds per step, and the implied GPU time."""
    p = argparse.ArgumentParser(prog="python -m adali_plugins.compare.cost")
    p.add_argument("--host", choices=tuple(PROFILES), default="spikingjelly")
    p.add_argument("--arch", choices=ARCHS, default="resnet18")
    p.add_argument("--widths", type=float, nargs="+", default=[0.125, 0.25])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--time-steps", type=int, default=4)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--train-samples", type=int, default=60_000)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument(
        "--gpu-tflops",
        type=float,
        nargs="+",
        default=[10.0, 40.0],
        help="assumed sustained throughputs (TFLOP/s) for the GPU estimate "
        "(default 10 and 40: a range for a small-batch conv SNN on one modern "
        "data-centre GPU in bf16; an assumption, not a measurement)",
    )
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for width in args.widths:
        cost = step_cost(
            args.host,
            args.arch,
            width,
            batch=args.batch,
            time_steps=args.time_steps,
            size=args.size,
            channels=args.channels,
            steps=args.steps,
        )
        rows.append((width, cost))
        print(
            f"{args.host} {args.arch} width {width:g}: "
            f"{cost['flops_per_sample'] / 1e9:.3f} GFLOP per sample (fwd+bwd, "
            f"T={args.time_steps}), {cost['seconds_per_step']:.2f} s per step of "
            f"{args.batch} on {torch.get_num_threads()} CPU thread(s)"
        )
    width, widest = max(rows, key=lambda r: r[0])
    full = widest["flops_per_sample"] / width**2
    epoch = full * args.train_samples
    print(
        f"full width (extrapolated from x{width:g}): {full / 1e9:.2f} GFLOP per "
        f"sample; {epoch / 1e15:.2f} PFLOP per epoch of {args.train_samples} samples"
    )
    for tflops in args.gpu_tflops:
        seconds = epoch / (tflops * 1e12)
        print(
            f"  at a sustained {tflops:g} TFLOP/s: {seconds:.0f} s per epoch, "
            f"{seconds * args.epochs / 3600:.1f} h for {args.epochs} epochs "
            "(estimate; not measured on a GPU)"
        )


if __name__ == "__main__":
    main()
