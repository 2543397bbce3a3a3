"""Index-level closed forms: numerically equal to the reference at sizes past the element level."""

from __future__ import annotations

import numpy as np
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv import ConvSpec, reference
from symconv.kinds.convolution.formulas import index_level
from symconv.symbolic.indices import Divisible, InRange
from tests.strategies import conv_specs, random_arrays


@settings(max_examples=40, deadline=None)
@given(spec=conv_specs(dtype="float64"), seed=st.integers(0, 2**16))
def test_closed_forms_evaluated_numerically_equal_the_reference(spec, seed):
    level = index_level(spec)
    x, w, b, gy = random_arrays(spec, np.random.default_rng(seed))
    arrays = {"x": x, "w": w, "gy": gy, "b": b if b is not None else np.zeros(0)}
    expected = {
        "forward": (reference.forward(spec, x, w, b), spec.output_shape),
        "grad_input": (reference.grad_input(spec, gy, w), spec.input_shape),
        "grad_weight": (reference.grad_weight(spec, x, gy), spec.weight_shape),
        "grad_bias": (reference.grad_bias(spec, gy), spec.bias_shape),
    }
    for formula in level.formulas():
        want, shape = expected[formula.name]
        np.testing.assert_allclose(
            formula.evaluate(arrays, shape), want, rtol=1e-10, atol=1e-12, err_msg=formula.name
        )


def test_grad_input_is_solved_for_the_output_index_with_explicit_divisibility():
    spec = ConvSpec((7,), 3, stride=2, padding=((1, 0),), dilation=2)
    formula = index_level(spec).grad_input
    r, t = spec_symbols(formula, "r"), spec_symbols(formula, "t")
    divisible = [g for g in formula.guards if isinstance(g, Divisible)]
    assert divisible == [Divisible(r + 1 - 2 * t, 2)]
    ranges = [g for g in formula.guards if isinstance(g, InRange)]
    assert ranges == [InRange(sp.floor((r + 1 - 2 * t) / 2), 2)]  # o = (8 - 5) // 2 + 1
    gy_read = formula.factors[0]
    assert gy_read.tensor == "gy" and gy_read.index[-1] == sp.floor((r + 1 - 2 * t) / 2)


def test_guards_that_always_hold_are_left_out():
    # lo = 0 and hi <= leftover: every tap reads a real input element
    assert index_level(ConvSpec((7,), 3, stride=3, padding=((0, 1),))).forward.guards == ()
    # hi > leftover: the last window reaches into the padding
    guards = index_level(ConvSpec((8,), 3, stride=3, padding=((0, 2),))).forward.guards
    assert len(guards) == 1 and guards[0].bound == 8


def test_index_level_costs_the_same_at_any_size():
    small = index_level(ConvSpec((3, 3), 2))
    large = index_level(ConvSpec((224, 224), 7, in_channels=3, out_channels=64, batch=8))
    assert len(small.forward.reductions) == len(large.forward.reductions)
    assert [loop.extent for loop in large.forward.loops] == [8, 64, 218, 218]


def spec_symbols(formula, prefix):
    (symbol,) = [
        loop.var for loop in formula.loops + formula.reductions if loop.var.name.startswith(prefix)
    ]
    return symbol
