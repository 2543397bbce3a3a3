"""Tests for symconv.lower.algorithms: the registry, the default choice, forcing by name."""

from __future__ import annotations

import pytest

from symconv.kinds import ConvSpec, PoolSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower import lower
from symconv.lower.algorithms import ALGORITHMS, by_name
from symconv.lower.driver import default_schedule, schedules_for


def test_every_algorithm_has_a_unique_name_and_direct_closes_the_list():
    names = [a.name for a in ALGORITHMS]
    assert len(set(names)) == len(names) and names[-1] == "direct"
    assert by_name("rows").name == "rows"
    with pytest.raises(ValueError, match="schedule='fast' is not an algorithm"):
        by_name("fast")


@pytest.mark.parametrize(
    "spec,kernel,expected",
    [
        (ConvSpec((3, 3), 2), "forward", "direct"),  # too small for anything else
        (ConvSpec((28, 28), 3, in_channels=4, out_channels=8, batch=4), "forward", "rows"),
        (ConvSpec((28, 28), 3, in_channels=4, out_channels=8, batch=4), "grad_weight", "blocked"),
        (ConvSpec((28, 28), 1, in_channels=64, out_channels=64, batch=2), "grad_input", "gemm"),
        # one input channel, 8×8: unfold's dL/dX took 52 µs, direct 168, rows 140
        (ConvSpec((8, 8), 3, out_channels=16, batch=32, padding=1), "grad_input", "unfold"),
        (ConvSpec((3, 3), 2), "grad_input", "direct"),  # too small for a BLAS call to pay
        (ConvSpec((56, 56), 3, in_channels=64, out_channels=64, padding=1), "forward", "winograd"),
        (ConvSpec((56, 56), 3, in_channels=8, out_channels=8, groups=8), "forward", "depthwise"),
    ],
)
def test_default_choice(spec, kernel, expected):
    formula = getattr(index_level(spec), kernel)
    assert default_schedule(formula, spec) == expected
    assert expected in schedules_for(formula, spec)


def test_pooling_has_only_the_direct_algorithm():
    spec = PoolSpec("max", (8, 8), 2)
    level = index_level(ConvSpec((3, 3), 2))
    assert schedules_for(level.forward, ConvSpec((3, 3), 2))[0] == "direct"
    from symconv.kinds import POOLING

    for formula in POOLING.index_level(spec).formulas():
        assert schedules_for(formula, spec) == ("direct",)
        assert lower(formula, spec).name == formula.name


def test_an_algorithm_parameter_is_part_of_its_name():
    assert by_name("blocked:2x1").name == "blocked:2x1"
    assert by_name("winograd:4").name == "winograd:4"
    for bad in ("blocked:0x1", "blocked:2", "blocked:17x1", "blocked:2x", "blocked:²x1"):
        with pytest.raises(ValueError, match="blocked:BmxBc \\(each from 1 to 16\\)"):
            by_name(bad)
