"""The "rows" schedule of a gather: whole rows of the result accumulated in place.

The direct nest (`build.build_nest`) finishes one output element at a time: its
innermost loop runs over input channels, a short loop LLVM cannot vectorize.  This
schedule turns the channel reduction inside out:

    for (n, g, block of B output channels):             parallel
        result rows = addend (bias) or 0         (unless one pass holds every term)
        for each input channel c:
            w_b_t = w[...]   for the B channels × taps   (hoisted: registers)
            for every output position, last axis innermost:
                acc_b = result[b, position]; acc_b += x[position + tap] · w_b_t; store

The innermost loop walks a row of the result with literal bounds, so it vectorizes;
each input element loaded feeds B accumulators, and the taps (unrolled) give many
multiply-adds per load and store of an accumulator.  A 1×1 kernel has a single tap,
so B input channels are unrolled into the same pass instead.  Everything here is a
rewrite of the formula's own loops and accesses: no index is typed by hand.
"""

from __future__ import annotations

import math
from dataclasses import replace

import sympy as sp

from symconv.lower.algorithms.base import Algorithm, finish, shared_filter_convolution, work
from symconv.lower.ir import (
    Accumulate,
    For,
    If,
    Init,
    LoopNest,
    Operand,
    Read,
    Stmt,
    Store,
    substitute_guard,
)
from symconv.lower.passes import (
    DROP_UNIT_LOOPS,
    FOLD_GUARDS,
    FUSE,
    HOIST,
    STAGE,
    UNROLL,
    LoweringContext,
    run_passes,
)
from symconv.lower.rewrites.blocking import inner_symbol, largest_divisor, outer_symbol
from symconv.lower.rewrites.phases import stride_phases
from symconv.machine import Machine
from symconv.symbolic.indices import IndexFormula, Indices, Loop


def channel_block(extent: int, machine: Machine) -> int:
    """B: the largest divisor of the output channels per group up to the machine's block."""
    return largest_divisor(extent, machine.channel_block)


