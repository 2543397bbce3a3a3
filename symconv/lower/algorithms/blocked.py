"""Register blocking of dL/dF: a tile of output × input channels × taps accumulators.

dL/dF[m, c, t] sums gy[n, m, j] · x[n, c, s·j + d·t] over the batch and every output
position.  The direct nest gives each tap its own accumulator and runs the sum once
per (m, c) pair; splitting m and c into blocks and unrolling them
(`symconv.lower.rewrites.blocking`) makes each loaded element feed a whole row or
column of the tile, which the machine's vector registers hold.
"""

from __future__ import annotations

from symconv.lower.algorithms.base import (
    Algorithm,
    disjoint_positions,
    finish,
    lower_with_partials,
    shared_filter_convolution,
    transcribe,
    work,
)
from symconv.lower.algorithms.direct import has_taps, outer_loops
from symconv.lower.ir import LoopNest
from symconv.lower.passes import STANDARD, LoweringContext
from symconv.lower.rewrites.blocking import block_channels
from symconv.symbolic.indices import IndexFormula


class Blocked(Algorithm):
    name = "blocked"
    passes = STANDARD

    def applies(self, context: LoweringContext) -> bool:
        return shared_filter_convolution(context) and context.formula.name == "grad_weight"

    def preferred(self, context: LoweringContext) -> bool:
        """Past the machine's `rows_min_work`: a tiny layer is over before a tile pays."""
        return work(context.formula) >= context.machine.rows_min_work

    def build(self, context: LoweringContext) -> LoopNest:
        context.independent = outer_loops(context)

        def one(formula: IndexFormula) -> LoopNest:
            blocked, blocks = block_channels(formula, context.indices, context.machine)
            context.unroll = blocks
            context.disjoint = disjoint_positions(blocked)
            return transcribe(context, blocked, self.passes)

        nest, chunks = lower_with_partials(context, one)
        return finish(context, nest, context.unroll_taps and has_taps(context), chunks)


BLOCKED = Blocked()
