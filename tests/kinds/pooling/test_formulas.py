"""Tests for symconv.symbolic.pool_formulas: pooling's index-level formulas as data.

The formulas are evaluated by brute enumeration (`PoolFormula.evaluate`) and compared
with symconv.reference, which tests/test_reference_pooling.py checks against a
hand-written loop and PyTorch; their structure is checked against the index equation
p = s·j + t − pad written out here.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv import reference
from symconv.kinds import PoolSpec
from symconv.kinds.pooling.formulas import pool_level
from symconv.symbolic.indices import Access, Divisible, InRange, Loop, index_symbol
from symconv.symbolic.indices import IndexFormula as PoolFormula
from tests.pool_strategies import pool_arrays, pool_specs

n, c, jh, jw, th, tw, rh, rw = (
    index_symbol(name) for name in ("n", "c", "jh", "jw", "th", "tw", "rh", "rw")
)


@settings(deadline=None, max_examples=60)
@given(spec=pool_specs(), seed=st.integers(0, 2**16))
def test_formulas_evaluate_to_the_reference(spec, seed):
    x, gy = pool_arrays(spec, np.random.default_rng(seed))
    x, gy = x.astype(np.float64), gy.astype(np.float64)
    level = pool_level(spec)
    arrays = {"x": x, "gy": gy}
    np.testing.assert_allclose(
        level.forward.evaluate(arrays, spec.output_shape),
        reference.pool_forward(spec, x),
        rtol=1e-12,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        level.grad_input.evaluate(arrays, spec.input_shape),
        reference.pool_grad_input(spec, gy, x),
        rtol=1e-12,
        atol=1e-12,
    )


def test_max_forward_is_a_max_over_the_window_taps():
    spec = PoolSpec("max", (5, 5), 3, stride=2, padding=1)
    f = pool_level(spec).forward
    assert (f.name, f.reduction, f.scale, f.select) == ("forward", "max", 1, None)
    assert f.target == Access("y", (n, c, jh, jw))
    assert f.loops[2:] == (Loop(jh, 3), Loop(jw, 3))
    assert f.reductions == (Loop(th, 3), Loop(tw, 3))
    (x,) = f.factors
    assert x.index[2:] == (2 * jh + th - 1, 2 * jw + tw - 1)
    assert f.guards == (InRange(2 * jh + th - 1, 5), InRange(2 * jw + tw - 1, 5))


def test_guards_appear_only_with_padding():
    """Without padding every window ends inside the input (the output size is floored)."""
    spec = PoolSpec("avg", (7,), 3, stride=2)
    level = pool_level(spec)
    assert level.forward.guards == ()
    assert level.forward.scale == sp.Rational(1, 3)


def test_max_gradient_routes_gy_to_the_tap_that_holds_the_maximum():
    spec = PoolSpec("max", (4, 4), 2, padding=1, channels=3, batch=2)
    g = pool_level(spec).grad_input
    assert g.reduction == "argmax" and g.scatters
    positions = (2 * jh + th - 1, 2 * jw + tw - 1)
    assert g.target == Access("gx", (n, c, *positions))
    assert g.select == Access("x", (n, c, *positions))
    assert g.factors == (Access("gy", (n, c, jh, jw)),)
    assert [loop.var for loop in g.loops] == [n, c, jh, jw]
    assert [loop.var for loop in g.reductions] == [th, tw]


def test_average_gradient_is_a_gather_over_the_windows_holding_each_input():
    spec = PoolSpec("avg", (5,), 3, stride=2, padding=1)
    g = pool_level(spec).grad_input
    r, t = index_symbol("r"), index_symbol("t")
    assert g.reduction == "sum" and g.scale == sp.Rational(1, 3) and not g.scatters
    assert g.target == Access("gx", (n, c, r))
    (gy,) = g.factors
    assert sp.simplify(gy.index[2] - sp.floor((r + 1 - t) / 2)) == 0
    assert Divisible(r - t + 1, 2) in g.guards
    assert InRange(gy.index[2], 3) in g.guards


def test_average_forward_evaluates_on_symbols():
    """The sum form works on SymPy symbols too: y = (x0 + x1 + x2) / 3, padding dropped."""
    spec = PoolSpec("avg", (3,), 3, stride=1, padding=1)
    symbols = np.array([[sp.symbols("a b c")]], dtype=object)
    y = pool_level(spec).forward.evaluate({"x": symbols}, spec.output_shape)
    a, b, cc = sp.symbols("a b c")
    assert [sp.simplify(v) for v in y[0, 0]] == [(a + b) / 3, (a + b + cc) / 3, (b + cc) / 3]


def test_max_forward_evaluates_on_symbols_and_argmax_refuses_them():
    spec = PoolSpec("max", (2,), 2)
    a, b = sp.symbols("a b")
    symbols = np.array([[[a, b]]], dtype=object)
    level = pool_level(spec)
    assert level.forward.evaluate({"x": symbols}, spec.output_shape)[0, 0, 0] == sp.Max(a, b)
    with pytest.raises(TypeError, match="SymPy symbols have no order"):
        level.grad_input.evaluate({"x": symbols, "gy": symbols[..., :1]}, spec.input_shape)


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"reduction": "min"}, "reduction='min' must be one of"),
        ({"reduction": "argmax"}, "an argmax needs a select access"),
        ({"reduction": "sum", "select": Access("x", (n,))}, "an argmax needs a select access"),
        ({"reduction": "max", "factors": ()}, "a max reduces exactly one factor"),
    ],
)
def test_pool_formula_refuses_inconsistent_fields(fields, message):
    base = dict(
        name="f",
        target=Access("y", (n,)),
        loops=(Loop(n, 2),),
        reductions=(),
        guards=(),
        factors=(Access("x", (n,)),),
    )
    with pytest.raises(ValueError, match=message):
        PoolFormula(**{**base, **fields})


def test_pool_formula_is_an_index_formula():
    """Printers written for IndexFormula see pooling formulas too (and must read `reduction`)."""
    from symconv.symbolic.indices import IndexFormula

    level = pool_level(PoolSpec("max", (4,), 2))
    assert all(isinstance(f, IndexFormula) for f in level.formulas())
    assert [f.name for f in level.formulas()] == ["forward", "grad_input"]
