"""``adali-compare merge``: rows trained as separate jobs, one table.

The oracle is a real comparison: the stored Fashion-MNIST results split into
one file per row must merge back into exactly the table and verdict the harness
wrote for them; and (slow) two tiny jobs merged must equal one job that trained
both rows. Every refusal is one line naming the input, with ``--out`` untouched.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
from pathlib import Path

import pytest
from test_hardening_files import run_capped

from adali_plugins.compare import cli
from adali_plugins.compare.merge import MergeError, merge, read_results

STORED = Path(__file__).parents[1] / "docs/results/fashion-mnist/results.json.gz"


@pytest.fixture(scope="module")
def stored() -> dict:
    return json.loads(gzip.decompress(STORED.read_bytes()))


def _split(payload: dict, folder: Path, *, packed: bool = False) -> list[Path]:
    """One results file per (host, surrogate) row, as separate jobs write them."""
    rows: dict[tuple[str, str], list[dict]] = {
        (r["host"], r["surrogate"]): [] for r in payload["table"]
    }  # in the table's order
    for run in payload["runs"]:
        rows[run["host"], run["surrogate"]].append(run)
    paths = []
    rows = {row: runs for row, runs in rows.items() if runs}
    for i, ((host, surrogate), runs) in enumerate(rows.items()):
        job = folder / f"job{i}"
        job.mkdir(parents=True)
        config = {**payload["config"], "host": host, "surrogates": [surrogate]}
        part = {"config": config, "table": [], "verdict": [], "runs": runs}
        text = json.dumps(part).encode()
        name = "results.json.gz" if packed else "results.json"
        (job / name).write_bytes(gzip.compress(text) if packed else text)
        paths.append(job)
    return paths


def test_rows_split_into_jobs_merge_back_into_the_harness_table(
    stored, tmp_path, capsys
):
    jobs = _split(stored, tmp_path / "jobs", packed=True)
    assert len(jobs) == len(stored["table"]) > 2
    out = tmp_path / "all"
    payload = cli.main(["merge", *map(str, jobs), "--out", str(out), "--no-plots"])
    assert payload["table"] == stored["table"]
    assert payload["verdict"] == stored["verdict"]
    assert payload["runs"] == stored["runs"]
    assert payload["config"]["host"] == "both"
    assert set(payload["config"]["surrogates"]) == {
        r["surrogate"] for r in stored["runs"]
    }
    assert payload["config"]["merged_from"] == [str(j) for j in jobs]
    printed = capsys.readouterr().out
    assert all(v["line"] in printed for v in stored["verdict"])
    assert f"summary: {out / 'summary.md'}" in printed
    backwards = cli.main(
        ["merge", *map(str, jobs[::-1]), "--out", str(tmp_path / "b"), "-q"]
    )
    # host by host, AdaLi rows first, then in the order the inputs name them
    order = [
        (r["host"], r["surrogate"].startswith("AdaLi")) for r in backwards["table"]
    ]
    assert order == sorted(order, key=lambda hs: (hs[0], not hs[1]))
    key = lambda r: (r["host"], r["surrogate"])  # noqa: E731
    assert sorted(backwards["table"], key=key) == sorted(stored["table"], key=key)
    assert {p.name for p in out.iterdir()} == {
        "results.json",
        "results.csv",
        "summary.md",
        "table.txt",
    }


def _cli_error(capsys, argv: list[str]) -> str:
    assert cli.entry_point(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("adali-compare: error: ")
    return err[0]


def _write(path: Path, payload: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))
    return path


def test_jobs_with_different_settings_are_refused(stored, tmp_path, capsys):
    a, b = _split(stored, tmp_path)[:2]
    other = json.loads((b / "results.json").read_text())
    other["config"]["lr"] = 0.001
    other["config"]["time_steps"] = 8
    _write(b / "results.json", other)
    line = _cli_error(capsys, ["merge", str(a), str(b), "--out", str(tmp_path / "o")])
    assert "different --lr, --time-steps" in line and str(b) in line
    assert not (tmp_path / "o").exists()


def test_threads_and_target_may_differ(stored, tmp_path):
    a, b = _split(stored, tmp_path)[:2]
    other = json.loads((b / "results.json").read_text())
    other["config"]["threads"] = 2
    _write(b / "results.json", other)
    payload = merge([a, b], tmp_path / "o", plots=False, quiet=True, target=0.5)
    assert payload["config"]["target"] == 0.5
    assert payload["table"][0]["reached"] == 3  # every run passed 50%


def test_a_target_outside_0_1_is_refused_before_reading(tmp_path, capsys):
    out = ["--out", str(tmp_path / "o"), "--target", "1.5"]
    line = _cli_error(capsys, ["merge", str(tmp_path / "nope"), *out])
    assert "--target must be in (0, 1], got 1.5" in line


def test_a_run_given_twice_is_refused(stored, tmp_path, capsys):
    a, *_ = _split(stored, tmp_path)
    line = _cli_error(capsys, ["merge", str(a), str(a), "--out", str(tmp_path / "o")])
    assert "seed 0 is in both" in line


def test_unfinished_runs_and_missing_seeds_are_refused(stored, tmp_path, capsys):
    part = copy.deepcopy(stored)
    part["runs"][1]["epochs"].pop()
    path = _write(tmp_path / "a.json", part)
    line = _cli_error(capsys, ["merge", str(path), "--out", str(tmp_path / "o")])
    assert "holds 3 of 4 epochs" in line and str(path) in line
    part = copy.deepcopy(stored)
    del part["runs"][2]
    path = _write(tmp_path / "b.json", part)
    line = _cli_error(capsys, ["merge", str(path), "--out", str(tmp_path / "o")])
    assert "seeds [0, 1], not the 3 seeds" in line
    assert not (tmp_path / "o").exists()


def test_a_non_empty_out_is_refused_and_kept(stored, tmp_path, capsys):
    a, *_ = _split(stored, tmp_path)
    out = tmp_path / "o"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    line = _cli_error(capsys, ["merge", str(a), "--out", str(out)])
    assert "exists and is not empty" in line
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"config": {}, "runs": []}', "'epochs' is not a positive integer"),
        (b'{"config": {"epochs": 1}, "runs": [{"host": 1}]}', "runs[0]: needs"),
        (gzip.compress(b"{", mtime=0)[:-6], "truncated gzip stream"),
        (b"\x1f\x8b" + b"\0" * 20, "corrupt gzip stream"),
        (b'{"config": {"epochs": 1, "model": "m.py"}, "runs": []}', "--model/--data"),
    ],
)
def test_files_that_are_not_results_are_one_line(tmp_path, capsys, content, says):
    bad = tmp_path / "results.json"
    bad.write_bytes(content)
    line = _cli_error(capsys, ["merge", str(bad), "--out", str(tmp_path / "o")])
    assert says in line and str(bad) in line
    assert not (tmp_path / "o").exists()


def test_missing_inputs_folders_and_fifos_are_one_line(tmp_path, capsys):
    out = ["--out", str(tmp_path / "o")]
    assert "missing" in _cli_error(capsys, ["merge", str(tmp_path / "nope"), *out])
    (tmp_path / "empty").mkdir()
    line = _cli_error(capsys, ["merge", str(tmp_path / "empty"), *out])
    assert "holds no results.json" in line
    os.mkfifo(tmp_path / "fifo.json")
    assert "not a regular file" in _cli_error(
        capsys, ["merge", str(tmp_path / "fifo.json"), *out]
    )
    assert "--out" in _cli_error(capsys, ["merge", str(tmp_path / "fifo.json")])


def test_damaged_records_fail_cleanly_and_leave_out_as_it_was(stored, tmp_path, capsys):
    part = copy.deepcopy(stored)
    part["runs"][0]["epochs"][0]["test_acc"] = "high"
    path = _write(tmp_path / "a.json", part)
    out = tmp_path / "o"
    out.mkdir()  # an empty --out is accepted, and must stay empty on failure
    line = _cli_error(capsys, ["merge", str(path), "--out", str(out), "--no-plots"])
    assert "not what adali-compare writes" in line
    assert out.is_dir() and not any(out.iterdir())


def test_a_gzip_bomb_is_refused_within_a_memory_cap(tmp_path):
    bomb = tmp_path / "results.json.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        chunk = b" " * (1 << 20)
        for _ in range(600):  # 600 MiB of spaces (over the 512 MiB limit)
            fh.write(chunk)
    assert bomb.stat().st_size < 8 << 20
    printed = run_capped(
        f"""
        from pathlib import Path
        from adali_plugins.compare.merge import MergeError, read_results
        cap()
        try:
            read_results(Path({str(bomb)!r}))
        except MergeError as exc:
            print(exc)
        """
    )
    assert "decompresses to more than" in printed


def test_read_results_refuses_above_its_limit(stored, tmp_path):
    (path,) = _split({**stored, "runs": stored["runs"][:3]}, tmp_path)
    with pytest.raises(MergeError, match=r"budget|bytes"):
        read_results(path, limit=1000)
    assert read_results(path)["runs"][0]["seed"] == 0


# --- end to end (trains: slow) ----------------------------------------------

TINY = ["--dataset", "digits", "--train-limit", "200", "--test-limit", "100"]
TINY += ["--epochs", "1", "--channels", "4", "8", "--batch-size", "128"]
TINY += ["--seeds", "2", "--threads", "1", "--host", "snntorch", "-q"]


@pytest.mark.slow
def test_two_jobs_merged_equal_one_job_that_trained_both(tmp_path, capsys):
    pytest.importorskip("snntorch")
    both = cli.main([*TINY, "--surrogates", "AdaLi", "atan", "--out", str(tmp_path)])
    jobs = []
    for name in ("AdaLi", "atan"):
        job = tmp_path / name
        cli.main([*TINY, "--surrogates", name, "--no-plots", "--out", str(job)])
        jobs.append(str(job))
    capsys.readouterr()
    merged = cli.main(["merge", *jobs, "--out", str(tmp_path / "m"), "-q"])

    def timeless(payload: dict) -> list:
        return [
            [
                {k: v for k, v in r.items() if k != "train_seconds"}
                for r in run["epochs"]
            ]
            for run in payload["runs"]
        ]

    assert timeless(merged) == timeless(both)
    assert merged["verdict"] == both["verdict"]
    for got, want in zip(merged["table"], both["table"], strict=True):
        assert {**got, "seconds_per_epoch": 0} == {**want, "seconds_per_epoch": 0}
    assert (tmp_path / "m" / "curves_snntorch.png").stat().st_size > 0
    assert "curves_snntorch.png" in (tmp_path / "m" / "summary.md").read_text()
