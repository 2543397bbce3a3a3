"""Passes that remove trivial structure: loops that run once and guards known statically.

A loop of extent 1 (batch 1, one channel per group, groups=1) only clutters the
kernel and the index expressions; substituting 0 leaves literal indices that the
printer folds.  A guard that holds (or fails) for every value of the loops around
it, as unit loops and unrolling often make it, is decided here once instead of at
every iteration, and before staging, so no copy is made for a guard that never fails.
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from symconv.lower.ir import For, If, LoopNest, Stmt, substitute
from symconv.lower.staging import affine_bounds
from symconv.symbolic.indices import Divisible, Guard


def drop_unit_loops(nest: LoopNest) -> LoopNest:
    """for v in range(1): body  ->  body with v = 0."""
    return replace(nest, body=_drop_unit_loops(nest.body))


def _drop_unit_loops(body: tuple[Stmt, ...]) -> tuple[Stmt, ...]:
    out: list[Stmt] = []
    for stmt in body:
        if isinstance(stmt, For) and stmt.extent == 1:
            out.extend(_drop_unit_loops(substitute(stmt.body, {stmt.var: sp.S.Zero})))
        elif isinstance(stmt, For):
            out.append(replace(stmt, body=_drop_unit_loops(stmt.body)))
        elif isinstance(stmt, If):
            out.append(replace(stmt, body=_drop_unit_loops(stmt.body)))
        else:
            out.append(stmt)
    return tuple(out)


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


def fold_static_guards(nest: LoopNest) -> LoopNest:
    """Drop guards that always hold, statements whose guards never hold, emptied loops."""
    return replace(nest, body=_fold(nest.body, {}))


def _fold(body: tuple[Stmt, ...], extents: dict[sp.Symbol, int]) -> tuple[Stmt, ...]:
    out: list[Stmt] = []
    for stmt in body:
        if isinstance(stmt, If):
            values = [static_value(g, extents) for g in stmt.guards]
            if any(v is False for v in values):
                continue
            kept = tuple(g for g, v in zip(stmt.guards, values) if v is None)
            inner = _fold(stmt.body, extents)
            out.extend(inner if not kept else (If(kept, inner),))
        elif isinstance(stmt, For):
            inner = _fold(stmt.body, {**extents, stmt.var: stmt.extent})
            if inner:  # a loop whose every statement was decided away does nothing
                out.append(replace(stmt, body=inner))
        else:
            out.append(stmt)
    return tuple(out)
