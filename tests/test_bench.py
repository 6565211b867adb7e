"""compare/bench.py: the benchmark runs every candidate, reports consistent rows."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from adali_plugins.compare import bench


def test_surrogate_rows_for_every_installed_candidate():
    rows = bench.bench_surrogates([4096], repeats=2)
    expected = {(h, n) for h, fns in bench.candidates().items() for n in fns}
    assert {(r.host, r.name) for r in rows} == expected
    for host in {r.host for r in rows}:
        ratios = [
            r.ratio_to_fastest_builtin
            for r in rows
            if r.host == host and not r.name.startswith("AdaLi")
        ]
        assert min(ratios) == pytest.approx(1.0)
    adali = [r for r in rows if r.name == "AdaLi"]
    assert all(r.saved_bytes_per_elem == pytest.approx(1.0, abs=0.01) for r in adali)


def test_saved_bytes_counts_what_autograd_keeps():
    x = torch.randn(1000)
    assert bench.saved_bytes_per_element(torch.sigmoid, x) == pytest.approx(4.0)
    assert bench.saved_bytes_per_element(lambda t: t + 1, x) == 0.0


@pytest.mark.parametrize(
    ("text", "n"), [("64K", 65536), ("2M", 2 << 20), ("1000", 1000)]
)
def test_parse_size(text, n):
    assert bench.parse_size(text) == n


def test_parse_size_rejects_garbage():
    with pytest.raises(ValueError, match="size"):
        bench.parse_size("lots")


def test_cli_writes_json(tmp_path, capsys):
    out = tmp_path / "b.json"
    bench.main(["--sizes", "4K", "--repeats", "2", "--json", str(out)])
    rows = json.loads(out.read_text())["surrogates"]
    assert rows and {"host", "name", "median_ms", "saved_bytes_per_elem"} <= set(
        rows[0]
    )
    assert "AdaLi" in capsys.readouterr().out


@pytest.mark.slow
def test_training_steps_with_and_without_monitor():
    rows = bench.bench_training_steps(
        time_steps=2, batch=4, size=8, repeats=1, monitor=True
    )
    hosts = {r.host for r in rows}
    assert hosts == set(bench.candidates())
    for host in hosts:
        mine = [r for r in rows if r.host == host]
        assert len(mine) == 2 * len(bench._step_candidates(host))
        default = [
            r
            for r in mine
            if r.surrogate == bench.DEFAULT_SURROGATE[host] and not r.monitor
        ]
        assert default[0].ratio_to_default == 1.0
        assert all(r.saved_bytes > 0 and r.median_ms > 0 for r in mine)


def test_step_peak_replays_allocations_in_order():
    def work():
        a = torch.empty(1000)
        b = torch.empty(2000)
        del a
        c = torch.empty(500)
        return b, c

    assert bench.step_peak_bytes(work) == 12000


def test_step_peak_counts_only_what_the_step_allocates():
    old = [torch.empty(4000)]

    def work():
        old.clear()
        kept = torch.empty(1000)
        del kept
        return torch.empty(500)

    assert bench.step_peak_bytes(work) == 4000


def test_step_peak_covers_what_a_real_step_saves():
    rows = bench.bench_training_steps(
        hosts=["snntorch"], time_steps=2, batch=4, size=8, repeats=1
    )
    for r in rows:
        assert r.peak_bytes is not None and r.peak_bytes >= r.saved_bytes


def test_step_peak_keeps_other_stderr_and_drops_profiler_lines(capfd):
    def work():
        print("from the step", file=sys.stderr)
        return torch.empty(10)

    bench.step_peak_bytes(work)
    err = capfd.readouterr().err
    assert "from the step" in err
    assert "USDT:" not in err and "STAGE:" not in err


@pytest.mark.slow
def test_cli_step_only_writes_steps_and_no_surrogates(tmp_path):
    out = tmp_path / "s.json"
    bench.main(
        ["--step-only", "--step-repeats", "1", "--step-size", "8", "--json", str(out)]
    )
    report = json.loads(out.read_text())
    assert report["surrogates"] == []
    assert {r["host"] for r in report["steps"]} == set(bench.candidates())


@pytest.mark.parametrize(
    "argv", [["--repeats", "0"], ["--step-repeats", "0"], ["--sizes", "lots"]]
)
def test_cli_rejects_bad_counts_and_sizes(argv, capsys):
    with pytest.raises(SystemExit):
        bench.main(argv)
    err = capsys.readouterr().err
    assert argv[0] in err
