"""Tests for symconv.window: one axis of a sliding window, its sizes and its exact counts."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from symconv.window import WindowAxis, floor_sum


def brute_pairs(axis: WindowAxis) -> tuple[int, int]:
    pairs = empty = 0
    for j in range(axis.outputs):
        real = sum(axis.reads_real(j, t) for t in range(axis.kernel))
        pairs += real
        empty += real == 0
    return pairs, empty


@st.composite
def axes(draw: st.DrawFn) -> WindowAxis:
    kernel, stride, dilation = (draw(st.integers(1, 6)) for _ in range(3))
    lo, hi = draw(st.integers(0, 12)), draw(st.integers(0, 12))
    span = dilation * (kernel - 1) + 1
    size = draw(st.integers(max(1, span - lo - hi), 40))
    return WindowAxis(size, kernel, stride, dilation, lo, hi)


@settings(max_examples=2000, deadline=None)
@given(axis=axes())
def test_closed_form_counts_equal_enumeration(axis):
    assert (axis.real_pairs(), axis.empty_windows()) == brute_pairs(axis)


@settings(max_examples=500, deadline=None)
@given(n=st.integers(0, 60), m=st.integers(1, 30), a=st.integers(-40, 40), b=st.integers(-90, 90))
def test_floor_sum_equals_the_sum(n, m, a, b):
    assert floor_sum(n, m, a, b) == sum((a * u + b) // m for u in range(n))


def test_sizes_follow_dumoulin_and_visin():
    axis = WindowAxis(size=7, kernel=3, stride=2, dilation=2, lo=1, hi=0)
    assert (axis.span, axis.padded, axis.outputs, axis.leftover) == (5, 8, 2, 1)
    assert axis.position(1, 2) == 2 * 1 + 2 * 2 - 1
    assert axis.unreached() == (0, 2, 4, 6)  # reads -1 (padding), 1, 3, 1, 3, 5


def test_counts_of_an_axis_of_10_to_the_18_take_no_time():
    axis = WindowAxis(10**18, 5 * 10**8, 3, 2, 7, 11)
    started = time.perf_counter()
    pairs, empty = axis.real_pairs(), axis.empty_windows()
    assert time.perf_counter() - started < 0.01
    assert pairs <= axis.outputs * axis.kernel and empty == 0
