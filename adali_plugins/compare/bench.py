"""Side-by-side cost of AdaLi and the host libraries' built-in surrogates.

    python -m adali_plugins.compare.bench                   # 64K, 2M and 16M elements
    python -m adali_plugins.compare.bench --sizes 2M --json bench.json
    python -m adali_plugins.compare.bench --step            # whole training steps too
    python -m adali_plugins.compare.bench --step-only --step-repeats 41

Every candidate runs in the same process on the same tensor, timed in
interleaved rounds (one run of each candidate per round); each figure is the
median of ``--repeats`` rounds after warm-up, and ratios are against the fastest
built-in of the same host (the host's default surrogate for training steps).
"Saved" is what the autograd graph keeps for backward, found with
``saved_tensors_hooks``; "peak" is the most memory held at once by the tensors
a training step allocates (:func:`step_peak_bytes`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import NoReturn

import torch

from .. import kernels
from ..fileio import atomic_write
from ..hosts import is_installed
from .hosts import PROFILES, profile

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
    for host, prof in PROFILES.items():
        if not is_installed(host):
            continue
        make = prof.adali()
        mine: dict[str, Surrogate] = {"AdaLi": make(), "AdaLi-compiled": make()}
        for name in prof.builtins:
            try:
                builtin = prof.builtin(name)
            except AttributeError:  # not in this version of the host
                continue
            mine[name] = builtin()
        out[host] = mine
    return out


def saved_bytes_per_element(fn: Surrogate, x: torch.Tensor) -> float:
    """Bytes the autograd graph keeps for backward, per input element."""
    x = x.detach().requires_grad_()
    return saved_for_backward(lambda: fn(x)) / x.numel()


def interleaved_medians(
    runs: dict[str, Callable[[], object]],
    *,
    repeats: int,
    warmup: int = 3,
    cuda: bool = False,
) -> dict[str, float]:
    """Median milliseconds of each callable, timed in interleaved rounds.

    Round-robin timing exposes every candidate to the same drift of the machine
    (allocator state, frequency, other load), so ratios stay meaningful on a
    noisy host where back-to-back blocks of repeats would not.
    """
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(warmup + repeats):
        for name, run in runs.items():
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            run()
            if cuda:
                torch.cuda.synchronize()
            if i >= warmup:
                times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


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
            x.requires_grad_()
            grad = torch.ones_like(x)
            for host, fns in candidates().items():
                runs = {}
                saved = {}
                for name, fn in fns.items():
                    if isinstance(fn, torch.nn.Module):
                        fn.to(device)
                    compiled = name.endswith("compiled")
                    runs[name] = _fwd_bwd(fn, x, grad, compiled)
                    with kernels.compiled(compiled):
                        saved[name] = saved_bytes_per_element(fn, x)
                medians = interleaved_medians(runs, repeats=repeats, cuda=x.is_cuda)
                fastest = min(
                    ms for name, ms in medians.items() if not name.startswith("AdaLi")
                )
                results += [
                    SurrogateResult(
                        host=host,
                        name=name,
                        numel=numel,
                        dtype=str(dtype).replace("torch.", ""),
                        median_ms=ms,
                        saved_bytes_per_elem=saved[name],
                        ratio_to_fastest_builtin=ms / fastest,
                    )
                    for name, ms in medians.items()
                ]
    return results


def _fwd_bwd(
    fn: Surrogate, x: torch.Tensor, grad: torch.Tensor, compiled: bool
) -> Callable[[], None]:
    def run() -> None:
        x.grad = None
        with kernels.compiled(compiled):
            fn(x).backward(grad)

    return run


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


DEFAULT_SURROGATE = {h: p.default_builtin for h, p in PROFILES.items()}
"""What a neuron uses when the user passes no surrogate."""


def _step_candidates(host: str) -> dict[str, Callable[[], object]]:
    prof = profile(host)
    out: dict[str, Callable[[], object]] = {
        name: prof.builtin(name) for name in prof.bench_builtins
    }
    out["AdaLi"] = out["AdaLi-compiled"] = prof.adali()
    return out


def saved_for_backward(forward: Callable[[], object]) -> int:
    """Bytes of the tensors the autograd graph still holds once ``forward()``
    has returned (storages counted once; tensors saved in branches the host
    detached and freed during the forward are not counted)."""
    refs: list[weakref.ref[torch.Tensor]] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        refs.append(weakref.ref(t))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward()
    storages = {}
    for ref in refs:
        t = ref()
        if t is not None:
            storage = t.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
    del out
    return sum(storages.values())


def _training_step(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, compiled: bool
) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def run() -> None:
        with kernels.compiled(compiled):
            loss = torch.nn.functional.cross_entropy(model(x).mean(0), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return run


def bench_training_steps(
    *,
    hosts: list[str] | None = None,
    time_steps: int = 8,
    batch: int = 32,
    size: int = 28,
    repeats: int = 15,
    monitor: bool = False,
    device: str = "cpu",
) -> list[StepResult]:
    """Training-step time of the reference conv SNN per host and surrogate.

    All candidates of a host are timed in interleaved rounds. With ``monitor``
    each surrogate is also timed with a ``MembraneMonitor`` attached, to show the
    statistics callback's overhead. ``peak_bytes`` is the step's working set
    (:func:`step_peak_bytes`), measured outside the timed rounds.
    """
    from ..monitor import MembraneMonitor
    from .models import conv_net

    results = []
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(time_steps, batch, 1, size, size, generator=gen).to(device)
    y = torch.randint(0, 10, (batch,), generator=gen).to(device)
    cuda = x.is_cuda
    for host in hosts or [h for h in PROFILES if is_installed(h)]:
        runs, saved, peaks, monitors = {}, {}, {}, []
        for name, factory in _step_candidates(host).items():
            for watched in (False, True) if monitor else (False,):
                torch.manual_seed(0)
                model = conv_net(host, factory, size=size).to(device)
                if watched:
                    monitors.append(MembraneMonitor(model))
                key = (name, watched)
                compiled = name.endswith("compiled")
                runs[key] = _training_step(model, x, y, compiled)
                with kernels.compiled(compiled):
                    saved[key] = saved_for_backward(lambda m=model: m(x))
                runs[key]()
                peaks[key] = step_peak_bytes(runs[key], device)
        medians = interleaved_medians(runs, repeats=repeats, warmup=2, cuda=cuda)
        for mon in monitors:
            mon.remove()
        base = medians[(DEFAULT_SURROGATE[host], False)]
        results += [
            StepResult(
                host,
                name,
                watched,
                time_steps,
                batch,
                size,
                ms,
                saved[(name, watched)],
                peaks[(name, watched)],
                ms / base,
            )
            for (name, watched), ms in medians.items()
        ]
    return results


_PROFILER_LINE = re.compile(r"^(USDT|STAGE):|before the profiling started")


@contextmanager
def _profiler_lines_dropped() -> Iterator[None]:
    """Pass native stderr through, minus what the profiler's library prints on
    every use (start/stop lines, a note on memory allocated before it began)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode(errors="replace").splitlines(True):
                if not _PROFILER_LINE.search(line):
                    sys.stderr.write(line)


