"""Tests for the Winograd algorithm: F(m, r) nests against the reference, run by the interpreter."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv.kinds import CONVOLUTION, ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower import lower
from symconv.lower.algorithms import by_name
from symconv.lower.algorithms.winograd import default_m, phase_groups, tile_side
from symconv.lower.driver import schedules_for
from symconv.lower.interpret import run
from symconv.lower.ir import Combine, For, Gemm, VecFma, VecLoad, VecStore, VecTotal, walk
from symconv.machine import Machine
from symconv.symbolic.winograd import winograd
from tests.strategies import conv_specs

WINOGRAD_KERNELS = ("forward", "grad_input", "grad_weight")


def stride_one_specs(**kw) -> st.SearchStrategy[ConvSpec]:
    """Random layers Winograd accepts: stride 1, no dilation, some kernel axis longer than 1."""
    specs = conv_specs(max_stride=1, max_dilation=1, max_kernel=4, **kw)
    return specs.filter(lambda s: max(s.kernel_size) > 1)


def kernel_arrays(spec: ConvSpec, seed: int) -> dict[str, np.ndarray]:
    arrays = CONVOLUTION.random_inputs(spec, np.random.default_rng(seed))
    return {name: a.astype(np.float64) for name, a in arrays.items()}


def formulas(spec: ConvSpec):
    return [f for f in index_level(spec).formulas() if f.name in WINOGRAD_KERNELS]


@settings(max_examples=40, deadline=None)
@given(
    spec=stride_one_specs(),
    schedule=st.sampled_from(("winograd", "winograd:2", "winograd:3")),
    seed=st.integers(0, 2**16),
)
def test_winograd_nests_compute_the_reference(spec, schedule, seed):
    """Ranks 1-3, groups, asymmetric padding (cropping dL/dO too), both modes, bias, overhang;
    dL/dF through F(r, m) with dL/dO tiles as the filter."""
    arrays = kernel_arrays(spec, seed)
    expected = CONVOLUTION.reference(spec, arrays)
    for formula in formulas(spec):
        nest = lower(formula, spec, schedule=schedule)
        got = run(nest, arrays)
        scale = np.max(np.abs(expected[formula.name]), initial=0.0) or 1.0
        assert np.max(np.abs(got - expected[formula.name])) / scale < 1e-11, formula.name


def test_tiles_that_overhang_and_a_cropped_dl_do():
    """6 outputs across in tiles of 4 (the second overhangs by 2); padding 3 on a 3-tap axis
    puts dL/dO at offset 3 − 1 − 3 = −1 in its copy: its first row is cropped."""
    spec = ConvSpec((6, 5), (3, 2), padding=((3, 1), (0, 2)), in_channels=2, out_channels=3)
    assert spec.output_size == (8, 6)
    arrays = kernel_arrays(spec, 3)
    expected = CONVOLUTION.reference(spec, arrays)
    for formula in formulas(spec):
        got = run(lower(formula, spec, schedule="winograd:4"), arrays)
        np.testing.assert_allclose(got, expected[formula.name], rtol=1e-11, atol=1e-11)


@settings(max_examples=60, deadline=None)
@given(spec=conv_specs())
def test_winograd_is_offered_exactly_for_stride_one_undilated_layers(spec):
    eligible = (
        all(s == 1 for s in spec.stride)
        and all(d == 1 for d in spec.dilation)
        and 1 < max(spec.kernel_size) <= 7  # F(2, 7) is the largest tile of 8 inputs
    )
    for formula in index_level(spec).formulas():
        offered = "winograd" in schedules_for(formula, spec)
        assert offered == (eligible and formula.name in WINOGRAD_KERNELS), formula.name


def test_the_constants_are_the_derived_matrices_entries():
    """Every coefficient in the nest is an entry of Bᵀ, G or Aᵀ of F(4, 3) (none typed in)."""
    spec = ConvSpec((8, 8), 3, in_channels=2, out_channels=2)
    t = winograd(4, 3)
    entries = {abs(sp.Rational(e)) for matrix in (t.BT, t.G, t.AT) for e in matrix if e != 0}
    nest = lower(formulas(spec)[0], spec, schedule="winograd")
    used = {abs(c) for s, _ in walk(nest.body) if isinstance(s, Combine) for c, _ in s.terms}
    assert used and used <= entries
    assert {abs(sp.Rational(e)) for e in t.BT if e not in (0, 1, -1)} <= used


def test_one_matrix_product_per_transformed_point_and_group():
    """Without vector registers, the products go to the BLAS."""
    spec = ConvSpec((6, 6), 3, in_channels=4, out_channels=6, groups=2)
    scalar = Machine(vector_bits=0)
    nest = lower(formulas(spec)[0], spec, schedule="winograd:2", machine=scalar)
    gemms = [(s, loops) for s, loops in walk(nest.body) if isinstance(s, Gemm)]
    assert len(gemms) == 1
    gemm, loops = gemms[0]
    # batch 1 (its loop dropped), 4×4 = 16 transformed points, 2 groups
    assert [loop.extent for loop in loops] == [16, 2]
    # per group: 3 output channels × 2 input channels, by 2 channels × 4 tiles of 2×2
    assert gemm.a.shape == (3, 2) and gemm.b.shape == (2, 4)


def test_with_vector_registers_the_products_are_register_tiles():
    """Per transformed point and group: 3 output channels × 2 input channels by 2 channels
    × 4 tiles; 4 tiles fill 4 of 16 float32 lanes, so one masked vector a row, 3 rows."""
    spec = ConvSpec((6, 6), 3, in_channels=4, out_channels=6, groups=2)
    nest = lower(formulas(spec)[0], spec, schedule="winograd:2", machine=Machine(vector_bits=512))
    assert not any(isinstance(s, Gemm) for s, _ in walk(nest.body)) and nest.lanes == 16
    fmas = [(s, loops) for s, loops in walk(nest.body) if isinstance(s, VecFma)]
    assert len(fmas) == 3 and {tuple(loop.extent for loop in loops) for _, loops in fmas} == {
        (16, 2, 2)
    }
    loads = [s for s, _ in walk(nest.body) if isinstance(s, VecLoad)]
    stores = [
        s for s, _ in walk(nest.body) if isinstance(s, VecStore) and s.target.buffer == "products"
    ]
    assert [s.stop for s in loads] == [4] and [s.count for s in stores] == [4, 4, 4]


@pytest.mark.parametrize(
    "spec",
    [
        ConvSpec((514,), 3, in_channels=2, out_channels=3),  # 128 tiles: 8 full vectors
        # 129 tiles (8 vectors and 1 masked lane), 2 groups, asymmetric padding, 2 images
        ConvSpec((514,), 3, in_channels=4, out_channels=2, groups=2, padding=((2, 1),), batch=2),
    ],
)
def test_dl_df_products_with_tiles_enough_are_vector_dots(spec):
    """From 8 vectors of tiles per image, dL/dF's products are register tiles summed across
    their lanes (one sum per accumulator and image); with fewer, the BLAS multiplies."""
    (formula,) = [f for f in formulas(spec) if f.name == "grad_weight"]
    vector = Machine(vector_bits=512)
    nest = lower(formula, spec, schedule="winograd:4", machine=vector)
    assert not any(isinstance(s, Gemm) for s, _ in walk(nest.body))
    totals = [s for s, _ in walk(nest.body) if isinstance(s, VecTotal)]
    per_group = (spec.out_channels // spec.groups) * (spec.in_channels // spec.groups)
    assert len(totals) == per_group
    arrays = kernel_arrays(spec, 7)
    expected = CONVOLUTION.reference(spec, arrays)["grad_weight"]
    np.testing.assert_allclose(run(nest, arrays), expected, rtol=1e-11, atol=1e-11)
    few = ConvSpec((34,), 3, in_channels=2, out_channels=3)  # 8 tiles
    (formula,) = [f for f in formulas(few) if f.name == "grad_weight"]
    nest = lower(formula, few, schedule="winograd:4", machine=vector)
    assert any(isinstance(s, Gemm) for s, _ in walk(nest.body))


def test_vector_loops_run_across_tiles_of_the_last_axis():
    spec = ConvSpec((16, 16), 3, in_channels=2, out_channels=2)
    nest = lower(formulas(spec)[0], spec, schedule="winograd:4")
    vector = [s for s, _ in walk(nest.body) if isinstance(s, For) and s.vector]
    assert vector and all(loop.extent in (3, 4, 5) for loop in vector)


@pytest.mark.parametrize(
    ("kernel", "rank", "m"), [((3, 3), 2, 4), ((5,), 1, 4), ((7, 7), 2, 2), ((3, 3, 3), 3, 2)]
)
def test_default_tile(kernel, rank, m):
    assert default_m(kernel, rank) == m


def test_default_tile_refuses_a_kernel_of_eight():
    assert default_m((8, 8), 2) is None


@pytest.mark.parametrize("name", ["winograd:0", "winograd:x", "winograd:10", "winograd:"])
def test_bad_tile_names_are_refused(name):
    with pytest.raises(ValueError, match="winograd:M"):
        by_name(name)


@settings(max_examples=200, deadline=None)
@given(
    offset=st.integers(-3, 5),
    count=st.integers(1, 20),
    m=st.integers(1, 6),
    extra=st.integers(0, 3),
)
def test_phase_groups_place_every_landing_column_once(offset, count, m, extra):
    places = -(-(count + max(offset, 0)) // m) + extra - 1
    places = max(places, 1)
    groups, singles = phase_groups(offset, count, m, places)
    landed = {}
    for u in groups:
        for p in range(m):
            landed[u * m + p - offset] = (p, u)
    for j, p, u in singles:
        assert j not in landed
        landed[j] = (p, u)
    expected = {
        j: ((j + offset) % m, (j + offset) // m)
        for j in range(count)
        if 0 <= j + offset < places * m
    }
    assert landed == expected


def test_the_weight_gradient_swaps_the_roles_of_data_and_filter():
    """dL/dF of a 3×3 layer with F(4, 3)'s tile of 4 uses F(3, 4): Aᵀ is 3 × 6, G is 6 × 4."""
    spec = ConvSpec((10, 10), 3, in_channels=2, out_channels=2, batch=2)
    t = winograd(3, 4)
    nest = lower(index_level(spec).grad_weight, spec, schedule="winograd:4")
    used = {abs(c) for s, _ in walk(nest.body) if isinstance(s, Combine) for c, _ in s.terms}
    entries = {abs(sp.Rational(e)) for matrix in (t.BT, t.G, t.AT) for e in matrix if e != 0}
    assert used <= entries and (set(abs(sp.Rational(e)) for e in t.G) - {0, 1}) <= used
    (gemm,) = [s for s, _ in walk(nest.body) if isinstance(s, Gemm)]
    assert gemm.accumulate and gemm.b.transposed


def test_a_register_tile_side_divides_the_channels_unless_only_a_small_divisor_does():
    assert tile_side(64, 6) == 4 and tile_side(64, 24) == 16 and tile_side(12, 6) == 6
    assert tile_side(9, 6) == 3  # 3 is half of 6: still one tile shape
    assert tile_side(67, 6) == 6 and tile_side(5, 0) == 1  # a prime: 6 rows and a rest
