"""Depthwise layers with explicit vectors across channels: a channel-blocked layout.

A depthwise layer (one input and one output channel per group) has no channel
reduction for `simd` to broadcast over, and `positions` fills its vectors along a row,
which a stride splits into phases.  Here a vector holds L neighbouring channels at one
position (oneDNN's nChw16c), so every tap is one vector load and one FMA whatever the
stride, and the weight of a tap is a vector too:

    packed[b, tap, l] = w[b·L + l, 0, tap]                                once per call
    for each slot s, in threads:                  (the items (n, b) dealt round the slots)
        for each item (n, b) of the slot:
            source[s, rows, column, l] = x[n, b·L + l, rows − lo, column − lo]
                     (L rows of L positions, transposed in registers; the border stays 0)
            for each output row, tiles of P positions along it:
                acc[p] = bias vector, or 0
                for tap: wv = packed[b, tap]
                         for p: acc[p] += source[s, S·(row, q + p) + D·tap, :] · wv
                result[s, position of p, :] = acc[p]
            y[n, b·L + l, positions] = result[s, positions, l]   (transposed back, L at a time)

A slot's two buffers are reused by every item it takes, so they stay in the core's
cache: an item's copy is read back from there, never from memory.  dL/dX is the same
machinery on the problem the chain rule gives (`simd.correlations`): ∂L/∂O blocked in
a zero frame, one stride phase at a time, each phase reading only the taps that meet a
real output, so no product touches a zero the stride would insert.  dL/dF blocks both
X and ∂L/∂O per image and keeps one accumulator per tap (at most `accumulators` at a
time, summed in a small buffer between images):

    acc[tap] += gy_blocks[s, j, :] · source[s, S·j + D·tap, :]      for every output j

then writes each lane to its channel's row of dL/dF, per chunk of images when the
batch is split across threads.  The tile is the algorithm's parameter:
``channel_blocked:P`` (P positions, each an accumulator).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import product

import sympy as sp

from symconv.lower.algorithms.base import (
    Algorithm,
    correlation_operands,
    shared_filter_convolution,
    splits,
    work,
)
from symconv.lower.algorithms.simd import (
    Correlation,
    add_partials,
    applied_taps,
    correlations,
    gradient_frame,
    tap_choice,
    unflatten,
    vector_lanes,
)
from symconv.lower.ir import (
    For,
    If,
    Init,
    Let,
    LoopNest,
    Operand,
    Read,
    StagedAxis,
    Stmt,
    Store,
    VecFma,
    VecLoad,
    VecStore,
    VecStoreRows,
    VecZero,
)
from symconv.lower.passes import LoweringContext
from symconv.lower.rewrites.blocking import largest_divisor
from symconv.symbolic.indices import InRange
from symconv.symbolic.indices import index_symbol as symbol

NAME = "channel_blocked"
KERNELS = ("forward", "grad_input", "grad_weight")
# Buffer names the nest makes (never from user input).
PACKED, PACKED_BIAS, SOURCE, RESULT, GRADIENT, SUMS, PARTIAL = (
    "packed",
    "packed_bias",
    "blocked_source",
    "blocked_result",
    "blocked_gradient",
    "tap_sums",
    "partial_taps",
)


def parse_tile(text: str) -> int | None:
    """P from "P" (positions per tile, at least 1), or None when it is not one."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        return None
    return int(text)


def depthwise(spec: object) -> bool:
    """One input and one output channel per group, more than one group."""
    return spec.groups > 1 and spec.in_channels_per_group == 1 and spec.out_channels_per_group == 1


