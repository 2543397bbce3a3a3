"""Train a small CNN on scikit-learn's 8×8 digits with symconv kernels for every conv and pool.

    python examples/train_digits.py [--epochs N] [--plot FILE] [--no-torch-check]

The network, data split and training step live in `digits_cnn.py` next to this file
(its docstring explains the fixed batch of 32 and the zero-padded evaluation batch);
this script adds the command line, a progress bar per epoch on a terminal (tqdm), the
PyTorch check of the first step's gradients (when PyTorch is installed) and a
loss/accuracy plot (when matplotlib is installed).  Training: Adam with a cosine
learning-rate decay over the epochs, images shifted by up to one pixel.  Seeds are
fixed, so two runs print the same numbers.  The last line of output is
``test accuracy: 0.xxxx``.

Generated modules are cached (SYMCONV_CACHE_DIR or the user cache folder): the first
run compiles three kernel modules, later runs load them.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

# The helper module sits next to this script; examples/ is not a package.
HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import digits_cnn as dc  # noqa: E402

DEFAULT_EPOCHS = 30


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="train_digits.py", description=__doc__.split("\n\n")[0].strip()
    )
    parser.add_argument(
        "--epochs", type=int, default=DEFAULT_EPOCHS, help=f"default {DEFAULT_EPOCHS}"
    )
    parser.add_argument(
        "--plot",
        type=Path,
        default=Path("train_digits.png"),
        help="where the loss/accuracy PNG goes (default: train_digits.png)",
    )
    parser.add_argument(
        "--no-torch-check",
        action="store_true",
        help="skip comparing the first step's gradients with PyTorch",
    )
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    return args


def progress_bar(epoch: int, epochs: int) -> tuple[dc.BatchHook, tqdm]:
    """A bar over the epoch's batches on stderr, drawn only on a terminal (tqdm decides).

    In a log file nothing is drawn: the one line per epoch printed after it says it all.
    """
    bar = tqdm(desc=f"epoch {epoch:>2}/{epochs}", unit="batch", disable=None, leave=False)

    def update(done: int, total: int, loss: float, seconds: float) -> None:
        bar.total = total
        bar.n = done
        bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        bar.refresh()

    return update, bar


def torch_check(net: dc.Net, params: dc.Params, split: dc.Split) -> bool:
    """Compare the first step's gradients with PyTorch; False only if they disagree."""
    if importlib.util.find_spec("torch") is None:
        print("PyTorch is not installed: skipping the first-step gradient check")
        return True
    # A fresh generator with the training seed replays exactly the first training batch.
    x, y = next(dc.training_batches(split, net.batch, np.random.default_rng(dc.SEED)))
    check = dc.compare_with_torch(net, params, x, y)
    print(check.describe())
    return check.agree


def write_plot(path: Path, history: list[dc.EpochResult]) -> None:
    """Loss per batch and per epoch, train and test accuracy per epoch, as one PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    epochs = np.arange(1, len(history) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    batch_losses = [loss for result in history for loss in result.batch_losses]
    per_epoch = len(history[0].batch_losses)
    left.plot(
        np.arange(1, len(batch_losses) + 1) / per_epoch,
        batch_losses,
        lw=0.6,
        alpha=0.5,
        label="batch",
    )
    left.plot(epochs, [r.loss for r in history], "o-", label="epoch mean")
    left.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="training loss")
    left.legend()
    right.plot(epochs, [r.train_accuracy for r in history], "o-", label="train (unshifted)")
    right.plot(epochs, [r.test_accuracy for r in history], "s-", label="test")
    right.axhline(0.97, color="gray", ls=":", lw=1, label="0.97")
    lowest = min(min(r.train_accuracy, r.test_accuracy) for r in history)
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(min(0.8, lowest), 1.0))
    right.legend(loc="lower right")
    fig.suptitle("digits CNN, symconv kernels for conv and pool")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"plot written to {path}")


def train(args: argparse.Namespace) -> float | None:
    """The whole run; the final test accuracy, or None if the PyTorch check failed."""
    start = time.perf_counter()
    split = dc.load_split()
    print(
        f"digits: {len(split.y_train)} train, {len(split.y_test)} test images "
        f"(stratified, seed {dc.SEED}), batch {dc.BATCH}"
    )
    specs = dc.make_specs()
    net = dc.Net(specs, progress=print)
    params = dc.init_params(specs)
    if not args.no_torch_check and not torch_check(net, params, split):
        return None
    optimizer = dc.Adam()
    rng = np.random.default_rng(dc.SEED)
    history = []
    for epoch in range(args.epochs):
        optimizer.lr = dc.cosine_lr(dc.LEARNING_RATE, epoch, args.epochs)
        update, bar = progress_bar(epoch + 1, args.epochs)
        result = dc.train_epoch(net, params, optimizer, split, rng, update)
        bar.close()
        history.append(result)
        print(
            f"epoch {epoch + 1:>2}: loss {result.loss:.4f}  train acc {result.train_accuracy:.4f}"
            f"  test acc {result.test_accuracy:.4f}  ({result.seconds:.1f} s)"
        )
    write_plot(args.plot, history)
    print(f"wall time {time.perf_counter() - start:.1f} s (compiling or loading included)")
    return history[-1].test_accuracy


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with dc.numba_threads(1):
        accuracy = train(args)
    if accuracy is None:
        print("stopping: the first step's gradients differ from PyTorch's", file=sys.stderr)
        return 1
    print(f"test accuracy: {accuracy:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
