"""Tests for the pooling functions of symconv.reference (the oracle of the pooling kernels).

No expected value comes from the code under test: small cases are worked out by hand,
random specs are checked against a Python loop over windows and taps written here,
against the adjoint identity of average pooling, and against PyTorch's max_pool*d /
avg_pool*d with autograd.  PyTorch's tie rule is pinned by a test of its own, so a
change in PyTorch shows up as that test failing, not as a mystery elsewhere.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from symconv import reference
from symconv.kinds import POOLING, ConvSpec, PoolSpec
from tests.pool_strategies import pool_arrays, pool_specs

SEEDS = st.integers(0, 2**32 - 1)
TORCH_SKIP = "PyTorch not installed: skipping the comparison with torch max_pool*d / avg_pool*d"
INF = np.inf


# ----- brute force: one Python loop over every window and every tap ----------------------
def _windows(spec: PoolSpec):
    """Yield (y_index, [x_index or None per tap in row-major order]) for every window."""
    for n, c in itertools.product(range(spec.batch), range(spec.channels)):
        for j in itertools.product(*(range(o) for o in spec.output_size)):
            taps = []
            for t in itertools.product(*(range(k) for k in spec.kernel_size)):
                pos = [s * jd + td - p for s, jd, td, p in zip(spec.stride, j, t, spec.padding)]
                inside = all(0 <= q < i for q, i in zip(pos, spec.input_size))
                taps.append((n, c, *pos) if inside else None)
            yield (n, c, *j), taps


def brute_pool(spec: PoolSpec, x: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y, dL/dx) by definition: the first strictly larger real value wins a max window."""
    y = np.zeros(spec.output_shape)
    gx = np.zeros(spec.input_shape)
    for yi, taps in _windows(spec):
        real = [t for t in taps if t is not None]
        if spec.kind == "avg":
            y[yi] = sum(float(x[t]) for t in real) / len(taps)  # padded zeros count
            for t in real:
                gx[t] += float(gy[yi]) / len(taps)
            continue
        best = real[0]
        for t in real[1:]:
            if x[t] > x[best]:
                best = t
        y[yi] = float(x[best])
        gx[best] += float(gy[yi])
    return y, gx


@settings(deadline=None, max_examples=150)
@given(spec=pool_specs(), seed=SEEDS)
def test_matches_brute_force(spec, seed):
    x, gy = pool_arrays(spec, np.random.default_rng(seed))
    y = reference.pool_forward(spec, x)
    gx = reference.pool_grad_input(spec, gy, x)
    assert y.dtype == gx.dtype == np.dtype(spec.dtype)
    want_y, want_gx = brute_pool(spec, x, gy)
    tol = 1e-6 if spec.dtype == "float32" else 1e-12
    np.testing.assert_allclose(y, want_y, rtol=tol, atol=tol)
    np.testing.assert_allclose(gx, want_gx, rtol=tol, atol=tol)


# ----- hand-computed cases ------------------------------------------------------------------
def test_max_ties_go_to_the_first_position_and_overlaps_add_up():
    # windows of 2, stride 1: [1,3] [3,3] [3,2] [2,2]
    spec = PoolSpec("max", (5,), 2, stride=1, dtype="float64")
    x = np.array([[[1.0, 3.0, 3.0, 2.0, 2.0]]])
    gy = np.array([[[1.0, 10.0, 100.0, 1000.0]]])
    np.testing.assert_array_equal(reference.pool_forward(spec, x), [[[3, 3, 3, 2]]])
    # [1,3] -> x[1]; [3,3] -> x[1] (first); [3,2] -> x[2]; [2,2] -> x[3] (first)
    expected = [[[0.0, 1.0 + 10.0, 100.0, 1000.0, 0.0]]]
    np.testing.assert_array_equal(reference.pool_grad_input(spec, gy, x), expected)


def test_max_2d_ties_follow_row_major_window_order():
    spec = PoolSpec("max", (2, 2), 2, dtype="float64")
    x = np.array([[[[0.0, 5.0], [5.0, 5.0]]]])
    gx = reference.pool_grad_input(spec, np.array([[[[7.0]]]]), x)
    np.testing.assert_array_equal(gx, [[[[0.0, 7.0], [0.0, 0.0]]]])  # (0, 1) comes first


def test_max_padding_never_wins_even_against_negative_values():
    # input [-5, -1, -3] padded by 1 on each side, windows of 2 at stride 2: [pad, -5], [-1, -3]
    spec = PoolSpec("max", (3,), 2, padding=1, dtype="float64")
    assert spec.output_size == (2,)
    x = np.array([[[-5.0, -1.0, -3.0]]])
    np.testing.assert_array_equal(reference.pool_forward(spec, x), [[[-5.0, -1.0]]])
    gx = reference.pool_grad_input(spec, np.array([[[2.0, 3.0]]]), x)
    np.testing.assert_array_equal(gx, [[[2.0, 3.0, 0.0]]])


