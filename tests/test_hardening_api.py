"""Issue 24, the harness API and CLI: each attack as written, and the new behaviour.

Rows 3-6, 9, 11, 13 and the smaller CLI points: ``compare()`` honours
``calibrate=``, refuses a rerun of another identity before training, writes
``results.json`` atomically and checks every candidate up front; the CLI writes
``config.json`` only once every check passed and answers bad input in one line.
Real hosts, real data (the bundled digits), tiny runs.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_compare_user import USER_MODULE as BASE_USER_MODULE
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from adali_plugins.compare import cli
from adali_plugins.compare.data import load_digits_split
from adali_plugins.compare.spec import SurrogateSpec, parse_surrogate, run_stem
from adali_plugins.compare.train import RunConfig, run_paths
from adali_plugins.compare.user import CompareError, compare, weights_hash
from adali_plugins.state import AdaLiState

snn = pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly")
from spikingjelly.activation_based import layer, neuron  # noqa: E402

T = 3
TINY = ["--train-limit", "200", "--test-limit", "60", "--epochs", "1"]
TINY += ["--seeds", "1", "--threads", "1", "--no-plots", "-q"]
A = ["--host", "snntorch", "--surrogates", "AdaLi", *TINY]


def loaders(n_train: int = 128, n_test: int = 64, offset: int = 0):
    data = load_digits_split(seed=0)
    xs, ys = data.x_train[offset : offset + n_train], data.y_train[offset:]
    train = TensorDataset(xs, ys[:n_train])
    test = TensorDataset(data.x_test[:n_test], data.y_test[:n_test])
    return DataLoader(train, batch_size=64, shuffle=True), DataLoader(
        test, batch_size=64
    )


class Net(nn.Module):
    """A hidden and an output snnTorch Leaky layer, stepped over T."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.lif1 = snn.Leaky(beta=0.9, init_hidden=True)
        self.fc2 = nn.Linear(32, 10)
        self.lif2 = snn.Leaky(beta=0.9, init_hidden=True, output=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mems = []
        for _ in range(T):
            _, mem = self.lif2(self.fc2(self.lif1(self.fc1(x.flatten(1)))))
            mems.append(mem)
        return torch.stack(mems)


class MultiStepNet(nn.Module):
    """A SpikingJelly multi-step net returning ``[T, B, classes]``."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            layer.Flatten(step_mode="m"),
            layer.Linear(64, 32, step_mode="m"),
            neuron.LIFNode(step_mode="m"),
            layer.Linear(32, 10, step_mode="m"),
            neuron.LIFNode(step_mode="m"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.unsqueeze(0).repeat(T, *[1] * x.dim()))


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("adali-compare: error:") and "\n" not in err, err
    return err


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------- row 3: calibrate= read


def test_calibrate_option_changes_the_row_and_is_applied():
    train, test = loaders()
    built: list[nn.Module] = []

    def factory(seed: int) -> nn.Module:
        built.append(Net())
        return built[-1]

    result = compare(
        model=factory,
        train=train,
        test=test,
        surrogates=["AdaLi", "AdaLi:calibrate=both,coverage=0.5"],
        epochs=1,
        seeds=1,
    )
    (plain,) = result.records("AdaLi")
    (calibrated,) = result.records("AdaLi:calibrate=both,coverage=0.5")
    assert plain[0]["calibrated"] == {}
    assert plain[0]["train_loss"] != calibrated[0]["train_loss"]
    found = calibrated[0]["calibrated"]["lif1"]
    assert found["mode"] == "both"
    # the calibrated net holds the values calibration chose (not the defaults)
    surrogate = built[-1].lif1.spike_grad
    assert isinstance(surrogate, AdaLiState)
    params = surrogate.params
    assert (params.left, params.right) == pytest.approx((found["left"], found["right"]))
    assert (params.alpha, params.beta) == pytest.approx((found["alpha"], found["beta"]))
    assert (found["previous_left"], found["previous_right"]) == (1.5, 1.5)
    assert (params.left, params.right) != (1.5, 1.5)


USER_MODULE = (
    BASE_USER_MODULE
    + """

class Flat(Net):
    def forward(self, x):
        return super().forward(x).sum((0, 2))  # 1-D: one number per sample


def flat(seed):
    return Flat()


def half(seed):
    return Net().to(torch.bfloat16)
"""
)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "hardening_user_net.py").write_text(USER_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "hardening_user_net"
    sys.modules.pop("hardening_user_net", None)


def model_args(module: str, factory: str, out: Path) -> list[str]:
    return [
        "--model",
        f"{module}:{factory}",
        "--data",
        f"{module}:loaders",
        "--epochs",
        "1",
        "--seeds",
        "1",
        "--no-plots",
        "-q",
        "--out",
        str(out),
    ]


@pytest.mark.slow
def test_cli_model_calibrate_option_changes_the_row(user_module, tmp_path):
    out = tmp_path / "out"
    args = model_args(user_module, "make", out)
    cli.main([*args, "--surrogates", "AdaLi", "AdaLi:calibrate=both,coverage=0.5"])
    runs = json.loads((out / "results.json").read_text())["runs"]
    records = {r["surrogate"]: r["records"][0] for r in runs}
    calibrated = records["AdaLi:calibrate=both,coverage=0.5"]
    assert calibrated["calibrated"]["lif1"]["mode"] == "both"
    assert records["AdaLi"]["calibrated"] == {}
    assert calibrated["train_loss"] != records["AdaLi"]["train_loss"]


@pytest.mark.slow
def test_cli_harness_calibrate_option_changes_the_row(tmp_path):
    out = tmp_path / "out"
    cli.main(
        [*A[:3], "AdaLi", "AdaLi:calibrate=both,coverage=0.5", *TINY, "--out", str(out)]
    )
    runs = json.loads((out / "results.json").read_text())["runs"]
    records = {r["surrogate"]: r["epochs"][0] for r in runs}
    calibrated = records["AdaLi:calibrate=both,coverage=0.5"]["calibrated"]
    assert calibrated and all(c["mode"] == "both" for c in calibrated.values())
    assert records["AdaLi"]["calibrated"] == {}
    assert (
        records["AdaLi:calibrate=both,coverage=0.5"]["train_loss"]
        != records["AdaLi"]["train_loss"]
    )


# ------------------------------------------- row 4: the API's run identity


def _kwargs(**over):
    train, test = loaders()
    kwargs = dict(
        model=lambda seed: Net(),
        train=train,
        test=test,
        surrogates=["AdaLi", "atan"],
        epochs=1,
        seeds=1,
    )
    return {**kwargs, **over}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda: {"train": loaders(offset=128)[0]}, "data"),
        (lambda: {"optimizer": lambda p: torch.optim.SGD(p, lr=1)}, "optimizer"),
        (
            lambda: {"optimizer": lambda p: torch.optim.Adam(p, lr=2e-3)},
            "optimizer",
        ),
        (lambda: {"loss": nn.CrossEntropyLoss(label_smoothing=0.1)}, "loss"),
        (lambda: {"epochs": 2}, "epochs"),
    ],
    ids=["other-data", "sgd-lr-1", "adam-other-lr", "other-loss", "more-epochs"],
)
def test_rerun_of_another_identity_is_refused_and_nothing_overwritten(
    tmp_path, change, field
):
    out = tmp_path / "out"
    first = compare(**_kwargs(), out=out)
    before = tree(out)
    with pytest.raises(CompareError) as info:
        compare(**_kwargs(**change()), out=out)
    message = str(info.value)
    assert "\n" not in message and "belongs to another comparison" in message
    assert re.search(rf"differs in [a-z_, ]*\b{field}\b", message), message
    assert tree(out) == before  # not one byte changed
    again = compare(**_kwargs(), out=out)  # the same arguments still resume
    assert again.results == first.results


# -------------------------------------------- row 5: results.json, disk full

FULL_DISK = """
import json, resource, signal, sys
sys.path.insert(0, {tests!r})
from test_hardening_api import _kwargs
from adali_plugins.compare.user import compare

out = {out!r}
compare(**_kwargs(), out=out)
before = open(out + "/results.json", "rb").read()
json.loads(before)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails
resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))  # ulimit -f 1
try:
    compare(**_kwargs(), out=out)  # every run resumed: only results.json is written
