"""The CUDA target's lowering: the derivation's formulas as one GPU thread (or block) each.

A GPU wants the opposite of what the CPU algorithms build: not a few long threads
with blocked, unrolled, vectorized loops, but one light thread per result element,
neighbouring threads on neighbouring addresses.  So this target starts from the
direct transcription of each formula (`symconv.lower.build.build_nest`: free loops,
an accumulator, the reduction loops under the guards, a store) and keeps it, with
two rewrites of its own:

* **stride phases.**  dL/dX's formula reads dL/dO only where ``s | (r + lo − d·t)``:
  a `Divisible` guard.  When the tap's coefficient is ±1 the taps that pass form one
  arithmetic progression, ``t = (r + lo) mod s, … + s, …``, so the tap loop starts at
  that phase and steps by s (a `PhaseFor`): no thread visits, let alone multiplies,
  an inserted zero of the dilated dL/dO.  Other coefficients keep the guard.
* **the layout of the work.**  `Launch.per_block` says when a result element gets a
  whole thread block instead of one thread: when its reduction is a sum longer than
  the number of result elements (dL/dF and dL/db, whose few elements each sum over
  the batch and every output position).  The block's threads split the reduction,
  and a tree in shared memory adds their partial sums: no atomics, one writer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import sympy as sp

from symconv.lower.build import build_nest
from symconv.lower.driver import context_for
from symconv.lower.ir import For, If, LoopNest, Stmt
from symconv.symbolic.indices import Divisible, IndexFormula, IndexLevel

THREAD_PER_ELEMENT = "thread per element"
BLOCK_PER_ELEMENT = "block per element"


@dataclass(frozen=True)
class PhaseFor:
    """for var in range(start, extent, step): the taps of one stride phase."""

    var: sp.Symbol
    start: sp.Expr
    extent: int
    step: int
    body: tuple[Stmt, ...]


def lower_all(
    level: IndexLevel,
    spec: object,
    schedules: dict[str, str] | None = None,
    machine: object = None,
    timings: dict[str, float] | None = None,
) -> dict[str, LoopNest]:
    """Every kernel of the layer as a CUDA-shaped nest (the same signature as the CPU's)."""
    if schedules:
        raise ValueError(
            "the CUDA target has one algorithm per kernel; schedules are for the CPU target"
        )
    return {f.name: lower_formula(f, spec) for f in level.formulas()}


def lower_formula(formula: IndexFormula, spec: object) -> LoopNest:
    context = context_for(formula, spec)
    nest = build_nest(formula, context.shapes, context.order)
    body = tuple(_phase(s) for s in nest.body)
    blocked = per_block(formula, context.indices.n)
    algorithm = BLOCK_PER_ELEMENT if blocked else THREAD_PER_ELEMENT
    note = (
        "one thread block per result element; its threads split the sum, shared memory adds it"
        if blocked
        else "one thread per result element, neighbouring threads on neighbouring elements"
    )
    return replace(nest, body=body, algorithm=algorithm, notes=(note,))


def per_block(formula: IndexFormula, batch: sp.Symbol) -> bool:
    """A whole block per element: a sum over the batch (a parameter's gradient) that is
    longer than the number of elements to spread the threads over."""
    if formula.reduction != "sum" or batch not in {loop.var for loop in formula.reductions}:
        return False
    reduced = math.prod(loop.extent for loop in formula.reductions)
    elements = math.prod(loop.extent for loop in formula.loops)
    return reduced > elements


def _phase(stmt: Stmt) -> Stmt:
    """Rewrite tap loops whose guard is one stride phase into `PhaseFor` loops."""
    if isinstance(stmt, For):
        body = tuple(_phase(s) for s in stmt.body)
        guard_holder = _innermost_if(body)
        if guard_holder is not None:
            phase = _phase_of(stmt.var, guard_holder)
            if phase is not None:
                guard, start, step = phase
                body = _drop_guard(body, guard)
                return PhaseFor(stmt.var, start, stmt.extent, step, body)
        return replace(stmt, body=body)
    return stmt


def _innermost_if(body: tuple[Stmt, ...]) -> If | None:
    """The `If` that a chain of single loops leads to, if any."""
    while len(body) == 1:
        (only,) = body
        if isinstance(only, If):
            return only
        if isinstance(only, (For, PhaseFor)):
            body = only.body
            continue
        return None
    return None


def _phase_of(var: sp.Symbol, guards: If) -> tuple[Divisible, sp.Expr, int] | None:
    """(guard, first tap, step) when `guards` has s | (a ± var) with `a` free of `var`."""
    for guard in guards.guards:
        if not isinstance(guard, Divisible):
            continue
        coefficient = sp.expand(guard.expr).coeff(var)
        if coefficient not in (1, -1):
            continue
        rest = sp.expand(guard.expr - coefficient * var)
        if rest.has(var):
            continue
        # s | (rest + c·var) with c = ±1  <=>  var ≡ -c·rest (mod s)
        start = sp.Mod(-coefficient * rest, guard.divisor)
        return guard, start, guard.divisor
    return None


def _drop_guard(body: tuple[Stmt, ...], guard: Divisible) -> tuple[Stmt, ...]:
    out = []
    for stmt in body:
        if isinstance(stmt, If):
            kept = tuple(g for g in stmt.guards if g != guard)
            out.extend((replace(stmt, guards=kept),) if kept else stmt.body)
        elif isinstance(stmt, (For, PhaseFor)):
            out.append(replace(stmt, body=_drop_guard(stmt.body, guard)))
        else:
            out.append(stmt)
    return tuple(out)