class ChannelBlocked(Algorithm):
    """Vectors of channels for depthwise layers: forward, dL/dX, dL/dF; `positions` or None."""

    def __init__(self, positions: int | None = None) -> None:
        self.positions = positions
        self.name = NAME if positions is None else f"{NAME}:{positions}"

    def applies(self, context: LoweringContext) -> bool:
        spec, machine = context.spec, context.machine
        if not shared_filter_convolution(context) or context.formula.name not in KERNELS:
            return False
        if machine.lanes(spec.dtype) < 2 or not depthwise(spec):
            return False
        if self.positions is not None and (
            context.formula.name == "grad_weight" or self.positions > 2 * machine.accumulators
        ):
            return False
        return True

    def why_not(self, context: LoweringContext) -> str:
        if not depthwise(context.spec):
            return "it needs one input and one output channel per group (a depthwise layer)"
        if self.positions is not None and context.formula.name == "grad_weight":
            return "dL/dF keeps one accumulator per tap by itself: give plain channel_blocked"
        if self.positions is not None and self.positions > 2 * context.machine.accumulators:
            return f"{self.positions} accumulators would spill the registers"
        return ""

    def preferred(self, context: LoweringContext) -> bool:
        """Measured against the other algorithms, 2 threads, interleaved medians in µs
        (channel_blocked / the best other; PyTorch in brackets):

        - forward and dL/dX of a strided layer with at least half a vector of channels:
          8×64×56×56, 3×3, stride 2: float32 208 / positions 246 (298) and 194 / 250
          (316); float64 301 / 582 and 309 / 388.  4×96×28×28, 5×5, stride 2: 47 / 60
          and 44 / 73.  With 8 channels 37 / 36 and 40 / 46; with 4, positions (25 / 28,
          23 / 28).  At stride 1 `depthwise` works on the planes as they lie, with no
          copy into blocks (8×64×56×56: 258 / channel_blocked 329, 431 / 469 float32;
          605 / 839 and 489 / 864 float64);
        - dL/dF with two vectors of channels or more: float64 428 / positions 481 (stride
          2), 720 / 1,129 (stride 1), 86 / 115 (96 channels, 5×5); float32 level (182 /
          178, 319 / 314, 49 / 51).  With 8 channels positions (23 / 32, 48 / 65 float64).
        """
        spec, name = context.spec, context.formula.name
        if self.positions is not None or work(context.formula) < context.machine.rows_min_work:
            return False
        lanes = context.machine.lanes(spec.dtype)
        if name == "grad_weight":
            return spec.out_channels >= 2 * lanes
        return any(s > 1 for s in spec.stride) and 2 * spec.out_channels >= lanes

    def variants(self, context: LoweringContext) -> tuple[Algorithm, ...]:
        """The default tile, one position (every remainder path at once) and 3 positions."""
        if self.positions is not None or not self.applies(context):
            return super().variants(context)
        if context.formula.name == "grad_weight":
            return (self,)
        found = [self] + [ChannelBlocked(p) for p in (1, 3)]
        return tuple(a for a in found if a.applies(context))

    def tunings(self, context: LoweringContext) -> tuple[Algorithm, ...]:
        """Tiles of 8, 16 and 24 positions (forward and dL/dX)."""
        if self.positions is not None or context.formula.name == "grad_weight":
            return ()
        default = BlockedCorrelations(context, None).positions
        room = context.machine.accumulators
        found = {p for p in (8, 16, room) if p <= room} - {default}
        return tuple(ChannelBlocked(p) for p in sorted(found))

    def build(self, context: LoweringContext) -> LoopNest:
        if context.formula.name == "grad_weight":
            return BlockedWeightGradient(context).build()
        return BlockedCorrelations(context, self.positions).build()


CHANNEL_BLOCKED = ChannelBlocked()


