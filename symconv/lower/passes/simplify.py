"""Passes that remove trivial structure: loops that run once and guards known statically.

A loop of extent 1 (batch 1, one channel per group, groups=1) only clutters the
kernel and the index expressions; substituting 0 leaves literal indices that the
printer folds.  A guard that holds (or fails) for every value of the loops around
it, as unit loops and unrolling often make it, is decided here once instead of at
every iteration, and before staging, so no copy is made for a guard that never fails.
A product that only ever meets padding stays, as a product with an exact zero.
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from symconv.lower.ir import (
    Accumulate,
    Block,
    Const,
    For,
    If,
    LoopNest,
    Read,
    Stmt,
    Transformer,
    substitute,
)
from symconv.lower.passes.staging import affine_bounds, in_bounds
from symconv.symbolic.indices import Divisible, Guard


class _DropUnitLoops(Transformer):
    def visit_For(self, stmt: For) -> Stmt | Block:
        if stmt.extent == 1:
            return self.block(substitute(stmt.body, {stmt.var: sp.S.Zero}))
        return replace(stmt, body=self.block(stmt.body))


def drop_unit_loops(nest: LoopNest) -> LoopNest:
    """for v in range(1): body  ->  body with v = 0."""
    return replace(nest, body=_DropUnitLoops()(nest.body))


def static_value(guard: Guard, extents: dict[sp.Symbol, int]) -> bool | None:
    """True/False when the guard is decided over the whole loop domain, else None.

    An `InRange` whose affine expression stays inside (or outside) [0, bound) for
    every loop value is decided by its bounds; a `Divisible` whose loop coefficients
    are all multiples of the divisor by its constant term.
    """
    expr = sp.expand(guard.expr)
    if isinstance(guard, Divisible):
        constant, terms = expr.as_coeff_Add()
        coefficients = sp.Add.make_args(terms) if terms != 0 else ()
        steps = [term.as_coeff_Mul()[0] for term in coefficients]
        if all(c.is_Integer and int(c) % guard.divisor == 0 for c in steps):
            return int(constant) % guard.divisor == 0  # the loops move q by multiples of s
        return None
    bounds = affine_bounds(expr, extents)
    if bounds is None:
        return None
    low, high = bounds
    if 0 <= low and high < guard.bound:
        return True
    if high < 0 or low >= guard.bound:
        return False
    return None


class _FoldGuards(Transformer):
    """Tracks the loop extents in scope; decides each guard over them."""

    def __init__(self, shapes: dict[str, tuple[int, ...]]) -> None:
        self.extents: dict[sp.Symbol, int] = {}
        self.shapes = shapes

    def in_bounds(self, body: Block) -> bool:
        """True when every read of `body` stays inside its buffer for every loop value."""
        reads = [f for s in body for f in getattr(s, "factors", ()) if isinstance(f, Read)]
        return all(
            r.buffer in self.shapes and in_bounds(r, self.shapes[r.buffer], self.extents)
            for r in reads
        )

    def visit_If(self, stmt: If) -> Stmt | Block:
        values = [static_value(g, self.extents) for g in stmt.guards]
        failing = [g for g, v in zip(stmt.guards, values) if v is False]
        kept = tuple(g for g, v in zip(stmt.guards, values) if v is None)
        body = stmt.body
        if failing:
            body = multiply_padding(stmt.body, failing)
            if body is None:
                return ()
            if self.in_bounds(body):  # then the bounds guards left guarded only the padding
                kept = tuple(g for g in kept if isinstance(g, Divisible))
        inner = self.block(body)
        return If(kept, inner) if kept else inner

    def visit_For(self, stmt: For) -> Stmt | Block:
        outer = self.extents
        self.extents = {**outer, stmt.var: stmt.extent}
        inner = self.block(stmt.body)
        self.extents = outer
        return replace(stmt, body=inner) if inner else ()  # a loop decided away does nothing


def multiply_padding(body: Block, failing: list[Guard]) -> Block | None:
    """`body` with every read a failing `InRange` guard protects replaced by an exact 0.

    A read outside its tensor reads padding, and padding is zeros that multiply: with
    dL/dy = inf the reference and PyTorch give 0·inf = NaN, so a term that only ever
    meets padding is kept as 0·(the other factors), not dropped.  None when the body
    is dropped after all: a failing `Divisible` guard (an inserted zero, whose product
    the reference skips) or anything but sums of products.
    """
    if any(isinstance(g, Divisible) for g in failing):
        return None
    outside = {sp.expand(g.expr) for g in failing}

    def padding(factor: object) -> bool:
        return any(sp.expand(e) in outside for e in getattr(factor, "index", ()))

    kept: list[Stmt] = []
    for statement in body:
        if not isinstance(statement, Accumulate) or not any(map(padding, statement.factors)):
            return None
        zero = tuple(Const(sp.S.Zero) if padding(f) else f for f in statement.factors)
        kept.append(replace(statement, factors=zero))
    return tuple(kept)


def fold_static_guards(nest: LoopNest) -> LoopNest:
    """Drop guards that always hold, statements whose guards never hold, emptied loops."""
    return replace(nest, body=_FoldGuards(nest.buffers())(nest.body))
