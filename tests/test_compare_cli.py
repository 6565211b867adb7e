"""compare/: the first ten minutes — verdict maths, quiet logs, progress, help."""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import subprocess
import sys
from pathlib import Path

import pytest

from adali_plugins.compare import logs, verdict
from adali_plugins.compare.cli import build_parser, main
from adali_plugins.compare.progress import Progress
from adali_plugins.compare.report import aggregate, density_of
from adali_plugins.compare.spec import BUILTINS, quick_surrogates
from adali_plugins.hosts import is_installed
from adali_plugins.window import AdaLiParams

EXAMPLES = Path(__file__).resolve().parent.parent / "integration_examples"


# --- Student t and the paired interval -------------------------------------


@pytest.mark.parametrize(
    ("df", "expected"), [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (30, 2.042)]
)
def test_t_quantile_matches_the_tables(df, expected):
    assert verdict.t_quantile(0.975, df) == pytest.approx(expected, abs=5e-4)
    assert verdict.t_quantile(0.025, df) == pytest.approx(-expected, abs=5e-4)


def test_t_quantile_is_exact_against_closed_forms():
    # df=1 is Cauchy: tan(pi (p - 1/2)); df=2: (2p-1) sqrt(2 / (4p(1-p))).
    for p in (0.6, 0.9, 0.975, 0.999):
        assert verdict.t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)))
        q2 = (2 * p - 1) * math.sqrt(2 / (4 * p * (1 - p)))
        assert verdict.t_quantile(p, 2) == pytest.approx(q2, rel=1e-9)
    assert verdict.t_cdf(0.0, 5) == pytest.approx(0.5)
    assert verdict.t_quantile(0.975, 10_000) == pytest.approx(1.95996, abs=1e-3)
    assert verdict.incomplete_beta(2.0, 3.0, 0.4) == pytest.approx(
        1 - verdict.incomplete_beta(3.0, 2.0, 0.6)
    )


def test_t_quantile_agrees_with_scipy_when_present():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 3, 7, 25, 120):
        for p in (0.9, 0.95, 0.975, 0.995):
            assert verdict.t_quantile(p, df) == pytest.approx(
                stats.t.ppf(p, df), rel=1e-9
            )


def test_paired_interval_against_a_hand_computation():
    # differences 0.2, -0.4, 0.5: mean 0.1, sample sd sqrt(0.21), se sqrt(0.07);
    # t_{0.975, 2} = 4.302653 -> half-width 1.138375
    ci = verdict.paired_interval([97.0, 96.5, 97.2], [96.8, 96.9, 96.7])
    half = 4.302652729749464 * math.sqrt(0.21 / 3)
    assert ci.mean == pytest.approx(0.1)
    assert (ci.low, ci.high) == pytest.approx((0.1 - half, 0.1 + half))
    assert (ci.won, ci.lost, ci.tied) == (2, 1, 0)
    assert ci.reading == "within noise"


def test_the_three_plain_readings():
    ahead = verdict.paired_interval([98.0, 98.5, 98.2], [97.0, 97.1, 97.3])
    behind = verdict.paired_interval([95.0, 95.2, 94.9], [97.0, 97.1, 97.3])
    noise = verdict.paired_interval([97.0, 97.4, 96.9], [97.1, 97.0, 97.2])
    assert ahead.reading == "AdaLi ahead" and ahead.low > 0
    assert behind.reading == "AdaLi behind" and behind.high < 0
    assert noise.reading == "within noise" and noise.low < 0 < noise.high
    one = verdict.paired_interval([97.0], [96.0])
    assert math.isnan(one.low) and one.reading == verdict.TOO_FEW


def _records(accs):
    return [{"epoch": i, "test_acc": a} for i, a in enumerate(accs)]


