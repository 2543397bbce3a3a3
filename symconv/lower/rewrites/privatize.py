"""Split a reduction over the batch into per-chunk partial sums, then add the chunks.

dL/dF sums over the batch, so its outputs are few (C_out × C_in/G × taps) while the
work grows with the batch.  Giving every chunk of the batch its own slice of a
`partial` buffer makes the chunks independent (no two threads add into one element)
and the final sum over chunks is itself a tiny gather formula, lowered like any other.
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from symconv.lower.ir import substitute_guard
from symconv.symbolic.indices import Access, IndexFormula, Loop, index_symbol

PARTIAL = "partial"
CHUNK = index_symbol("ch")
WITHIN = index_symbol("nn")


def privatize(
    formula: IndexFormula, batch: sp.Symbol, chunks: int
) -> tuple[IndexFormula, IndexFormula]:
    """(partial sums per chunk, their sum): Σ_n becomes Σ_chunk Σ_{n in chunk}.

    With one batch element per chunk the batch index itself numbers the chunks.
    """
    (n_loop,) = [loop for loop in formula.reductions if loop.var == batch]
    per_chunk = n_loop.extent // chunks
    if per_chunk * chunks != n_loop.extent:
        raise ValueError(f"{chunks} chunks do not divide the batch of {n_loop.extent}")
    if per_chunk == 1:
        chunk, mapping = batch, {}
        reductions = tuple(loop for loop in formula.reductions if loop.var != batch)
    else:
        chunk, mapping = CHUNK, {batch: CHUNK * per_chunk + WITHIN}
        reductions = tuple(
            Loop(WITHIN, per_chunk) if loop.var == batch else loop for loop in formula.reductions
        )
    partial_target = Access(PARTIAL, (chunk, *formula.target.index))
    partial = replace(
        formula,
        target=partial_target,
        loops=(Loop(chunk, chunks), *formula.loops),
        reductions=reductions,
        guards=tuple(substitute_guard(g, mapping) for g in formula.guards),
        factors=tuple(
            Access(f.tensor, tuple(sp.sympify(e).xreplace(mapping) for e in f.index))
            for f in formula.factors
        ),
    )
    combine = IndexFormula(
        name=f"{formula.name}_combine",
        target=formula.target,
        loops=formula.loops,
        reductions=(Loop(chunk, chunks),),
        guards=(),
        factors=(partial_target,),
    )
    return partial, combine
