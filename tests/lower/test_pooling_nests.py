"""Tests for lowering the pooling formulas: meaning (interpreter vs reference) and structure.

Every pass combination must compute what symconv.reference computes, ties and −∞
included.  Structural tests check what the lowering promises for pooling: max
pooling's input is padded with −∞ and average pooling's with zeros so no guard is
left in a hot loop, the argmax starts at the first real tap, scatters run in
parallel only over whole (n, c) planes, and −∞ kernels are compiled without fastmath.
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
from symconv.lower import lower, lower_all
from symconv.lower.build import first_admitted
from symconv.lower.interpret import materialize, run
from symconv.lower.ir import (
    For,
    If,
    Init,
    Let,
    LoopNest,
    Maximize,
    Operand,
    Read,
    ScatterAdd,
    Staged,
    StagedAxis,
    Store,
)
from symconv.machine import HOST
from symconv.symbolic.indices import InRange, index_symbol
from tests.pool_strategies import pool_arrays, pool_specs

VARIANTS = (
    {},
    {"parallel": True},
    {"unroll": False},
    {"stage": False},
    {"parallel": True, "unroll": False},
)


def expected(spec: PoolSpec, x: np.ndarray, gy: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "forward": reference.pool_forward(spec, x),
        "grad_input": reference.pool_grad_input(spec, gy, x),
    }


def statements(nest: LoopNest, kind: type) -> list:
    return [s for s, _ in nest.statements() if isinstance(s, kind)]


@settings(max_examples=60, deadline=None)
@given(spec=pool_specs(), variant=st.sampled_from(VARIANTS), seed=st.integers(0, 2**16))
def test_lowered_pooling_nests_compute_the_reference(spec, variant, seed):
    x, gy = (a.astype(np.float64) for a in pool_arrays(spec, np.random.default_rng(seed)))
    want = expected(spec, x, gy)
    for formula in pool_level(spec).formulas():
        got = run(lower(formula, spec, **variant), {"x": x, "gy": gy})
        np.testing.assert_allclose(got, want[formula.name], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("variant", VARIANTS)
def test_all_minus_infinity_windows_still_route_to_a_real_element(variant):
    spec = PoolSpec("max", (5, 4), 3, stride=(2, 1), padding=1, channels=2)
    x = np.full(spec.input_shape, -np.inf)
    x[0, 1, 2, 2] = 1.0  # one finite value in one plane
    gy = np.random.default_rng(3).standard_normal(spec.output_shape)
    want = expected(spec, x, gy)
    for formula in pool_level(spec).formulas():
        got = run(lower(formula, spec, **variant), {"x": x, "gy": gy})
        np.testing.assert_array_equal(got, want[formula.name])


# ----- staging: −∞ for a max, zeros for a mean ----------------------------------------------
@settings(max_examples=40, deadline=None)
@given(spec=pool_specs())
def test_no_guard_survives_and_padding_uses_the_identity_of_the_reduction(spec):
    """x is padded by `padding` (−∞ for max, 0 for a mean); average pooling's gradient
    reads gy padded by k − 1 − padding, the convolution's full-correlation padding."""
    for name, nest in lower_all(pool_level(spec), spec).items():
        assert not statements(nest, If), name
        assert len(nest.staged) <= 1
        for staged in nest.staged:
            assert staged.fill == (-np.inf if spec.kind == "max" else 0.0), name
            gathers_gy = spec.kind == "avg" and name == "grad_input"
            assert staged.source.name == ("gy" if gathers_gy else "x")
            for d, axis in enumerate(staged.axes[2:]):
                if axis.identity:
                    continue
                k, p = spec.kernel_size[d], spec.padding[d]
                assert axis.offset == (k - 1 - p if gathers_gy else p), (name, d)


def test_max_forward_pads_x_with_minus_infinity_by_the_padding():
    spec = PoolSpec("max", (5, 5), 3, stride=2, padding=1)
    (staged,) = lower(pool_level(spec).forward, spec).staged
    assert staged.name == "x_padded" and staged.fill == -np.inf
    assert staged.pads[2:] == ((1, 1), (1, 1))
    padded = materialize(staged, np.ones(spec.input_shape))
    assert (padded[0, 0, 0] == -np.inf).all() and (padded[0, 0, 1:6, 1:6] == 1).all()


def test_average_gradient_reads_a_dilated_zero_padded_gy_as_convolution_does():
    spec = PoolSpec("avg", (5, 5), 3, stride=2, padding=1)
    (staged,) = lower(pool_level(spec).grad_input, spec).staged
    assert (staged.name, staged.fill) == ("gy_dilated", 0.0)
    assert [a.step for a in staged.axes[2:]] == [2, 2]


def test_without_padding_nothing_is_staged():
    spec = PoolSpec("max", (24, 24), 2, channels=6)
    for nest in lower_all(pool_level(spec), spec).values():
        assert nest.staged == ()


