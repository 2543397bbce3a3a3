"""Guards out of hot loops: guarded reads become plain reads of staged (padded/dilated) copies.

Two general rewrites, both driven only by the guards and index expressions:

* A read ``a[..., e, ...]`` guarded by ``InRange(e, n)`` becomes a read of a
  zero-padded copy at ``e − min(e)``: the copy holds ``a`` at offset ``−min(e)`` and
  zeros wherever ``e`` leaves ``[0, n)``, so the guard's "skip" and the copy's "add
  zero" agree.  For the forward pass ``min(e) = −lo``: the input padded by ``lo``.
* A read ``a[..., floor(q/s), ...]`` guarded by ``Divisible(q, s)`` (and usually
  ``InRange(floor(q/s), n)``) becomes a read of an s-dilated copy at ``q − min(q)``:
  element j lands at ``s·j − min(q)`` with ``s − 1`` zeros between neighbours.  For
  dL/dX this is the lecture's "dilate dL/dO, pad by k_eff − 1 − lo, correlate with the
  rotated filter": ``min(q) = lo − d·(k − 1)``.

Each copy covers exactly the range of positions the loops read (computed from the
affine index expressions and the loop extents), so no read needs a bounds check.  A
guard is removed only when every product it protects contains a staged read that is
zero whenever the guard fails and every other read is provably in bounds.

A running max (`Maximize`) is staged the same way with −∞ instead of zeros: −∞ is the
identity of max and never beats an accumulator that starts at −∞ under the strict
``>``, so a padded element can neither win nor move a tracked argmax, exactly as if
its guard had skipped it.  This is max pooling's "pad with −∞".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sympy as sp

from symconv.lower.ir import (
    IDENTITIES,
    Accumulate,
    Block,
    For,
    If,
    LoopNest,
    Maximize,
    Operand,
    Read,
    Staged,
    StagedAxis,
    Stmt,
    Transformer,
)
from symconv.symbolic.indices import Divisible, Guard, InRange


def affine_bounds(expr: sp.Expr, extents: dict[sp.Symbol, int]) -> tuple[int, int] | None:
    """(min, max) of an integer-affine expression over loops 0..extent−1, else None."""
    low = high = 0
    for term, coeff in sp.expand(expr).as_coefficients_dict().items():
        if not coeff.is_Integer:
            return None
        if term == 1:
            low, high = low + int(coeff), high + int(coeff)
        elif term in extents:
            span = int(coeff) * (extents[term] - 1)
            low, high = low + min(0, span), high + max(0, span)
        else:
            return None
    return low, high


@dataclass(frozen=True)
class _Plan:
    """How one read is served from a staged copy, and which guards that copy enforces."""

    staged: Staged
    index: tuple[sp.Expr, ...]
    enforces: frozenset[Guard]


def stage_guarded_reads(nest: LoopNest) -> LoopNest:
    operands = {p.name: p for p in nest.params}
    staged: dict[str, Staged] = {s.name: s for s in nest.staged}
    body = _Stage(operands, staged)(nest.body)
    return replace(nest, body=body, staged=tuple(staged.values()))


class _Stage(Transformer):
    """Visits every `If` of reductions with the extents of the loops around it."""

    def __init__(self, operands: dict[str, Operand], staged: dict[str, Staged]) -> None:
        self.operands = operands
        self.staged = staged
        self.extents: dict[sp.Symbol, int] = {}

    def visit_For(self, stmt: For) -> Stmt:
        outer = self.extents
        self.extents = {**outer, stmt.var: stmt.extent}
        body = self.block(stmt.body)
        self.extents = outer
        return replace(stmt, body=body)

    def visit_If(self, stmt: If) -> Stmt | Block:
        if all(isinstance(s, (Accumulate, Maximize)) for s in stmt.body):
            return _stage_if(stmt, self.extents, self.operands, self.staged)
        return replace(stmt, body=self.block(stmt.body))


def _reads(update: Accumulate | Maximize) -> tuple[Read, ...]:
    return update.factors if isinstance(update, Accumulate) else (update.value,)


def _with_reads(update: Accumulate | Maximize, reads: list[Read]) -> Accumulate | Maximize:
    if isinstance(update, Accumulate):
        return Accumulate(update.acc, tuple(reads))
    (value,) = reads
    return replace(update, value=value)


def _fill(update: Accumulate | Maximize) -> float:
    """What a failed guard's read must give so the update does nothing: 0 or −∞."""
    return IDENTITIES["max" if isinstance(update, Maximize) else "sum"]


