"""The direct algorithm: one result element at a time, exactly as the formula reads.

Free loops, an accumulator, the reduction loops, the guards: the formula transcribed
(`symconv.lower.build`), then staged (guards become padded copies), unrolled (taps
become literal offsets) and fused (the independent outer loops become one parallel
loop).  It lowers every formula of every kind, so it is the fallback, and the default
for layers too small for anything else to pay its set-up (the lecture's 3×3 example).
"""

from __future__ import annotations

from symconv.lower.algorithms.base import (
    Algorithm,
    disjoint_positions,
    finish,
    independent_indices,
    lower_with_partials,
    transcribe,
)
from symconv.lower.ir import LoopNest
from symconv.lower.passes import STANDARD, LoweringContext
from symconv.lower.rewrites.blocking import outer_symbol
from symconv.symbolic.indices import IndexFormula


def outer_loops(context: LoweringContext) -> set:
    """Loops that may fuse into the parallel one: batch, groups, channels and their blocks."""
    ix = context.indices
    return independent_indices(ix) | {outer_symbol(ix.c_out), outer_symbol(ix.c_in)}


class Direct(Algorithm):
    name = "direct"
    passes = STANDARD

    def applies(self, context: LoweringContext) -> bool:
        return True

    def build(self, context: LoweringContext) -> LoopNest:
        context.independent = outer_loops(context)

        def one(formula: IndexFormula) -> LoopNest:
            context.unroll = set()
            context.disjoint = disjoint_positions(formula)
            return transcribe(context, formula, self.passes)

        nest, chunks = lower_with_partials(context, one)
        return finish(context, nest, context.unroll_taps and has_taps(context), chunks)


def has_taps(context: LoweringContext) -> bool:
    """True when the formula loops over kernel taps (a bias gradient has none)."""
    formula = context.formula
    return any(loop.var in context.indices.tap for loop in formula.loops + formula.reductions)


DIRECT = Direct()