except OSError as exc:
    print("refused:", exc)
else:
    raise SystemExit("the write did not fail")
assert open(out + "/results.json", "rb").read() == before
"""


@pytest.mark.slow
def test_results_json_survives_a_full_disk(tmp_path):
    import subprocess

    code = FULL_DISK.format(tests=str(Path(__file__).parent), out=str(tmp_path / "o"))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "refused:" in done.stdout
    assert not [p for p in (tmp_path / "o").iterdir() if ".tmp" in p.name]


# ------------------------------ row 6: config.json written after the checks


@pytest.mark.slow
def test_refused_rerun_leaves_config_json_untouched(tmp_path, capsys):
    out = tmp_path / "rb"
    cli.main([*A, "--out", str(out)])
    capsys.readouterr()
    (out / "config.json").unlink()
    before = tree(out)
    with pytest.raises(SystemExit) as info:
        cli.main([*A, "--out", str(out), "--lr", "0.01"])
    assert info.value.code == 2
    err = one_error_line(capsys)
    assert "differs in lr" in err
    assert tree(out) == before and not (out / "config.json").exists()
    cli.main([*A, "--out", str(out)])  # the original command still resumes
    saved = json.loads((out / "config.json").read_text())
    assert saved["lr"] == cli.RECIPES["host"].lr  # the recipe default again


# --------------------------------------- row 9: specs checked, names safe

BAD_SPECS = [
    ("AdaLi:calibrate=both,coverage=2", r"coverage must be a number in \(0, 1\)"),
    ("AdaLi:calibrate=both,coverage=abc", "coverage must be a number"),
    ("AdaLi:coverage=x/y", "letters, digits and _.- only"),
    ("AdaLi:coverage=a=b", "letters, digits and _.- only"),
    ("AdaLi:coverage=0.5", "add calibrate"),
    ("atan:calibrate=both", "AdaLi only"),
    ("../AdaLi", "surrogate name must be"),
    ("AdaLi:p=1,p=1", "given twice"),
    ("AdaLi:left=nan", "finite"),
]


@pytest.mark.parametrize(("spec", "match"), BAD_SPECS, ids=[s for s, _ in BAD_SPECS])
def test_bad_spec_is_one_line_before_anything_trains(tmp_path, capsys, spec, match):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        cli.main([*A[:3], "AdaLi", spec, *TINY, "--out", str(out)])
    assert info.value.code == 2
    err = one_error_line(capsys)
    assert "--surrogates" in err and re.search(match, err), err
    assert not out.exists()  # nothing trained, nothing written


@pytest.mark.parametrize(("spec", "match"), BAD_SPECS, ids=[s for s, _ in BAD_SPECS])
def test_bad_spec_is_refused_by_compare_before_training(spec, match):
    epochs: list[int] = []
    with pytest.raises(CompareError, match=match):
        compare(
            **_kwargs(surrogates=["AdaLi", spec]),
            on_epoch=lambda label, seed, record: epochs.append(1),
        )
    assert not epochs


def test_labels_that_shared_a_file_get_distinct_path_safe_stems():
    # each pair mapped to one checkpoint file under the old stem
    pairs = [
        ("atan_a:b=1", "atan:a_b=1"),
        ("atan:a=1,b=c-d", "atan:a=1_b-c,d=1"),
        ("AdaLi:schedule=linear_lagfree", "AdaLi_schedule:linear_lagfree=1"),
        ("atan:alpha=-1", "atan:alpha=-1.0"),
    ]
    for one, two in pairs:
        a, b = parse_surrogate(one), parse_surrogate(two)
        assert a.label != b.label and a.stem != b.stem, (one, two)
        for stem in (a.stem, b.stem):
            assert re.fullmatch(r"[A-Za-z0-9._+-]+", stem) and "/" not in stem
    # the simple names of old runs are unchanged
    assert run_stem("AdaLi") == "AdaLi" and run_stem("fast_sigmoid") == "fast_sigmoid"
    assert run_stem("AdaLi:calibrate=both") == "AdaLi_calibrate-both"
    cfg = RunConfig(
        host="snntorch",
        dataset="digits",
        surrogate="AdaLi",
        seed=0,
        epochs=1,
        time_steps=4,
        batch_size=64,
        lr=2e-3,
        encoding="rate",
        channels=(4, 8),
    )
    assert cfg.name == "snntorch-AdaLi-seed0"


def test_a_run_saved_under_its_old_stem_is_found_only_for_its_own_label(tmp_path):
    from dataclasses import asdict, replace

    from adali_plugins.checkpoint import CheckpointError, save_checkpoint
    from adali_plugins.compare.train import check_resumable

    cfg = RunConfig(
        host="snntorch",
        dataset="digits",
        surrogate="atan:a=1_b-2",
        seed=0,
        epochs=1,
        time_steps=4,
        batch_size=64,
        lr=2e-3,
        encoding="rate",
        channels=(4, 8),
    )
    assert cfg.name != cfg.legacy_name == "snntorch-atan_a-1_b-2-seed0"
    old = tmp_path / "checkpoints" / f"{cfg.legacy_name}.pt"
    old.parent.mkdir()
    state = {"config": asdict(cfg), "model": {}, "optimizer": {}, "records": "[]"}
    save_checkpoint(old, state)
    assert run_paths(cfg, tmp_path)[1] == old  # the old run resumes
    check_resumable(cfg, tmp_path)
    # another label with the same old stem never takes that run's records
    other = replace(cfg, surrogate="atan:a=1,b=2")
    assert other.legacy_name == cfg.legacy_name
    with pytest.raises(CheckpointError, match="differs in surrogate"):
        check_resumable(other, tmp_path)


def test_spec_objects_are_checked_when_built():
    with pytest.raises(ValueError, match="surrogate name"):
        SurrogateSpec("../../etc/x")
    with pytest.raises(ValueError, match="letters, digits"):
        SurrogateSpec("AdaLi", {"schedule": "a/b"})
    with pytest.raises(ValueError, match="finite"):
        SurrogateSpec("atan", {"alpha": float("inf")})


# ------------------------------------------------ row 11: bfloat16 models


def test_weights_hash_reads_bfloat16_and_tells_dtypes_apart():
    torch.manual_seed(0)
    net = MultiStepNet()
    full = weights_hash(net)
    half = weights_hash(net.to(torch.bfloat16))
    assert len(half) == 64 and half != full
    digest = hashlib.sha256()
    for key, value in net.state_dict().items():
        digest.update(key.encode())
        flat = value.detach().reshape(-1).view(torch.uint8)
        digest.update(f"{value.dtype}{tuple(value.shape)}".encode())
        digest.update(flat.numpy().tobytes())
    assert half == digest.hexdigest()


def test_compare_trains_a_bfloat16_model():
    train, test = loaders()
    result = compare(
        model=lambda seed: MultiStepNet().to(torch.bfloat16),
        train=train,
        test=test,
        surrogates=["AdaLi", "Sigmoid"],
        epochs=1,
        seeds=1,
    )
    assert result.host == "spikingjelly" and len(result.results) == 2
    for records in result.results.values():
        assert 0.0 <= records[0]["test_acc"] <= 1.0


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        ("flat", r"forward returned a tensor of shape \[64\]; it must return logits"),
        ("half", "the first train batch fails"),
    ],
    ids=["1-d-output", "bfloat16-snntorch"],
)
def test_cli_model_that_cannot_train_is_one_line(
    user_module, tmp_path, capsys, factory, match
):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        cli.main(model_args(user_module, factory, out))
    assert info.value.code == 2
    assert re.search(match, one_error_line(capsys))
    assert not (out / "config.json").exists() and not (out / "checkpoints").exists()


# ------------------------------------------ row 13 and the smaller points


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is present")
def test_device_mps_is_named_where_it_is_missing(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main([*A, "--device", "mps", "--out", str(tmp_path / "o")])
    err = one_error_line(capsys)
    assert "--device mps" in err and "not available" in err
    assert "--surrogates" not in err
    with pytest.raises(CompareError, match="device mps: MPS"):
        compare(**_kwargs(device="mps"))


def test_data_dir_for_a_bundled_dataset_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main([*A, "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")])
    err = one_error_line(capsys)
    assert "--data-dir applies to fashion-mnist" in err and "digits" in err


def test_out_root_and_foreign_folders_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main([*A, "--out", "/"])
    assert "filesystem root" in one_error_line(capsys)
    mine = tmp_path / "project"
    mine.mkdir()
    (mine / "results.csv").write_text("my own numbers\n")
    with pytest.raises(SystemExit):
        cli.main([*A, "--out", str(mine)])
    assert "holds other files and no comparison" in one_error_line(capsys)
    assert tree(mine) == {"results.csv": b"my own numbers\n"}
    with pytest.raises(CompareError, match="filesystem root"):
        compare(**_kwargs(), out="/")
    with pytest.raises(CompareError, match="holds other files"):
        compare(**_kwargs(), out=mine)
    assert tree(mine) == {"results.csv": b"my own numbers\n"}


@pytest.mark.slow  # a fresh interpreter imports torch and snnTorch
def test_host_both_without_spikingjelly_says_so(tmp_path):
    import subprocess

    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["spikingjelly"] = None  # as if it were not installed
        from adali_plugins.compare import cli
        out = {str(tmp_path / "o")!r}
        cli.main(["--host", "both", "--surrogates", "ATan", "--out", out])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert lines[0] == (
        "adali-compare: --host both: spikingjelly not installed, running snntorch "
        "only (pip install 'adali_plugins[spikingjelly]')"
    )
    assert lines[1].startswith("adali-compare: error: --surrogates: unknown")
    assert len(lines) == 2


def test_compare_refuses_what_the_cli_refuses():
    for surrogates, match in [
        (["AdaLi", "AdaLi"], "given twice"),
        (["AdaLi:left=-1"], "left"),
        (["AdaLi", 3], "name or SurrogateSpec"),
        (
            ["AdaLi:calibrate=both,coverage=0.5", "AdaLi:calibrate=both,coverage=0.9"],
            "look the same in the table",
        ),
    ]:
        with pytest.raises(CompareError, match=match):
            compare(**_kwargs(surrogates=surrogates))
    for counts in ({"epochs": 1001}, {"seeds": 101}, {"epochs": True}):
        with pytest.raises(CompareError, match="from 1 to"):
            compare(**_kwargs(**counts))
    with pytest.raises(CompareError, match="train must be re-iterable"):
        compare(**_kwargs(train=iter(loaders()[0])))
    with pytest.raises(CompareError, match="optimizer must return"):
        compare(**_kwargs(optimizer=lambda params: "adam"))
    with pytest.raises(CompareError, match="loss must return a one-element"):
        compare(**_kwargs(loss=lambda logits, y: logits))
