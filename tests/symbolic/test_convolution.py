"""derive() against the NumPy reference and finite differences, over random layers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv import ConvSpec, derive, reference
from symconv.symbolic.convolution import MAX_ELEMENT_PRODUCTS
from tests.strategies import conv_specs, random_arrays

SMALL = dict(max_batch=2, groups=(1, 2), max_channels_per_group=2, dtype="float64")


@settings(max_examples=40, deadline=None)
@given(spec=conv_specs(**SMALL), seed=st.integers(0, 2**16))
def test_derivation_evaluated_at_random_numbers_equals_the_reference(spec, seed):
    d = derive(spec)
    x, w, b, gy = random_arrays(spec, np.random.default_rng(seed))
    got = d.evaluate(x, w, gy, b)
    np.testing.assert_allclose(
        got["output"], reference.forward(spec, x, w, b), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(
        got["grad_input"], reference.grad_input(spec, gy, w), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(
        got["grad_weight"], reference.grad_weight(spec, x, gy), rtol=1e-10, atol=1e-12
    )
    if spec.bias:
        np.testing.assert_allclose(got["grad_bias"], reference.grad_bias(spec, gy), rtol=1e-10)


@settings(max_examples=15, deadline=None)
@given(spec=conv_specs(max_rank=2, **SMALL), seed=st.integers(0, 2**16))
def test_derived_gradients_match_central_finite_differences(spec, seed):
    """L = Σ O·G for a fixed G, so dL/dO = G; perturb each input and weight."""
    d = derive(spec)
    rng = np.random.default_rng(seed)
    x, w, b, gy = random_arrays(spec, rng)
    got = d.evaluate(x, w, gy, b)

    def loss(x_, w_, b_):
        return float(np.sum(d.evaluate(x_, w_, gy, b_)["output"] * gy))

    h = 1e-6
    for name, array, grad in (("x", x, got["grad_input"]), ("w", w, got["grad_weight"])):
        for index in list(np.ndindex(array.shape))[:6]:
            up, down = array.copy(), array.copy()
            up[index] += h
            down[index] -= h
            args_up = {"x": x, "w": w, "b": b, name: up}
            args_down = {"x": x, "w": w, "b": b, name: down}
            numeric = (
                loss(args_up["x"], args_up["w"], args_up["b"])
                - loss(args_down["x"], args_down["w"], args_down["b"])
            ) / (2 * h)
            assert numeric == pytest.approx(grad[index], rel=1e-5, abs=1e-7)


def test_every_pattern_of_a_hard_layer_holds():
    spec = ConvSpec(
        (7, 6),
        3,
        in_channels=2,
        out_channels=4,
        batch=2,
        stride=2,
        padding=((0, 1), (2, 0)),
        dilation=(1, 2),
        groups=2,
        bias=True,
    )
    d = derive(spec)
    assert set(d.patterns) == {
        "rotation",
        "dilation",
        "padding",
        "leftover",
        "grad_weight",
        "grad_bias",
        "closed_forms",
    }
    assert all(p.holds for p in d.patterns.values()), {n: p.holds for n, p in d.patterns.items()}


def test_large_layer_keeps_only_the_index_level_and_says_so():
    spec = ConvSpec((64, 64), 3, in_channels=16, out_channels=16)
    assert spec.multiply_adds > MAX_ELEMENT_PRODUCTS
    d = derive(spec)
    assert not d.element_level
    assert d.output is None and d.patterns == {}
    assert "only the index-level formulas" in d.notes[0]
    assert d.index.forward.target.tensor == "y"
    with pytest.raises(ValueError, match="needs the element level"):
        d.evaluate(
            np.zeros(spec.input_shape), np.zeros(spec.weight_shape), np.zeros(spec.output_shape)
        )


def test_lenet_layer_derives_at_element_level():
    d = derive(ConvSpec((28, 28), 5))
    assert d.element_level and d.all_patterns_hold
    assert d.output.shape == (1, 1, 24, 24)


def test_element_level_can_be_switched_off():
    d = derive(ConvSpec((3, 3), 2), element_level=False)
    assert not d.element_level and d.index.grad_input.name == "grad_input"


def test_evaluate_checks_shapes():
    d = derive(ConvSpec((3, 3), 2))
    with pytest.raises(ValueError, match=r"x has shape \(1, 1, 4, 4\), expected \(1, 1, 3, 3\)"):
        d.evaluate(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2)))


def test_derive_rejects_what_is_not_a_spec():
    with pytest.raises(TypeError, match="a PoolSpec or a ConvTransposeSpec, not dict"):
        derive({"input_size": (3, 3)})
