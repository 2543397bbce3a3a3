"""Winograd F(m, r): the derived transforms against correlations computed independently."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv import ConvSpec
from symconv.cost import conv_cost
from symconv.symbolic.winograd import (
    candidates,
    fp32_error,
    nested_apply,
    nested_proof,
    refusal,
    study,
    tiling,
    winograd,
)

#: Every F(m, r) with a tile of at most 8 inputs (the ones symconv offers for kernels).
SMALL = [(m, r) for m in range(1, 8) for r in range(1, 8) if m + r - 1 <= 8]


@pytest.mark.parametrize(("m", "r"), SMALL)
def test_the_symbolic_proof_holds(m, r):
    assert winograd(m, r).proof()


@pytest.mark.parametrize(("m", "r"), [(2, 3), (4, 3), (6, 3), (3, 2), (2, 5), (4, 5), (3, 1)])
def test_the_transform_is_the_correlation_in_exact_rationals(m, r):
    """Random rational data: Aᵀ((Gg)⊙(Bᵀd)) against a correlation written out here."""
    t = winograd(m, r)
    rng = np.random.default_rng(m * 10 + r)
    d = [sp.Rational(int(v), 7) for v in rng.integers(-20, 20, t.n)]
    g = [sp.Rational(int(v), 3) for v in rng.integers(-20, 20, r)]
    expected = [sum(d[i + k] * g[k] for k in range(r)) for i in range(m)]
    assert t.apply(d, g) == expected


def test_f23_is_lavin_and_grays_up_to_the_sign_of_the_point_at_infinity():
    """Lavin & Gray (2016) print F(2, 3) for points 0, 1, −1 and ∞; symconv derives the same
    rows, except that the row of ∞ carries the opposite sign in both Bᵀ and Aᵀ."""
    t = winograd(2, 3)
    lavin_bt = sp.Matrix([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
    half = sp.Rational(1, 2)
    lavin_g = sp.Matrix([[1, 0, 0], [half, half, half], [half, -half, half], [0, 0, 1]])
    lavin_at = sp.Matrix([[1, 1, 1, 0], [0, 1, -1, -1]])
    flip = sp.diag(1, 1, 1, -1)
    assert t.G == lavin_g
    assert flip * t.BT == lavin_bt
    assert t.AT * flip == lavin_at


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from([(2, 3), (4, 3), (2, 2), (3, 3), (2, 5)]),
    st.lists(st.fractions(min_value=-4, max_value=4, max_denominator=4), min_size=8, max_size=8),
)
def test_any_distinct_points_give_a_correct_transform(shape, pool):
    m, r = shape
    points = list(dict.fromkeys(pool))[: m + r - 2]
    if len(points) < m + r - 2:
        return
    t = winograd(m, r, points)
    assert t.points == tuple(sp.Rational(p) for p in points)
    d = [sp.Rational(i * i - 3, 2) for i in range(t.n)]
    g = [sp.Rational(5 - 2 * k, 3) for k in range(r)]
    assert t.apply(d, g) == [sum(d[i + k] * g[k] for k in range(r)) for i in range(m)]


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([0, 1], "needs n − 1 = 3"),
        ([0, 1, 1], "must be distinct"),
        ([0, True, 2], "not a bool"),
        ([0, 1, "x"], "rational number"),
        ([0, 1, float("inf")], "finite"),
    ],
)
def test_bad_points_are_refused_in_one_line(points, message):
    with pytest.raises(ValueError, match=message) as caught:
        winograd(2, 3, points)
    assert "\n" not in str(caught.value)


def test_a_float_point_is_taken_exactly():
    assert winograd(2, 3, [0, 0.5, -1]).points == (0, sp.Rational(1, 2), -1)
    assert winograd(2, 3, [0, Fraction(1, 3), -1]).proof()


@pytest.mark.parametrize(("m", "r"), [(0, 3), (3, 0), (10, 4)])
def test_impossible_sizes_are_refused(m, r):
    with pytest.raises(ValueError, match="F"):
        winograd(m, r)


@pytest.mark.parametrize(
    "shape", [((2, 3), (2, 3)), ((4, 3), (2, 2)), ((2, 3), (2, 2), (3, 1)), ((2, 2),)]
)
def test_nested_transforms_are_the_multidimensional_correlation(shape):
    transforms = [winograd(m, r) for m, r in shape]
    assert nested_proof(transforms)
    rng = np.random.default_rng(0)
    d = rng.standard_normal(tuple(t.n for t in transforms))
    g = rng.standard_normal(tuple(t.r for t in transforms))
    got = nested_apply(transforms, d, g)
    expected = np.zeros(tuple(t.m for t in transforms))
    for out in np.ndindex(expected.shape):
        window = tuple(slice(o, o + t.r) for o, t in zip(out, transforms))
        expected[out] = np.sum(d[window] * g)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_nested_proof_catches_a_wrong_matrix():
    good = winograd(2, 3)
    broken = type(good)(2, 3, good.points, good.AT, good.G * 2, good.BT)
    assert not nested_proof([broken, good])


def test_fp32_error_grows_with_the_tile_and_stays_small_for_f23():
    errors = [fp32_error([winograd(m, 3)] * 2) for m in (2, 4, 6)]
    assert errors == sorted(errors)
    assert errors[0] < 2e-6
    assert errors[2] < 1e-4


def test_default_points_beat_integer_points_in_fp32():
    """The ±1/2 points (Barabasz et al.) against 0, ±1, ±2 for F(4, 3) in 2-D."""
    default = fp32_error([winograd(4, 3)] * 2)
    integer = fp32_error([winograd(4, 3, [0, 1, -1, 2, -2])] * 2)
    assert default < integer


def test_candidates_stop_at_tiles_of_eight():
    assert candidates(3) == (2, 4, 6)
    assert candidates(5) == (2, 4)
    assert candidates(7) == (2,)


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"stride": 2}, "stride"),
        ({"dilation": 2}, "dilation"),
        ({"kernel_size": 1}, "1×1"),
    ],
)
def test_layers_winograd_cannot_compute_say_why(fields, word):
    spec = ConvSpec(**{"input_size": (8, 8), "kernel_size": 3, **fields})
    assert word in refusal(spec)
    with pytest.raises(ValueError, match=word):
        tiling(spec, 2)


def test_tiling_counts_tiles_and_overhang_per_axis():
    spec = ConvSpec(input_size=(9, 6), kernel_size=(3, 2))
    t = tiling(spec, 4)
    assert spec.output_size == (7, 5)
    assert t.tiles == (2, 2)
    assert t.overhang == (1, 3)
    assert t.products_per_tile == 6 * 5
    assert t.direct_per_tile == 12 * 8
    assert t.label == "F(4×4, 3×2)"


def test_study_proves_and_measures_every_candidate():
    spec = ConvSpec(input_size=(8, 8), kernel_size=3, in_channels=2, out_channels=2)
    found = study(spec, 4)
    assert found.all_hold
    assert [c.tiling.label for c in found.candidates] == [
        "F(2×2, 3×3)",
        "F(4×4, 3×3)",
        "F(6×6, 3×3)",
    ]
    assert [round(c.saving, 2) for c in found.candidates] == [2.25, 4.0, 5.06]


def test_the_cost_table_gains_a_row_per_candidate_counted_by_hand():
    """8×8 input, 3×3 kernel, 2 → 3 channels, bias: F(2×2, 3×3) has 9 tiles of 16 products."""
    spec = ConvSpec(input_size=(8, 8), kernel_size=3, in_channels=2, out_channels=3, bias=True)
    rows = {row.name: row for row in conv_cost(spec).rows}
    f2 = rows["Winograd F(2×2, 3×3)"]
    assert f2.stored_floats == 3 * 2 * 16 + 3
    # BT of F(2, 3): 4 rows, 2 nonzeros each, all ±1 → 4 additions per column, 16 per
    # nested tile pass, twice (rows then columns); AT: 2 rows of 3 nonzeros → 4 per column.
    input_transform = 4 * 4 + 4 * 4
    output_transform = 4 * 4 + 2 * 4
    expected = 9 * (16 * 3 * (2 * 2 - 1) + 2 * input_transform + 3 * output_transform) + 3 * 36
    assert f2.operations == expected
    strided = ConvSpec(input_size=(8, 8), kernel_size=3, stride=2)
    assert not any(r.name.startswith("Winograd") for r in conv_cost(strided).rows)