def test_all_minus_infinity_windows_route_to_their_first_real_element():
    spec = PoolSpec("max", (3, 3), 2, padding=1, dtype="float64")
    x = np.full(spec.input_shape, -INF)
    gy = np.arange(1.0, 5.0).reshape(spec.output_shape)
    assert (reference.pool_forward(spec, x) == -INF).all()
    # windows start at rows/cols -1 and 1; their first real elements are (0|1, 0|1)
    expected = np.zeros((3, 3))
    expected[0, 0], expected[0, 1], expected[1, 0], expected[1, 1] = 1.0, 2.0, 3.0, 4.0
    np.testing.assert_array_equal(reference.pool_grad_input(spec, gy, x)[0, 0], expected)


def test_average_counts_padded_zeros_in_the_divisor():
    spec = PoolSpec("avg", (2, 2), 2, stride=1, padding=1, dtype="float64")
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    expected_y = np.array([[1, 1 + 2, 2], [1 + 3, 1 + 2 + 3 + 4, 2 + 4], [3, 3 + 4, 4]]) / 4
    np.testing.assert_array_equal(reference.pool_forward(spec, x)[0, 0], expected_y)
    # every input lies in 4 of the 9 windows, each passing back gy / 4
    gx = reference.pool_grad_input(spec, np.ones(spec.output_shape), x)
    np.testing.assert_array_equal(gx, np.ones(spec.input_shape))


def test_average_leftover_elements_get_no_gradient():
    spec = PoolSpec("avg", (5,), 2, dtype="float64")  # windows [0,1] [2,3]; x[4] unread
    gx = reference.pool_grad_input(spec, np.array([[[2.0, 6.0]]]), np.zeros(spec.input_shape))
    np.testing.assert_array_equal(gx, [[[1.0, 1.0, 3.0, 3.0, 0.0]]])


# ----- identities ---------------------------------------------------------------------------
@settings(deadline=None, max_examples=60)
@given(spec=pool_specs(kinds=("avg",), dtypes=("float64",)), seed=SEEDS)
def test_average_gradient_is_the_adjoint(spec, seed):
    """Average pooling is linear: <pool(x), g> = <x, pool_grad_input(g)>."""
    x, g = pool_arrays(spec, np.random.default_rng(seed))
    lhs = float(np.vdot(reference.pool_forward(spec, x), g))
    rhs = float(np.vdot(x, reference.pool_grad_input(spec, g, x)))
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs)) * x.size


@settings(deadline=None, max_examples=40)
@given(spec=pool_specs(kinds=("max",), dtypes=("float64",)), seed=SEEDS)
def test_max_gradient_sums_to_the_output_gradient(spec, seed):
    """Each window passes its whole gy to exactly one real element: totals agree."""
    x, gy = pool_arrays(spec, np.random.default_rng(seed))
    gx = reference.pool_grad_input(spec, gy, x)
    assert gx.sum() == pytest.approx(gy.sum(), abs=1e-9)


# ----- dtypes and errors ----------------------------------------------------------------------
def test_dtypes_follow_the_float_inputs():
    spec = PoolSpec("avg", (4, 4), 2)
    x32 = np.ones(spec.input_shape, np.float32)
    gy32 = np.ones(spec.output_shape, np.float32)
    assert reference.pool_forward(spec, x32).dtype == np.float32
    assert reference.pool_grad_input(spec, gy32, x32).dtype == np.float32
    assert reference.pool_grad_input(spec, gy32.astype(np.float64), x32).dtype == np.float64
    assert reference.pool_forward(spec, np.ones(spec.input_shape, np.int64)).dtype == np.float64


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda s: reference.pool_forward(s, np.ones((1, 6, 12, 12))),
            "x has shape (1, 6, 12, 12), expected spec.input_shape (2, 6, 24, 24)",
        ),
        (
            lambda s: reference.pool_grad_input(s, np.ones((2, 6, 24, 24)), np.ones(s.input_shape)),
            "gy has shape (2, 6, 24, 24), expected spec.output_shape (2, 6, 12, 12)",
        ),
        (
            lambda s: reference.pool_grad_input(s, np.ones(s.output_shape), np.ones((2, 6, 24))),
            "x has shape (2, 6, 24), expected spec.input_shape (2, 6, 24, 24)",
        ),
    ],
    ids=["forward-x", "grad_input-gy", "grad_input-x"],
)
def test_wrong_shapes_name_the_argument_and_the_expected_shape(call, message):
    spec = PoolSpec("max", (24, 24), 2, channels=6, batch=2)
    with pytest.raises(ValueError, match=re.escape(message)):
        call(spec)


def test_a_conv_spec_is_refused():
    with pytest.raises(TypeError, match="spec must be a PoolSpec, not ConvSpec"):
        reference.pool_forward(ConvSpec((3, 3), 2), np.ones((1, 1, 3, 3)))


# ----- PyTorch ------------------------------------------------------------------------------


