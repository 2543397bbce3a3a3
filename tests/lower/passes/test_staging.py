"""Tests for the staging pass: guarded reads become reads of padded or dilated copies.

The copies are the lecture's constructions: X padded by lo, dL/dO dilated by the stride
and padded by (k_eff − 1 − lo, k_eff − 1 − hi + a).
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings

from symconv.kinds import ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower import lower
from symconv.lower.interpret import materialize
from symconv.lower.ir import (
    Operand,
    Staged,
    StagedAxis,
)
from symconv.lower.passes.simplify import static_value
from symconv.lower.passes.staging import affine_bounds
from symconv.symbolic.indices import Divisible, index_symbol, make_indices
from symconv.symbolic.patterns import full_correlation_padding
from tests.strategies import conv_specs

LECTURE = ConvSpec((3, 3), 2)


@settings(max_examples=60, deadline=None)
@given(spec=conv_specs())
def test_grad_input_reads_the_dilated_padded_gy_of_the_lecture(spec):
    """Where gy is staged along an axis: offset k_eff − 1 − lo, s − 1 zeros between
    elements, length i + k_eff − 1, so (before, after) is the pattern's full padding.

    An axis whose reads the loop bounds alone keep in range is left as it is.
    """
    formula = index_level(spec).grad_input
    nest = lower(formula, spec, schedule="direct")
    assert len(nest.staged) <= 1
    for staged in nest.staged:
        assert staged.source.name == "gy"
        assert staged.name == ("gy_dilated" if staged_steps(staged) > 1 else "gy_padded")
        padding = full_correlation_padding(spec)
        for d, axis in enumerate(staged.axes[2:]):
            if axis.identity:
                continue
            if axis.step != spec.stride[d]:  # every tap lands on a stride multiple anyway
                assert axis.step == 1 and divisibility_always_holds(formula, d)
                continue
            assert axis.offset == spec.effective_kernel[d] - 1 - spec.padding[d][0]
            assert axis.extent == spec.input_size[d] + spec.effective_kernel[d] - 1
            assert staged.pads[2 + d] == padding[d]


def divisibility_always_holds(formula, d: int) -> bool:
    """The Divisible guard of dimension d holds for every loop value (unit loops fixed)."""
    units = {loop.var: 0 for loop in formula.loops + formula.reductions if loop.extent == 1}
    r = make_indices(len(formula.target.index) - 2).inp[d]
    (guard,) = [g for g in formula.guards if isinstance(g, Divisible) and r in g.expr.free_symbols]
    return static_value(Divisible(guard.expr.xreplace(units), guard.divisor), {}) is True


def staged_steps(staged) -> int:
    return max(axis.step for axis in staged.axes)


@settings(max_examples=60, deadline=None)
@given(spec=conv_specs())
def test_forward_pads_x_by_lo_where_a_guard_was_needed(spec):
    """Where x is staged along an axis it is padded by lo before, and after by what the
    last window reads past the input: hi minus the leftover rows."""
    nest = lower(index_level(spec).forward, spec, schedule="direct")
    assert len(nest.staged) <= 1
    for staged in nest.staged:
        assert staged.name == "x_padded"
        for d, axis in enumerate(staged.axes[2:]):
            if axis.identity:
                continue
            assert spec.padding[d][0] > 0 or spec.padding[d][1] > spec.leftover[d]
            assert axis.offset == spec.padding[d][0]
            assert staged.pads[2 + d][1] == spec.padding[d][1] - spec.leftover[d]


@pytest.mark.parametrize(
    "spec,name,pads",
    [
        (ConvSpec((3, 3), 2), "gy_padded", ((1, 1), (1, 1))),  # the lecture: full correlation
        (ConvSpec((56, 56), 3, stride=2, padding=1), "gy_dilated", ((1, 2), (1, 2))),
        (ConvSpec((7,), 3, stride=2, padding=((4, 0),), dilation=2), "gy_dilated", ((0, 4),)),
    ],
)
def test_grad_input_staging_examples(spec, name, pads):
    (staged,) = lower(index_level(spec).grad_input, spec, schedule="direct").staged
    assert (staged.name, staged.pads[2:]) == (name, pads)
    assert staged.pads[2:] == full_correlation_padding(spec)


def test_staged_axis_crops_source_elements_that_land_before_the_copy():
    axis = StagedAxis(offset=-2, step=3, extent=7, count=4)  # lands at -2, 1, 4, 7
    assert list(axis.kept) == [1, 2]  # -2 and 7 fall outside 0..6
    assert not axis.identity
    assert StagedAxis(0, 1, 5, 5).identity


def test_materialize_dilates_and_pads():
    staged = Staged(
        "gy_dilated",
        Operand("gy", (1, 1, 3)),
        (StagedAxis(0, 1, 1, 1),) * 2 + (StagedAxis(1, 2, 7, 3),),
    )
    out = materialize(staged, np.array([[[1.0, 2.0, 3.0]]]))
    np.testing.assert_array_equal(out[0, 0], [0, 1, 0, 2, 0, 3, 0])
    assert staged.pads[2] == (1, 1)


def test_affine_bounds():
    j, t = index_symbol("j"), index_symbol("t")
    assert affine_bounds(2 * j - 3 * t + 1, {j: 4, t: 3}) == (-5, 7)
    assert affine_bounds(sp.floor(j / 2), {j: 4}) is None
    assert affine_bounds(j * t, {j: 4, t: 3}) is None
