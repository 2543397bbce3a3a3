"""examples/torch_digits.py: symconv.torch.Conv trains the digits CNN, smaller last batch included.

The same network with nn.Conv2d, from the same seed and the same batches, is the
oracle: after three epochs on 100 images in batches of 16 (the last one of 4) both
have the same losses, accuracy and parameters to float32 rounding, and the symconv
model made kernels for exactly the two batch sizes it met.  (Small batches keep the
kernels single-threaded: each new batch size is a compile, a few seconds here.)
"""

from __future__ import annotations

import sys

import pytest

from tests.paths import EXAMPLES

pytest.importorskip("sklearn", reason="the digits data ships with scikit-learn")
torch = pytest.importorskip("torch", reason="symconv.torch needs PyTorch")


@pytest.fixture(scope="module")
def td():
    sys.path.insert(0, str(EXAMPLES))
    try:
        import torch_digits

        yield torch_digits
    finally:
        sys.path.remove(str(EXAMPLES))


BATCH = 16


def train(td, symconv: bool):
    x_train, y_train, x_test, y_test = td.load_digits_split()
    model = td.make_model(symconv=symconv, batch=BATCH)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    x_train, y_train = x_train[:100], y_train[:100]
    losses = [
        td.train_epoch(model, optimizer, x_train, y_train, seed=e, batch=BATCH) for e in range(3)
    ]
    score = td.accuracy(model, x_test[:96], y_test[:96], batch=BATCH)
    return model, losses, score, len(x_train)


def test_conv_trains_like_nn_conv2d_with_a_smaller_last_batch(td):
    ours, our_losses, our_accuracy, n_train = train(td, symconv=True)
    theirs, their_losses, their_accuracy, _ = train(td, symconv=False)
    assert n_train % BATCH == 4  # the last batch of every epoch is smaller
    assert our_losses == pytest.approx(their_losses, rel=1e-4)
    assert our_losses[2] < our_losses[0]
    assert our_accuracy == pytest.approx(their_accuracy, abs=0.01) and our_accuracy > 0.3
    for (name, a), (_, b) in zip(ours.named_parameters(), theirs.named_parameters()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4, msg=name)
    first_conv = ours[0]._conv.kernel_set
    assert set(first_conv.batches) == {("cpu", 16), ("cpu", 4)}
