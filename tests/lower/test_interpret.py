"""Tests for symconv.lower.interpret's race check: what a parallel loop promises is checked."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symconv.lower.interpret import RaceError, run
from symconv.lower.ir import Accumulate, For, Gemm, Init, LoopNest, Matrix, Operand, Read, Store
from symconv.symbolic.indices import index_symbol

i, j = index_symbol("i"), index_symbol("j")
X = Operand("x", (4,))
Y = Operand("y", (4,))


def nest(body, scratch=()) -> LoopNest:
    return LoopNest("forward", (X,), Y, body, scratch=scratch)


def test_disjoint_iterations_pass_and_compute():
    body = (
        For(i, 4, (Init("acc", Read("x", (i,))), Store(Read("y", (i,)), "acc")), parallel=True),
    )
    np.testing.assert_array_equal(run(nest(body), {"x": np.arange(4.0)}), np.arange(4.0))


def test_two_iterations_writing_one_element_are_a_race():
    body = (
        For(
            i, 4, (Init("acc", Read("x", (i,))), Store(Read("y", (i // 2,)), "acc")), parallel=True
        ),
    )
    with pytest.raises(RaceError, match="iterations 0 and 1 both write y element 0"):
        run(nest(body), {"x": np.arange(4.0)})
    run(nest(body), {"x": np.arange(4.0)}, check_races=False)  # the plain meaning still runs


def test_reading_what_another_iteration_writes_is_a_race():
    """y[i] = x[i]; then y[i] reads y[3 - i]: iteration 0 reads what iteration 3 writes."""
    body = (
        For(
            i,
            4,
            (Init("acc", Read("y", (3 - i,))), Store(Read("y", (i,)), "acc")),
            parallel=True,
        ),
    )
    with pytest.raises(RaceError, match="reads y element 3, which iteration 3 writes"):
        run(nest(body), {"x": np.arange(4.0)})


def test_an_accumulator_carried_across_iterations_is_a_race():
    """acc starts before the loop and every iteration adds to it: a reduction Numba would
    have to know about, not disjoint iterations."""
    body = (
        Init("acc"),
        For(i, 4, (Accumulate("acc", (Read("x", (i,)),)), Store(Read("y", (i,)), "acc")),
            parallel=True),
    )  # fmt: skip
    with pytest.raises(RaceError, match="reads acc before writing it"):
        run(nest(body), {"x": np.arange(4.0)})


def test_a_matrix_product_per_iteration_is_checked_on_its_views():
    """Each iteration multiplies into rows 2i..2i+1 of a scratch matrix: disjoint.  Writing
    the same two rows from every iteration is a race."""
    scratch = (Operand("m", (4, 2)),)
    a = Matrix("x", (), 2, 2)

    def body(first):
        view = Matrix("m", (), 4, 2, first_row=first, rows=2)
        gemm = Gemm(view, a, a)
        store = (Init("acc", Read("m", (j, 0))), Store(Read("y", (j,)), "acc"))
        return (For(i, 2, (gemm,), parallel=True), For(j, 4, store))

    x = {"x": np.arange(4.0)}
    run(nest(body(2 * i), scratch), x)
    with pytest.raises(RaceError, match="both write m element"):
        run(nest(body(sp.S.Zero), scratch), x)


def test_an_inner_parallel_loop_counts_for_its_outer_iteration():
    """The outer iterations i = 0, 1 both write y through an inner parallel loop over j."""
    inner = For(j, 2, (Init("acc", Read("x", (j,))), Store(Read("y", (j,)), "acc")), parallel=True)
    body = (For(i, 2, (inner,), parallel=True),)
    with pytest.raises(RaceError, match="over i is a race"):
        run(nest(body), {"x": np.arange(4.0)})


def test_vector_rows_land_lane_by_lane_a_plane_apart():
    """VecStoreRows: vars[k][l] lands at index + l·stride + k·step, the way a tile of two
    channels × three positions (step 2) lands in a channel-major result of planes of 8."""
    from symconv.lower.ir import VecLoad, VecStoreRows

    x, y = Operand("x", (6,)), Operand("y", (16,))
    loads = tuple(VecLoad(f"v{k}", Read("x", (2 * k,))) for k in range(3))
    store = VecStoreRows(Read("y", (1,)), ("v0", "v1", "v2"), stride=8, step=2)
    result = run(LoopNest("forward", (x,), y, (*loads, store), lanes=2), {"x": np.arange(6.0)})
    want = np.full(16, np.nan)
    want[[1, 3, 5]] = [0.0, 2.0, 4.0]  # lane 0 of v0, v1, v2: channel 0's row
    want[[9, 11, 13]] = [1.0, 3.0, 5.0]  # lane 1: channel 1's row, a plane (8) further
    np.testing.assert_array_equal(result, want)


def test_interleaved_vectors_weave_into_consecutive_elements():
    """VecStoreInterleaved: element e = l·k + j of the weave is vars[j][l], the first `count`
    stored from the index on: the 3 stride phases of a row of 7 inputs (lanes of 3)."""
    from symconv.lower.ir import VecLoad, VecStoreInterleaved

    x, y = Operand("x", (9,)), Operand("y", (10,))
    loads = tuple(VecLoad(f"v{j}", Read("x", (3 * j,))) for j in range(3))
    store = VecStoreInterleaved(Read("y", (2,)), ("v0", "v1", "v2"), count=7)
    result = run(LoopNest("grad_input", (x,), y, (*loads, store), lanes=3), {"x": np.arange(9.0)})
    want = np.full(10, np.nan)
    # phase 0 holds x[0:3], phase 1 x[3:6], phase 2 x[6:9]: woven 0, 3, 6, 1, 4, 7, 2 (8, 5 cut)
    want[2:9] = [0.0, 3.0, 6.0, 1.0, 4.0, 7.0, 2.0]
    np.testing.assert_array_equal(result, want)


def test_a_strided_vector_load_reads_every_step_th_element_of_its_lanes():
    """VecLoad with step 3, lanes 1 ≤ l < 3 of 4: x[index + 3·l], the other lanes 0; nothing
    outside those elements is touched (the load ends at x[8], the buffer's last)."""
    from symconv.lower.ir import VecLoad, VecStore

    x, y = Operand("x", (9,)), Operand("y", (4,))
    load = VecLoad("v", Read("x", (2,)), first=1, stop=3, step=3)
    body = (load, VecStore(Read("y", (0,)), "v"))
    result = run(LoopNest("forward", (x,), y, body, lanes=4), {"x": np.arange(9.0) + 10})
    np.testing.assert_array_equal(result, [0.0, 15.0, 18.0, 0.0])