def test_verdict_pairs_adali_with_the_best_builtin_by_seed():
    results = {
        ("snntorch", "AdaLi", 0): _records([0.5, 0.97]),
        ("snntorch", "AdaLi", 1): _records([0.5, 0.96]),
        ("snntorch", "AdaLi", 2): _records([0.5, 0.98]),
        ("snntorch", "atan", 0): _records([0.5, 0.95]),
        ("snntorch", "atan", 1): _records([0.5, 0.955]),
        ("snntorch", "fast_sigmoid", 0): _records([0.5, 0.90]),
        ("snntorch", "fast_sigmoid", 1): _records([0.5, 0.91]),
        ("snntorch", "fast_sigmoid", 2): _records([0.5, 0.92]),
        ("snntorch", "ESG", 0): _records([0.5, 0.99]),  # a baseline, not a built-in
        ("snntorch", "AdaLi:calibrate=both", 0): _records([0.5, 0.10]),
    }
    (v,) = verdict.verdicts(results)
    assert (v.host, v.adali, v.builtin) == ("snntorch", "AdaLi", "atan")
    assert v.seeds == [0, 1]  # atan has no seed 2: paired seeds only
    assert v.adali_acc == pytest.approx([97.0, 96.0])
    assert v.mean_diff == pytest.approx(((97 - 95) + (96 - 95.5)) / 2)
    assert (v.won, v.lost) == (2, 0)
    assert "snntorch: AdaLi - atan = +1.25 points (95% CI" in v.line()
    text = verdict.format_verdicts([v])
    assert text.startswith("Verdict:") and "paired over 2 seeds" in text


# --- quiet logs ------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_dedupe_shows_a_repeated_warning_once_and_counts_the_rest():
    collect = _Collect()
    monitor = logging.getLogger("adali_plugins.monitor")
    monitor.addHandler(collect)
    setup = logs.setup(0)
    try:
        setup.dedupe.context = "run-a"
        for _ in range(5):
            monitor.warning("layer %s: %d non-finite", "features.2", 1024)
        monitor.warning("layer %s: %d non-finite", "features.6", 512)
        setup.dedupe.context = "run-b"
        monitor.warning("layer %s: %d non-finite", "features.2", 1024)
        monitor.info("not a warning")  # below WARNING: level decides, not dedupe
    finally:
        setup.close()
        monitor.removeHandler(collect)
    assert collect.messages == [
        "layer features.2: 1024 non-finite",
        "layer features.6: 512 non-finite",
        "layer features.2: 1024 non-finite",
    ]
    assert setup.dedupe.report() == (
        "4 repeats of 1 warning suppressed (each is shown once per run and layer)"
    )
    monitor.warning("after close: %s", "x")  # the filter is gone again


def test_verbosity_sets_our_level_and_close_restores_it():
    base = logging.getLogger("adali_plugins")
    before = base.level
    for verbosity, level in ((-1, logging.ERROR), (0, logging.WARNING), (1, 20)):
        setup = logs.setup(verbosity)
        assert base.level == level
        setup.close()
        assert base.level == before


def test_the_triton_message_is_dropped_at_its_logger():
    collect = _Collect()
    triton = logging.getLogger("torch._library.triton")
    triton.addHandler(collect)
    try:
        logs.quiet_third_party()
        logs.quiet_third_party()  # idempotent
        triton.warning("Triton not available, find_triton_kernels = []")
        triton.warning("something else")
    finally:
        triton.removeHandler(collect)
    assert collect.messages == ["something else"]


# --- progress, help, list --------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_bars_off_with_quiet_or_without_a_terminal():
    assert Progress(3, quiet=True, stream=_Tty()).disable
    assert Progress(3, stream=io.StringIO()).disable
    tty = _Tty()
    bars = Progress(2, stream=tty)
    assert not bars.disable
    bars.start("snntorch AdaLi seed 0", 2)
    bars.epoch({"epoch": 0, "test_acc": 0.5, "train_loss": 1.0})
    bars.finish("snntorch AdaLi seed 0", [{"test_acc": 0.5}])
    bars.close()
    assert "acc=0.500" in tty.getvalue() and "runs" in tty.getvalue()
    quiet = _Tty()
    bars = Progress(1, quiet=True, stream=quiet)
    bars.start("x", 1)
    bars.epoch({"epoch": 0, "test_acc": 0.5, "train_loss": 1.0})
    bars.finish("x", [])
    bars.close()
    assert quiet.getvalue() == ""


