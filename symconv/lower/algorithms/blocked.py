"""Register blocking of dL/dF: a tile of output × input channels × taps accumulators.

dL/dF[m, c, t] sums gy[n, m, j] · x[n, c, s·j + d·t] over the batch and every output
position.  The direct nest gives each tap its own accumulator and runs the sum once
per (m, c) pair; splitting m and c into blocks and unrolling them
(`symconv.lower.rewrites.blocking`) makes each loaded element feed a whole row or
column of the tile, which the machine's vector registers hold.
"""

from __future__ import annotations

import math

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
from symconv.lower.rewrites.blocking import block_channels, tile
from symconv.machine import Machine
from symconv.symbolic.indices import IndexFormula


class Blocked(Algorithm):
    """dL/dF in register tiles; `channel_tile` (B_m, B_c), or None: the registers decide."""

    passes = STANDARD

    def __init__(self, channel_tile: tuple[int, int] | None = None) -> None:
        self.channel_tile = channel_tile
        self.name = NAME if channel_tile is None else f"{NAME}:{channel_tile[0]}x{channel_tile[1]}"

    def applies(self, context: LoweringContext) -> bool:
        if not shared_filter_convolution(context) or context.formula.name != "grad_weight":
            return False
        if self.channel_tile is None:
            return True
        spec = context.spec
        b_m, b_c = self.channel_tile
        return spec.out_channels_per_group % b_m == 0 and spec.in_channels_per_group % b_c == 0

    def variants(self, context: LoweringContext) -> tuple[Algorithm, ...]:
        """The register-chosen tile, then every tile `tiles_within_budget` lists."""
        if self.channel_tile is not None or not self.applies(context):
            return super().variants(context)
        found = tiles_within_budget(context.spec, context.machine)
        return (self, *(Blocked(t) for t in found))

    def preferred(self, context: LoweringContext) -> bool:
        """Past the machine's `rows_min_work`: a tiny layer is over before a tile pays."""
        return work(context.formula) >= context.machine.rows_min_work

    def build(self, context: LoweringContext) -> LoopNest:
        context.independent = outer_loops(context)

        def one(formula: IndexFormula) -> LoopNest:
            blocked, blocks = block_channels(
                formula, context.indices, context.machine, self.channel_tile
            )
            context.unroll = blocks
            context.disjoint = disjoint_positions(blocked)
            return transcribe(context, blocked, self.passes)

        nest, chunks = lower_with_partials(context, one)
        return finish(context, nest, context.unroll_taps and has_taps(context), chunks)


def parse_tile(text: str) -> tuple[int, int] | None:
    """(B_m, B_c) from "BmxBc" (each from 1 to `MAX_BLOCK`), or None when it is not one."""
    rows, times, cols = text.partition("x")
    if not times or not all(t.isascii() and t.isdigit() for t in (rows, cols)):
        return None
    tile = (int(rows), int(cols))
    return tile if all(1 <= b <= MAX_BLOCK for b in tile) else None


def tiles_within_budget(spec: object, machine: Machine) -> tuple[tuple[int, int], ...]:
    """Every tile besides the default: (B_m, B_c) dividing the channels, each block at most
    the machine's `max_tile_block`, with up to twice the accumulators its registers hold
    (a tile that spills may still save loads), largest first."""
    taps = math.prod(spec.kernel_size)
    budget = max(1, 2 * machine.accumulators // taps)
    default = tile(spec.out_channels_per_group, spec.in_channels_per_group, taps, machine)
    found = [
        (b_m, b_c)
        for b_m in range(1, machine.max_tile_block + 1)
        for b_c in range(1, machine.max_tile_block + 1)
        if spec.out_channels_per_group % b_m == 0
        and spec.in_channels_per_group % b_c == 0
        and b_m * b_c <= budget
        and (b_m, b_c) != default
    ]
    found.sort(key=lambda t: (-t[0] * t[1], -t[0]))
    return tuple(found)


def tiles(spec: object, machine: Machine) -> tuple[tuple[int, int], ...]:
    """The tiles the autotuner times besides the default: the `TILES_TRIED` largest."""
    return tiles_within_budget(spec, machine)[:TILES_TRIED]


#: The plain name; "blocked:BmxBc" fixes the tile.
NAME = "blocked"
#: The largest block a tile name may give per channel axis.
MAX_BLOCK = 16
#: Tiles the autotuner times besides the default one.
TILES_TRIED = 2

BLOCKED = Blocked()
