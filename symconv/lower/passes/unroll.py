"""Unroll-and-jam: a loop over taps becomes literal tap offsets in straight-line code.

Unrolling a *reduction* loop over taps gives one ``acc += ...`` per tap with literal
offsets (``x_padded[n, c, jh + 2, jw + 1]``), which is what a hand-written kernel for
a 5×5 filter looks like.  Unrolling a *free* loop over taps (dL/dF, where taps index
the result) gives each tap its own accumulator; jamming then merges the copies'
identical inner loops, so the reduction over the batch and the output positions runs
once and updates every tap's accumulator.  Jamming is legal here because the copies
write disjoint accumulators and stores and only read the kernel's inputs.
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from symconv.lower.ir import (
    Block,
    For,
    LoopNest,
    Stmt,
    Transformer,
    declares_accumulator,
    rename_accumulators,
    substitute,
)


def unroll(nest: LoopNest, variables: set[sp.Symbol]) -> LoopNest:
    """Unroll every loop over one of `variables`, outermost first (acc_<th>_<tw> names)."""
    return replace(nest, body=_Unroll(variables)(nest.body))


class _Unroll(Transformer):
    def __init__(self, variables: set[sp.Symbol]) -> None:
        self.variables = variables

    def visit_For(self, stmt: For) -> Stmt | Block:
        if stmt.var in self.variables:
            return self.block(unroll_loop(stmt))
        return replace(stmt, body=self.block(stmt.body))


def unroll_loop(loop: For) -> tuple[Stmt, ...]:
    """One copy of the body per iteration, private accumulators if it starts a sum, jammed."""
    copies = []
    for value in range(loop.extent):
        body = substitute(loop.body, {loop.var: sp.Integer(value)})
        if declares_accumulator(body):
            body = rename_accumulators(body, str(value))
        copies.append(body)
    return jam(copies)


def jam(copies: list[tuple[Stmt, ...]]) -> tuple[Stmt, ...]:
    """Merge structurally identical copies: equal loops fuse, other statements line up."""
    out: list[Stmt] = []
    for parts in zip(*copies, strict=True):
        first = parts[0]
        if isinstance(first, For) and all(
            isinstance(p, For) and (p.var, p.extent) == (first.var, first.extent) for p in parts
        ):
            out.append(replace(first, body=jam([p.body for p in parts])))
        else:
            out.extend(parts)
    return tuple(out)
