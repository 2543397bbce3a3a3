"""Reading the pieces of max pooling's expressions, for every printer alike.

SymPy stores ``C12 > C11`` as ``C11 < C12`` once it canonicalizes, sorts the
arguments of `And` and `Max` its own way, and writes an indicator as
``Piecewise((1, cond), (0, True))``.  The printers show instead the lecture's
reading: the larger side first, the window's entries in row-major order, and the
indicator as Iverson's bracket [cond] (1 when cond holds, else 0).
"""

from __future__ import annotations

import sympy as sp
from sympy.core.relational import Relational

from symconv.render.names import Names
from symconv.render.ordering import factor_key

#: Comparisons an indicator spells out one by one; past that, x > max(earlier) ∧ x ≥ max(later).
SPELLED_OUT = 3

_FLIPPED = {sp.StrictLessThan: ">", sp.LessThan: ">="}
_KEPT = {sp.StrictGreaterThan: ">", sp.GreaterThan: ">="}


def relation(expr: Relational) -> tuple[sp.Expr, str, sp.Expr]:
    """(larger side, ">" or ">=", smaller side) of an inequality, whichever way it is stored."""
    if type(expr) in _KEPT:
        return expr.lhs, _KEPT[type(expr)], expr.rhs
    if type(expr) in _FLIPPED:
        return expr.rhs, _FLIPPED[type(expr)], expr.lhs
    raise TypeError(f"not an inequality: {expr}")


def _index_key(expr: sp.Expr, names: Names) -> tuple:
    return factor_key(expr, names.table.where)


def max_arguments(expr: sp.Max, names: Names) -> list[sp.Expr]:
    """The arguments of a max in the tensor's index order (row-major window order)."""
    return sorted(expr.args, key=lambda a: _index_key(a, names))


def split(condition: sp.Basic, names: Names) -> tuple[sp.Expr, list[sp.Expr], list[sp.Expr]] | None:
    """A first-maximum condition as (subject, strictly smaller entries, entries ≤ subject).

    None when `condition` is not a conjunction of inequalities sharing one larger side.
    """
    parts = sp.And.make_args(condition) if isinstance(condition, sp.And) else (condition,)
    if not all(isinstance(p, Relational) and type(p) in (_KEPT | _FLIPPED) for p in parts):
        return None
    read = [relation(p) for p in parts]
    subjects = {big for big, _, _ in read}
    if len(subjects) != 1:
        return None
    strict = sorted((s for _, op, s in read if op == ">"), key=lambda e: _index_key(e, names))
    loose = sorted((s for _, op, s in read if op == ">="), key=lambda e: _index_key(e, names))
    return subjects.pop(), strict, loose


def indicator(expr: sp.Piecewise) -> tuple[sp.Expr, sp.Basic | None]:
    """(value, condition) of Piecewise((value, condition), (0, True)); condition None otherwise."""
    pieces = expr.args
    if len(pieces) == 2 and pieces[1].cond == sp.true and pieces[1].expr == 0:
        return pieces[0].expr, pieces[0].cond
    return sp.S.Zero, None
