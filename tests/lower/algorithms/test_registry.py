"""Tests for symconv.lower.algorithms: the registry, the default choice, forcing by name."""

from __future__ import annotations

import pytest

from symconv.kinds import ConvSpec, PoolSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower import lower
from symconv.lower.algorithms import ALGORITHMS, by_name
from symconv.lower.driver import default_schedule, schedules_for
from symconv.machine import Machine


def test_every_algorithm_has_a_unique_name_and_direct_closes_the_list():
    names = [a.name for a in ALGORITHMS]
    assert len(set(names)) == len(names) and names[-1] == "direct"
    assert by_name("rows").name == "rows"
    with pytest.raises(ValueError, match="schedule='fast' is not an algorithm"):
        by_name("fast")


SCALAR = Machine(vector_bits=0)  # no explicit vectors: the auto-vectorized algorithms
AVX512 = Machine()  # the development machine


@pytest.mark.parametrize(
    "spec,kernel,machine,expected",
    [
        (ConvSpec((3, 3), 2), "forward", AVX512, "direct"),  # too small for anything else
        (ConvSpec((3, 3), 2), "grad_input", SCALAR, "direct"),  # too small for a BLAS call
        (ConvSpec((28, 28), 3, in_channels=4, out_channels=8, batch=4), "forward", SCALAR, "rows"),
        (
            ConvSpec((28, 28), 3, in_channels=4, out_channels=8, batch=4),
            "grad_weight",
            SCALAR,
            "blocked",
        ),
        (
            ConvSpec((28, 28), 1, in_channels=64, out_channels=64, batch=2),
            "grad_input",
            SCALAR,
            "gemm",
        ),
        # one input channel, 8×8: unfold's dL/dX took 52 µs, direct 168, rows 140
        (ConvSpec((8, 8), 3, out_channels=16, batch=32, padding=1), "grad_input", SCALAR, "unfold"),
        (
            ConvSpec((56, 56), 3, in_channels=64, out_channels=64, padding=1),
            "forward",
            AVX512,
            "winograd",
        ),
        (
            ConvSpec((56, 56), 3, in_channels=8, out_channels=8, groups=8),
            "forward",
            AVX512,
            "depthwise",
        ),
        # dL/dF of 64 channels: simd 5,337 µs against Winograd's 6,234 with the BLAS's
        # products, level with the vector products (4,915 against 5,106); at 128 level
        # (3,023 against 2,967), Winograd kept
        (
            ConvSpec((56, 56), 3, in_channels=64, out_channels=64, padding=1),
            "grad_weight",
            AVX512,
            "simd",
        ),
        (
            ConvSpec((28, 28), 3, in_channels=128, out_channels=128, padding=1),
            "grad_weight",
            AVX512,
            "winograd",
        ),
        # dL/dF of a 1-D layer with rows of 1,024 and 32 channels: simd 883 µs against
        # positions' 1,086 (float64 1,699 against 2,312); positions keeps few channels
        (
            ConvSpec((1024,), 9, in_channels=32, out_channels=32, dilation=2, padding=8, batch=16),
            "grad_weight",
            AVX512,
            "simd",
        ),
        (  # float64 too: 9,775 µs against Winograd's 9,744 with the vector products
            ConvSpec((56, 56), 3, in_channels=64, out_channels=64, padding=1, dtype="float64"),
            "grad_weight",
            AVX512,
            "simd",
        ),
        # strided dL/dX, phase by phase: a 7×7 stride-2 stem on 3 channels 498 µs against
        # unfold's 1,613; simd keeps 64 → 128
        (
            ConvSpec((112, 112), 7, in_channels=3, out_channels=32, stride=2, padding=3),
            "grad_input",
            AVX512,
            "positions",
        ),
        # depthwise, stride 2, 64 channels: vectors of channels 194 µs against positions'
        # 250 (dL/dX), 208 against 246 (forward); with 4 channels positions (23 against 28);
        # at stride 1 the planes as they lie (depthwise 258 against 329)
        (
            ConvSpec((56, 56), 3, in_channels=64, out_channels=64, groups=64, stride=2, padding=1),
            "grad_input",
            AVX512,
            "channel_blocked",
        ),
        (
            ConvSpec((56, 56), 3, in_channels=64, out_channels=64, groups=64, stride=2, padding=1),
            "forward",
            AVX512,
            "channel_blocked",
        ),
        (
            ConvSpec((56, 56), 3, in_channels=4, out_channels=4, groups=4, stride=2, padding=1),
            "forward",
            AVX512,
            "positions",
        ),
        (
            ConvSpec((56, 56), 3, in_channels=64, out_channels=64, groups=64, padding=1),
            "forward",
            AVX512,
            "depthwise",
        ),
        # depthwise dL/dF from two vectors of channels: float64 720 µs against positions'
        # 1,129; 8 channels keep positions (48 against 65)
        (
            ConvSpec(
                (56, 56), 3, in_channels=64, out_channels=64, groups=64, padding=1, dtype="float64"
            ),  # fmt: skip
            "grad_weight",
            AVX512,
            "channel_blocked",
        ),
        (
            ConvSpec(
                (56, 56),
                3,
                in_channels=8,
                out_channels=8,
                groups=8,
                stride=2,
                padding=1,
                dtype="float64",
            ),  # fmt: skip
            "grad_weight",
            AVX512,
            "positions",
        ),
        (
            ConvSpec((56, 56), 3, in_channels=64, out_channels=128, stride=2, padding=1),
            "grad_input",
            AVX512,
            "simd",
        ),
        # 64×1×28×28 → 32, k3 p1 (fp32, µs): positions 187 / 374 / 187 against rows 347,
        # unfold 739 and blocked 556
        (
            ConvSpec((28, 28), 3, out_channels=32, padding=1, batch=64),
            "forward",
            AVX512,
            "positions",
        ),
        (
            ConvSpec((28, 28), 3, out_channels=32, padding=1, batch=64),
            "grad_input",
            AVX512,
            "positions",
        ),
        (
            ConvSpec((28, 28), 3, out_channels=32, padding=1, batch=64),
            "grad_weight",
            AVX512,
            "positions",
        ),
        # 64×6×12×12 → 16, k5: simd 87 µs against positions 146; dL/dF simd 103 against 151
        (
            ConvSpec((12, 12), 5, in_channels=6, out_channels=16, batch=64),
            "forward",
            AVX512,
            "simd",
        ),
        (
            ConvSpec((12, 12), 5, in_channels=6, out_channels=16, batch=64),
            "grad_weight",
            AVX512,
            "simd",
        ),
        # 1×1, 64 channels: simd 513–599 µs against gemm 1239–1314
        (
            ConvSpec((28, 28), 1, in_channels=64, out_channels=64, batch=2),
            "forward",
            AVX512,
            "simd",
        ),
    ],
)
def test_default_choice(spec, kernel, machine, expected):
    formula = getattr(index_level(spec), kernel)
    assert default_schedule(formula, spec, machine) == expected
    assert expected in schedules_for(formula, spec, machine)


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
