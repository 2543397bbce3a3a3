"""The lecture's order of factors and terms, which SymPy's canonical order does not keep.

SymPy sorts ``X11*F11`` as ``F11*X11`` and ``dL/dO11*F12`` as ``F12*dL/dO11``.  The
notes write the upstream gradient first, then the input, then the filter
(``X11 F11``, ``dL/dO11 X11``), and list the terms of a sum by the indices of those
factors, so every printer sorts with the keys defined here.
"""

from __future__ import annotations

from collections.abc import Iterable

import sympy as sp

Where = dict[sp.Symbol, tuple[str, tuple[int, ...]]]

#: dL/dO (or dL/dP) first, then X (or C), then F, then b (the bias term closes a forward sum).
FACTOR_RANK: dict[str, int] = {"gy": 0, "gp": 0, "x": 1, "c": 1, "w": 2, "b": 3}
_NUMBER_RANK = -1
_INDICATOR_RANK = 7  # max pooling's [C_i is the first maximum], after the tensors
_INDEX_RANK = 8  # symbols of no tensor: index variables of the closed forms
_OTHER_RANK = 9

FactorKey = tuple[int, tuple]


def factor_key(factor: sp.Expr, where: Where) -> FactorKey:
    """Sort key of one factor: its tensor's rank, then its zero-based index."""
    if factor.is_Number:
        return (_NUMBER_RANK, ())
    if factor.is_Pow:
        return factor_key(factor.base, where)
    if factor in where:
        key, index = where[factor]
        return (FACTOR_RANK.get(key, _OTHER_RANK), index)
    if isinstance(factor, sp.Piecewise):
        subject = indicator_subject(factor)
        if subject in where:
            return (_INDICATOR_RANK, factor_key(subject, where))
    if factor.is_Symbol:
        return (_INDEX_RANK, (factor.name,))
    return (_OTHER_RANK, (sp.default_sort_key(factor),))


def indicator_subject(factor: sp.Piecewise) -> sp.Expr | None:
    """The entry an indicator [C_i > ... ∧ C_i ≥ ...] is about: the larger side of all."""
    condition = factor.args[0].cond
    parts = sp.And.make_args(condition) if isinstance(condition, sp.And) else (condition,)
    try:
        sides = {part.gts for part in parts}
    except AttributeError:
        return None
    return sides.pop() if len(sides) == 1 else None


def ordered_factors(term: sp.Expr, where: Where) -> list[sp.Expr]:
    """The factors of a product, numbers first, then dL/dO, X, F, b."""
    return sorted(sp.Mul.make_args(term), key=lambda f: factor_key(f, where))


def term_key(term: sp.Expr, where: Where) -> tuple[FactorKey, ...]:
    """Sort key of one term: the keys of its ordered factors, the coefficient left out."""
    return tuple(factor_key(f, where) for f in ordered_factors(term, where) if not f.is_Number)


def ordered_terms(expr: sp.Expr, where: Where) -> list[sp.Expr]:
    """The terms of a sum in the notes' order: X11 F11 + X12 F12 + ... ; 0 gives none."""
    if expr == 0:
        return []
    return sorted(sp.Add.make_args(expr), key=lambda t: term_key(t, where))


def involves_tensors(expr: sp.Expr, where: Where) -> bool:
    """True when `expr` holds tensor symbols (an element equation, not an index expression)."""
    return any(s in where for s in expr.free_symbols)


def sorted_by_index(symbols: Iterable[sp.Symbol], where: Where) -> list[sp.Symbol]:
    """Symbols in the order of their tensors' ranks and indices (local-gradient lists)."""
    return sorted(symbols, key=lambda s: factor_key(s, where))
