"""examples/train_digits.py: a short run of the digits CNN on symconv kernels.

The full run (≥ 97 % test accuracy) is the example itself; here a subset trains for
two epochs, which must already beat chance (10 %) by far, the first step's
gradients must equal PyTorch's, and the command line must end with the accuracy.
All tests share the three compiled layers (conv1, pool, conv2) through the session
cache folder.
"""

from __future__ import annotations

import importlib.util
import re
import sys

import numpy as np
import pytest

from tests.paths import EXAMPLES

pytest.importorskip(
    "sklearn", reason="the digits data ships with scikit-learn: pip install scikit-learn"
)


@pytest.fixture(scope="module")
def dc():
    """The example's helper module, imported from examples/."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        import digits_cnn

        yield digits_cnn
    finally:
        sys.path.remove(str(EXAMPLES))


@pytest.fixture(scope="module", autouse=True)
def one_thread(dc):
    """As in the example: these layers are too small for threads to pay off."""
    with dc.numba_threads(1):
        yield


@pytest.fixture(scope="module")
def net(dc):
    return dc.Net(dc.make_specs())


@pytest.fixture(scope="module")
def split(dc):
    return dc.load_split()


def test_split_is_stratified_and_held_out(dc, split):
    assert len(split.y_test) >= 0.2 * (len(split.y_train) + len(split.y_test))
    assert split.x_train.dtype == np.float32 and split.x_train.shape[1:] == (1, 8, 8)
    assert 0.0 <= split.x_train.min() and split.x_train.max() <= 1.0
    assert set(np.bincount(split.y_test)) <= {35, 36, 37}  # every class near 10 %


def test_short_training_beats_chance(dc, net, split):
    small = dc.subset(split, train=640, test=320)
    params = dc.init_params(net.specs)
    before = net.accuracy(params, small.x_test, small.y_test)
    optimizer, rng = dc.Adam(), np.random.default_rng(dc.SEED)
    # no shifted copies: two short epochs learn faster from the plain images
    results = [dc.train_epoch(net, params, optimizer, small, rng, augment=False) for _ in range(2)]
    print(f"test accuracy {before:.3f} -> {[round(r.test_accuracy, 3) for r in results]}")
    assert results[-1].loss < results[0].loss
    assert results[-1].test_accuracy >= 0.7
    assert results[-1].test_accuracy > before + 0.5


def test_padded_last_batch_does_not_change_predictions(dc, net, split):
    params = dc.init_params(net.specs)
    x = split.x_test[:64]
    assert np.array_equal(net.predict(params, x[:33]), net.predict(params, x)[:33])


def test_first_step_gradients_match_torch(dc, net, split):
    pytest.importorskip("torch", reason="the comparison needs PyTorch")
    params = dc.init_params(net.specs)
    x, y = next(dc.training_batches(split, net.batch, np.random.default_rng(dc.SEED)))
    check = dc.compare_with_torch(net, params, x, y)
    print(check.describe())
    assert check.agree, check.describe()
    assert max(check.relative.values()) < 1e-4


def test_command_line_ends_with_test_accuracy(dc, net, tmp_path, capsys):
    sys.path.insert(0, str(EXAMPLES))
    try:
        import train_digits
    finally:
        sys.path.remove(str(EXAMPLES))
    plot = tmp_path / "digits.png"
    assert train_digits.main(["--epochs", "1", "--plot", str(plot), "--no-torch-check"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert re.fullmatch(r"test accuracy: 0\.\d{4}", lines[-1]), lines[-1]
    assert "\r" not in captured.err  # no progress bar is drawn into a log: not a terminal
    assert re.search(r"epoch  1: loss \d\.\d{4}", captured.out)
    if importlib.util.find_spec("matplotlib") is not None:
        assert f"plot written to {plot}" in lines
        assert plot.read_bytes().startswith(b"\x89PNG")