# ----- the argmax ---------------------------------------------------------------------------
def test_max_gradient_scans_the_window_then_scatters_once():
    spec = PoolSpec("max", (4, 4), 2, padding=1)
    nest = lower(pool_level(spec).grad_input, spec)
    jh, jw, th_best, tw_best = (index_symbol(s) for s in ("jh", "jw", "th_best", "tw_best"))
    assert statements(nest, Init) == [Init("acc", None, "max")]
    lets = statements(nest, Let)
    assert lets == [Let(th_best, sp.Max(0, 1 - 2 * jh)), Let(tw_best, sp.Max(0, 1 - 2 * jw))]
    updates = statements(nest, Maximize)
    assert [u.track for u in updates] == [
        ((th_best, 0), (tw_best, 0)),
        ((th_best, 0), (tw_best, 1)),
        ((th_best, 1), (tw_best, 0)),
        ((th_best, 1), (tw_best, 1)),
    ]  # row-major tap order: with strict >, the first of equal values stays
    (scatter,) = statements(nest, ScatterAdd)
    assert scatter.target.index[2:] == (2 * jh + th_best - 1, 2 * jw + tw_best - 1)
    assert nest.zeroed and nest.strict_float
    assert statements(nest, Store) == []


def test_first_admitted_tap_is_the_first_real_one():
    j, t, u = index_symbol("j"), index_symbol("t"), index_symbol("u")
    assert first_admitted(t, (), {t}) == 0
    assert first_admitted(t, (InRange(2 * j + t - 1, 5),), {t}) == sp.Max(0, 1 - 2 * j)
    with pytest.raises(ValueError, match="couples"):
        first_admitted(t, (InRange(t + u, 5),), {t, u})
    with pytest.raises(ValueError, match="cannot find"):
        first_admitted(t, (InRange(2 * t, 5),), {t})


def test_interpreter_maximize_keeps_the_first_of_equal_values():
    t, best = index_symbol("t"), index_symbol("t_best")
    body = (
        Init("acc", None, "max"),
        Let(best, sp.Integer(0)),
        For(t, 3, (Maximize("acc", Read("x", (t,)), ((best, t),)),)),
        ScatterAdd(Read("gx", (best,)), (Read("gy", (sp.Integer(0),)),)),
    )
    nest = LoopNest(
        "g", (Operand("gy", (1,)), Operand("x", (3,))), Operand("gx", (3,)), body, zeroed=True
    )
    got = run(nest, {"x": np.array([1.0, 4.0, 4.0]), "gy": np.array([5.0])})
    np.testing.assert_array_equal(got, [0.0, 5.0, 0.0])


def test_materialize_fills_with_the_staged_value():
    staged = Staged(
        "x_padded",
        Operand("x", (1, 1, 2)),
        (StagedAxis(0, 1, 1, 1),) * 2 + (StagedAxis(1, 1, 4, 2),),
        -np.inf,
    )
    np.testing.assert_array_equal(
        materialize(staged, np.array([[[1.0, 2.0]]]))[0, 0], [-np.inf, 1.0, 2.0, -np.inf]
    )


# ----- threads ------------------------------------------------------------------------------
def parallel_loops(nest: LoopNest) -> list[For]:
    return [s for s in statements(nest, For) if s.parallel]


def test_scatter_is_parallel_over_planes_only():
    spec = PoolSpec("max", (64, 64), 3, stride=1, channels=4, batch=2)
    nest = lower(pool_level(spec).grad_input, spec)
    assert nest.parallel
    (outer,) = parallel_loops(nest)
    assert outer.var.name == "n_c" and outer.extent == 8


def test_scatter_of_one_plane_never_runs_positions_in_parallel():
    """With a single (n, c) plane two windows could add into one element: no threads."""
    spec = PoolSpec("max", (96, 96), 3, stride=1)
    formula = pool_level(spec).grad_input
    assert np.prod(spec.output_size) * 9 >= HOST.parallel_min_work
    nest = lower(formula, spec)
    assert parallel_loops(nest) == [] and not nest.parallel
    assert parallel_loops(lower(formula, spec, parallel=True)) == []


def test_gathers_of_one_plane_run_positions_in_parallel():
    spec = PoolSpec("avg", (96, 96), 3, stride=1)
    for nest in lower_all(pool_level(spec), spec).values():
        (outer,) = parallel_loops(nest)
        assert nest.parallel and outer.var.name in ("jh", "rh")


def test_notes_explain_fastmath_and_the_tie_rule():
    spec = PoolSpec("max", (4, 4), 2)
    nest = lower(pool_level(spec).grad_input, spec)
    assert any("no fast-math flags" in note for note in nest.notes)
    assert any("ties keep the first maximum" in note for note in nest.notes)
    assert nest.notes[0].startswith("16 window reads < ")  # 2×2 windows × 4 taps
