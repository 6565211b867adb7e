# %% [markdown]
# # A tiny AdaLi comparison from Python
#
# The same harness as `adali-compare`, called through its Python entry point
# `adali_plugins.compare.main`, on a small slice of the bundled digits (under a
# minute on two CPU cores). Open it as a notebook (Jupytext, VS Code or
# PyCharm read the `# %%` cells) or run it as a script:
#
#     python integration_examples/compare_notebook.py [--out DIR]

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
# ## Run: AdaLi, each host's default and best built-in, 2 seeds, 2 epochs

# %%
payload = main(
    [
        "--train-limit",
        "300",
        "--test-limit",
        "150",
        "--seeds",
        "2",
        "--epochs",
        "2",
        "--channels",
        "4",
        "8",
        "--batch-size",
        "128",
        "--no-plots",
        "--quiet",
        "--out",
        str(OUT),
    ]
)

# %% [markdown]
# ## Read `results.json`: the table and the verdict

# %%
payload = json.loads((OUT / "results.json").read_text())
for row in payload["table"]:
    print(
        f"{row['host']:<13}{row['surrogate']:<12}"
        f"final {100 * row['final_acc'][0]:6.2f}%  density {row['density']:.1%}"
    )
for verdict in payload["verdict"]:
    print(verdict["line"])

# %% [markdown]
# ## Accuracy (and computational density) per epoch, with the package's plots

# %%
results = {(r["host"], r["surrogate"], r["seed"]): r["epochs"] for r in payload["runs"]}
drawn = [plot_accuracy(results, OUT / "accuracy.png")]
for host in sorted({h for h, _, _ in results}):
    drawn.append(plot_curves(results, host, OUT / f"curves_{host}.png"))
print("plots:", ", ".join(str(p) for p in drawn))
