"""Tests for symconv.lower.phases: dL/dX of a strided layer as gathers without zeros.

The phases are checked against the unsplit formula by evaluating both on numbers
(`IndexFormula.evaluate`, independent of any loop nest), and against the lecture's
claim that rows no window reaches get zero gradient.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings

from symconv import reference
from symconv.kinds import ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower.rewrites.phases import stride_phases
from symconv.symbolic.indices import Divisible
from tests.strategies import conv_specs, random_arrays


def evaluate_phases(spec: ConvSpec, gy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Sum of every phase's gather: each writes its own positions, the rest stay zero."""
    formula = index_level(spec).grad_input
    total = np.zeros(spec.input_shape)
    for phase in stride_phases(formula):
        if phase.factors:
            total += phase.evaluate({"gy": gy, "w": w}, spec.input_shape)
    return total


@settings(max_examples=60, deadline=None)
@given(spec=conv_specs(dtype="float64"))
def test_phases_add_up_to_dL_dX(spec):
    _, w, _, gy = random_arrays(spec, np.random.default_rng(0))
    expected = reference.grad_input(spec, gy, w)
    np.testing.assert_allclose(evaluate_phases(spec, gy, w), expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(spec=conv_specs())
def test_phases_have_no_divisibility_guard_and_cover_each_position_once(spec):
    formula = index_level(spec).grad_input
    phases = stride_phases(formula)
    assert all(not any(isinstance(g, Divisible) for g in p.guards) for p in phases)
    positions = sum(int(np.prod([lp.extent for lp in p.loops])) for p in phases)
    assert positions == int(np.prod(spec.input_shape))


def test_one_phase_per_stride_remainder():
    spec = ConvSpec((9, 9), 3, stride=(2, 3), padding=1)
    assert len(stride_phases(index_level(spec).grad_input)) == 6


def test_a_phase_no_tap_reaches_is_zero():
    """Stride 2, dilation 2, kernel 2: taps land on even offsets only, so with no padding
    the odd input positions are never read; their phase keeps positions but no factor."""
    spec = ConvSpec((8,), 2, stride=2, dilation=2)
    phases = stride_phases(index_level(spec).grad_input)
    empty = [p for p in phases if not p.factors]
    assert len(phases) == 2 and len(empty) == 1
    assert empty[0].target.index[-1].as_coeff_Add()[0] == 1  # the odd positions r = 2q + 1
    _, w, _, gy = random_arrays(spec, np.random.default_rng(1))
    assert not reference.grad_input(spec, gy, w)[..., 1::2].any()


def test_unstrided_formula_is_its_own_single_phase():
    formula = index_level(ConvSpec((5, 5), 3)).grad_input
    assert stride_phases(formula) == [formula]