# ----- the blocked layout -----------------------------------------------------------------
class Blocks:
    """Channels in blocks of L lanes: `whole` full blocks, then `partial` channels."""

    def __init__(self, context: LoweringContext) -> None:
        spec = context.spec
        self.channels = spec.out_channels
        self.lanes = vector_lanes(self.channels, spec.dtype, context)
        self.count = -(-self.channels // self.lanes)
        self.whole, self.partial = divmod(self.channels, self.lanes)

    def by_block(self, b: sp.Expr, make: Callable[[int], list[Stmt]]) -> list[Stmt]:
        """`make(lanes used)` for the full blocks and for the partial last one, each under
        the guard that picks it (none where every block is alike)."""
        if not self.partial:
            return make(self.lanes)
        if not self.whole:
            return make(self.partial)
        return [
            If((InRange(b, self.whole),), tuple(make(self.lanes))),
            If((InRange(b - self.whole, 1),), tuple(make(self.partial))),
        ]


def frame_axes(spec: object, kernel: str) -> list[StagedAxis]:
    """Where the source of a correlation lands in its blocked copy, per spatial axis: x
    with the layer's padding (cropped to what the windows reach), or ∂L/∂O in the zero
    frame every stride phase of dL/dX reads inside."""
    if kernel == "grad_input":
        frame = gradient_frame(spec)
        return [StagedAxis(before, 1, extent, o)
                for (before, extent), o in zip(frame, spec.output_size)]  # fmt: skip
    axes = []
    for axis, o in zip(spec.window_axes, spec.output_size):
        reach = (o - 1) * axis.stride + (axis.kernel - 1) * axis.dilation + 1
        axes.append(StagedAxis(axis.lo, 1, reach, axis.size))
    return axes


def block_fill(
    source: str, target: str, slot: sp.Expr, n: sp.Expr, b: sp.Expr, axes: list[StagedAxis],
    blocks: Blocks,
) -> list[Stmt]:  # fmt: skip
    """target[slot, landing position, l] = source[n, b·L + l, position] for the kept
    positions: per row, L channels' vectors of L positions, transposed in registers by
    one `VecStoreRows` (lanes of channels past the last stay 0)."""
    lanes = blocks.lanes
    lead = [symbol(f"bf{a}") for a in range(len(axes) - 1)]
    *lead_axes, last = axes
    rows = [a.kept.start + i for a, i in zip(lead_axes, lead)]
    landing = [a.offset + r for a, r in zip(lead_axes, rows)]
    kept = last.kept
    names = tuple(f"bx{lane}" for lane in range(lanes))

    def chunk(column: sp.Expr, count: int) -> list[Stmt]:
        out: list[Stmt] = []
        for lane, name in enumerate(names):
            channel = b * lanes + lane
            load = VecLoad(name, Read(source, (n, channel, *rows, column)), stop=count)
            if lane < blocks.partial or not blocks.partial:
                out.append(load)  # a channel of every block
            elif blocks.whole == 0:
                out.append(VecZero(name))  # past the channels in the only block
            else:
                out += [VecZero(name), If((InRange(channel, blocks.channels),), (load,))]
        place = Read(target, (slot, *landing, last.offset + column, 0))
        out.append(VecStoreRows(place, names, lanes, 1, count))
        return out

    v = symbol("bfv")
    body: list[Stmt] = []
    for first, tiles, size in splits(len(kept), lanes) if len(kept) else []:
        count = 0 if size == lanes else size
        if tiles > 1:
            body.append(For(v, tiles, tuple(chunk(kept.start + first + lanes * v, count))))
        else:
            body += chunk(sp.Integer(kept.start + first), count)
    if not body:  # every position the windows reach along the last axis is padding
        return []
    loops: tuple[Stmt, ...] = tuple(body)
    for var, axis in reversed(list(zip(lead, lead_axes))):
        if not axis.kept:  # every row the windows reach is padding: nothing to copy
            return []
        loops = (For(var, len(axis.kept), loops),)
    return list(loops)


def unblock(
    result: str, plane_shape: tuple[int, ...], slot: sp.Expr, n: sp.Expr, b: sp.Expr,
    blocks: Blocks,
) -> list[Stmt]:  # fmt: skip
    """result[n, b·L + l, position] = RESULT[slot, position, l], L positions at a time:
    L vector loads of channels, stored as rows of positions (transposed in registers)."""
    lanes, plane = blocks.lanes, math.prod(plane_shape)
    zeros = (0,) * (len(plane_shape) - 1)
    f = symbol("uf")

    def chunk(first: sp.Expr, count: int, used: int) -> list[Stmt]:
        names = tuple(f"ur{j}" for j in range(count))
        loads = [VecLoad(name, Read(RESULT, (slot, *zeros, first + j, 0)))
                 for j, name in enumerate(names)]  # fmt: skip
        target = Read(result, (n, b * lanes, *zeros, first))
        return [*loads, VecStoreRows(target, names, plane, 1, used)]

    def every_chunk(used: int) -> list[Stmt]:
        out: list[Stmt] = []
        for first, tiles, size in splits(plane, lanes):
            if tiles > 1:
                out.append(For(f, tiles, tuple(chunk(first + lanes * f, size, used))))
            else:
                out += chunk(sp.Integer(first), size, used)
        return out

    return blocks.by_block(b, every_chunk)


def pack_weights(spec: object, blocks: Blocks) -> Stmt:
    """packed[b, tap, l] = w[b·L + l, 0, tap] (rotated in convolution mode); lanes past the
    channels stay 0."""
    b, lane = symbol("pb"), symbol("pl")
    taps = tuple(symbol(f"pt{a}") for a in range(spec.rank))
    number: sp.Expr = sp.S.Zero
    for t, k in zip(taps, spec.kernel_size):
        number = number * k + t
    channel = b * blocks.lanes + lane
    store = (Init("pv", Read("w", (channel, 0, *applied_taps(spec, taps)))),
             Store(Read(PACKED, (b, number, lane)), "pv"))  # fmt: skip
    body: tuple[Stmt, ...] = (If((InRange(channel, blocks.channels),), store),)
    for var, extent in reversed([(b, blocks.count), *zip(taps, spec.kernel_size),
                                 (lane, blocks.lanes)]):  # fmt: skip
        body = (For(var, extent, body),)
    return body[0]


def pack_bias(blocks: Blocks) -> Stmt:
    b, lane = symbol("pb"), symbol("pl")
    channel = b * blocks.lanes + lane
    store = (Init("pv", Read("b", (channel,))), Store(Read(PACKED_BIAS, (b, lane)), "pv"))
    body: tuple[Stmt, ...] = (If((InRange(channel, blocks.channels),), store),)
    for var, extent in reversed([(b, blocks.count), (lane, blocks.lanes)]):
        body = (For(var, extent, body),)
    return body[0]


def slot_loop(
    slots: int, items: int, sizes: list[int], names: list[sp.Symbol],
    body: Callable[[sp.Symbol], list[Stmt]], parallel: bool,
) -> Stmt:  # fmt: skip
    """for slot in range(slots) (parallel): for the items slot, slot + slots, …: `names`
    bound to the item's row-major parts of `sizes`, then `body(slot)`."""
    slot, k, item = symbol("slot"), symbol("sk"), symbol("item")
    rounds = -(-items // slots)
    inner: tuple[Stmt, ...] = (*unflatten(item, names, sizes), *body(slot))
    if items % slots:
        inner = (If((InRange(item, items),), inner),)
    if rounds == 1:
        return For(slot, slots, (Let(item, slot), *inner), parallel=parallel)
    serial = (Let(item, slot + slots * k), *inner)
    return For(slot, slots, (For(k, rounds, serial),), parallel=parallel)


# ----- forward and dL/dX -------------------------------------------------------------------------
class BlockedCorrelations:
    """Forward, or dL/dX phase by phase, tiles of P positions of L channels (module docstring)."""

    def __init__(self, context: LoweringContext, positions: int | None) -> None:
        self.context, self.spec = context, context.spec
        self.kernel = context.formula.name
        self.blocks = Blocks(context)
        self.correlations = correlations(self.spec, self.kernel, SOURCE)
        longest = max((c.axes[-1].count for c in self.correlations), default=1)
        self.positions = positions or default_positions(longest, context.machine.accumulators)
        self.frame = frame_axes(self.spec, self.kernel)
        self.items = self.spec.batch * self.blocks.count
        self.slots = min(self.items, context.machine.image_chunks) if context.threaded else 1

    def result_shape(self) -> tuple[int, ...]:
        return self.context.shapes["y" if self.kernel == "forward" else "gx"]

    def build(self) -> LoopNest:
        spec, shapes, blocks = self.spec, self.context.shapes, self.blocks
        forward = self.kernel == "forward"
        params = correlation_operands(self.context, forward)
        result = "y" if forward else "gx"
        plane = self.result_shape()[2:]
        scratch = [
            Operand(PACKED, (blocks.count, math.prod(spec.kernel_size), blocks.lanes), zeroed=True),
            Operand(
                SOURCE, (self.slots, *(a.extent for a in self.frame), blocks.lanes), zeroed=True
            ),
            Operand(RESULT, (self.slots, *plane, blocks.lanes)),
        ]
        body: list[Stmt] = [pack_weights(spec, blocks)]
        bias = forward and spec.bias
        if bias:
            scratch.append(Operand(PACKED_BIAS, (blocks.count, blocks.lanes), zeroed=True))
            body.append(pack_bias(blocks))
        n, b = symbol("n"), symbol("cb")
        source = "x" if forward else "gy"

        def item(slot: sp.Symbol) -> list[Stmt]:
            out = block_fill(source, SOURCE, slot, n, b, self.frame, blocks)
            for correlation in self.correlations:
                out += self.correlate(correlation, slot, b, bias)
            return out + unblock(result, plane, slot, n, b, blocks)

        body.append(slot_loop(self.slots, self.items, [spec.batch, blocks.count], [n, b],
                              item, self.context.threaded))  # fmt: skip
        phases = len(self.correlations)
        return LoopNest(
            self.kernel,
            params,
            Operand(result, shapes[result]),
            tuple(body),
            scratch=tuple(scratch),
            parallel=self.context.threaded,
            flat=(*(p.name for p in params), result, *(s.name for s in scratch)),
            lanes=blocks.lanes,
            notes=(
                f"channel_blocked: vectors of {blocks.lanes} channels, tiles of "
                f"{self.positions} positions, {self.slots} slots of blocked copies",
                *(
                    (f"{phases} stride phases, each with only the taps that meet a real output",)
                    if phases > 1
                    else ()
                ),  # fmt: skip
            ),
        )

    def correlate(
        self, correlation: Correlation, slot: sp.Expr, b: sp.Expr, bias: bool
    ) -> list[Stmt]:
        """The loops over the lead positions of one correlation; tiles along the last axis."""
        axes = correlation.axes
        lead = [symbol(f"q{a}") for a in range(len(axes) - 1)]
        if any(not a.taps for a in axes):  # no tap meets a real output: these inputs get 0
            return self.zero_phase(correlation, slot)
        last = axes[-1]
        q0 = symbol("qt")
        body: list[Stmt] = []
        for first, tiles, size in splits(last.count, self.positions):
            start = first + size * q0 if tiles > 1 else sp.Integer(first)
            tile = self.tile(correlation, slot, b, lead, start, size, bias)
            body += [For(q0, tiles, tuple(tile))] if tiles > 1 else tile
        loops: tuple[Stmt, ...] = tuple(body)
        for q, axis in reversed(list(zip(lead, axes[:-1]))):
            loops = (For(q, axis.count, loops),)
        return list(loops)

    def tile(self, correlation, slot, b, lead, first, positions, bias) -> list[Stmt]:  # fmt: skip
        """P accumulators: per tap one weight vector, P loads and P FMAs; stored blocked."""
        spec, axes = self.spec, correlation.axes
        accumulators = [f"va{p}" for p in range(positions)]
        out: list[Stmt] = [
            VecLoad(a, Read(PACKED_BIAS, (b, 0))) if bias else VecZero(a) for a in accumulators
        ]
        taps = [symbol(f"rt{a}") for a in range(len(axes))]
        tap_index: sp.Expr = sp.S.Zero
        source_lead = []
        for a, (axis, t, q) in enumerate(zip(axes[:-1], taps, lead)):
            tap, offset = tap_choice(axis.taps, t)
            tap_index = tap_index * spec.kernel_size[a] + tap
            source_lead.append(axis.source_step * q + offset)
        last = axes[-1]
        tap_last, offset_last = tap_choice(last.taps, taps[-1])
        tap_index = tap_index * spec.kernel_size[-1] + tap_last
        inner: list[Stmt] = [VecLoad("vw", Read(PACKED, (b, tap_index, 0)))]
        for p, acc in enumerate(accumulators):
            column = last.source_step * (first + p) + offset_last
            inner.append(VecLoad("vx", Read(correlation.source, (slot, *source_lead, column, 0))))
            inner.append(VecFma(acc, "vx", "vw"))
        reduction: tuple[Stmt, ...] = tuple(inner)
        for axis, t in reversed(list(zip(axes, taps))):
            reduction = (For(t, len(axis.taps), reduction, opaque=len(axis.taps) > 1),)
        out += reduction
        position = [a.start + a.step * q for a, q in zip(axes[:-1], lead)]
        for p, acc in enumerate(accumulators):
            column = last.start + last.step * (first + p)
            out.append(VecStore(Read(RESULT, (slot, *position, column, 0)), acc))
        return out

    def zero_phase(self, correlation: Correlation, slot: sp.Expr) -> list[Stmt]:
        """Inputs of a phase no tap reaches (a stride past the dilated kernel): zeros."""
        qs = [symbol(f"z{a}") for a in range(len(correlation.axes))]
        position = [a.start + a.step * q for a, q in zip(correlation.axes, qs)]
        body: tuple[Stmt, ...] = (VecZero("vz"), VecStore(Read(RESULT, (slot, *position, 0)), "vz"))
        for q, axis in reversed(list(zip(qs, correlation.axes))):
            body = (For(q, axis.count, body),)
        return list(body)


def default_positions(count: int, room: int) -> int:
    """As many positions as the accumulators hold, in even tiles (28 as 14 + 14)."""
    tiles = -(-count // min(count, room))
    return -(-count // tiles)


# ----- dL/dF -------------------------------------------------------------------------------------
class BlockedWeightGradient:
    """gw[c, 0, tap] = Σ_n Σ_j gy[n, c, j]·x[n, c, S·j + D·tap − lo], L channels a vector."""

    def __init__(self, context: LoweringContext) -> None:
        self.context, self.spec = context, context.spec
        self.blocks = Blocks(context)
        self.tap_list = list(product(*(range(k) for k in self.spec.kernel_size)))
        room = context.machine.accumulators
        chunks = -(-len(self.tap_list) // room)
        size = -(-len(self.tap_list) // chunks)
        self.tap_chunks = [self.tap_list[i : i + size] for i in range(0, len(self.tap_list), size)]
        self.chunks = 1
        if context.threaded:
            wanted = -(-2 * context.machine.image_chunks // self.blocks.count)
            self.chunks = largest_divisor(self.spec.batch, wanted)
        self.frame = frame_axes(self.spec, "grad_weight")

    def build(self) -> LoopNest:
        spec, shapes, blocks = self.spec, self.context.shapes, self.blocks
        params = tuple(Operand(p, shapes[p]) for p in self.context.order if p in ("x", "gy"))
        tasks = self.chunks * blocks.count
        scratch = [
            Operand(SOURCE, (tasks, *(a.extent for a in self.frame), blocks.lanes), zeroed=True),
            Operand(GRADIENT, (tasks, *spec.output_size, blocks.lanes)),
            Operand(SUMS, (tasks, len(self.tap_list), blocks.lanes)),
        ]
        target = "gw"
        if self.chunks > 1:
            scratch.append(Operand(PARTIAL, (self.chunks, *shapes["gw"])))
            target = PARTIAL
        body: list[Stmt] = [self.accumulate(target, tasks)]
        if self.chunks > 1:
            body.append(add_partials(spec, self.chunks, PARTIAL))
        return LoopNest(
            "grad_weight",
            params,
            Operand("gw", shapes["gw"]),
            tuple(body),
            scratch=tuple(scratch),
            parallel=self.context.threaded,
            flat=("x", "gy", "gw", *(s.name for s in scratch)),
            lanes=blocks.lanes,
            notes=(
                f"channel_blocked dL/dF: vectors of {blocks.lanes} channels, one accumulator "
                f"per tap, {len(self.tap_chunks)} pass(es) of at most "
                f"{len(self.tap_chunks[0])} taps per image",
                *(
                    (f"batch split into {self.chunks} chunks with private partial sums",)
                    if self.chunks > 1
                    else ()
                ),  # fmt: skip
            ),
        )

    def accumulate(self, target: str, tasks: int) -> Stmt:
        """One parallel loop over (image chunk, block) tasks."""
        spec, blocks = self.spec, self.blocks
        task, chunk, b, image, n = (symbol(v) for v in ("task", "wch", "cb", "wi", "n"))
        each = spec.batch // self.chunks
        lets = unflatten(task, [chunk, b], [self.chunks, blocks.count])
        taps = len(self.tap_list)
        t = symbol("wt")
        clear = For(t, taps, (VecZero("vs"), VecStore(Read(SUMS, (task, t, 0)), "vs")))
        gradient_frame_axes = [StagedAxis(0, 1, o, o) for o in spec.output_size]
        per_image: list[Stmt] = [
            Let(n, chunk * each + image),
            *block_fill("x", SOURCE, task, n, b, self.frame, blocks),
            *block_fill("gy", GRADIENT, task, n, b, gradient_frame_axes, blocks),
        ]
        for first, chunk_taps in zip(range(0, taps, len(self.tap_chunks[0])), self.tap_chunks):
            per_image += self.pass_over_positions(task, first, chunk_taps)
        prefix = (chunk,) if target == PARTIAL else ()

        def store(used: int) -> list[Stmt]:
            out: list[Stmt] = []
            for number, tap in enumerate(self.tap_list):
                out.append(VecLoad("vs", Read(SUMS, (task, number, 0))))
                place = Read(target, (*prefix, b * blocks.lanes, 0, *applied_taps(spec, tap)))
                out.append(VecStore(place, "vs", taps, used))
            return out

        body = (*lets, clear, For(image, each, tuple(per_image)), *blocks.by_block(b, store))
        return For(task, tasks, body, parallel=self.context.threaded)

    def pass_over_positions(self, task: sp.Symbol, first: int, taps: list[tuple[int, ...]]
                            ) -> list[Stmt]:  # fmt: skip
        """acc[t] += ∂L/∂O[j]·X[S·j + D·t] over every output j, for the taps of one pass."""
        spec = self.spec
        names = [f"wa{t}" for t in range(len(taps))]
        out: list[Stmt] = [VecLoad(name, Read(SUMS, (task, first + t, 0)))
                           for t, name in enumerate(names)]  # fmt: skip
        outputs = [symbol(f"wj{a}") for a in range(spec.rank)]
        inner: list[Stmt] = [VecLoad("vg", Read(GRADIENT, (task, *outputs, 0)))]
        for name, tap in zip(names, taps):
            position = [a.stride * j + a.dilation * k
                        for a, j, k in zip(spec.window_axes, outputs, tap)]  # fmt: skip
            inner.append(VecLoad("vx", Read(SOURCE, (task, *position, 0))))
            inner.append(VecFma(name, "vg", "vx"))
        loop: tuple[Stmt, ...] = tuple(inner)
        for j, o in reversed(list(zip(outputs, spec.output_size))):
            loop = (For(j, o, loop, opaque=o > 1),)
        out += loop
        out += [VecStore(Read(SUMS, (task, first + t, 0)), name) for t, name in enumerate(names)]
        return out
