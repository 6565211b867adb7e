"""AdaLi beside two built-ins on the bundled digits, in under 40 lines.

Run:  python integration_examples/compare_in_40_lines.py [--epochs 4]
"""

import argparse
import tempfile
from pathlib import Path

from adali_plugins.compare import RunConfig, run
from adali_plugins.compare.data.datasets import load_dataset

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=4)
parser.add_argument("--host", default="snntorch", choices=["snntorch", "spikingjelly"])
args = parser.parse_args()
builtins = {"snntorch": ["atan", "fast_sigmoid"], "spikingjelly": ["ATan", "Sigmoid"]}
data = load_dataset("digits")
out = Path(tempfile.mkdtemp(prefix="adali-compare-"))
for surrogate in ["AdaLi", "AdaLi:calibrate=both", *builtins[args.host]]:
    cfg = RunConfig(
        host=args.host,
        dataset="digits",
        surrogate=surrogate,
        seed=0,
        epochs=args.epochs,
        time_steps=4,
        batch_size=64,
        lr=2e-3,
        encoding="direct",
        channels=(16, 32),
    )
    records = run(cfg, data, out)
    accs = " ".join(f"{r['test_acc']:.3f}" for r in records)
    print(f"{surrogate:<22} test accuracy by epoch: {accs}")
print("per-epoch records (gradients, firing, windows):", out / "runs")
