"""Tests for the rows algorithm: whole rows accumulated in place, weights in registers."""

from __future__ import annotations

import math

from symconv.kinds import ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower import lower
from symconv.lower.ir import (
    Accumulate,
    Init,
    LoopNest,
    Read,
    Store,
)
from symconv.symbolic.indices import make_indices

LECTURE = ConvSpec((3, 3), 2)


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


def _result_stores(nest: LoopNest) -> list:
    return [s for s, _ in nest.statements() if isinstance(s, Store) and s.target.buffer == "y"]


def test_one_pass_of_every_term_writes_the_result_once():
    """With one input channel every term fits one pass: no sweep setting y to the bias
    first, no read of y back; with several, the sweep and the read-back stay."""
    single = ConvSpec((12, 12), 3, in_channels=1, out_channels=8, batch=2, bias=True)
    nest = lower(index_level(single).forward, single, schedule="rows", parallel=True)
    reads_of_y = [
        s for s, _ in nest.statements()
        if isinstance(s, Init) and isinstance(s.value, Read) and s.value.buffer == "y"
    ]  # fmt: skip
    assert not reads_of_y
    assert len(_result_stores(nest)) == 8  # one per output channel of the block
    assert any(
        isinstance(s, Init) and isinstance(s.value, Read) and s.value.buffer == "b"
        for s, _ in nest.statements()
    )
    several = ConvSpec((12, 12), 3, in_channels=64, out_channels=8, batch=2, bias=True)
    nest = lower(index_level(several).forward, several, schedule="rows", parallel=True)
    assert any(
        isinstance(s, Init) and isinstance(s.value, Read) and s.value.buffer == "y"
        for s, _ in nest.statements()
    )
