"""Tests for the border split: pieces in which every guard is decided."""

from __future__ import annotations

import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from symconv.lower.passes.split import breakpoints, guard_range
from symconv.symbolic.indices import InRange

J = sp.Symbol("j", integer=True, nonnegative=True)


@given(
    a=st.integers(-3, 3).filter(bool),
    b=st.integers(-8, 8),
    bound=st.integers(1, 10),
    extent=st.integers(1, 12),
)
def test_guard_range_is_where_the_guard_holds(a, b, bound, extent):
    guard = InRange(a * J + b, bound)
    expected = [v for v in range(extent) if 0 <= a * v + b < bound]
    assert list(guard_range(J, extent, guard)) == expected


@given(
    offsets=st.lists(st.integers(-4, 4), min_size=1, max_size=4),
    bound=st.integers(1, 10),
    extent=st.integers(1, 12),
)
def test_every_guard_is_constant_between_breakpoints(offsets, bound, extent):
    guards = [InRange(J + o, bound) for o in offsets]
    points = breakpoints(J, extent, guards)
    assert points[0] == 0 and points[-1] == extent
    for first, stop in zip(points, points[1:]):
        for guard in guards:
            values = {0 <= v + sp.expand(guard.expr - J) < bound for v in range(first, stop)}
            assert len(values) <= 1