def _stage_if(
    stmt: If, extents: dict[sp.Symbol, int], operands: dict[str, Operand], staged: dict
) -> tuple[Stmt, ...]:
    plans: dict[tuple[int, int], _Plan] = {}
    removable = set(stmt.guards)
    for i, update in enumerate(stmt.body):
        enforced: set[Guard] = set()
        for k, factor in enumerate(_reads(update)):
            if not isinstance(factor, Read):
                continue  # an exact constant (a product with padding) reads nothing
            operand = operands.get(factor.buffer)
            plan = _plan(factor, operand, stmt.guards, extents, _fill(update)) if operand else None
            if plan is not None:
                plans[i, k] = plan
                enforced |= plan.enforces
            elif operand is None or not in_bounds(factor, operand.shape, extents):
                enforced = set()  # an unproven read may rely on the guards: keep them all
                break
        removable &= enforced
    if not removable:
        return (stmt,)
    updates = []
    for i, update in enumerate(stmt.body):
        factors = list(_reads(update))
        for k in range(len(factors)):
            if (i, k) in plans:
                factors[k] = Read(_register(plans[i, k].staged, staged), plans[i, k].index)
        updates.append(_with_reads(update, factors))
    kept = tuple(g for g in stmt.guards if g not in removable)
    return (If(kept, tuple(updates)),) if kept else tuple(updates)


def _plan(
    read: Read,
    operand: Operand,
    guards: tuple[Guard, ...],
    extents: dict[sp.Symbol, int],
    fill: float = 0.0,
) -> _Plan | None:
    """Stage every guarded axis of `read`; None when some axis cannot be staged."""
    axes, index, enforces = [], [], set()
    for e, count in zip(read.index, operand.shape):
        e = sp.sympify(e)
        q, step, used = e, 1, []
        divisible = _matching_divisible(e, guards) if e.free_symbols else None
        if divisible is not None:
            q, step, used = divisible.expr, divisible.divisor, [divisible]
        elif e.has(sp.floor):
            return None
        used += [
            g
            for g in guards
            if isinstance(g, InRange) and g.expr == e and g.bound == count and e.free_symbols
        ]
        bounds = affine_bounds(q, extents)
        if bounds is None:
            return None
        low, high = bounds
        if not used:
            if low < 0 or high >= count:
                return None
            axes.append(StagedAxis(0, 1, count, count))
            index.append(e)
            continue
        axes.append(StagedAxis(offset=-low, step=step, extent=high - low + 1, count=count))
        index.append(sp.expand(q - low))
        enforces.update(used)
    if not enforces:
        return None
    name = f"{read.buffer}_{'dilated' if any(a.step > 1 for a in axes) else 'padded'}"
    return _Plan(Staged(name, operand, tuple(axes), fill), tuple(index), frozenset(enforces))


def _matching_divisible(index: sp.Expr, guards: tuple[Guard, ...]) -> Divisible | None:
    """The guard q ≡ 0 (mod s) whose exact quotient floor(q/s) is `index`.

    SymPy moves integer terms out of a floor (floor(r/2 − t + 2) is stored as
    floor(r/2) − t + 2), so the quotient is rebuilt from the guard and compared.
    """
    for g in guards:
        if isinstance(g, Divisible) and sp.expand(sp.floor(g.expr / g.divisor) - index) == 0:
            return g
    return None


def in_bounds(read: Read, shape: tuple[int, ...], extents: dict[sp.Symbol, int]) -> bool:
    """True when `read` stays inside an array of `shape` for every value of the loops."""
    for e, count in zip(read.index, shape):
        bounds = affine_bounds(sp.sympify(e), extents)
        if bounds is None or bounds[0] < 0 or bounds[1] >= count:
            return False
    return True


def _register(candidate: Staged, staged: dict[str, Staged]) -> str:
    """Reuse an identical copy; give a different copy of the same operand a fresh name."""
    name, suffix = candidate.name, 2
    while name in staged and staged[name] != replace(candidate, name=name):
        name, suffix = f"{candidate.name}_{suffix}", suffix + 1
    staged[name] = replace(candidate, name=name)
    return name
