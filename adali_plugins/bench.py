"""Side-by-side cost of AdaLi and the host libraries' built-in surrogates.

    python -m adali_plugins.bench                   # 64K, 2M and 16M elements
    python -m adali_plugins.bench --sizes 2M --json bench.json
    python -m adali_plugins.bench --step            # whole training steps too

Every candidate runs in the same process on the same tensor; each figure is the
median of ``--repeats`` timed runs after warm-up, and ratios are against the
fastest built-in of the same host. "Saved bytes/elem" is what the autograd graph
keeps for backward, counted with ``saved_tensors_hooks``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from . import kernels
from .hosts import is_installed

Surrogate = Callable[[torch.Tensor], torch.Tensor]
DTYPES = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


@dataclass(frozen=True)
class SurrogateResult:
    """fwd+bwd cost of one surrogate on one tensor size and dtype."""

    host: str
    name: str
    numel: int
    dtype: str
    median_ms: float
    saved_bytes_per_elem: float
    ratio_to_fastest_builtin: float = float("nan")


def candidates() -> dict[str, dict[str, Surrogate]]:
    """Surrogates to compare, per installed host; names starting 'AdaLi' are ours."""
    out: dict[str, dict[str, Surrogate]] = {}
    if is_installed("snntorch"):
        from snntorch import surrogate as s

        from .snntorch import adali

        out["snntorch"] = {
            "AdaLi": adali(),
            "AdaLi-compiled": adali(),
            "atan": s.atan(),
            "fast_sigmoid": s.fast_sigmoid(),
            "sigmoid": s.sigmoid(),
            "triangular": s.triangular(),
            "straight_through_estimator": s.straight_through_estimator(),
        }
    if is_installed("spikingjelly"):
        from spikingjelly.activation_based import surrogate as s

        from .spikingjelly import AdaLi

        jelly = {"AdaLi": AdaLi(), "AdaLi-compiled": AdaLi()}
        for name in ("ATan", "Sigmoid", "PiecewiseQuadratic", "Erf", "Rect"):
            if hasattr(s, name):
                jelly[name] = getattr(s, name)()
        out["spikingjelly"] = jelly
    return out


def saved_bytes_per_element(fn: Surrogate, x: torch.Tensor) -> float:
    """Bytes the autograd graph keeps for backward, per input element."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.numel() > 1:
            seen[id(t)] = t.numel() * t.element_size()
        return t

    x = x.detach().requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(x)
    del out
    return sum(seen.values()) / x.numel()


def time_fwd_bwd(
    fn: Surrogate, x: torch.Tensor, *, repeats: int, warmup: int = 3
) -> float:
    """Median milliseconds of forward + backward of ``fn`` on ``x``."""
    x = x.detach().requires_grad_()
    grad = torch.ones_like(x)
    times = []
    for i in range(warmup + repeats):
        x.grad = None
        if x.is_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn(x).backward(grad)
        if x.is_cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def bench_surrogates(
    sizes: list[int],
    *,
    dtypes: tuple[torch.dtype, ...] = (torch.float32,),
    repeats: int = 15,
    device: str = "cpu",
) -> list[SurrogateResult]:
    """fwd+bwd time and saved memory of every candidate, side by side."""
    results = []
    gen = torch.Generator().manual_seed(0)
    for numel in sizes:
        for dtype in dtypes:
            x = (torch.randn(numel, generator=gen) * 1.5).to(device=device, dtype=dtype)
            for host, fns in candidates().items():
                rows = []
                for name, fn in fns.items():
                    if isinstance(fn, torch.nn.Module):
                        fn.to(device)
                    with kernels.compiled(name.endswith("compiled")):
                        ms = time_fwd_bwd(fn, x, repeats=repeats)
                        saved = saved_bytes_per_element(fn, x)
                    rows.append(
                        SurrogateResult(
                            host=host,
                            name=name,
                            numel=numel,
                            dtype=str(dtype).replace("torch.", ""),
                            median_ms=ms,
                            saved_bytes_per_elem=saved,
                        )
                    )
                fastest = min(
                    r.median_ms for r in rows if not r.name.startswith("AdaLi")
                )
                results += [
                    SurrogateResult(
                        **{
                            **asdict(r),
                            "ratio_to_fastest_builtin": r.median_ms / fastest,
                        }
                    )
                    for r in rows
                ]
    return results


@dataclass(frozen=True)
class StepResult:
    """One training step (forward, backward, optimizer) of the reference conv SNN."""

    host: str
    surrogate: str
    monitor: bool
    time_steps: int
    batch: int
    size: int
    median_ms: float
    saved_bytes: int
    peak_bytes: int | None = None
    ratio_to_default: float = float("nan")


DEFAULT_SURROGATE = {"snntorch": "atan", "spikingjelly": "Sigmoid"}
"""What a neuron uses when the user passes no surrogate."""


def _step_candidates(host: str) -> dict[str, Callable[[], object]]:
    if host == "snntorch":
        from snntorch import surrogate as s

        from .snntorch import adali

        return {
            "atan": s.atan,
            "fast_sigmoid": s.fast_sigmoid,
            "AdaLi": adali,
            "AdaLi-compiled": adali,
        }
    from spikingjelly.activation_based import surrogate as s

    from .spikingjelly import AdaLi

    return {
        "Sigmoid": s.Sigmoid,
        "ATan": s.ATan,
        "AdaLi": AdaLi,
        "AdaLi-compiled": AdaLi,
    }


