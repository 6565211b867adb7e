# %% [markdown]
# # A tiny AdaLi comparison from Python
#
# The same harness as `adali-compare`, called through its Python entry point
# `adali_plugins.compare.main`, on 1,000 of the bundled digits (about half a
# minute of CPU time). Open it as a notebook (Jupytext, VS Code or PyCharm read
# the `# %%` cells) or run it as a script:
#
#     python integration_examples/compare_notebook.py [--out DIR]
#
# Small, but every row trains: 32 images a batch over 1,000 images is about 30
# optimizer steps an epoch, 3 epochs, at lr 5e-3. (A slice of 300 images in
# batches of 128 gives 3 steps an epoch: every row stays at chance, 10%.)

# %%
import argparse
import json
from pathlib import Path

from adali_plugins.compare import main
from adali_plugins.compare.plots import plot_accuracy, plot_curves

parser = argparse.ArgumentParser()
parser.add_argument("--out", type=Path, default=Path("runs/compare_notebook"))
args, _ = parser.parse_known_args()  # a notebook kernel passes its own arguments
OUT: Path = args.out

# %% [markdown]
# ## Run: AdaLi, each host's default and best built-in, 2 seeds, 3 epochs
#
# `main` prints the table, the verdict and any class a run never predicted.

# %%
payload = main(
    [
        "--train-limit",
        "1000",
        "--test-limit",
        "300",
        "--seeds",
        "2",
        "--epochs",
        "3",
        "--channels",
        "8",
        "16",
        "--batch-size",
        "32",
        "--lr",
        "5e-3",
        "--no-plots",
        "--quiet",
        "--out",
        str(OUT),
    ]
)

# %% [markdown]
# ## Read `results.json`: test accuracy by epoch, averaged over the seeds

# %%
payload = json.loads((OUT / "results.json").read_text())
by_row: dict[tuple[str, str], list[list[float]]] = {}
for r in payload["runs"]:
    accs = [e["test_acc"] for e in r["epochs"]]
    by_row.setdefault((r["host"], r["surrogate"]), []).append(accs)
for (host, surrogate), seeds in by_row.items():
    mean = [sum(epoch) / len(epoch) for epoch in zip(*seeds, strict=True)]
    print(f"{host:<13}{surrogate:<10}" + " ".join(f"{100 * a:5.1f}%" for a in mean))

# %% [markdown]
# ## Accuracy (and computational density) per epoch, with the package's plots

# %%
results = {(r["host"], r["surrogate"], r["seed"]): r["epochs"] for r in payload["runs"]}
drawn = [plot_accuracy(results, OUT / "accuracy.png")]
for host in sorted({h for h, _, _ in results}):
    drawn.append(plot_curves(results, host, OUT / f"curves_{host}.png"))
print("plots:", ", ".join(str(p) for p in drawn))
