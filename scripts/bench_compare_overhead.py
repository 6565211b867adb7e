"""What ``compare()`` costs per epoch against a hand-written loop on the same model.

Both sides train the same snnTorch tutorial-style network with the same
surrogate (snnTorch's ``atan``), data, optimizer and evaluation, in one process,
interleaved round by round; each round times one epoch of each (training plus
test accuracy). Prints the median ratio compare / hand-written and its range.

Run:  python scripts/bench_compare_overhead.py [--rounds 7 --train-limit 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from snntorch import utils
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration_examples"))
from compare_your_model import Net

from adali_plugins.compare import compare
from adali_plugins.compare.data import load_digits_split, load_fashion_mnist


def hand_epoch(net: nn.Module, opt, train, test) -> float:
    """One epoch as a user writes it: train, then test accuracy."""
    net.train()
    for x, y in train:
        utils.reset(net)
        loss = nn.functional.cross_entropy(net(x)[0].mean(0), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()
    correct = 0
    with torch.no_grad():
        for x, y in test:
            utils.reset(net)
            correct += int((net(x)[0].mean(0).argmax(1) == y).sum())
    return correct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--train-limit", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        data = load_fashion_mnist(train_limit=args.train_limit, test_limit=500)
    except FileNotFoundError:
        data = load_digits_split()
    train = DataLoader(
        TensorDataset(data.x_train, data.y_train), batch_size=128, shuffle=True
    )
    test = DataLoader(TensorDataset(data.x_test, data.y_test), batch_size=256)
    inputs = data.x_train[0].numel()
    ratios, hand_s, api_s = [], [], []
    for r in range(args.rounds):
        torch.manual_seed(r)
        net = Net(inputs)
        opt = torch.optim.Adam(net.parameters(), lr=5e-3)
        began = time.perf_counter()
        hand_epoch(net, opt, train, test)
        hand = time.perf_counter() - began
        began = time.perf_counter()
        compare(
            model=lambda seed: Net(inputs),
            train=train,
            test=test,
            surrogates=["atan"],
            epochs=1,
            seeds=1,
            optimizer=lambda p: torch.optim.Adam(p, lr=5e-3),
        )
        api = time.perf_counter() - began
        hand_s.append(hand)
        api_s.append(api)
        ratios.append(api / hand)
        print(f"round {r}: hand-written {hand:.2f} s, compare() {api:.2f} s")
    print(
        f"compare() / hand-written, per epoch: median {statistics.median(ratios):.3f}"
        f" (range {min(ratios):.3f}-{max(ratios):.3f}) over {args.rounds} rounds; "
        f"median seconds {statistics.median(hand_s):.2f} vs "
        f"{statistics.median(api_s):.2f}"
    )


if __name__ == "__main__":
    main()