def step_peak_bytes(run: Callable[[], object], device: str = "cpu") -> int | None:
    """Most memory held at once by the tensors one call of ``run`` allocates:
    its working set (activations, saved tensors, gradients, temporaries).
    Memory allocated before the call counts neither way, even where the call
    frees it. The CPU replays the allocations torch's profiler records, in
    order; CUDA reads the allocator's peak above what was allocated at the
    start (there, frees of older memory do lower the figure). None if the
    profiler's record is unavailable.
    """
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        run()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    return _cpu_peak_bytes(run)


def _cpu_peak_bytes(run: Callable[[], object]) -> int | None:
    from torch.profiler import ProfilerActivity, profile

    try:
        from torch._C._profiler import _EventType
    except ImportError:
        return None
    with _profiler_lines_dropped():
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            run()
    try:
        roots = prof.profiler.kineto_results.experimental_event_tree()
    except AttributeError:
        return None
    events = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node.tag == _EventType.Allocation and node.extra_fields.device.type == "cpu":
            fields = node.extra_fields
            events.append((node.start_time_ns, fields.ptr, fields.alloc_size))
        stack.extend(node.children)
    live: dict[int, int] = {}
    held = peak = 0
    for _, ptr, size in sorted(events, key=lambda e: e[0]):
        if size > 0:
            live[ptr] = size
            held += size
            peak = max(peak, held)
        else:
            held -= live.pop(ptr, 0)
    return peak


