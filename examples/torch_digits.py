"""Train a PyTorch CNN on scikit-learn's 8×8 digits with symconv's kernels as its conv layers.

    python examples/torch_digits.py [--epochs N] [--batch B] [--torch-conv]

`symconv.torch.Conv` stands where `nn.Conv2d` would: same parameters, same default
initialisation, gradients from the generated kernels.  The loader keeps the last,
smaller batch of every epoch (1,437 training images in batches of 64 leave 29):
`Conv` generates kernels for that batch size the first time it meets it and reuses
them.  ``--torch-conv`` trains the same network with `nn.Conv2d` instead; from the
same seed both print the same losses to about six digits.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import nn

from symconv import ConvSpec
from symconv.torch import Conv

BATCH = 64


def load_digits_split(seed: int = 0) -> tuple[torch.Tensor, ...]:
    """(x_train, y_train, x_test, y_test): images scaled to [0, 1], 80 % / 20 %."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy((digits.images / 16.0).astype(np.float32)).unsqueeze(1)
    y = torch.from_numpy(digits.target.astype(np.int64))
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(x)))
    cut = int(0.8 * len(x))
    train, test = order[:cut], order[cut:]
    return x[train], y[train], x[test], y[test]


def conv(in_channels: int, out_channels: int, size: int, symconv: bool, batch: int) -> nn.Module:
    """A 3×3, padding-1 conv layer: symconv's or PyTorch's (same initialisation)."""
    if not symconv:
        return nn.Conv2d(in_channels, out_channels, 3, padding=1)
    spec = ConvSpec((size, size), 3, in_channels, out_channels, batch, padding=1, bias=True)
    return Conv(spec)


def make_model(symconv: bool = True, seed: int = 0, batch: int = BATCH) -> nn.Sequential:
    """conv 3×3 → ReLU → max-pool 2 → conv 3×3 → ReLU → dense; `batch` is only the size
    the kernels are first generated for (any other size gets its own)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        conv(1, 8, 8, symconv, batch),
        nn.ReLU(),
        nn.MaxPool2d(2),
        conv(8, 16, 4, symconv, batch),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),
    )


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    seed: int,
    batch: int = BATCH,
) -> float:
    """One pass in shuffled batches of `batch`, the last one smaller; the mean loss."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    total = 0.0
    for start in range(0, len(x), batch):
        picked = order[start : start + batch]
        loss = nn.functional.cross_entropy(model(x[picked]), y[picked])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(picked)
    return total / len(x)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = BATCH) -> float:
    """Fraction right, scored in batches of `batch`."""
    with torch.no_grad():
        right = sum(
            int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
            for i in range(0, len(x), batch)
        )
    return right / len(x)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--torch-conv", action="store_true", help="use nn.Conv2d instead")
    args = parser.parse_args(argv)
    x_train, y_train, x_test, y_test = load_digits_split()
    model = make_model(symconv=not args.torch_conv)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for epoch in range(args.epochs):
        loss = train_epoch(model, optimizer, x_train, y_train, seed=epoch)
        print(f"epoch {epoch + 1}: loss {loss:.6f}")
    print(f"test accuracy: {accuracy(model, x_test, y_test):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
