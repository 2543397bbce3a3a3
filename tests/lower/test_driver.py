"""Tests for symconv.lower: the loop-nest IR, its passes and their policies.

The lowered nests run in the pure-Python interpreter (`symconv.lower.interpret`) and
are compared with `symconv.reference`, so every rewrite is checked for meaning
without Numba or templates.  Structural tests check what the rewrites promise: no
guard left in a hot loop, staged copies padded exactly as the lecture's patterns say,
taps unrolled up to 7×7, threads and batch chunks only where the work pays for them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv import reference
from symconv.kinds import ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower import lower, lower_all
from symconv.lower.algorithms.base import batch_chunks
from symconv.lower.driver import schedules_for
from symconv.lower.interpret import materialize, run
from symconv.lower.ir import (
    Accumulate,
    For,
    If,
    Init,
    LoopNest,
    Operand,
    Read,
    Staged,
    StagedAxis,
    Store,
)
from symconv.lower.passes.simplify import static_value
from symconv.lower.passes.staging import affine_bounds
from symconv.lower.passes.unroll import unroll
from symconv.machine import HOST
from symconv.symbolic.indices import Divisible, index_symbol, make_indices
from symconv.symbolic.patterns import full_correlation_padding
from tests.strategies import conv_specs, random_arrays

LECTURE = ConvSpec((3, 3), 2)
VARIANTS = (
    {},
    {"parallel": True},
    {"unroll": False},
    {"stage": False},
    {"parallel": True, "unroll": False},
    {"schedule": "fast"},
    {"schedule": "fast", "parallel": True},
    {"schedule": "fast", "unroll": False},
)


def options(formula, spec: ConvSpec, variant: dict) -> dict:
    """`variant` for `lower`; "fast" means the formula's non-direct schedule, if it has one."""
    if variant.get("schedule") == "fast":
        return {**variant, "schedule": schedules_for(formula, spec)[-1]}
    return variant