def time_training_step(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    repeats: int,
    warmup: int = 2,
) -> tuple[float, int, int | None]:
    """Median ms of forward + backward + Adam step, bytes saved for backward, and the
    peak of allocated device memory during a step (CUDA only, else None)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved[id(t)] = t.numel() * t.element_size()
        return t

    times = []
    for i in range(warmup + repeats):
        if x.is_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        if i == 0:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                out = model(x)
        else:
            out = model(x)
        loss = torch.nn.functional.cross_entropy(out.mean(0), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if x.is_cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1e3)
        if x.is_cuda and i == 0:
            torch.cuda.reset_peak_memory_stats(x.device)
    peak = torch.cuda.max_memory_allocated(x.device) if x.is_cuda else None
    return statistics.median(times), sum(saved.values()), peak


def bench_training_steps(
    *,
    hosts: list[str] | None = None,
    time_steps: int = 8,
    batch: int = 32,
    size: int = 28,
    repeats: int = 10,
    monitor: bool = False,
    device: str = "cpu",
) -> list[StepResult]:
    """Training-step time of the reference conv SNN per host and surrogate.

    With ``monitor`` each surrogate is also timed with a ``MembraneMonitor``
    attached, to show the statistics callback's overhead.
    """
    from .models import conv_net
    from .monitor import MembraneMonitor

    results = []
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(time_steps, batch, 1, size, size, generator=gen).to(device)
    y = torch.randint(0, 10, (batch,), generator=gen).to(device)
    for host in hosts or [h for h in ("snntorch", "spikingjelly") if is_installed(h)]:
        rows = []
        for name, factory in _step_candidates(host).items():
            for watched in (False, True) if monitor else (False,):
                torch.manual_seed(0)
                model = conv_net(host, factory, size=size).to(device)
                mon = MembraneMonitor(model) if watched else None
                with kernels.compiled(name.endswith("compiled")):
                    ms, saved, peak = time_training_step(model, x, y, repeats=repeats)
                if mon is not None:
                    mon.remove()
                rows.append(
                    StepResult(
                        host, name, watched, time_steps, batch, size, ms, saved, peak
                    )
                )
        base = next(
            r.median_ms
            for r in rows
            if r.surrogate == DEFAULT_SURROGATE[host] and not r.monitor
        )
        results += [
            StepResult(**{**asdict(r), "ratio_to_default": r.median_ms / base})
            for r in rows
        ]
    return results


def format_step_table(results: list[StepResult]) -> str:
    """A plain-text table of training-step results."""
    head = (
        f"{'host':<13}{'surrogate':<14}{'monitor':>8}{'ms/step':>10}"
        f"{'x default':>11}{'saved MB':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.host:<13}{r.surrogate:<14}{'on' if r.monitor else 'off':>8}"
            f"{r.median_ms:>10.1f}{r.ratio_to_default:>11.2f}"
            f"{r.saved_bytes / 2**20:>10.1f}"
        )
    return "\n".join(lines)


def format_table(results: list[SurrogateResult]) -> str:
    """A plain-text table of surrogate results."""
    head = (
        f"{'host':<13}{'surrogate':<28}{'elements':>10}{'dtype':>10}{'ms':>10}"
        f"{'x fastest':>11}{'saved B/elem':>14}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.host:<13}{r.name:<28}{_size(r.numel):>10}{r.dtype:>10}"
            f"{r.median_ms:>10.3f}{r.ratio_to_fastest_builtin:>11.2f}{r.saved_bytes_per_elem:>14.2f}"
        )
    return "\n".join(lines)


def _size(n: int) -> str:
    for unit, scale in (("M", 1 << 20), ("K", 1 << 10)):
        if n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)


def parse_size(text: str) -> int:
    """'64K' -> 65536, '2M' -> 2097152, '1000' -> 1000."""
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
    digits = text[:-1] if scale > 1 else text
    if not digits.isdigit() or int(digits) < 1:
        raise ValueError(f"size must look like 64K, 2M or 1000, got {text!r}")
    return int(digits) * scale


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m adali_plugins.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sizes", nargs="+", default=["64K", "2M", "16M"])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--dtypes",
        nargs="+",
        default=["float32"],
        choices=sorted(DTYPES),
        help="surrogate benchmark dtypes (bfloat16/float16 where the device has them)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads"
    )
    parser.add_argument("--json", default=None, help="write all results to this file")
    parser.add_argument("--step", action="store_true", help="also time training steps")
    parser.add_argument(
        "--monitor", action="store_true", help="with --step: monitor on/off"
    )
    parser.add_argument("--step-size", type=int, default=28, help="input height/width")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = bench_surrogates(
        [parse_size(s) for s in args.sizes],
        dtypes=tuple(DTYPES[d] for d in args.dtypes),
        repeats=args.repeats,
        device=args.device,
    )
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads, device {args.device}")
    print(format_table(results))
    steps: list[StepResult] = []
    if args.step:
        steps = bench_training_steps(
            size=args.step_size, monitor=args.monitor, device=args.device
        )
        print()
        print(format_step_table(steps))
    if args.json:
        with open(args.json, "w") as fh:
            report = {
                "surrogates": [asdict(r) for r in results],
                "steps": [asdict(r) for r in steps],
            }
            json.dump(report, fh, indent=2)


if __name__ == "__main__":
    main()
