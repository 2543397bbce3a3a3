"""Tests for symconv.reference, the NumPy oracle.

No expected value here comes from the code under test: small cases are worked out by
hand, random specs are checked against a pure-Python loop written in this file, against
central finite differences, against the adjoint identities, and against PyTorch.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv import reference
from symconv.kinds import CONVOLUTION, ConvSpec
from tests.strategies import conv_specs, random_arrays

SEEDS = st.integers(0, 2**32 - 1)
TORCH_SKIP_REASON = "PyTorch not installed: skipping the comparison with torch.nn.functional.conv*d"


# ----- brute force: one Python loop over every output and every tap -------------------
def _terms(spec: ConvSpec):
    """Yield (y_index, x_index or None, w_index) for every product in the forward sum.

    x_index is None when the tap lands in the zero padding.  In convolution mode the
    tap t multiplies w at k-1-t (kernel rotated by 180 degrees).
    """
    cin_g, cout_g = spec.in_channels // spec.groups, spec.out_channels // spec.groups
    for n, co in itertools.product(range(spec.batch), range(spec.out_channels)):
        g = co // cout_g
        for j in itertools.product(*(range(o) for o in spec.output_size)):
            for ci in range(cin_g):
                for t in itertools.product(*(range(k) for k in spec.kernel_size)):
                    pos = []
                    for d in range(spec.rank):
                        p = spec.stride[d] * j[d] + spec.dilation[d] * t[d]
                        pos.append(p - spec.padding[d][0])  # padded -> unpadded coordinate
                    sizes = spec.input_size
                    inside = all(0 <= p < size for p, size in zip(pos, sizes, strict=True))
                    x_index = (n, g * cin_g + ci, *pos) if inside else None
                    if spec.mode == "convolution":
                        t = tuple(k - 1 - td for k, td in zip(spec.kernel_size, t, strict=True))
                    yield (n, co, *j), x_index, (co, ci, *t)


def brute_forward(spec, x, w, b):
    y = np.zeros(spec.output_shape)
    for yi, xi, wi in _terms(spec):
        if xi is not None:
            y[yi] += float(x[xi]) * float(w[wi])
    if b is not None:
        for idx in np.ndindex(*y.shape):
            y[idx] += float(b[idx[1]])
    return y


def brute_grad_input(spec, gy, w):
    """d(sum gy*y)/dx: each term x*w contributes gy*w to its x."""
    gx = np.zeros(spec.input_shape)
    for yi, xi, wi in _terms(spec):
        if xi is not None:
            gx[xi] += float(gy[yi]) * float(w[wi])
    return gx


def brute_grad_weight(spec, x, gy):
    """d(sum gy*y)/dw: each term x*w contributes gy*x to its w."""
    gw = np.zeros(spec.weight_shape)
    for yi, xi, wi in _terms(spec):
        if xi is not None:
            gw[wi] += float(gy[yi]) * float(x[xi])
    return gw


def brute_grad_bias(spec, gy):
    gb = np.zeros(spec.out_channels)
    for idx in np.ndindex(*gy.shape):
        gb[idx[1]] += float(gy[idx])
    return gb


def assert_close(actual, expected, dtype):
    """float64: ~1e-10 relative; float32: 1e-5 scaled by the size of the terms summed."""
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    if np.dtype(dtype) == np.float64:
        np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10 * scale)
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * scale)


# ----- hand-computed cases ------------------------------------------------------------
X3 = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
F2 = np.array([[1.0, 2.0], [3.0, 4.0]])


def test_lecture_example_cross_correlation():
    spec = ConvSpec(input_size=(3, 3), kernel_size=2, dtype="float64")
    y = reference.forward(spec, X3[None, None], F2[None, None])
    # O_ij = X_ij F11 + X_i(j+1) F12 + X_(i+1)j F21 + X_(i+1)(j+1) F22, by hand:
    o11 = 1 * 1 + 2 * 2 + 4 * 3 + 5 * 4
    o12 = 2 * 1 + 3 * 2 + 5 * 3 + 6 * 4
    o21 = 4 * 1 + 5 * 2 + 7 * 3 + 8 * 4
    o22 = 5 * 1 + 6 * 2 + 8 * 3 + 9 * 4
    assert (o11, o12, o21, o22) == (37, 47, 67, 77)
    np.testing.assert_array_equal(y, [[[[37, 47], [67, 77]]]])


def test_lecture_example_gradients():
    spec = ConvSpec(input_size=(3, 3), kernel_size=2, bias=True, dtype="float64")
    gy = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    # dL/dX_ab = sum_ij G_ij F_(a-i)(b-j): each X collects the F entries that touched it.
    expected_gx = [
        [1 * 1, 1 * 2 + 10 * 1, 10 * 2],
        [1 * 3 + 100 * 1, 1 * 4 + 10 * 3 + 100 * 2 + 1000 * 1, 10 * 4 + 1000 * 2],
        [100 * 3, 100 * 4 + 1000 * 3, 1000 * 4],
    ]
    # dL/dF_ab = sum_ij G_ij X_(i+a)(j+b)
    expected_gw = [
        [1 * 1 + 10 * 2 + 100 * 4 + 1000 * 5, 1 * 2 + 10 * 3 + 100 * 5 + 1000 * 6],
        [1 * 4 + 10 * 5 + 100 * 7 + 1000 * 8, 1 * 5 + 10 * 6 + 100 * 8 + 1000 * 9],
    ]
    gx = reference.grad_input(spec, gy, F2[None, None])
    gw = reference.grad_weight(spec, X3[None, None], gy)
    np.testing.assert_array_equal(gx[0, 0], expected_gx)
    np.testing.assert_array_equal(gw[0, 0], expected_gw)
    np.testing.assert_array_equal(reference.grad_bias(spec, gy), [1111.0])


def test_convolution_mode_is_cross_correlation_with_rotated_kernel():
    conv = ConvSpec(input_size=(3, 3), kernel_size=2, mode="convolution", dtype="float64")
    xcorr = ConvSpec(input_size=(3, 3), kernel_size=2, dtype="float64")
    rotated = np.array([[4.0, 3.0], [2.0, 1.0]])  # F2 turned by 180 degrees, by hand
    y = reference.forward(conv, X3[None, None], F2[None, None])
    np.testing.assert_array_equal(y, reference.forward(xcorr, X3[None, None], rotated[None, None]))
    # O11 = X11 F22 + X12 F21 + X21 F12 + X22 F11
    assert y[0, 0, 0, 0] == 1 * 4 + 2 * 3 + 4 * 2 + 5 * 1 == 23
    gy = np.array([[[[1.0, -2.0], [3.0, 0.5]]]])
    np.testing.assert_array_equal(
        reference.grad_input(conv, gy, F2[None, None]),
        reference.grad_input(xcorr, gy, rotated[None, None]),
    )
    # The weight gradient is rotated back: dL/dF = rot180(dL/d rotated).
    np.testing.assert_array_equal(
        reference.grad_weight(conv, X3[None, None], gy)[0, 0],
        reference.grad_weight(xcorr, X3[None, None], gy)[0, 0, ::-1, ::-1],
    )


def test_1d_stride_2_exact_fit():
    # input 7, kernel 3, stride 2: (7 - 3) // 2 + 1 = 3 outputs and no leftover.
    spec = ConvSpec(input_size=(7,), kernel_size=3, stride=2, dtype="float64")
    assert spec.output_size == (3,) and spec.leftover == (0,)
    x = np.arange(1.0, 8.0)[None, None]
    w = np.array([2.0, -1.0, 3.0])[None, None]
    # windows [1,2,3], [3,4,5], [5,6,7]: 2a - b + 3c
    expected = [2 * 1 - 2 + 3 * 3, 2 * 3 - 4 + 3 * 5, 2 * 5 - 6 + 3 * 7]
    assert expected == [9, 17, 25]
    np.testing.assert_array_equal(reference.forward(spec, x, w)[0, 0], expected)


def test_1d_stride_2_with_leftover():
    # input 8, kernel 3, stride 2: still 3 outputs, and the last input is never read.
    spec = ConvSpec(input_size=(8,), kernel_size=3, stride=2, bias=True, dtype="float64")
    assert spec.output_size == (3,) and spec.leftover == (1,)
    x = np.arange(1.0, 9.0)[None, None]
    w = np.array([2.0, -1.0, 3.0])[None, None]
    b = np.array([0.5])
    np.testing.assert_array_equal(reference.forward(spec, x, w, b)[0, 0], [9.5, 17.5, 25.5])
    gy = np.array([1.0, 10.0, 100.0])[None, None]
    # gx[i] = sum_j gy[j] w[i - 2j]; x[7] is leftover and gets nothing.
    gx = [1 * 2, 1 * -1, 1 * 3 + 10 * 2, 10 * -1, 10 * 3 + 100 * 2, 100 * -1, 100 * 3, 0]
    np.testing.assert_array_equal(reference.grad_input(spec, gy, w)[0, 0], gx)
    # gw[t] = sum_j gy[j] x[2j + t]
    gw = [1 * 1 + 10 * 3 + 100 * 5, 1 * 2 + 10 * 4 + 100 * 6, 1 * 3 + 10 * 5 + 100 * 7]
    np.testing.assert_array_equal(reference.grad_weight(spec, x, gy)[0, 0], gw)
    np.testing.assert_array_equal(reference.grad_bias(spec, gy), [111.0])


def test_1d_asymmetric_padding_dilation_by_hand():
    # input [1,2,3], padding (2, 1) -> [0,0,1,2,3,0]; kernel 2 dilated by 2 reads p, p+2.
    spec = ConvSpec(input_size=(3,), kernel_size=2, padding=((2, 1),), dilation=2, dtype="float64")
    x = np.array([1.0, 2.0, 3.0])[None, None]
    w = np.array([10.0, 1.0])[None, None]
    # positions 0..3: (0,1) (0,2) (1,3) (2,0)
    expected = [0 * 10 + 1, 0 * 10 + 2, 1 * 10 + 3, 2 * 10 + 0]
    np.testing.assert_array_equal(reference.forward(spec, x, w)[0, 0], expected)


def test_groups_by_hand():
    # 2 groups, one channel each: output channel g sees only input channel g.
    spec = ConvSpec(
        input_size=(2,), kernel_size=1, in_channels=2, out_channels=2, groups=2, dtype="float64"
    )
    x = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    w = np.array([[[10.0]], [[100.0]]])
    np.testing.assert_array_equal(reference.forward(spec, x, w), [[[10, 20], [300, 400]]])


# ----- dtypes and shape errors --------------------------------------------------------
def test_dtypes_follow_the_float_inputs():
    spec = ConvSpec(input_size=(4, 4), kernel_size=2, bias=True)
    x32, w32 = np.ones(spec.input_shape, np.float32), np.ones(spec.weight_shape, np.float32)
    gy32 = np.ones(spec.output_shape, np.float32)
    b32 = np.ones(spec.bias_shape, np.float32)
    assert reference.forward(spec, x32, w32, b32).dtype == np.float32
    assert reference.grad_input(spec, gy32, w32).dtype == np.float32
    assert reference.grad_weight(spec, x32, gy32).dtype == np.float32
    assert reference.grad_bias(spec, gy32).dtype == np.float32
    assert reference.forward(spec, x32, w32.astype(np.float64)).dtype == np.float64
    # Integer arrays are cast; the result is the float type of the float input.
    y = reference.forward(spec, np.ones(spec.input_shape, np.int64), w32)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, np.full(spec.output_shape, 4.0))


def test_float32_inputs_are_accumulated_in_float64():
    # (1 + 2^-12)^2 - (1 + 2^-11) = 2^-24 exactly, but (1 + 2^-12)^2 rounds to 1 + 2^-11 in
    # float32, so a float32 sum would give 0.  Each case is one such two-term sum.
    a, c = np.float32(1 + 2**-12), np.float32(1 + 2**-11)
    f32 = np.float32
    spec = ConvSpec(input_size=(2,), kernel_size=2)
    y = reference.forward(spec, np.array([[[a, -1]]], f32), np.array([[[a, c]]], f32))
    assert y.dtype == np.float32 and y[0, 0, 0] == 2**-24
    spec = ConvSpec(input_size=(2,), kernel_size=1)
    gw = reference.grad_weight(spec, np.array([[[a, -1]]], f32), np.array([[[a, c]]], f32))
    assert gw.dtype == np.float32 and gw[0, 0, 0] == 2**-24
    spec = ConvSpec(input_size=(1,), kernel_size=1, out_channels=2)
    gx = reference.grad_input(spec, np.array([[[a], [-1]]], f32), np.array([[[a]], [[c]]], f32))
    assert gx.dtype == np.float32 and gx[0, 0, 0] == 2**-24


def test_wrong_x_shape_names_expected_shape():
    spec = ConvSpec(input_size=(3, 3), kernel_size=2)
    w = np.ones(spec.weight_shape)
    msg = "x has shape (1, 1, 4, 4), expected spec.input_shape (1, 1, 3, 3)"
    with pytest.raises(ValueError, match=re.escape(msg)):
        reference.forward(spec, np.ones((1, 1, 4, 4)), w)


_SHAPE_SPEC = ConvSpec(input_size=(5, 3), kernel_size=2, out_channels=3, batch=2, bias=True)


@pytest.mark.parametrize(
    "call, name, expected",
    [
        (
            lambda s: reference.forward(s, np.ones(s.input_shape), np.ones((2, 1, 2, 2))),
            "w",
            "(3, 1, 2, 2)",
        ),
        (
            lambda s: reference.forward(
                s, np.ones(s.input_shape), np.ones(s.weight_shape), np.ones(2)
            ),
            "b",
            "(3,)",
        ),
        (
            lambda s: reference.grad_input(s, np.ones((2, 3, 2, 2)), np.ones(s.weight_shape)),
            "gy",
            "(2, 3, 4, 2)",
        ),
        (
            lambda s: reference.grad_weight(s, np.ones((2, 1, 3, 5)), np.ones(s.output_shape)),
            "x",
            "(2, 1, 5, 3)",
        ),
        (
            lambda s: reference.grad_weight(s, np.ones(s.input_shape), np.ones((2, 3, 2, 4))),
            "gy",
            "(2, 3, 4, 2)",
        ),
        (lambda s: reference.grad_bias(s, np.ones((3,))), "gy", "(2, 3, 4, 2)"),
    ],
    ids=[
        "forward-w",
        "forward-b",
        "grad_input-gy",
        "grad_weight-x",
        "grad_weight-gy",
        "grad_bias-gy",
    ],
)
def test_other_wrong_shapes(call, name, expected):
    assert _SHAPE_SPEC.output_shape == (2, 3, 4, 2)
    with pytest.raises(ValueError) as info:
        call(_SHAPE_SPEC)
    assert str(info.value).startswith(f"{name} has shape")
    assert "expected spec." in str(info.value) and expected in str(info.value)


# ----- random specs against the brute-force loop --------------------------------------
@settings(deadline=None, max_examples=300)
@given(spec=conv_specs(), seed=SEEDS)
def test_matches_brute_force(spec, seed):
    x, w, b, gy = random_arrays(spec, np.random.default_rng(seed))
    dtype = np.dtype(spec.dtype)
    y = reference.forward(spec, x, w, b)
    gx = reference.grad_input(spec, gy, w)
    gw = reference.grad_weight(spec, x, gy)
    gb = reference.grad_bias(spec, gy)
    for got in (y, gx, gw, gb):
        assert got.dtype == dtype
    assert_close(y, brute_forward(spec, x, w, b), dtype)
    assert_close(gx, brute_grad_input(spec, gy, w), dtype)
    assert_close(gw, brute_grad_weight(spec, x, gy), dtype)
    assert_close(gb, brute_grad_bias(spec, gy), dtype)


# ----- central finite differences -----------------------------------------------------
def _central_difference(loss, a: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """dL/da by (L(a + h e_i) - L(a - h e_i)) / 2h, one element at a time."""
    grad = np.zeros_like(a)
    for idx in np.ndindex(*a.shape):
        keep = a[idx]
        a[idx] = keep + h
        up = loss()
        a[idx] = keep - h
        down = loss()
        a[idx] = keep
        grad[idx] = (up - down) / (2 * h)
    return grad


@settings(deadline=None, max_examples=30)
@given(
    spec=conv_specs(
        max_batch=1, max_channels_per_group=2, groups=(1, 2), dtype="float64", bias=True
    ),
    seed=SEEDS,
)
def test_gradients_match_finite_differences(spec, seed):
    x, w, b, g = random_arrays(spec, np.random.default_rng(seed))

    def loss() -> float:
        return float(np.sum(reference.forward(spec, x, w, b) * g))

    np.testing.assert_allclose(
        reference.grad_input(spec, g, w), _central_difference(loss, x), rtol=1e-6, atol=1e-7
    )
    np.testing.assert_allclose(
        reference.grad_weight(spec, x, g), _central_difference(loss, w), rtol=1e-6, atol=1e-7
    )
    np.testing.assert_allclose(
        reference.grad_bias(spec, g), _central_difference(loss, b), rtol=1e-6, atol=1e-7
    )


# ----- adjoint identities -------------------------------------------------------------
@settings(deadline=None, max_examples=100)
@given(spec=conv_specs(dtype="float64", bias=False), seed=SEEDS)
def test_adjoint_identities(spec, seed):
    # forward is bilinear, so <conv(x, w), g> = <x, grad_input(g, w)> = <w, grad_weight(x, g)>.
    x, w, _, g = random_arrays(spec, np.random.default_rng(seed))
    lhs = float(np.vdot(reference.forward(spec, x, w), g))
    via_x = float(np.vdot(x, reference.grad_input(spec, g, w)))
    via_w = float(np.vdot(w, reference.grad_weight(spec, x, g)))
    scale = np.sqrt(x.size * w.size * g.size)
    assert abs(lhs - via_x) <= 1e-12 * scale
    assert abs(lhs - via_w) <= 1e-12 * scale


# ----- PyTorch ------------------------------------------------------------------------
@settings(deadline=None, max_examples=40)
@given(
    spec=conv_specs(max_batch=3, max_channels_per_group=3, max_output=4, dtype="float64"),
    seed=SEEDS,
)
def test_matches_pytorch(spec, seed):
    pytest.importorskip("torch", reason=TORCH_SKIP_REASON)
    x, w, b, gy = random_arrays(spec, np.random.default_rng(seed))
    arrays = {"x": x, "w": w, "gy": gy, **({"b": b} if b is not None else {})}
    theirs = CONVOLUTION.torch_reference(spec, arrays)
    ours = CONVOLUTION.reference(spec, arrays)
    assert set(ours) == set(theirs)
    for name, value in ours.items():
        np.testing.assert_allclose(value, theirs[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_matches_pytorch_on_a_realistic_layer():
    """One mid-sized strided, dilated, grouped 2-D layer: the oracle must scale past toys."""
    pytest.importorskip("torch", reason=TORCH_SKIP_REASON)
    spec = ConvSpec(
        input_size=(23, 20),
        kernel_size=(3, 2),
        in_channels=8,
        out_channels=12,
        batch=4,
        stride=(2, 3),
        padding=((1, 2), (0, 1)),
        dilation=(2, 1),
        groups=4,
        bias=True,
        dtype="float64",
        mode="convolution",
    )
    x, w, b, gy = random_arrays(spec, np.random.default_rng(1234))
    arrays = {"x": x, "w": w, "b": b, "gy": gy}
    theirs = CONVOLUTION.torch_reference(spec, arrays)
    for name, value in CONVOLUTION.reference(spec, arrays).items():
        np.testing.assert_allclose(value, theirs[name], rtol=1e-10, atol=1e-12, err_msg=name)


# ----- the strategy itself ------------------------------------------------------------
@settings(deadline=None, max_examples=200)
@given(spec=conv_specs())
def test_strategy_draws_valid_specs(spec):
    assert 1 <= spec.rank <= 3
    for padded, k in zip(spec.padded_size, spec.effective_kernel, strict=True):
        assert padded >= k
    assert all(i >= 1 for i in spec.input_size)
