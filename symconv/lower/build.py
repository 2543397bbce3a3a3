"""The direct transcription of an `IndexFormula` into a loop nest, before any rewrite.

The nest says literally what the formula says: free loops, a fresh accumulator
(starting at the bias addend if there is one, else at the identity of the reduction),
the reduction loops, the guards as an `If`, one update, and the store.  Every later
pass rewrites this nest and keeps its meaning, which `symconv.lower.interpret` can
check on small layers.

The update follows the formula's reduction (`IndexFormula.reduction`): ``acc += Π
factors``, a running max, or, for max pooling's gradient, a running max that tracks
its first winning tap followed by a scatter-add into the target element at that tap.
"""

from __future__ import annotations

import sympy as sp

from symconv.lower.ir import (
    Accumulate,
    For,
    If,
    Init,
    Let,
    LoopNest,
    Maximize,
    Operand,
    Read,
    ScatterAdd,
    Stmt,
    Store,
)
from symconv.symbolic.indices import Access, Guard, IndexFormula, InRange, index_symbol

ACCUMULATOR = "acc"


def read(access: Access) -> Read:
    return Read(access.tensor, tuple(access.index))


def build_nest(
    formula: IndexFormula, shapes: dict[str, tuple[int, ...]], order: tuple[str, ...]
) -> LoopNest:
    """Free loops { acc = start; reduction loops { if guards: update }; finish }."""
    reduction = formula.reduction
    if reduction == "argmax":
        inner = _argmax_body(formula)
    else:
        inner = _reduce_body(formula, reduction)
    body = inner
    for loop in reversed(formula.loops):
        body = (For(loop.var, loop.extent, body),)
    names = {f.tensor for f in formula.factors}
    for extra in (formula.addend, formula.select):
        if extra is not None:
            names.add(extra.tensor)
    missing = names - set(order)
    if missing:
        raise ValueError(f"{formula.name} reads {sorted(missing)}, not in the order {order}")
    params = tuple(Operand(n, shapes[n]) for n in order if n in names)
    target = formula.target.tensor
    return LoopNest(
        formula.name,
        params,
        Operand(target, shapes[target]),
        body,
        zeroed=reduction == "argmax",
        strict_float=reduction != "sum",
    )


def _reductions(formula: IndexFormula, update: tuple[Stmt, ...]) -> tuple[Stmt, ...]:
    """The update under the guards, inside the reduction loops."""
    if formula.guards:
        update = (If(tuple(formula.guards), update),)
    for loop in reversed(formula.reductions):
        update = (For(loop.var, loop.extent, update),)
    return update


def _reduce_body(formula: IndexFormula, reduction: str) -> tuple[Stmt, ...]:
    """acc = start; acc += Π factors (or acc = max(acc, factor)); target = acc · scale."""
    if reduction == "max":
        (factor,) = formula.factors
        update: Stmt = Maximize(ACCUMULATOR, read(factor))
    else:
        update = Accumulate(ACCUMULATOR, tuple(read(f) for f in formula.factors))
    addend = read(formula.addend) if formula.addend is not None else None
    if not formula.factors:  # a stride phase no tap reaches: the sum of nothing
        return (Init(ACCUMULATOR, addend, reduction), Store(read(formula.target), ACCUMULATOR))
    return (
        Init(ACCUMULATOR, addend, reduction),
        *_reductions(formula, (update,)),
        Store(read(formula.target), ACCUMULATOR, formula.scale),
    )


def best_symbol(var: sp.Symbol) -> sp.Symbol:
    """The index var that remembers the winning value of reduction index `var`."""
    return index_symbol(f"{var.name}_best")


def _argmax_body(formula: IndexFormula) -> tuple[Stmt, ...]:
    """Scan for the first maximum of `select`, then add the factors at its target element.

    The running max starts at −∞ and its taps at the first tap every guard admits, so
    a window whose admitted values are all −∞ still routes to its first admitted
    element (they all tie at −∞, and ties go to the first).
    """
    best = {loop.var: best_symbol(loop.var) for loop in formula.reductions}
    starts = tuple(
        Let(best[loop.var], first_admitted(loop.var, formula.guards, set(best)))
        for loop in formula.reductions
    )
    update = Maximize(ACCUMULATOR, read(formula.select), tuple((best[v], v) for v in best))
    target = Read(
        formula.target.tensor, tuple(sp.sympify(e).xreplace(best) for e in formula.target.index)
    )
    return (
        Init(ACCUMULATOR, None, "max"),
        *starts,
        *_reductions(formula, (update,)),
        ScatterAdd(target, tuple(read(f) for f in formula.factors)),
    )


def first_admitted(var: sp.Symbol, guards: tuple[Guard, ...], reductions: set) -> sp.Expr:
    """Smallest value of reduction index `var` that its guards' lower bounds admit.

    Each guard on `var` must be ``0 ≤ var + rest`` with `rest` free of other reduction
    indices (a window's bounds per dimension), so the first admitted tap in row-major
    order is the per-dimension max(0, −rest).  The upper bounds need no check: a
    pooling window always holds a real element.
    """
    bounds: list[sp.Expr] = [sp.S.Zero]
    for guard in guards:
        if var not in guard.expr.free_symbols:
            continue
        rest = sp.expand(guard.expr - var)
        if not isinstance(guard, InRange) or var in rest.free_symbols:
            raise ValueError(f"cannot find the first {var} admitted by {guard}")
        if rest.free_symbols & reductions:
            raise ValueError(f"{guard} couples {var} with another reduction index")
        bounds.append(-rest)
    return sp.Max(*bounds)
