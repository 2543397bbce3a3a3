"""Stride phases: dL/dX of a strided layer as s^rank gathers that never touch a zero.

The lecture's dL/dX correlates the rotated filter with dL/dO *dilated* by s − 1
zeros; read literally, (s^rank − 1)/s^rank of the multiply-adds hit an inserted zero.
Split the input positions by their remainder: r = s·q + ρ.  For one phase ρ the
divisibility guard ``s | r + lo − d·t`` holds for a fixed arithmetic progression of
taps t = t₀ + p·k (p = s / gcd(s, d)) and for no other, so the phase is an ordinary
gather over k with affine dL/dO indices: a small convolution with a subsampled
filter.  A phase that no tap reaches (possible when d·p skips it) gets zero
gradient: these are the rows no window reaches.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import sympy as sp

from symconv.symbolic.indices import Access, Divisible, IndexFormula, Loop, index_symbol


@dataclass(frozen=True)
class PhaseAxis:
    """One spatial axis of a phase: r = stride·q + phase, taps t = first + period·k."""

    position: sp.Symbol
    tap: sp.Symbol
    stride: int
    phase: int
    first: int
    period: int
    taps: int
    positions: int


def stride_phases(formula: IndexFormula) -> list[IndexFormula]:
    """The phases of a gather with `Divisible` guards; the formula itself when it has none.

    A phase with no position (an axis shorter than its stride) is left out; a phase
    with no tap keeps its positions and loses every factor: its gradient is zero.
    """
    divisible = [g for g in formula.guards if isinstance(g, Divisible)]
    if not divisible:
        return [formula]
    axes_choices = [_axis_phases(formula, guard) for guard in divisible]
    return [
        _phase_formula(formula, axes, divisible)
        for axes in itertools.product(*axes_choices)
        if all(axis.positions > 0 for axis in axes)
    ]


def _axis_phases(formula: IndexFormula, guard: Divisible) -> list[PhaseAxis]:
    """Every remainder of the position guarded by ``s | position + c − d·tap``."""
    loops = {loop.var: loop.extent for loop in formula.loops + formula.reductions}
    free = [v for v in guard.expr.free_symbols if v in {lp.var for lp in formula.loops}]
    taps = [v for v in guard.expr.free_symbols if v in {lp.var for lp in formula.reductions}]
    if len(free) != 1 or len(taps) != 1:
        raise ValueError(f"cannot split {guard}: expected one position and one tap index")
    (position,), (tap,) = free, taps
    s = guard.divisor
    phases = []
    for phase in range(s):
        valid = [
            t
            for t in range(loops[tap])
            if int(guard.expr.xreplace({position: phase, tap: t})) % s == 0
        ]
        period = s // math.gcd(s, int(abs(sp.expand(guard.expr).coeff(tap))) or s)
        first = valid[0] if valid else 0
        if valid and valid != list(range(first, loops[tap], period)):
            raise ValueError(f"taps {valid} of phase {phase} are not one progression")
        count = math.ceil((loops[position] - phase) / s) if loops[position] > phase else 0
        phases.append(PhaseAxis(position, tap, s, phase, first, period, len(valid), count))
    return phases


def quotient_symbol(position: sp.Symbol) -> sp.Symbol:
    """q for r: rh -> qh (the position within its phase)."""
    return index_symbol("q" + position.name[1:])


def step_symbol(tap: sp.Symbol) -> sp.Symbol:
    """k for t: th -> kh (the step along the phase's taps)."""
    return index_symbol("k" + tap.name[1:])


def _phase_formula(
    formula: IndexFormula, axes: tuple[PhaseAxis, ...], divisible: list[Divisible]
) -> IndexFormula:
    mapping: dict[sp.Symbol, sp.Expr] = {}
    extents: dict[sp.Symbol, Loop] = {}
    for axis in axes:
        q, k = quotient_symbol(axis.position), step_symbol(axis.tap)
        mapping[axis.position] = axis.stride * q + axis.phase
        mapping[axis.tap] = axis.first + axis.period * k
        extents[axis.position] = Loop(q, axis.positions)
        extents[axis.tap] = Loop(k, axis.taps)

    def sub(expr: sp.Expr) -> sp.Expr:
        return _exact_quotients(sp.sympify(expr).xreplace(mapping))

    def access(a: Access) -> Access:
        return Access(a.tensor, tuple(sub(e) for e in a.index))

    empty = any(axis.taps == 0 for axis in axes)
    guards = tuple(
        type(g)(sub(g.expr), g.bound)
        for g in formula.guards
        if g not in divisible  # InRange
    )
    return replace(
        formula,
        target=access(formula.target),
        loops=tuple(extents.get(lp.var, lp) for lp in formula.loops),
        reductions=() if empty else tuple(extents.get(lp.var, lp) for lp in formula.reductions),
        guards=() if empty else guards,
        factors=() if empty else tuple(access(f) for f in formula.factors),
    )


def _exact_quotients(expr: sp.Expr) -> sp.Expr:
    """floor(a) -> a once the phase made a an integer-affine expression (the guard held)."""

    def exact(arg: sp.Expr) -> sp.Expr:
        expanded = sp.expand(arg)
        coefficients = expanded.as_coefficients_dict().values()
        if all(sp.sympify(c).is_Integer for c in coefficients):
            return expanded
        return sp.floor(arg)

    return sp.expand(expr.replace(sp.floor, exact))
