"""The "rows" schedule of a gather: whole rows of the result accumulated in place.

The direct nest (`build.build_nest`) finishes one output element at a time: its
innermost loop runs over input channels, a short loop LLVM cannot vectorize.  This
schedule turns the channel reduction inside out:

    for (n, g, block of B output channels):             parallel
        result rows = addend (bias) or 0
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

import sympy as sp

from symconv.lower.blocking import inner_symbol, largest_divisor, outer_symbol
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
from symconv.symbolic.indices import IndexFormula, Indices, Loop

#: Output channels computed together: each input load feeds this many accumulators.
MAX_CHANNEL_BLOCK = 8
#: Multiply-adds per accumulator load/store the inner pass aims for (taps × channels).
TARGET_TERMS = 8


def channel_block(extent: int) -> int:
    """B: the largest divisor of the output channels per group up to `MAX_CHANNEL_BLOCK`."""
    return largest_divisor(extent, MAX_CHANNEL_BLOCK)


def reduction_block(extent: int, taps: int) -> int:
    """Input channels unrolled into one pass so each pass has ~`TARGET_TERMS` terms."""
    return largest_divisor(extent, max(1, TARGET_TERMS // max(1, taps)))


def build_rows_nest(
    formula: IndexFormula,
    shapes: dict[str, tuple[int, ...]],
    order: tuple[str, ...],
    ix: Indices,
) -> tuple[LoopNest, set[sp.Symbol], set[sp.Symbol]]:
    """(nest, loops to unroll always, tap loops to unroll when few), before any pass.

    `lower` stages, unrolls (blocks always, taps up to its limit), fuses and hoists.
    """
    channels = [lp for lp in formula.loops if lp.var in (ix.c_out, ix.c_in)]
    reduced = [lp for lp in formula.reductions if lp.var in (ix.c_out, ix.c_in)]
    taps = [lp for lp in formula.reductions if lp not in reduced]
    (block_loop,) = channels
    mapping: dict[sp.Symbol, sp.Expr] = {}
    block = channel_block(block_loop.extent)
    outer_var, inner_var = outer_symbol(block_loop.var), inner_symbol(block_loop.var)
    mapping[block_loop.var] = block * outer_var + inner_var
    inner_loops = [Loop(inner_var, block)]
    reduction_loops: list[Loop] = []
    unrolled_reduction: list[Loop] = []
    for loop in reduced:
        r_block = reduction_block(loop.extent, math.prod(t.extent for t in taps))
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
        pass_ = _nest(inner_loops + spatial, (Init("acc", target), terms, Store(target, "acc")))
        body = (sweep, _nest(reduction_loops, (pass_,)) if reduction_loops else pass_)
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
