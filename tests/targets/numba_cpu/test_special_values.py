"""NaN and ±inf through every compiled kernel, against the NumPy reference.

The convolution kernels are compiled with the fast-math flags ``contract`` and
``reassoc`` only (no ``nnan``/``ninf``), so LLVM may fuse and reorder the sums but must
keep IEEE 754 values: NaN and ±inf in an input or an upstream gradient reach exactly
the outputs the reference gives them.  Max pooling lets a NaN win its window, as
PyTorch does.

One documented difference: a kernel multiplies the zeros it inserts around dL/dO
(padding, and the stride's dilation in the direct algorithm) like any number, while
the reference and PyTorch skip those products.  Where such a zero meets an infinite
or NaN *weight*, dL/dX is NaN where they give ±inf or a finite value; the last test
pins exactly that.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from symconv.kinds import ConvSpec, PoolSpec, kind_of, relative_error
from symconv.pipeline import generate
from tests.strategies import conv_specs

pytestmark = pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")

SPECIALS = (np.nan, np.inf, -np.inf)
LAYERS = [
    ConvSpec((6, 7), 3, in_channels=2, out_channels=4, groups=2, stride=2, padding=1, bias=True),
    ConvSpec((9,), 3, dilation=2, padding=((3, 0),), mode="convolution", dtype="float64"),
    PoolSpec("max", (6, 6), 3, stride=2, padding=1, channels=2),
    PoolSpec("avg", (5, 5), 2, stride=1, channels=2, dtype="float64"),
]


def sprinkle(array: np.ndarray, rng: np.random.Generator, share: float = 0.15) -> np.ndarray:
    """A copy with about `share` of its entries replaced by NaN, +inf or -inf."""
    out = array.copy()
    where = rng.random(out.shape) < share
    out[where] = rng.choice(SPECIALS, size=int(where.sum()))
    return out


def check(spec: object, arrays: dict[str, np.ndarray]) -> None:
    kind = kind_of(spec)
    got = kind.run(spec, generate(spec), arrays)
    want = kind.reference(spec, arrays)
    for name, value in got.items():
        _, error = relative_error(value, want[name])
        assert error <= 1e-4, f"{name}: NaN/inf where the reference has none, or error {error}"


@pytest.mark.parametrize("layer", LAYERS, ids=lambda s: s.label)
@pytest.mark.parametrize("seed", [0, 1])
def test_special_inputs_and_gradients_come_out_as_the_reference(layer, seed):
    rng = np.random.default_rng(seed)
    arrays = kind_of(layer).random_inputs(layer, rng)
    for name in ("x", "gy"):
        arrays[name] = sprinkle(arrays[name], rng)
    check(layer, arrays)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=conv_specs(max_rank=2), seed=st.integers(0, 2**16))
# The only output reads padding: dL/dw is 0·dL/dy, NaN for an infinite dL/dy (as in
# PyTorch), although the product never meets x.  Found by this test.
@example(
    spec=ConvSpec((1,), 1, in_channels=2, out_channels=2, stride=2, padding=((1, 0),), groups=2),
    seed=1,
)
def test_random_layers_propagate_specials_of_x_and_gy(spec, seed):
    rng = np.random.default_rng(seed)
    arrays = kind_of(spec).random_inputs(spec, rng)
    arrays["x"], arrays["gy"] = sprinkle(arrays["x"], rng), sprinkle(arrays["gy"], rng)
    check(spec, arrays)


def test_an_infinite_weight_in_the_forward_pass_meets_the_padding_as_in_pytorch():
    """Padding is zeros that multiply: 0·inf is NaN in the reference, PyTorch and the kernel."""
    spec = ConvSpec((5, 5), 3, padding=1)
    rng = np.random.default_rng(3)
    arrays = kind_of(spec).random_inputs(spec, rng)
    arrays["w"][0, 0, 0, 0] = np.inf
    y = generate(spec).forward(arrays["x"], arrays["w"])
    want = kind_of(spec).reference(spec, arrays)["forward"]
    assert relative_error(y, want)[1] <= 1e-4 and np.isnan(y[0, 0, 0]).all()


def test_an_infinite_weight_in_dL_dX_is_nan_where_an_inserted_zero_meets_it():
    """The one difference, pinned: every entry of the kernel is the reference's, or NaN
    where an inserted zero met the infinite weight."""
    spec = ConvSpec((5, 5), 3, padding=1)
    rng = np.random.default_rng(5)
    arrays = kind_of(spec).random_inputs(spec, rng)
    arrays["w"][0, 0, 0, 0] = np.inf
    gx = generate(spec).grad_input(arrays["gy"], arrays["w"])
    want = kind_of(spec).reference(spec, arrays)["grad_input"]
    special = ~np.isfinite(want)
    assert (np.isnan(gx[special]) | (gx[special] == want[special])).all()
    finite = np.isfinite(gx)
    np.testing.assert_allclose(gx[finite], want[finite], rtol=1e-5)
    # the reference reaches the last row and column with the finite taps only
    assert np.isfinite(want[0, 0, -1]).all() and np.isnan(gx[0, 0, -1]).all()
