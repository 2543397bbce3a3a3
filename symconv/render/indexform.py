"""The index-level closed forms as a reader sees them.

`IndexFormula` is written for the machine: every axis present, loops of extent 1
included, and the strided output index as ``floor((r + lo − d·t)/s)``.  For print,
axes and loops with a single value are dropped (as the element names drop them),
and the floor becomes the exact quotient it is under its divisibility guard.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symconv.render.names import Names
from symconv.symbolic.indices import Access, Divisible, IndexFormula, InRange, Loop


@dataclass(frozen=True)
class Quotient:
    """numerator / divisor, exact because a `Divides` condition of the same sum holds."""

    numerator: sp.Expr
    divisor: int


IndexPart = sp.Expr | Quotient


@dataclass(frozen=True)
class IndexedAccess:
    """One tensor element with index expressions, e.g. X[j_h + t_h, j_w + t_w]."""

    key: str
    parts: tuple[IndexPart, ...]


@dataclass(frozen=True)
class Bound:
    """0 ≤ part < bound."""

    part: IndexPart
    bound: int


@dataclass(frozen=True)
class Divides:
    """divisor | expr: the tap lines up with an output of the strided layer."""

    divisor: int
    expr: sp.Expr


Condition = Bound | Divides


@dataclass(frozen=True)
class Range:
    """An index variable running over 0, ..., extent − 1."""

    var: sp.Symbol
    extent: int


@dataclass(frozen=True)
class ClosedForm:
    """target = addend + Σ_{summed : conditions} Π factors, for every value of `free`."""

    title: str
    target: IndexedAccess
    free: tuple[Range, ...]
    summed: tuple[Range, ...]
    conditions: tuple[Condition, ...]
    factors: tuple[IndexedAccess, ...]
    addend: IndexedAccess | None = None


def closed_form(title: str, formula: IndexFormula, names: Names) -> ClosedForm:
    """`formula` with single-valued loops and axes dropped and floors made quotients."""
    loops = formula.loops + formula.reductions
    fixed = {loop.var: 0 for loop in loops if loop.extent == 1}
    return ClosedForm(
        title=title,
        target=_access(formula.target, fixed, names),
        free=_ranges(formula.loops),
        summed=_ranges(formula.reductions),
        conditions=tuple(c for g in formula.guards if (c := _condition(g, fixed)) is not None),
        factors=tuple(_access(a, fixed, names) for a in formula.factors),
        addend=_access(formula.addend, fixed, names) if formula.addend else None,
    )


def _ranges(loops: tuple[Loop, ...]) -> tuple[Range, ...]:
    return tuple(Range(loop.var, loop.extent) for loop in loops if loop.extent > 1)


def _access(access: Access, fixed: dict[sp.Symbol, int], names: Names) -> IndexedAccess:
    axes = names.shown_axes(access.tensor)
    parts = tuple(_part(access.index[a].xreplace(fixed)) for a in axes)
    return IndexedAccess(access.tensor, parts)


def _part(expr: sp.Expr) -> IndexPart:
    """floor(a/s) prints as the exact quotient a/s (its divisibility is a condition)."""
    if isinstance(expr, sp.floor):
        numerator, divisor = sp.together(expr.args[0]).as_numer_denom()
        if divisor.is_Integer and divisor != 1:
            return Quotient(sp.expand(numerator), int(divisor))
        return sp.expand(numerator / divisor)
    return expr


def _condition(guard: InRange | Divisible, fixed: dict[sp.Symbol, int]) -> Condition | None:
    """The guard with fixed indices substituted; None when it holds for every index."""
    expr = guard.expr.xreplace(fixed)
    if isinstance(guard, Divisible):
        if expr.is_Integer and expr % guard.divisor == 0:
            return None
        return Divides(guard.divisor, expr)
    if expr.is_Integer and 0 <= expr < guard.bound:
        return None
    return Bound(_part(expr), guard.bound)