def test_help_lists_builtins_plainly_with_examples(capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "{'" not in text and "('" not in text  # no dict or tuple repr
    for host, names in BUILTINS.items():
        assert f"{host}: {', '.join(names)}" in " ".join(text.split())
    examples = text.split("examples:")[1]
    assert examples.count("adali-compare ") >= 3 and "--full" in examples


def test_list_prints_every_name_and_the_adali_option_syntax(capsys):
    assert main(["--list"]) == {}
    text = capsys.readouterr().out
    assert "AdaLi:schedule=sqrt,left=1.0" in text
    for f in dataclasses.fields(AdaLiParams):
        assert f.name in text
    assert "calibrate=mass|window|both" in text and "coverage" in text
    for name in ("log", "linear", "sqrt", "fixed", "cosine"):
        assert name in text
    for host, names in BUILTINS.items():
        for name in names:
            assert (f"  {name}\n" in text) == is_installed(host), name
    assert "ESG" in text and "MPD" in text


def test_quick_defaults_and_full_flag():
    assert [s.label for s in quick_surrogates("snntorch")] == ["AdaLi", "atan"]
    assert [s.label for s in quick_surrogates("spikingjelly")] == [
        "AdaLi",
        "Sigmoid",
        "ATan",
    ]
    args = build_parser().parse_args([])
    assert args.epochs is None and not args.full and args.seeds == 3


def test_density_reads_old_in_window_records():
    old = {"epoch": 0, "test_acc": 0.5, "in_window": {"a": 0.2, "b": 0.4}}
    new = {"epoch": 0, "test_acc": 0.5, "density": {"a": 0.3}}
    assert density_of(old) == {"a": 0.2, "b": 0.4} and density_of(new) == {"a": 0.3}
    extra = {"train_seconds": 1.0, "grad_norm_first_last_ratio": 1.0}
    rows = aggregate(
        {("h", "s", 0): [{**old, **extra}], ("h", "s", 1): [{**new, **extra}]},
        0.9,
    )
    assert rows[0].density == pytest.approx((0.3 + 0.3) / 2)


# --- end to end (trains: slow) ----------------------------------------------

TINY = ["--train-limit", "200", "--test-limit", "100", "--epochs", "1"]
TINY += ["--channels", "4", "8", "--batch-size", "128", "--seeds", "2"]


@pytest.mark.slow
def test_quiet_run_prints_table_verdict_and_writes_summary(tmp_path, capsys):
    pytest.importorskip("snntorch")
    out = tmp_path / "o"
    payload = main([*TINY, "--host", "snntorch", "-q", "--out", str(out)])
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "density" in captured.out and "Verdict:" in captured.out
    assert "snntorch: AdaLi - atan" in captured.out
    assert f"plots: {out / 'curves_snntorch.png'}" in captured.out
    (v,) = payload["verdict"]
    assert v["adali"] == "AdaLi" and v["builtin"] == "atan" and v["seeds"] == [0, 1]
    assert "density" in payload["runs"][0]["epochs"][0]
    assert sum(payload["runs"][0]["epochs"][0]["predicted"]) == 100
    assert "mean_density" in (out / "results.csv").read_text().splitlines()[0]
    summary = (out / "summary.md").read_text()
    assert "Verdict" in summary and "curves_snntorch.png" in summary
    assert (out / "curves_snntorch.png").stat().st_size > 0


@pytest.mark.slow
def test_no_third_party_warnings_in_a_fresh_process(tmp_path):
    pytest.importorskip("spikingjelly")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "adali_plugins.compare",
            *TINY,
            "--host",
            "spikingjelly",
            "--surrogates",
            "AdaLi",
            "ATan",
            "--no-plots",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Triton" not in run.stderr and "Warning" not in run.stderr
    assert run.stderr.count("\n") == 1, run.stderr  # the one-line header only
    assert "Verdict:" in run.stdout
