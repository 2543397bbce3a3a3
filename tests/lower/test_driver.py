"""Tests for symconv.lower.driver: every algorithm and pass combination keeps the formula's meaning.

The lowered nests run in the pure-Python interpreter (`symconv.lower.interpret`) and
are compared with `symconv.reference`, so every rewrite is checked for meaning
without Numba or templates.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv import reference
from symconv.kinds import ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower import lower, lower_all
from symconv.lower.driver import schedules_for
from symconv.lower.interpret import run
from symconv.lower.ir import If, Init, LoopNest, Read, Store
from symconv.machine import Machine
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


def is_workspace_copy(stmt: If, nest: LoopNest) -> bool:
    """A guarded copy of one value into a workspace (the explicit-vector algorithms' packed
    weights or phase-split input, filled once per call): it holds no arithmetic."""
    workspaces = {o.name for o in nest.scratch}
    return all(
        isinstance(s, Init)
        and isinstance(s.value, Read)
        or isinstance(s, Store)
        and s.target.buffer in workspaces
        for s in stmt.body
    )


@settings(max_examples=60, deadline=None)
@given(spec=conv_specs())
def test_no_guard_survives_in_any_default_nest(spec):
    """Padding and leftover rows are decided when lowering: no guard is left around a
    product; only a copy into a workspace may skip the places outside its source."""
    for name, nest in lower_all(index_level(spec), spec).items():
        guarded = [s for s, _ in nest.statements() if isinstance(s, If)]
        assert all(is_workspace_copy(s, nest) for s in guarded), name


def test_unstaged_lowering_keeps_guards_as_ifs():
    spec = ConvSpec((5,), 3, padding=1)
    nest = lower(index_level(spec).forward, spec, stage=False)
    assert any(isinstance(s, If) for s in hot_statements(nest))
    assert nest.staged == ()


def test_small_layers_run_on_one_thread():
    for nest in lower_all(index_level(LECTURE), LECTURE).values():
        assert not nest.parallel


@settings(max_examples=40, deadline=None)
@given(spec=conv_specs())
def test_no_guard_survives_in_the_fast_schedules(spec):
    for formula in index_level(spec).formulas():
        nest = lower(formula, spec, schedule=schedules_for(formula, spec)[-1])
        assert not [s for s, _ in nest.statements() if isinstance(s, If)], formula.name


def test_schedules_per_kernel_and_the_default_heuristic():
    big = ConvSpec((28, 28), 3, in_channels=4, out_channels=8, batch=4)
    level = index_level(big)
    scalar = Machine(vector_bits=0)  # the explicit-vector algorithms need vector registers
    assert schedules_for(level.forward, big, scalar) == ("direct", "winograd", "unfold", "rows")
    assert schedules_for(level.grad_weight, big, scalar) == (
        "direct",
        "winograd",
        "unfold",
        "blocked",
    )
    assert schedules_for(level.forward, big, Machine()) == (
        "direct",
        "winograd",
        "positions",
        "simd",
        "unfold",
        "rows",
    )
    chosen = {name: nest.notes for name, nest in lower_all(level, big, machine=scalar).items()}
    assert any("rows schedule" in note for note in chosen["forward"])
    assert not any(
        "rows schedule" in note
        for note in lower_all(index_level(LECTURE), LECTURE)["forward"].notes
    )
    with pytest.raises(ValueError, match="schedule='rows' cannot lower grad_weight"):
        lower(level.grad_weight, big, schedule="rows")


def test_a_schedule_with_one_thread_lowers_without_threads_and_keeps_its_meaning():
    """ "rows@1" is rows without threads; "rows@3" threads held to 3; both still right."""
    spec = ConvSpec((16, 16), 3, in_channels=2, out_channels=8, batch=8, padding=1)
    level = index_level(spec)
    threaded = lower(level.forward, spec, schedule="rows")
    serial = lower(level.forward, spec, schedule="rows@1")
    held = lower(level.forward, spec, schedule="rows@3")
    assert threaded.parallel and threaded.threads == 0
    assert not serial.parallel and serial.algorithm == "rows"
    assert held.parallel and held.threads == 3
    arrays = inputs(spec, 0)
    want = oracle(spec, arrays)["forward"]
    for nest in (serial, held):
        got = run(nest, {k: v.astype(np.float64) for k, v in arrays.items() if v is not None})
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("schedule", ["rows@0", "rows@", "rows@two", "rows@-1", "rows@²"])
def test_a_thread_count_that_is_not_a_whole_number_from_1_is_refused(schedule):
    spec = ConvSpec((16, 16), 3, in_channels=2, out_channels=8, batch=8, padding=1)
    with pytest.raises(ValueError, match="the threads after '@' must be a whole number"):
        lower(index_level(spec).forward, spec, schedule=schedule)