def oracle(spec: ConvSpec, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reference results in float64, to compare with the interpreter's float64 sums."""
    a = {k: v.astype(np.float64) for k, v in arrays.items() if v is not None}
    results = {
        "forward": reference.forward(spec, a["x"], a["w"], a.get("b")),
        "grad_input": reference.grad_input(spec, a["gy"], a["w"]),
        "grad_weight": reference.grad_weight(spec, a["x"], a["gy"]),
    }
    if spec.bias:
        results["grad_bias"] = reference.grad_bias(spec, a["gy"])
    return results


def inputs(spec: ConvSpec, seed: int) -> dict[str, np.ndarray]:
    x, w, b, gy = random_arrays(spec, np.random.default_rng(seed))
    return {"x": x, "w": w, "b": b, "gy": gy}


def hot_statements(nest: LoopNest):
    return [s for s, loops in nest.statements() if loops]


# ----- meaning: every pass combination computes the formula ------------------------------
@settings(max_examples=120, deadline=None)
@given(spec=conv_specs(), variant=st.sampled_from(VARIANTS), seed=st.integers(0, 2**16))
def test_lowered_nests_compute_the_reference(spec, variant, seed):
    arrays = inputs(spec, seed)
    expected = oracle(spec, arrays)
    for formula in index_level(spec).formulas():
        nest = lower(formula, spec, **options(formula, spec, variant))
        got = run(nest, {k: v.astype(np.float64) for k, v in arrays.items() if v is not None})
        np.testing.assert_allclose(got, expected[formula.name], rtol=1e-12, atol=1e-12)


def test_interpreter_result_starts_as_nan_so_forgotten_stores_show():
    nest = lower(index_level(LECTURE).forward, LECTURE)
    broken = LoopNest(nest.name, nest.params, nest.result, body=())
    assert np.isnan(run(broken, inputs(LECTURE, 0))).all()


# ----- guards leave the hot loops -----------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(spec=conv_specs())
def test_no_guard_survives_in_any_default_nest(spec):
    for name, nest in lower_all(index_level(spec), spec).items():
        assert not [s for s, _ in nest.statements() if isinstance(s, If)], name


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


def test_unstaged_lowering_keeps_guards_as_ifs():
    spec = ConvSpec((5,), 3, padding=1)
    nest = lower(index_level(spec).forward, spec, stage=False)
    assert any(isinstance(s, If) for s in hot_statements(nest))
    assert nest.staged == ()


# ----- staged copies --------------------------------------------------------------------
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


# ----- unrolling ------------------------------------------------------------------------
def loop_vars(nest: LoopNest) -> set[str]:
    return {s.var.name for s, _ in nest.statements() if isinstance(s, For)}


@pytest.mark.parametrize("k,unrolled", [(7, True), (8, False)])
def test_taps_unroll_up_to_forty_nine(k, unrolled):
    spec = ConvSpec((9, 9), k)
    assert (k * k <= HOST.max_unrolled_taps) == unrolled
    for nest in lower_all(index_level(spec), spec).values():
        assert bool({"th", "tw"} & loop_vars(nest)) != unrolled


def test_unrolled_forward_has_literal_tap_offsets():
    nest = lower(index_level(LECTURE).forward, LECTURE)
    updates = [s for s, _ in nest.statements() if isinstance(s, Accumulate)]
    assert len(updates) == 4
    assert [u.factors[1].index[2:] for u in updates] == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_unrolling_a_free_tap_loop_gives_private_accumulators_and_one_jammed_reduction():
    nest = lower(index_level(LECTURE).grad_weight, LECTURE)
    inits = [s.acc for s, _ in nest.statements() if isinstance(s, Init)]
    assert inits == ["acc_0_0", "acc_0_1", "acc_1_0", "acc_1_1"]
    reductions = [s for s in nest.body if isinstance(s, For)]
    assert len(reductions) == 1  # the four copies share one loop over the outputs
    stores = [s for s, _ in nest.statements() if isinstance(s, Store)]
    assert [s.acc for s in stores] == inits


def test_unroll_keeps_shared_accumulator_in_a_reduction():
    t = index_symbol("t")
    loop = For(t, 3, (Accumulate("acc", (Read("x", (t,)),)),))
    nest = LoopNest("f", (Operand("x", (3,)),), Operand("y", ()), (Init("acc"), loop))
    body = unroll(nest, {t}).body
    assert [s.acc for s in body] == ["acc", "acc", "acc", "acc"]
    assert [s.factors[0].index for s in body[1:]] == [(0,), (1,), (2,)]


# ----- threads, fusion and batch chunks --------------------------------------------------
def test_small_layers_run_on_one_thread():
    for nest in lower_all(index_level(LECTURE), LECTURE).values():
        assert not nest.parallel


def test_lenet_forward_is_a_prange_over_batch_times_output_channels():
    spec = ConvSpec((28, 28), 5, out_channels=6, batch=2)
    nest = lower(index_level(spec).forward, spec, schedule="direct")
    assert nest.parallel and spec.multiply_adds >= HOST.parallel_min_work
    (outer,) = nest.body
    assert outer.parallel and outer.var.name == "n_m" and outer.extent == 12
    assert [s.var.name for s in outer.body[:2]] == ["n", "m"]


def test_grad_input_is_a_gather_parallel_over_input_channels():
    spec = ConvSpec((28, 28), 5, in_channels=3, out_channels=6, batch=2)
    nest = lower(index_level(spec).grad_input, spec, schedule="direct")
    (outer,) = nest.body
    assert nest.parallel and outer.var.name == "n_c" and outer.extent == 6
    assert nest.scratch == ()  # each thread writes its own gx elements: no partial sums


def test_grad_weight_splits_the_batch_into_private_partial_sums():
    spec = ConvSpec((28, 28), 5, out_channels=6, batch=64)
    formula = index_level(spec).grad_weight
    chunks = batch_chunks(formula, make_indices(spec.rank), HOST.target_tasks)
    assert chunks == 8  # 6 channel tasks × 8 chunks ≈ 64 tasks, and 8 divides 64
    nest = lower(formula, spec)
    assert nest.scratch == (Operand("partial", (8, *spec.weight_shape)),)
    outer = nest.body[0]
    assert outer.parallel and outer.extent == 8 * 6
    assert {"ch", "nn"} <= loop_vars(nest) | {"ch"}


def test_grad_bias_is_a_plain_sum_without_partials():
    spec = ConvSpec((28, 28), 5, out_channels=6, batch=64, bias=True)
    nest = lower(index_level(spec).grad_bias, spec)
    assert nest.scratch == ()
    assert math.prod(spec.output_shape) >= HOST.parallel_min_work and nest.parallel


def test_without_batch_or_channel_loops_the_outer_position_loop_is_parallel():
    spec = ConvSpec((28, 28), 5, out_channels=6)  # batch 1, one input channel
    nest = lower(index_level(spec).grad_input, spec, schedule="direct")
    (outer,) = nest.body
    assert nest.parallel and outer.parallel and outer.var.name == "rh"


# ----- schedules ------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(spec=conv_specs())
def test_no_guard_survives_in_the_fast_schedules(spec):
    for formula in index_level(spec).formulas():
        nest = lower(formula, spec, schedule=schedules_for(formula, spec)[-1])
        assert not [s for s, _ in nest.statements() if isinstance(s, If)], formula.name


def test_schedules_per_kernel_and_the_default_heuristic():
    big = ConvSpec((28, 28), 3, in_channels=4, out_channels=8, batch=4)
    level = index_level(big)
    assert schedules_for(level.forward, big) == ("direct", "rows")
    assert schedules_for(level.grad_weight, big) == ("direct", "blocked")
    chosen = {name: nest.notes for name, nest in lower_all(level, big).items()}
    assert any("rows schedule" in note for note in chosen["forward"])
    assert not any(
        "rows schedule" in note
        for note in lower_all(index_level(LECTURE), LECTURE)["forward"].notes
    )
    with pytest.raises(ValueError, match="schedule='rows' cannot lower grad_weight"):
        lower(level.grad_weight, big, schedule="rows")


def test_rows_forward_hoists_weights_out_of_the_position_loops():
    """Every weight read sits outside the loops over output positions, in a local."""
    spec = ConvSpec((12, 12), 3, in_channels=2, out_channels=4, batch=2)
    nest = lower(index_level(spec).forward, spec, schedule="rows")
    positions = {v.name for v in make_indices(2).out}
    for stmt, loops in nest.statements():
        if isinstance(stmt, Accumulate):
            assert "w" not in {f.buffer for f in stmt.factors if isinstance(f, Read)}
        if isinstance(stmt, Init) and isinstance(stmt.value, Read) and stmt.value.buffer == "w":
            assert not positions & {loop.var.name for loop in loops}


def test_strided_rows_grad_input_never_reads_a_dilated_copy():
    """Stride phases replace the dilated dL/dy: s^2 phases, plain padded copies only."""
    spec = ConvSpec((9, 9), 3, in_channels=2, out_channels=2, stride=2, padding=1, batch=2)
    nest = lower(index_level(spec).grad_input, spec, schedule="rows")
    assert all(all(a.step == 1 for a in s.axes) for s in nest.staged)
    assert any(
        a.step == 2
        for s in lower(index_level(spec).grad_input, spec, schedule="direct").staged
        for a in s.axes
    )
    direct = lower(index_level(spec).grad_input, spec, schedule="direct")
    # The dilated copy costs every tap at every input position; a phase meets only its
    # own taps, so no more products than the forward pass has (each tap × output once).
    assert executed_products(direct) == 9 * math.prod(spec.input_shape) * 2
    assert executed_products(nest) <= spec.multiply_adds < executed_products(direct) / 2


def executed_products(nest: LoopNest) -> int:
    """How many times the kernel multiplies: each Accumulate times its loops' extents."""
    return sum(
        math.prod(loop.extent for loop in loops)
        for s, loops in nest.statements()
        if isinstance(s, Accumulate)
    )
