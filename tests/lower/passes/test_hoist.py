"""Tests for the hoist pass: a read that a loop does not change moves in front of the loop."""

from __future__ import annotations

from symconv.lower.ir import Accumulate, For, Init, LoopNest, Operand, Read, Scalar, Store
from symconv.lower.passes.hoist import hoist_invariant_reads
from symconv.symbolic.indices import index_symbol

c, j = index_symbol("c"), index_symbol("j")


def test_weights_leave_the_position_loop_but_not_the_channel_loop():
    update = Accumulate("acc", (Read("x", (c, j)), Read("w", (c,))))
    inner = For(j, 8, (Init("acc", Read("y", (j,))), update, Store(Read("y", (j,)), "acc")))
    nest = LoopNest(
        "f", (Operand("x", (2, 8)), Operand("w", (2,))), Operand("y", (8,)), (For(c, 2, (inner,)),)
    )
    (outer,) = hoist_invariant_reads(nest).body
    hoisted, loop = outer.body
    assert hoisted == Init("w_v0", Read("w", (c,)))
    assert loop.body[1] == Accumulate("acc", (Read("x", (c, j)), Scalar("w_v0")))


def test_reads_of_the_result_and_parallel_loops_stay():
    update = Accumulate("acc", (Read("y", (0,)), Read("w", (0,))))
    body = (For(j, 4, (update,), parallel=True),)
    nest = LoopNest("f", (Operand("w", (1,)),), Operand("y", (4,)), body)
    assert hoist_invariant_reads(nest).body == body
