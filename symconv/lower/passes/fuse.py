"""Fuse the outer independent loops into one flat loop that threads can share.

Batch × group × channel loops write disjoint outputs, but each is short (a batch of
1, 6 channels); flattening them gives `prange` one long loop to balance.  The
original indices come back with integer `Let`s: n = f // (G·M), g = f // M % G, ...
"""

from __future__ import annotations

import math
from dataclasses import replace

import sympy as sp

from symconv.lower.ir import For, Let, LoopNest, Stmt


def fuse_outer(
    nest: LoopNest, independent: set[sp.Symbol], free: frozenset[sp.Symbol] = frozenset()
) -> LoopNest:
    """Collapse the leading perfect nest of `independent` loops into one parallel loop.

    Without such loops (batch 1, one channel) the outermost loop over `free` indices,
    a spatial position of the result, is the parallel one: its iterations also write
    disjoint elements.
    """
    loops: list[For] = []
    body = nest.body
    while len(body) == 1 and isinstance(body[0], For) and body[0].var in independent:
        loops.append(body[0])
        body = body[0].body
    if not loops:
        if len(body) == 1 and isinstance(body[0], For) and body[0].var in free:
            return replace(nest, body=(replace(body[0], parallel=True),))
        return nest
    if len(loops) == 1:
        return replace(nest, body=(replace(loops[0], parallel=True),))
    fused = sp.Symbol("_".join(loop.var.name for loop in loops), integer=True, nonnegative=True)
    lets: list[Stmt] = []
    for i, loop in enumerate(loops):
        inner = math.prod(other.extent for other in loops[i + 1 :])
        expr = sp.floor(fused / inner) if inner > 1 else fused
        if i > 0:
            expr = sp.Mod(expr, loop.extent)
        lets.append(Let(loop.var, expr))
    extent = math.prod(loop.extent for loop in loops)
    return replace(nest, body=(For(fused, extent, (*lets, *body), parallel=True),))
