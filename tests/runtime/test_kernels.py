"""Tests for symconv.runtime.kernels: every argument is checked before compiled code runs."""

from __future__ import annotations

import re

import numpy as np
import pytest

from symconv import reference
from symconv.kinds import ConvSpec
from symconv.pipeline import generate
from symconv.runtime import Kernels
from symconv.targets.numba_cpu.runtime import check_array
from tests.stand_in import stand_in

LECTURE = ConvSpec((3, 3), 2)


@pytest.fixture(scope="module")
def lecture_kernels() -> Kernels:
    return generate(LECTURE)


def f32(*shape: int) -> np.ndarray:
    return np.zeros(shape, np.float32)


def read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda k: k.forward(f32(1, 1, 4, 4), f32(1, 1, 2, 2)),
            "x has shape (1, 1, 4, 4), expected (1, 1, 3, 3)",
        ),
        (
            lambda k: k.forward(f32(1, 1, 3, 3), f32(1, 1, 3, 3)),
            "w has shape (1, 1, 3, 3), expected (1, 1, 2, 2)",
        ),
        (
            lambda k: k.forward(np.zeros((1, 1, 3, 3)), f32(1, 1, 2, 2)),
            "x has dtype float64, expected float32",
        ),
        (lambda k: k.forward(f32(1, 1, 3, 6)[..., ::2], f32(1, 1, 2, 2)), "x is not C-contiguous"),
        (
            lambda k: k.forward(np.asfortranarray(f32(1, 1, 3, 3)), f32(1, 1, 2, 2)),
            "x is not C-contiguous",
        ),
        (
            lambda k: k.forward([[[[0.0] * 3] * 3]], f32(1, 1, 2, 2)),
            "x is a list, expected a numpy.ndarray",
        ),
        (
            lambda k: k.forward(f32(1, 1, 3, 3), f32(1, 1, 2, 2), f32(1)),
            "b was given, but the spec has bias=False",
        ),
        (lambda k: k.forward(None, f32(1, 1, 2, 2)), "x is required: forward takes (x, w)"),
        (lambda k: k.forward(f32(1, 1, 3, 3)), "w is required: forward takes (x, w)"),
        (
            lambda k: k.grad_input(f32(1, 1, 3, 3), f32(1, 1, 2, 2)),
            "gy has shape (1, 1, 3, 3), expected (1, 1, 2, 2)",
        ),
        (
            lambda k: k.grad_weight(f32(1, 1, 3, 3), np.zeros((1, 1, 2, 2), np.float16)),
            "gy has dtype float16, expected float32",
        ),
    ],
)
def test_bad_arguments_are_named_before_compiled_code_runs(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call(stand_in(LECTURE))


def test_a_layer_without_bias_has_no_grad_bias():
    with pytest.raises(AttributeError, match="has no kernel 'grad_bias'; it has forward, grad"):
        stand_in(LECTURE).grad_bias(f32(1, 1, 2, 2))


def test_bias_layers_require_b_and_check_it():
    kernels = stand_in(ConvSpec((3, 3), 2, out_channels=2, bias=True))
    x, w = f32(1, 1, 3, 3), f32(2, 1, 2, 2)
    with pytest.raises(ValueError, match=re.escape("b is required: forward takes (x, w, b)")):
        kernels.forward(x, w)
    with pytest.raises(ValueError, match=re.escape("b has shape (3,), expected (2,)")):
        kernels.forward(x, w, f32(3))


def test_read_only_inputs_are_accepted_as_they_are(lecture_kernels):
    """Kernels only read their inputs: memmaps and read-only views need no copy."""
    rng = np.random.default_rng(4)
    x = read_only(rng.standard_normal((1, 1, 3, 3)).astype(np.float32))
    w = read_only(rng.standard_normal((1, 1, 2, 2)).astype(np.float32))
    np.testing.assert_allclose(
        lecture_kernels.forward(x, w), reference.forward(LECTURE, x, w), rtol=1e-6
    )
    gy = read_only(np.ones((1, 1, 2, 2), np.float32))
    np.testing.assert_allclose(
        lecture_kernels.grad_input(gy, w), reference.grad_input(LECTURE, gy, w), rtol=1e-6
    )


def test_kernels_refuse_a_module_generated_for_another_spec(lecture_kernels):
    other = ConvSpec((4, 4), 2)
    with pytest.raises(ValueError, match="generated for spec key"):
        Kernels(other, lecture_kernels.module, lecture_kernels.path, check_array)


def test_compiled_lecture_kernels_return_fresh_arrays_of_the_spec_dtype(lecture_kernels):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 1, 3, 3)).astype(np.float32)
    w = rng.standard_normal((1, 1, 2, 2)).astype(np.float32)
    gy = rng.standard_normal((1, 1, 2, 2)).astype(np.float32)
    y = lecture_kernels.forward(x, w)
    assert y.dtype == np.float32 and y.flags.c_contiguous and y.shape == LECTURE.output_shape
    np.testing.assert_allclose(y, reference.forward(LECTURE, x, w), rtol=1e-6)
    np.testing.assert_allclose(
        lecture_kernels.grad_input(gy, w), reference.grad_input(LECTURE, gy, w), rtol=1e-6
    )
    np.testing.assert_allclose(
        lecture_kernels.grad_weight(x, gy), reference.grad_weight(LECTURE, x, gy), rtol=1e-6
    )
    assert lecture_kernels.spec == LECTURE
    assert "conv2d_1x1x3x3_to1_k2x2_s1" in repr(lecture_kernels)
