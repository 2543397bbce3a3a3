"""Tests for the simplify passes: unit loops vanish, guards the loop bounds decide are folded."""

from __future__ import annotations

from symconv.lower.ir import Accumulate, For, If, Init, LoopNest, Operand, Read, Store
from symconv.lower.passes.simplify import drop_unit_loops, fold_static_guards, static_value
from symconv.symbolic.indices import Divisible, InRange, index_symbol

n, i = index_symbol("n"), index_symbol("i")


def nest(*body) -> LoopNest:
    return LoopNest("f", (Operand("x", (1, 4)),), Operand("y", (1,)), tuple(body))


def test_a_loop_of_extent_one_becomes_its_body_at_zero():
    body = (For(n, 1, (Init("acc"), Store(Read("y", (n,)), "acc"))),)
    assert drop_unit_loops(nest(*body)).body == (Init("acc"), Store(Read("y", (0,)), "acc"))


def test_guards_are_decided_over_the_loops_around_them():
    update = Accumulate("acc", (Read("x", (0, i)),))
    always = For(i, 4, (If((InRange(i, 4),), (update,)),))
    never = For(i, 4, (If((InRange(i + 4, 4),), (update,)),))
    sometimes = For(i, 4, (If((InRange(i - 1, 4), Divisible(2 * i, 2)), (update,)),))
    assert fold_static_guards(nest(always)).body == (For(i, 4, (update,)),)
    assert fold_static_guards(nest(never)).body == ()  # the emptied loop goes too
    (kept,) = fold_static_guards(nest(sometimes)).body[0].body
    assert kept.guards == (InRange(i - 1, 4),)


def test_static_value_of_each_guard_kind():
    assert static_value(InRange(i + 1, 5), {i: 4}) is True
    assert static_value(InRange(i + 1, 4), {i: 4}) is None
    assert static_value(InRange(i - 5, 4), {i: 4}) is False
    assert static_value(Divisible(4 * i + 2, 2), {}) is True
    assert static_value(Divisible(4 * i + 1, 2), {}) is False
    assert static_value(Divisible(i + 1, 2), {}) is None