def format_step_table(results: list[StepResult]) -> str:
    """A plain-text table of training-step results."""
    head = (
        f"{'host':<13}{'surrogate':<14}{'monitor':>8}{'ms/step':>10}"
        f"{'x default':>11}{'saved MB':>10}{'peak MB':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.host:<13}{r.surrogate:<14}{'on' if r.monitor else 'off':>8}"
            f"{r.median_ms:>10.1f}{r.ratio_to_default:>11.2f}"
            f"{r.saved_bytes / 2**20:>10.1f}{_megabytes(r.peak_bytes):>9}"
        )
    return "\n".join(lines)


def _megabytes(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:.1f}"


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


BENCH_BUDGET = {
    "sizes": 1 << 28,
    "repeats": 1000,
    "step_repeats": 1000,
    "step_size": 256,
    "threads": 1024,
}
"""Largest accepted value of each count or size flag."""
BENCH_MIN = {"step_size": 8}
"""Smallest accepted value where it is not 1 (the conv net pools twice)."""


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _validate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[int]:
    """Check every flag before anything is allocated; the sizes in elements."""
    for name in ("repeats", "step_repeats", "step_size", "threads"):
        value, top = getattr(args, name), BENCH_BUDGET[name]
        low = BENCH_MIN.get(name, 1)
        if value is not None and not low <= value <= top:
            flag = "--" + name.replace("_", "-")
            parser.error(f"{flag} must be from {low} to {top}, got {value}")
    try:
        sizes = [parse_size(s) for s in args.sizes]
    except ValueError as err:
        parser.error(f"--sizes: {err}")
    if max(sizes) > BENCH_BUDGET["sizes"]:
        parser.error(f"--sizes must be at most {BENCH_BUDGET['sizes']} elements")
    try:
        dev = torch.device(args.device)
    except (RuntimeError, ValueError) as err:
        parser.error(f"--device {args.device!r}: {str(err).splitlines()[0]}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available here")
    if args.json is not None:
        target = os.path.abspath(args.json)
        folder = os.path.dirname(target)
        if os.path.isdir(target):
            parser.error(f"--json {args.json} is a folder")
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
            parser.error(f"--json {args.json}: {folder} is not a writable folder")
    return sizes


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark; a bad flag prints one line and exits with status 2."""
    parser = _Parser(
        prog="python -m adali_plugins.compare.bench",
        description=__doc__.split("\n")[0],
        epilog=f"Budget: counts and sizes at most {BENCH_BUDGET}, at least 1 "
        f"(or {BENCH_MIN}).",
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
        "--step-only", action="store_true", help="time training steps, no surrogates"
    )
    parser.add_argument(
        "--step-repeats", type=int, default=15, help="rounds of training steps"
    )
    parser.add_argument(
        "--monitor", action="store_true", help="with --step: monitor on/off"
    )
    parser.add_argument("--step-size", type=int, default=28, help="input height/width")
    args = parser.parse_args(argv)
    sizes = _validate(parser, args)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads, device {args.device}")
    results: list[SurrogateResult] = []
    if not args.step_only:
        results = bench_surrogates(
            sizes,
            dtypes=tuple(DTYPES[d] for d in args.dtypes),
            repeats=args.repeats,
            device=args.device,
        )
        print(format_table(results))
    steps: list[StepResult] = []
    if args.step or args.step_only:
        steps = bench_training_steps(
            size=args.step_size,
            repeats=args.step_repeats,
            monitor=args.monitor,
            device=args.device,
        )
        print()
        print(format_step_table(steps))
    if args.json:
        report = {
            "surrogates": [asdict(r) for r in results],
            "steps": [asdict(r) for r in steps],
        }
        atomic_write(args.json, json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
