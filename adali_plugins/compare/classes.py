"""Classes a trained network never predicts: the trace of a dead output neuron.

With spike-count read-out, a class wins only if its output neuron spikes. A
surrogate with a finite window (AdaLi, a box, a triangle) gives an output neuron
no gradient once its potential stays below the window's left edge for every
sample; nothing then raises it again and its class is never predicted, which
caps the accuracy near ``(classes - dead) / classes`` of the best. Surrogates
with unbounded support (``atan``, ``Sigmoid``) keep a small gradient there.
Measured here: two of three snnTorch AdaLi seeds on full Fashion-MNIST stopped
at 70.0% and 81.3% with two and one classes never predicted (README).

Every evaluation records ``predicted``, the number of test samples assigned to
each class; :func:`never_predicted` turns the last epoch of each run into one
line per affected run, printed under the verdict.
"""

from __future__ import annotations

from typing import Any

import torch


def prediction_counts(predictions: torch.Tensor, classes: int) -> list[int]:
    """How many samples were assigned to each of ``classes`` classes."""
    return torch.bincount(predictions.flatten().cpu(), minlength=classes).tolist()


def missing_classes(record: dict[str, Any]) -> list[int]:
    """The classes an epoch record's evaluation never predicted ([] if unknown)."""
    return [k for k, n in enumerate(record.get("predicted") or []) if n == 0]


def never_predicted(
    results: dict[tuple[str, str, int], list[dict[str, Any]]],
) -> list[str]:
    """One line per run whose last epoch never predicted some class."""
    lines = []
    for (host, surrogate, seed), records in sorted(results.items()):
        missing = missing_classes(records[-1]) if records else []
        if missing:
            total = len(records[-1]["predicted"])
            names = ", ".join(str(k) for k in missing)
            lines.append(
                f"{host} {surrogate} seed {seed}: never predicted class "
                f"{names} ({len(missing)} of {total}) at the last epoch; "
                "an output neuron left without gradient (see "
                "adali_plugins/compare/classes.py)"
            )
    return lines


def format_never_predicted(lines: list[str]) -> str:
    """The block printed under the verdict ("" when every class was predicted)."""
    if not lines:
        return ""
    return "Classes never predicted:\n" + "\n".join(f"  {line}" for line in lines)
