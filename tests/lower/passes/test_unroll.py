"""Tests for the unroll pass: taps become literal offsets, free tap loops private accumulators."""

from __future__ import annotations

import pytest

from symconv.kinds import ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower import lower, lower_all
from symconv.lower.ir import (
    Accumulate,
    For,
    Init,
    LoopNest,
    Operand,
    Read,
    Store,
)
from symconv.lower.passes.unroll import unroll
from symconv.machine import HOST
from symconv.symbolic.indices import index_symbol

LECTURE = ConvSpec((3, 3), 2)


def loop_vars(nest: LoopNest) -> set[str]:
    return {s.var.name for s, _ in nest.statements() if isinstance(s, For)}


@pytest.mark.parametrize("k,unrolled", [(7, True), (8, False)])
def test_taps_unroll_up_to_forty_nine(k, unrolled):
    spec = ConvSpec((9, 9), k)
    assert (k * k <= HOST.max_unrolled_taps) == unrolled
    level = index_level(spec)
    direct = {f.name: "direct" for f in level.formulas()}
    for nest in lower_all(level, spec, direct).values():
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