def reduction_block(extent: int, taps: int, machine: Machine) -> int:
    """Input channels unrolled into one pass so each pass has the machine's terms per pass."""
    return largest_divisor(extent, max(1, machine.terms_per_pass // max(1, taps)))


def build_rows_nest(
    formula: IndexFormula,
    shapes: dict[str, tuple[int, ...]],
    order: tuple[str, ...],
    ix: Indices,
    machine: Machine,
) -> tuple[LoopNest, set[sp.Symbol], set[sp.Symbol]]:
    """(nest, loops to unroll always, tap loops to unroll when few), before any pass.

    `Rows.build` stages, unrolls (blocks always, taps up to their limit), fuses and hoists.
    """
    channels = [lp for lp in formula.loops if lp.var in (ix.c_out, ix.c_in)]
    reduced = [lp for lp in formula.reductions if lp.var in (ix.c_out, ix.c_in)]
    taps = [lp for lp in formula.reductions if lp not in reduced]
    (block_loop,) = channels
    mapping: dict[sp.Symbol, sp.Expr] = {}
    block = channel_block(block_loop.extent, machine)
    outer_var, inner_var = outer_symbol(block_loop.var), inner_symbol(block_loop.var)
    mapping[block_loop.var] = block * outer_var + inner_var
    inner_loops = [Loop(inner_var, block)]
    reduction_loops: list[Loop] = []
    unrolled_reduction: list[Loop] = []
    for loop in reduced:
        r_block = reduction_block(loop.extent, math.prod(t.extent for t in taps), machine)
        r_outer, r_inner = outer_symbol(loop.var), inner_symbol(loop.var)
        mapping[loop.var] = r_block * r_outer + r_inner
        reduction_loops.append(Loop(r_outer, loop.extent // r_block))
        unrolled_reduction.append(Loop(r_inner, r_block))

    def read(access) -> Read:
        return Read(access.tensor, tuple(sp.sympify(e).xreplace(mapping) for e in access.index))

    independent = {ix.n, ix.g}
    outer = [lp for lp in formula.loops if lp.var in independent]
    outer.append(Loop(outer_var, block_loop.extent // block))
    spatial = [lp for lp in formula.loops if lp.var not in independent and lp is not block_loop]
    target = read(formula.target)
    addend = read(formula.addend) if formula.addend is not None else None

    first: tuple[Stmt, ...] = (Init("acc", addend), Store(target, "acc"))
    sweep = _nest(inner_loops + spatial, first)
    body: tuple[Stmt, ...] = (sweep,)
    if formula.factors:
        update: tuple[Stmt, ...] = (Accumulate("acc", tuple(read(f) for f in formula.factors)),)
        if formula.guards:
            guards = tuple(substitute_guard(g, mapping) for g in formula.guards)
            update = (If(guards, update),)
        terms = _nest(unrolled_reduction + taps, update)
        if all(loop.extent == 1 for loop in reduction_loops):
            # One pass holds every term: it starts from the addend, and the result is
            # written once instead of set, read back and written again.
            only = (Init("acc", addend), _nest(reduction_loops, (terms,)), Store(target, "acc"))
            body = (_nest(inner_loops + spatial, only),)
        else:
            pass_ = _nest(inner_loops + spatial, (Init("acc", target), terms, Store(target, "acc")))
            body = (sweep, _nest(reduction_loops, (pass_,)))
    names = {f.tensor for f in formula.factors} | (
        {formula.addend.tensor} if formula.addend else set()
    )
    params = tuple(Operand(n, shapes[n]) for n in order if n in names)
    result = Operand(formula.target.tensor, shapes[formula.target.tensor])
    nest_body = (_nest(outer, body),)
    blocks = {inner_var} | {lp.var for lp in unrolled_reduction}
    return LoopNest(formula.name, params, result, nest_body), blocks, {lp.var for lp in taps}


def outer_variables(ix: Indices) -> set[sp.Symbol]:
    """Loops whose iterations write disjoint rows: batch, group, output-channel blocks."""
    return {ix.n, ix.g, outer_symbol(ix.c_out), outer_symbol(ix.c_in)}


def _nest(loops: list[Loop], body: tuple[Stmt, ...]) -> Stmt | tuple:
    """Wrap `body` in `loops`, outermost first; with no loops the body itself (one stmt)."""
    for loop in reversed(loops):
        body = (For(loop.var, loop.extent, body),)
    if len(body) != 1:
        raise ValueError("a rows nest level must hold exactly one statement")
    return body[0]


class Rows(Algorithm):
    """Forward and dL/dX of a convolution; dL/dX of a strided layer one stride phase at a time.

    Chosen by default past the machine's `rows_min_work`, unless the rows are shorter
    than a vector and only one channel at a time would walk them: measured on the
    digits layer's dL/dX (1 input channel, 8×8), rows 368 µs, direct 100 µs; with a
    block of channels (LeNet conv2, also 8 wide) rows still wins 5×.
    """

    name = "rows"
    passes = (DROP_UNIT_LOOPS, FOLD_GUARDS, STAGE, UNROLL, FOLD_GUARDS, FUSE, HOIST)

    def applies(self, context: LoweringContext) -> bool:
        return shared_filter_convolution(context) and context.formula.name in (
            "forward",
            "grad_input",
        )

    def preferred(self, context: LoweringContext) -> bool:
        machine = context.machine
        return work(context.formula) >= machine.rows_min_work and not _narrow_and_unblocked(context)

    def build(self, context: LoweringContext) -> LoopNest:
        formula, ix = context.formula, context.indices
        phases = stride_phases(formula)
        staged: tuple = ()
        body: tuple = ()
        context.independent = outer_variables(ix)
        context.disjoint = frozenset()
        for phase in phases:
            nest, blocks, taps = build_rows_nest(
                phase, context.shapes, context.order, ix, context.machine
            )
            context.unroll = blocks | (taps if context.unroll_taps else set())
            nest = run_passes(replace(nest, staged=staged), self.passes, context)
            staged, body = nest.staged, body + nest.body
        names = {f.tensor for f in formula.factors}
        if formula.addend is not None:
            names.add(formula.addend.tensor)
        params = tuple(Operand(n, context.shapes[n]) for n in context.order if n in names)
        flat = (*(p.name for p in params), nest.result.name, *(b.name for b in staged))
        nest = replace(nest, params=params, body=body, staged=staged, flat=flat)
        note = f"rows schedule: {rows_note(formula, ix, len(phases), context.machine)}"
        return finish(context, nest, context.unroll_taps, 1, (note,))


def _narrow_and_unblocked(context: LoweringContext) -> bool:
    """A rows pass over rows shorter than a vector, for one channel at a time, loses."""
    formula, ix = context.formula, context.indices
    (block_loop,) = [lp for lp in formula.loops if lp.var in (ix.c_out, ix.c_in)]
    narrow = formula.loops[-1].extent < context.machine.vector_lanes
    return channel_block(block_loop.extent, context.machine) == 1 and narrow


def rows_note(formula: IndexFormula, ix: Indices, phases: int, machine: Machine) -> str:
    """Why the rows nest looks as it does, for the kernel's docstring."""
    (block_loop,) = [lp for lp in formula.loops if lp.var in (ix.c_out, ix.c_in)]
    text = f"{channel_block(block_loop.extent, machine)} output channels per pass, rows in place"
    if phases > 1:
        text += f", {phases} stride phases (no multiply by an inserted zero)"
    return text


ROWS = Rows()
