"""Element level: the lecture's equations by the chain rule, checked against the notes."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symconv import ConvSpec, derive
from symconv.symbolic.elements import local_gradients


def S(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


def dO(ij: str) -> sp.Symbol:
    return S(f"dL/dO{ij}")


X = {ij: S(f"X{ij}") for ij in ("11", "12", "13", "21", "22", "23", "31", "32", "33")}
F = {ij: S(f"F{ij}") for ij in ("11", "12", "21", "22")}


@pytest.fixture(scope="module")
def lecture():
    return derive(ConvSpec((3, 3), 2))


def test_lecture_forward_equations(lecture):
    o = lecture.output[0, 0]
    assert o[0, 0] == X["11"] * F["11"] + X["12"] * F["12"] + X["21"] * F["21"] + X["22"] * F["22"]
    assert o[0, 1] == X["12"] * F["11"] + X["13"] * F["12"] + X["22"] * F["21"] + X["23"] * F["22"]
    assert o[1, 1] == X["22"] * F["11"] + X["23"] * F["12"] + X["32"] * F["21"] + X["33"] * F["22"]


def test_handwritten_slip_is_not_reproduced(lecture):
    """Seed 002 writes O11 with X12·F22; the right term is X12·F12."""
    o11 = lecture.output[0, 0, 0, 0]
    assert X["12"] * F["22"] not in sp.Add.make_args(o11)
    assert X["12"] * F["12"] in sp.Add.make_args(o11)


# The nine dL/dX entries of seed 000, transcribed from the notes.
LECTURE_GRAD_X = {
    (0, 0): dO("11") * F["11"],
    (0, 1): dO("11") * F["12"] + dO("12") * F["11"],
    (0, 2): dO("12") * F["12"],
    (1, 0): dO("11") * F["21"] + dO("21") * F["11"],
    (1, 1): dO("11") * F["22"] + dO("12") * F["21"] + dO("21") * F["12"] + dO("22") * F["11"],
    (1, 2): dO("12") * F["22"] + dO("22") * F["12"],
    (2, 0): dO("21") * F["21"],
    (2, 1): dO("21") * F["22"] + dO("22") * F["21"],
    (2, 2): dO("22") * F["22"],
}

LECTURE_GRAD_F = {
    (0, 0): dO("11") * X["11"] + dO("12") * X["12"] + dO("21") * X["21"] + dO("22") * X["22"],
    (0, 1): dO("11") * X["12"] + dO("12") * X["13"] + dO("21") * X["22"] + dO("22") * X["23"],
    (1, 0): dO("11") * X["21"] + dO("12") * X["22"] + dO("21") * X["31"] + dO("22") * X["32"],
    (1, 1): dO("11") * X["22"] + dO("12") * X["23"] + dO("21") * X["32"] + dO("22") * X["33"],
}


@pytest.mark.parametrize("index", list(LECTURE_GRAD_X))
def test_lecture_grad_input_matches_the_notes(lecture, index):
    assert lecture.grad_input[(0, 0, *index)] == LECTURE_GRAD_X[index]


@pytest.mark.parametrize("index", list(LECTURE_GRAD_F))
def test_lecture_grad_weight_matches_the_notes(lecture, index):
    assert lecture.grad_weight[(0, 0, *index)] == LECTURE_GRAD_F[index]


def test_chain_terms_record_the_local_gradients(lecture):
    """dL/dX12 = dL/dO11·∂O11/∂X12 + dL/dO12·∂O12/∂X12 with ∂O11/∂X12 = F12, ∂O12/∂X12 = F11."""
    terms = lecture.chain["x"][0, 0, 0, 1]
    assert {t.output_index: t.local_gradient for t in terms} == {
        (0, 0, 0, 0): F["12"],
        (0, 0, 0, 1): F["11"],
    }


def test_bias_gradient_is_derived_too():
    d = derive(ConvSpec((3,), 2, out_channels=2, batch=2, bias=True))
    gy = d.symbols["gy"]
    assert d.grad_bias[1] == sp.Add(*gy[:, 1].flat)
    assert (
        d.output[0, 1, 0]
        == d.symbols["x"][0, 0, 0] * d.symbols["w"][1, 0, 0]
        + d.symbols["x"][0, 0, 1] * d.symbols["w"][1, 0, 1]
        + d.symbols["b"][1]
    )


def test_convolution_mode_flips_the_kernel():
    d = derive(ConvSpec((3, 3), 2, mode="convolution"))
    assert d.output[0, 0, 0, 0] == (
        X["11"] * F["22"] + X["12"] * F["21"] + X["21"] * F["12"] + X["22"] * F["11"]
    )


@pytest.mark.parametrize(
    "expr",
    ["a*b", "a*b + c*d + a*d", "a**2*b + 3*a", "2*a*b + b", "a", "a*b*c + sin(a)*b"],
)
def test_local_gradients_equal_sympy_diff(expr):
    parsed = sp.sympify(expr)
    partials = local_gradients(parsed)
    assert set(partials) == parsed.free_symbols
    for symbol, partial in partials.items():
        assert sp.simplify(partial - sp.diff(parsed, symbol)) == 0


def test_symbols_are_shaped_like_the_tensors():
    spec = ConvSpec((4, 3), 2, in_channels=2, out_channels=4, batch=2, groups=2, bias=True)
    d = derive(spec)
    assert d.symbols["x"].shape == spec.input_shape
    assert d.symbols["w"].shape == spec.weight_shape
    assert d.symbols["b"].shape == spec.bias_shape
    assert d.symbols["gy"].shape == spec.output_shape
    for name, shape in [
        ("output", spec.output_shape),
        ("grad_input", spec.input_shape),
        ("grad_weight", spec.weight_shape),
        ("grad_bias", spec.bias_shape),
    ]:
        array = getattr(d, name)
        assert isinstance(array, np.ndarray) and array.dtype == object and array.shape == shape
    # batch 2 and 2 channels are shown in names; 1-based
    assert str(d.symbols["x"][1, 0, 2, 1]) == "X2132"
