"""Split loops at the borders where a window starts or stops reading padding.

A guard InRange(s·j + d·t − lo, W) of an unrolled tap t holds for a contiguous range
of j.  Splitting the loop over j at the ends of every such range (index set
splitting) leaves pieces in which each guard either always or never holds, so
`fold_static_guards` decides them all: the interior, where every window lies in the
image, runs unguarded and contiguous with no padded copy of the input at all, and
the few border iterations keep only the taps that land in the image.

Only guards whose sole loop variable is the split loop's are used, so a guard is
decided by the loop alone; the pieces keep the order of the iterations.
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from symconv.lower.ir import Block, For, If, LoopNest, Stmt, Transformer, substitute, walk
from symconv.symbolic.indices import InRange


def guard_range(var: sp.Symbol, extent: int, guard: InRange) -> range:
    """The values of `var` in [0, extent) for which `guard` (affine in var) holds."""
    dependent, rest = sp.expand(guard.expr).as_independent(var, as_Add=True)[::-1]
    a = int(sp.expand(dependent).coeff(var)) if dependent != 0 else 0
    b = int(rest)
    if a == 0:
        return range(0, extent) if 0 <= b < guard.bound else range(0)
    low, high = -b, guard.bound - 1 - b  # low <= a·v <= high
    if a > 0:
        first, stop = -(-low // a), high // a + 1
    else:
        first, stop = -(-high // a), low // a + 1
    first, stop = max(first, 0), min(stop, extent)
    return range(first, max(first, stop))


def breakpoints(var: sp.Symbol, extent: int, guards: list[InRange]) -> list[int]:
    """0, extent and every end of a guard's range: between two, each guard is decided."""
    points = {0, extent}
    for guard in guards:
        held = guard_range(var, extent, guard)
        points.update((held.start, held.stop))
    return sorted(p for p in points if 0 <= p <= extent)


def _guards_of(var: sp.Symbol, body: Block) -> list[InRange]:
    """The InRange guards inside `body` whose only free symbol is `var`."""
    found = []
    for stmt, _ in walk(body):
        if isinstance(stmt, If):
            for guard in stmt.guards:
                symbols = sp.sympify(guard.expr).free_symbols
                if isinstance(guard, InRange) and symbols == {var}:
                    found.append(guard)
    return found


class _SplitBorders(Transformer):
    def __init__(self, variables: set[sp.Symbol], vector: set[sp.Symbol]) -> None:
        self.variables, self.vector = variables, vector

    def visit_For(self, stmt: For) -> Stmt | Block:
        body = self.block(stmt.body)
        if stmt.var not in self.variables:
            return replace(stmt, body=body)
        guards = _guards_of(stmt.var, body)
        vector = stmt.var in self.vector
        points = breakpoints(stmt.var, stmt.extent, guards)
        if len(points) == 2:
            return replace(stmt, body=body, vector=stmt.vector or vector)
        pieces = [(a, b) for a, b in zip(points, points[1:]) if b > a]
        longest = max(pieces, key=lambda p: p[1] - p[0])
        loops: list[Stmt] = []
        for first, stop in pieces:
            if stop - first == 1:
                loops.extend(substitute(body, {stmt.var: sp.Integer(first)}))
                continue
            shifted = substitute(body, {stmt.var: stmt.var + first}) if first else body
            marked = vector and (first, stop) == longest
            loops.append(For(stmt.var, stop - first, shifted, stmt.parallel, marked))
        return tuple(loops)


def split_borders(nest: LoopNest, variables: set[sp.Symbol], vector: set[sp.Symbol]) -> LoopNest:
    """Split each loop over `variables` where a guard changes; the longest piece of a loop
    over `vector` is marked for vectorization.  Run `fold_static_guards` after it."""
    return replace(nest, body=_SplitBorders(variables, vector)(nest.body))
