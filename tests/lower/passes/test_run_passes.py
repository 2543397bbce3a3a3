"""Tests for symconv.lower.passes: each algorithm's pass list runs in order, named and timed."""

from __future__ import annotations

from symconv.kinds import ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower import lower
from symconv.lower.algorithms import ALGORITHMS
from symconv.lower.passes import STANDARD, Pass, run_passes


def test_every_pass_of_the_chosen_algorithm_is_timed_by_name():
    spec = ConvSpec((12, 12), 3, in_channels=2, out_channels=4, batch=2, padding=1)
    timings: dict[str, float] = {}
    lower(index_level(spec).forward, spec, schedule="rows", timings=timings)
    rows = next(a for a in ALGORITHMS if a.name == "rows")
    assert set(timings) == {p.name for p in rows.passes}
    assert all(seconds >= 0 for seconds in timings.values())


def test_passes_run_in_their_declared_order():
    seen: list[str] = []
    steps = tuple(
        Pass(name, lambda nest, _, name=name: seen.append(name) or nest) for name in "abc"
    )
    context = type("Context", (), {"timings": {}})()
    assert run_passes("nest", steps, context) == "nest"
    assert seen == ["a", "b", "c"] and set(context.timings) == {"a", "b", "c"}
    assert [p.name for p in STANDARD][-1] == "fuse outer loops"