def _torch_pool(torch, spec: PoolSpec, x: np.ndarray, gy: np.ndarray):
    """y and dL/dx from PyTorch: the pooling kind's own PyTorch oracle."""
    results = POOLING.torch_reference(spec, {"x": x, "gy": gy})
    return results["forward"], results["grad_input"]


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_pytorch_sends_a_tie_to_the_first_position_in_row_major_order(rank):
    """The rule the reference copies, checked on PyTorch itself (CPU)."""
    torch = pytest.importorskip("torch", reason=TORCH_SKIP)
    spec = PoolSpec("max", (2,) * rank, 2, dtype="float64")
    x = np.zeros(spec.input_shape)  # one window, every element equal
    x.reshape(-1)[0] = -1.0  # ...except the very first, so the winner is the second
    _, gx = _torch_pool(torch, spec, x, np.ones(spec.output_shape))
    expected = np.zeros(spec.input_shape)
    expected.reshape(-1)[1] = 1.0
    np.testing.assert_array_equal(gx, expected)


def test_pytorch_routes_an_all_minus_infinity_window_to_its_first_real_element():
    torch = pytest.importorskip("torch", reason=TORCH_SKIP)
    spec = PoolSpec("max", (3,), 2, padding=1, dtype="float64")  # windows [pad, x0], [x1, x2]
    _, gx = _torch_pool(torch, spec, np.full(spec.input_shape, -INF), np.array([[[2.0, 3.0]]]))
    np.testing.assert_array_equal(gx, [[[2.0, 3.0, 0.0]]])


@settings(deadline=None, max_examples=60)
@given(spec=pool_specs(max_batch=2, max_channels=3, dtypes=("float64",)), seed=SEEDS)
def test_matches_pytorch(spec, seed):
    torch = pytest.importorskip("torch", reason=TORCH_SKIP)
    x, gy = pool_arrays(spec, np.random.default_rng(seed))
    want_y, want_gx = _torch_pool(torch, spec, x, gy)
    np.testing.assert_allclose(reference.pool_forward(spec, x), want_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        reference.pool_grad_input(spec, gy, x), want_gx, rtol=1e-12, atol=1e-12
    )


def test_matches_pytorch_with_minus_infinity_inputs():
    torch = pytest.importorskip("torch", reason=TORCH_SKIP)
    spec = PoolSpec("max", (5, 6), 3, stride=(1, 2), padding=1, channels=2, dtype="float64")
    rng = np.random.default_rng(5)
    x = rng.integers(-1, 2, spec.input_shape).astype(np.float64)
    x[rng.random(spec.input_shape) < 0.6] = -INF
    gy = rng.standard_normal(spec.output_shape)
    want_y, want_gx = _torch_pool(torch, spec, x, gy)
    np.testing.assert_array_equal(reference.pool_forward(spec, x), want_y)
    np.testing.assert_allclose(reference.pool_grad_input(spec, gy, x), want_gx, atol=1e-12)


def test_matches_pytorch_with_nan_inputs():
    """A NaN wins its window: it is the output, and the window's last NaN gets the gradient."""
    torch = pytest.importorskip("torch", reason=TORCH_SKIP)
    spec = PoolSpec("max", (6, 7), 3, stride=(1, 2), padding=1, channels=2, dtype="float64")
    rng = np.random.default_rng(6)
    x = rng.integers(-2, 3, spec.input_shape).astype(np.float64)
    x[rng.random(spec.input_shape) < 0.2] = np.nan
    x[rng.random(spec.input_shape) < 0.1] = -INF
    gy = rng.standard_normal(spec.output_shape)
    want_y, want_gx = _torch_pool(torch, spec, x, gy)
    np.testing.assert_array_equal(reference.pool_forward(spec, x), want_y)
    np.testing.assert_allclose(reference.pool_grad_input(spec, gy, x), want_gx, atol=1e-12)


def test_matches_pytorch_on_a_realistic_layer():
    """A mid-sized overlapping 3×3 / stride 2 max pool (ResNet's stem) and its average twin."""
    torch = pytest.importorskip("torch", reason=TORCH_SKIP)
    for kind in ("max", "avg"):
        spec = PoolSpec(kind, (28, 27), 3, stride=2, padding=1, channels=8, batch=3)
        x, gy = pool_arrays(spec, np.random.default_rng(9))
        want_y, want_gx = _torch_pool(torch, spec, x, gy)
        np.testing.assert_allclose(reference.pool_forward(spec, x), want_y, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(
            reference.pool_grad_input(spec, gy, x), want_gx, rtol=1e-5, atol=1e-5
        )


# ----- the strategy ---------------------------------------------------------------------------
@settings(deadline=None, max_examples=200)
@given(spec=pool_specs())
def test_strategy_draws_valid_specs(spec):
    assert 1 <= spec.rank <= 3
    assert all(2 * p <= k for p, k in zip(spec.padding, spec.kernel_size))


@pytest.mark.parametrize(
    "relation",
    [
        lambda s, k, p: s < k and p > 0,  # overlapping, padded windows
        lambda s, k, p: s == k,
        lambda s, k, p: s > k,  # gaps between windows
    ],
    ids=["overlapping", "tiling", "gaps"],
)
def test_strategy_reaches_every_stride_relation(relation):
    find(
        pool_specs(max_rank=1),
        lambda spec: relation(spec.stride[0], spec.kernel_size[0], spec.padding[0]),
    )
