"""Register blocking of dL/dF: several output and input channels share one reduction pass.

dL/dF[m, c, t] sums gy[n, m, j] · x[n, c, s·j + d·t] over the batch and every output
position j.  The direct nest gives each tap its own accumulator and runs the sum
once per (m, c) pair, so each x element loaded feeds only the taps of one m.
Splitting m = B_m·mo + mb and c = B_c·co + cb and unrolling mb, cb (`unroll`
jams their identical reduction loops) gives a tile of B_m × B_c × taps
accumulators: each load feeds a whole row or column of the tile.  A 1×1 layer,
with one tap, gets the largest tile: that is a small matrix multiply.
"""

from __future__ import annotations

import math
from dataclasses import replace

import sympy as sp

from symconv.lower.ir import substitute_guard
from symconv.machine import Machine
from symconv.symbolic.indices import Access, IndexFormula, Indices, Loop, index_symbol


def largest_divisor(n: int, limit: int) -> int:
    """The largest divisor of `n` not above `limit` (at least 1): a block that tiles `n`."""
    return max(d for d in range(1, min(n, max(1, limit)) + 1) if n % d == 0)


def tile(out_channels: int, in_channels: int, taps: int, machine: Machine) -> tuple[int, int]:
    """(B_m, B_c): the largest tile of channels whose accumulators fit the registers."""
    budget = max(1, machine.accumulators // taps)
    b_m = largest_divisor(out_channels, min(machine.max_tile_block, budget))
    b_c = largest_divisor(in_channels, min(machine.max_tile_block, budget // b_m))
    return b_m, b_c


def outer_symbol(var: sp.Symbol) -> sp.Symbol:
    """The block counter of a split index: m = B·mo + mb."""
    return index_symbol(f"{var.name}o")


def inner_symbol(var: sp.Symbol) -> sp.Symbol:
    """The position within a block of a split index (unrolled)."""
    return index_symbol(f"{var.name}b")


def block_channels(
    formula: IndexFormula,
    ix: Indices,
    machine: Machine,
    chosen: tuple[int, int] | None = None,
) -> tuple[IndexFormula, set[sp.Symbol]]:
    """(blocked formula, the inner block loops to unroll); unchanged when no tile pays.

    `chosen` fixes the tile (B_m, B_c) instead of `tile`'s (each must divide its
    channels).  The loops come out as (independent loops, mo, co, mb, cb, taps), so
    the leading ones fuse into the parallel loop and the block loops sit right above
    the taps.
    """
    loops = {lp.var: lp for lp in formula.loops}
    if ix.c_out not in loops or ix.c_in not in loops:
        return formula, set()
    taps = [lp for lp in formula.loops if lp.var in ix.tap]
    b_m, b_c = chosen or tile(
        loops[ix.c_out].extent, loops[ix.c_in].extent, math.prod(t.extent for t in taps), machine
    )
    if b_m * b_c == 1:
        return formula, set()
    mapping: dict[sp.Symbol, sp.Expr] = {}
    outer, inner = [], []
    for var, block in ((ix.c_out, b_m), (ix.c_in, b_c)):
        mapping[var] = block * outer_symbol(var) + inner_symbol(var)
        outer.append(Loop(outer_symbol(var), loops[var].extent // block))
        inner.append(Loop(inner_symbol(var), block))
    leading = [lp for lp in formula.loops if lp.var not in (ix.c_out, ix.c_in) and lp not in taps]

    def access(a: Access) -> Access:
        return Access(a.tensor, tuple(sp.expand(sp.sympify(e).xreplace(mapping)) for e in a.index))

    blocked = replace(
        formula,
        target=access(formula.target),
        loops=tuple(leading + outer + inner + taps),
        guards=tuple(substitute_guard(g, mapping) for g in formula.guards),
        factors=tuple(access(f) for f in formula.factors),
    )
    return blocked, {lp.var for lp in inner}
