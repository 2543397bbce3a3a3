"""Register-blocked direct convolution with explicit vectors of channels (oneDNN's layout).

LLVM will not vectorize a loop over output channels once a kernel has a few input
channels ("cannot identify array bounds"), so this algorithm writes the vectors itself
(`symconv.lower.ir` vector statements, which the CPU target prints as calls of its
intrinsics).  A tile of V vectors of L output channels × P output positions lives in
V·P vector registers; for every input channel and tap it loads V weight vectors and
broadcasts P input values, and each broadcast feeds V fused multiply-adds:

    weights packed once per call: packed[g, block, c, tap, lane] = w[g·C + block·L + lane, c, tap]
    for (n, g, group of V blocks, output rows), in threads:        (the lead axes: rows, depth)
        for each tile of P positions along the last axis:
            acc[v][p] = bias vector, or 0
            for c in the group's input channels: for tap:
                wv[v] = packed[g, block v, c, tap, :]                        V vector loads
                for p: xb = broadcast(x_padded[n, c, s·(q + p) + d·tap])   P broadcasts
                       acc[v][p] += wv[v] · xb                              V·P FMAs
            y[n, channels of v, q + p] = acc[v][p]   lane by lane, a plane apart (NCHW)

dL/dX is the same machinery on the problem the chain rule gives: ∂L/∂O correlated with
the rotated filter, channel roles swapped.  Split by stride phase (input positions
r = ρ + s·q along each axis), each phase reads only the taps that meet a real output,
at offsets (ρ + lo − d·t)/s into a zero-bordered copy of ∂L/∂O: no product touches an
inserted zero.  dL/dF vectorizes over output channels the other way round: a copy of
∂L/∂O with the channels of a block side by side is loaded as vectors, and a tile of
input channels × taps accumulators gathers Σ over images and positions of ∂L/∂O · X,
in per-chunk partial sums when the batch is split across threads.

The tile is the algorithm's parameter: ``simd:VxP`` (V vectors × P positions, V·P at
most the machine's accumulators: more spill registers and run at half speed or worse).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product

import sympy as sp

from symconv.lower.algorithms.base import (
    Algorithm,
    cache_sized_chunks,
    correlation_operands,
    shared_filter_convolution,
    work,
)
from symconv.lower.ir import (
    Accumulate,
    For,
    If,
    Init,
    Let,
    LoopNest,
    Operand,
    Read,
    Staged,
    StagedAxis,
    Stmt,
    Store,
    VecBroadcast,
    VecFma,
    VecLoad,
    VecStore,
    VecStoreRows,
    VecZero,
)
from symconv.lower.passes import LoweringContext
from symconv.lower.rewrites.blocking import largest_divisor
from symconv.symbolic.indices import InRange, index_symbol

NAME = "simd"
KERNELS = ("forward", "grad_input", "grad_weight")
#: The most positions a tile holds along the last axis, whatever the registers allow:
#: past 16 the broadcasts already hide behind the FMAs, and code only grows.
MAX_POSITIONS = 16
#: The most vectors of channels a tile holds.
MAX_VECTORS = 4
# Buffer names the nest makes (never from user input).
PACKED, PACKED_BIAS, SOURCE, GRADIENT, PARTIAL = (
    "packed",
    "packed_bias",
    "source",
    "gy_blocks",
    "partial_tiles",
)


def symbol(name: str) -> sp.Symbol:
    return index_symbol(name)


def parse_tile(text: str) -> tuple[int, int] | None:
    """(V, P) from "VxP", each at least 1, or None when it is not one."""
    vectors, times, positions = text.partition("x")
    if not times or not all(t.isascii() and t.isdigit() for t in (vectors, positions)):
        return None
    tile = (int(vectors), int(positions))
    return tile if 1 <= tile[0] <= MAX_VECTORS and tile[1] >= 1 else None


class Simd(Algorithm):
    """Explicit vectors of channels: forward, dL/dX and dL/dF; `tile` (V, P) or None."""

    def __init__(self, tile: tuple[int, int] | None = None) -> None:
        self.tile = tile
        self.name = NAME if tile is None else f"{NAME}:{tile[0]}x{tile[1]}"

    def applies(self, context: LoweringContext) -> bool:
        spec, machine = context.spec, context.machine
        if not shared_filter_convolution(context) or context.formula.name not in KERNELS:
            return False
        if machine.lanes(spec.dtype) < 2:
            return False
        if self.tile is not None:
            vectors, positions = self.tile
            if (
                context.formula.name == "grad_weight"
                or vectors * positions > 2 * machine.accumulators
            ):
                return False
        return True

    def why_not(self, context: LoweringContext) -> str:
        if self.tile is not None and context.formula.name == "grad_weight":
            return "dL/dF tiles input channels × taps by itself: give plain simd"
        if self.tile is not None and math.prod(self.tile) > 2 * context.machine.accumulators:
            return f"{self.tile[0]}×{self.tile[1]} accumulators would spill the registers"
        return ""

    def preferred(self, context: LoweringContext) -> bool:
        """Where a vector of channels is mostly filled and each output gathers enough terms
        to hide its lane-by-lane store (measured against PyTorch, fp32, 2 threads):

        - forward: at least half a vector of output channels per group and 16 terms
          (channels × taps) per output: LeNet conv2 (16 ← 6, 5×5) 68 µs against PyTorch's
          104, a 7×7 stride-2 stem 1.04×; the 1-channel MNIST layer (9 terms) stays with
          rows (361 µs, simd 458);
        - dL/dX: a quarter of a vector of input channels (LeNet conv2's 6: 341 µs against
          unfold's 445); with 3 (the stem) the lanes stay empty: 25 ms against 7;
        - dL/dF: a quarter of a vector of output channels and 16 terms per ∂L/∂O value:
          LeNet conv1 (6 channels, 25 taps) 112 µs against blocked's 152, conv2 70 µs
          against 506; not the 1-channel 3×3 MNIST layer (9 terms: 976 against 520).
        """
        spec, name = context.spec, context.formula.name
        if self.tile is not None or work(context.formula) < context.machine.rows_min_work:
            return False
        lanes = context.machine.lanes(spec.dtype)
        taps = math.prod(spec.kernel_size)
        out_per_group, in_per_group = spec.out_channels_per_group, spec.in_channels_per_group
        if name == "forward":
            return 2 * out_per_group >= lanes and in_per_group * taps >= 16
        if name == "grad_input":
            return 4 * in_per_group >= lanes
        return 4 * out_per_group >= lanes and in_per_group * taps >= 16

    def variants(self, context: LoweringContext) -> tuple[Algorithm, ...]:
        """The default tile, one vector × one position (every remainder path at once), and
        one vector × 5 positions and 2 × 3 where they differ from it: the paths a tile
        size changes."""
        if self.tile is not None or not self.applies(context):
            return super().variants(context)
        if context.formula.name == "grad_weight":
            return (self,)
        found = [self] + [Simd(t) for t in ((1, 1), (1, 5), (2, 3))]
        return tuple(a for a in found if a.applies(context))

    def tunings(self, context: LoweringContext) -> tuple[Algorithm, ...]:
        """Tiles of 1, 2 and 3 vectors, each with as many positions as the accumulators
        allow (forward and dL/dX; dL/dF sizes its tile itself)."""
        if self.tile is not None or context.formula.name == "grad_weight":
            return ()
        tiles = ChannelTiles(context, None)
        room = context.machine.accumulators
        found = {
            (v, min(room // v, tiles.last_positions(), MAX_POSITIONS))
            for v in range(1, min(tiles.blocks, 3) + 1)
        }
        found.discard(tiles.tile)
        return tuple(Simd(t) for t in sorted(found) if Simd(t).applies(context))

    def build(self, context: LoweringContext) -> LoopNest:
        if context.formula.name == "grad_weight":
            return WeightGradient(context).build()
        return ChannelTiles(context, self.tile).build()


SIMD = Simd()


# ----- one correlation with vectors of result channels --------------------------------------
@dataclass(frozen=True)
class Axis:
    """One spatial axis of a correlation: result position r = start + step·q for q < count;
    the source is read at source_step·q + offset for each tap (tap of the packed weights,
    offset into the source)."""

    count: int
    start: int
    step: int
    source_step: int
    taps: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Correlation:
    """result[n, g·R + r_c, r] = Σ_c Σ_taps source[n, g·C + c, s·q + off] · packed[...]: what
    the forward pass and one stride phase of dL/dX each are."""

    source: str
    result: str
    axes: tuple[Axis, ...]
    #: Every tap's index into the packed weights' tap axis: tap_number(tap per axis).
    tap_count: int
    tap_number: Callable[[tuple[int, ...]], int]


class ChannelTiles:
    """Forward, or dL/dX by stride phases: tiles of V vectors × P positions (module docstring)."""

    def __init__(self, context: LoweringContext, tile: tuple[int, int] | None) -> None:
        self.context, self.spec = context, context.spec
        spec = self.spec
        self.kernel = context.formula.name
        forward = self.kernel == "forward"
        #: Channels per group of the result (vectorized) and of the reduction.
        self.wide = spec.out_channels_per_group if forward else spec.in_channels_per_group
        self.deep = spec.in_channels_per_group if forward else spec.out_channels_per_group
        self.lanes = vector_lanes(self.wide, spec.dtype, context)
        self.blocks = -(-self.wide // self.lanes)
        self.taps = math.prod(spec.kernel_size)
        self.tile = tile or default_tile(
            self.blocks, self.last_positions(), context, forward=self.kernel == "forward"
        )
        self.n, self.g = symbol("n"), symbol("g")

    # ----- shapes -------------------------------------------------------------------
    def last_positions(self) -> int:
        spec = self.spec
        if self.kernel == "forward":
            return spec.output_size[-1]
        return -(-spec.input_size[-1] // spec.stride[-1])

    def build(self) -> LoopNest:
        spec, shapes = self.spec, self.context.shapes
        forward = self.kernel == "forward"
        params = correlation_operands(self.context, forward)
        result_name = "y" if forward else "gx"
        result = Operand(result_name, shapes[result_name])
        packed = Operand(
            PACKED, (spec.groups, self.blocks, self.deep, self.taps, self.lanes), zeroed=True
        )
        scratch = [packed]
        body: list[Stmt] = [self.pack_weights()]
        bias = None
        if forward and spec.bias:
            scratch.append(
                Operand(PACKED_BIAS, (spec.groups, self.blocks, self.lanes), zeroed=True)
            )
            body.append(self.pack_bias())
            bias = PACKED_BIAS
        staged = self.staged_source()
        correlations = self.correlations(staged.name if staged else ("x" if forward else "gy"))
        for correlation in correlations:
            body += self.correlate(correlation, bias)
        flat = (
            tuple(p.name for p in params) + (result_name, PACKED) + ((PACKED_BIAS,) if bias else ())
        )
        if staged is not None:
            flat += (staged.name,)
        vectors, positions = self.tile
        nest = LoopNest(
            self.kernel,
            params,
            result,
            tuple(body),
            staged=(staged,) if staged is not None else (),
            scratch=tuple(scratch),
            parallel=self.context.threaded,
            flat=flat,
            lanes=self.lanes,
            notes=(
                f"simd: tiles of {vectors} vectors of {self.lanes} channels × {positions} "
                f"positions, {self.taps} taps, {self.deep} channels deep",
                *(
                    (
                        f"{len(correlations)} stride phases, each with only the taps that "
                        "meet a real output",
                    )
                    if not forward and len(correlations) > 1
                    else ()
                ),
            ),
        )
        return nest

    # ----- packing ------------------------------------------------------------------
    def tap_loops(self) -> tuple[tuple[sp.Symbol, ...], sp.Expr]:
        """Tap symbols per axis and their row-major number."""
        taps = tuple(symbol(f"pt{a}") for a in range(self.spec.rank))
        number: sp.Expr = sp.S.Zero
        for t, k in zip(taps, self.spec.kernel_size):
            number = number * k + t
        return taps, number

    def applied(self, taps: tuple[sp.Expr, ...]) -> tuple[sp.Expr, ...]:
        return applied_taps(self.spec, taps)

    def pack_weights(self) -> Stmt:
        """packed[g, b, c, tap, l] = the weight of result channel b·L + l and reduction c."""
        spec, lanes = self.spec, self.lanes
        g, b, c, lane = symbol("pg"), symbol("pb"), symbol("pc"), symbol("pl")
        taps, number = self.tap_loops()
        wide = b * lanes + lane
        if self.kernel == "forward":
            source = Read("w", (g * self.wide + wide, c, *self.applied(taps)))
        else:  # dL/dX: result channels are the input channels, the reduction the outputs
            source = Read("w", (g * self.deep + c, wide, *self.applied(taps)))
        store = (Init("pv", source), Store(Read(PACKED, (g, b, c, number, lane)), "pv"))
        body: tuple[Stmt, ...] = (If((InRange(wide, self.wide),), store),)
        for loop_var, extent in reversed(
            [(g, spec.groups), (b, self.blocks), (c, self.deep)]
            + list(zip(taps, spec.kernel_size))
            + [(lane, lanes)]
        ):
            body = (For(loop_var, extent, body),)
        return body[0]

    def pack_bias(self) -> Stmt:
        g, b, lane = symbol("pg"), symbol("pb"), symbol("pl")
        channel = b * self.lanes + lane
        store = (Init("pv", Read("b", (g * self.wide + channel,))),
                 Store(Read(PACKED_BIAS, (g, b, lane)), "pv"))  # fmt: skip
        body: tuple[Stmt, ...] = (If((InRange(channel, self.wide),), store),)
        for loop_var, extent in reversed(
            [(g, self.spec.groups), (b, self.blocks), (lane, self.lanes)]
        ):
            body = (For(loop_var, extent, body),)
        return body[0]

    # ----- the source, and what to correlate it with -----------------------------------
    def staged_source(self) -> Staged | None:
        """The zero-bordered copy the taps read (None when the operand itself will do)."""
        spec, shapes = self.spec, self.context.shapes
        if self.kernel == "forward":
            return padded_input(spec, shapes)
        padding = self.gradient_padding()
        axes = [
            StagedAxis(before, 1, extent, o)
            for (before, extent), o in zip(padding, spec.output_size)
        ]
        return staged_copy(Operand("gy", shapes["gy"]), axes)

    def gradient_padding(self) -> list[tuple[int, int]]:
        """Per axis (zeros before ∂L/∂O, extent of its copy) so every phase's reads land inside."""
        return gradient_frame(self.spec)

    def correlations(self, source: str) -> list[Correlation]:
        return correlations(self.spec, self.kernel, source)

    # ----- the tiles -------------------------------------------------------------------
    def groups_of_blocks(self) -> list[tuple[int, int, tuple[int, ...]]]:
        """(first block, how many such groups, lanes per block) of the tile's vector groups:
        full groups of V blocks, then one group of what is left (its last block partial)."""
        vectors = self.tile[0]
        full_blocks = self.wide // self.lanes
        partial = self.wide % self.lanes
        found = []
        whole = full_blocks // vectors
        if whole:
            found.append((0, whole, (self.lanes,) * vectors))
        left = full_blocks - whole * vectors
        counts = (self.lanes,) * left + ((partial,) if partial else ())
        if counts:
            found.append((whole * vectors, 1, counts))
        return found

    def correlate(self, correlation: Correlation, bias: str | None) -> list[Stmt]:
        """One parallel loop per group of blocks, over images, groups, block groups and the
        lead positions; inside, the tiles along the last axis."""
        spec = self.spec
        statements: list[Stmt] = []
        lead_axes = correlation.axes[:-1]
        if any(not a.taps for a in correlation.axes):
            # no tap meets a real output in this phase: these result positions are 0
            return self.zero_phase(correlation)
        for first, count, lanes in self.groups_of_blocks():
            task = symbol("task")
            sizes = [spec.batch, spec.groups, count, *(a.count for a in lead_axes)]
            names = [
                self.n,
                self.g,
                symbol("vb"),
                *(symbol(f"q{a}") for a in range(len(lead_axes))),
            ]
            lets = unflatten(task, names, sizes)
            block = first + len(lanes) * names[2]
            tiles = self.tiles_along_last(correlation, block, lanes, names[3:], bias)
            statements.append(For(task, math.prod(sizes), (*lets, *tiles), parallel=True))
        return statements

    def tiles_along_last(
        self,
        correlation: Correlation,
        block: sp.Expr,
        lanes: tuple[int, ...],
        lead: list[sp.Symbol],
        bias: str | None,
    ) -> list[Stmt]:
        last = correlation.axes[-1]
        positions = min(self.tile[1], last.count)
        full, rest = divmod(last.count, positions)
        q0 = symbol("qt")
        out: list[Stmt] = []
        if full:
            body = self.tile_body(correlation, block, lanes, lead, q0 * positions, positions, bias)
            out.append(For(q0, full, tuple(body)))
        if rest:
            out += self.tile_body(correlation, block, lanes, lead, full * positions, rest, bias)
        return out

    def tile_body(
        self,
        correlation: Correlation,
        block: sp.Expr,
        lanes: tuple[int, ...],
        lead: list[sp.Symbol],
        first: sp.Expr,
        positions: int,
        bias: str | None,
    ) -> list[Stmt]:
        g = self.g
        vectors = len(lanes)
        accumulators = [[f"va{v}_{p}" for p in range(positions)] for v in range(vectors)]
        body: list[Stmt] = []
        for v in range(vectors):
            for p in range(positions):
                if bias is not None:
                    body.append(VecLoad(accumulators[v][p], Read(bias, (g, block + v, 0))))
                else:
                    body.append(VecZero(accumulators[v][p]))
        c = symbol("rc")
        last = correlation.axes[-1]
        taps = [symbol(f"rt{a}") for a in range(len(correlation.axes))]
        # the taps stay loops: unrolled, LLVM shares the broadcasts of neighbouring taps (the
        # same input element), keeps them all live and spills the accumulators
        tap_last, offset_last = tap_choice(last.taps, taps[-1])
        inner = self.one_tap(correlation, c, block, lead, taps[:-1], tap_last, offset_last,
                             first, positions, accumulators)  # fmt: skip
        reduction: tuple[Stmt, ...] = tuple(inner)
        for axis, t in reversed(list(zip(correlation.axes, taps))):
            reduction = (For(t, len(axis.taps), reduction, opaque=len(axis.taps) > 1),)
        body.append(For(c, self.deep, reduction))
        body += self.tile_store(correlation, block, lanes, lead, first, accumulators)
        return body

    def tile_store(self, correlation: Correlation, block: sp.Expr, lanes: tuple[int, ...],
                   lead: list[sp.Symbol], first: sp.Expr,
                   accumulators: list[list[str]]) -> list[Stmt]:  # fmt: skip
        """The tile into NCHW: per vector, its channels' rows of positions, one row at a time
        (each cache line written in one go; vector by vector, a plane of 4 KiB made every
        store of the tile evict the one before)."""
        lead_axes, last = correlation.axes[:-1], correlation.axes[-1]
        plane = math.prod(self.result_shape()[2:])
        position = [a.start + a.step * q for a, q in zip(lead_axes, lead)]
        position.append(last.start + last.step * first)
        out: list[Stmt] = []
        for v, row in enumerate(accumulators):
            channel = self.g * self.wide + (block + v) * self.lanes
            target = Read(correlation.result, (self.n, channel, *position))
            if plane == 1:  # one position: the channels lie side by side
                out.append(VecStore(target, row[0], 1, lanes[v]))
            else:
                out.append(VecStoreRows(target, tuple(row), plane, last.step, lanes[v]))
        return out

    def one_tap(self, correlation, c, block, lead, lead_taps, tap_last, offset_last, first,
                positions, accumulators) -> list[Stmt]:  # fmt: skip
        """One tap of the last axis: V weight loads, P broadcasts, V·P FMAs."""
        spec, n, g = self.spec, self.n, self.g
        lead_axes, last = correlation.axes[:-1], correlation.axes[-1]
        # the tap's packed number and the source's lead position, per lead axis
        tap_index: sp.Expr = sp.S.Zero
        source_lead = []
        for a, (axis, t, q) in enumerate(zip(lead_axes, lead_taps, lead)):
            chosen = tap_choice(axis.taps, t)
            tap_index = tap_index * spec.kernel_size[a] + chosen[0]
            source_lead.append(axis.source_step * q + chosen[1])
        tap_index = tap_index * spec.kernel_size[-1] + tap_last
        out: list[Stmt] = []
        weights = [f"vw{v}" for v in range(len(accumulators))]
        for v, name in enumerate(weights):
            out.append(VecLoad(name, Read(PACKED, (g, block + v, c, tap_index, 0))))
        for p in range(positions):
            column = last.source_step * (first + p) + offset_last
            value = Read(correlation.source, (n, g * self.deep + c, *source_lead, column))
            out.append(VecBroadcast("vx", value))
            for v, name in enumerate(weights):
                out.append(VecFma(accumulators[v][p], name, "vx"))
        return out

    def result_shape(self) -> tuple[int, ...]:
        return self.context.shapes["y" if self.kernel == "forward" else "gx"]

    def zero_phase(self, correlation: Correlation) -> list[Stmt]:
        """Result positions of a phase no tap reaches: zeros (a stride larger than the
        dilated kernel leaves such inputs unread)."""
        spec = self.spec
        n, channel = symbol("n"), symbol("zc")
        qs = [symbol(f"z{a}") for a in range(spec.rank)]
        position = [a.start + a.step * q for a, q in zip(correlation.axes, qs)]
        body: tuple[Stmt, ...] = (
            Init("zv"),
            Store(Read(correlation.result, (n, channel, *position)), "zv"),
        )
        loops = [(n, spec.batch), (channel, spec.in_channels)]
        loops += [(q, a.count) for q, a in zip(qs, correlation.axes)]
        for var, extent in reversed(loops):
            body = (For(var, extent, body),)
        return list(body)


def correlations(spec: object, kernel: str, source: str) -> list[Correlation]:
    """The correlations a forward pass (one) or a dL/dX (one per stride phase) is made of,
    reading `source`: x, or ∂L/∂O in the zero frame of `gradient_frame`."""
    shape = spec.kernel_size
    taps = math.prod(shape)

    def number(tap: tuple[int, ...]) -> int:
        value = 0
        for t, k in zip(tap, shape):
            value = value * k + t
        return value

    if kernel == "forward":
        axes = tuple(
            Axis(o, 0, 1, axis.stride, tuple((t, t * axis.dilation) for t in range(axis.kernel)))
            for axis, o in zip(spec.window_axes, spec.output_size)
        )
        return [Correlation(source, "y", axes, taps, number)]
    padding = gradient_frame(spec)
    found = []
    for phases in product(
        *(range(min(a.stride, i)) for a, i in zip(spec.window_axes, spec.input_size))
    ):
        phase_axes = []
        for axis, i, phase, (before, _) in zip(spec.window_axes, spec.input_size, phases, padding):
            count = -(-(i - phase) // axis.stride)
            offsets = tuple((t, offset + before) for t, offset in phase_taps(axis, phase))
            phase_axes.append(Axis(count, phase, axis.stride, 1, offsets))
        found.append(Correlation(source, "gx", tuple(phase_axes), taps, number))
    return found


def applied_taps(spec: object, taps: tuple[sp.Expr, ...]) -> tuple[sp.Expr, ...]:
    """The stored weight's tap for tap `taps` (rotated by 180° in convolution mode)."""
    if not spec.flips_kernel:
        return taps
    return tuple(k - 1 - t for k, t in zip(spec.kernel_size, taps))


def padded_input(spec: object, shapes: dict[str, tuple[int, ...]]) -> Staged | None:
    """x with the layer's zero padding, cropped to the rows the windows reach (None: x will do)."""
    axes = []
    for axis, o in zip(spec.window_axes, spec.output_size):
        reach = (o - 1) * axis.stride + (axis.kernel - 1) * axis.dilation + 1
        axes.append(StagedAxis(axis.lo, 1, reach, axis.size))
    return staged_copy(Operand("x", shapes["x"]), axes)


def staged_copy(source: Operand, spatial: list[StagedAxis]) -> Staged | None:
    batch, channels = source.shape[:2]
    full = (StagedAxis(0, 1, batch, batch), StagedAxis(0, 1, channels, channels))
    staged = Staged(SOURCE, source, (*full, *spatial))
    return None if all(a.identity for a in staged.axes) else staged


def vector_lanes(channels: int, dtype: str, context: LoweringContext) -> int:
    """Lanes of the vectors over `channels`: the machine's, or the smallest power of two
    that holds the channels (at least 4 float32 or 2 float64), so a group of 8 channels
    fills a 256-bit vector instead of half a 512-bit one.  An FMA of 8 lanes does as much
    useful work as one of 16 with 8 lanes empty (on the AMD Zen 5 development machine a
    256-bit FMA issues at the same rate as a 512-bit one, half the flops), and the
    narrower broadcasts and stores cost less.
    """
    widest = context.machine.lanes(dtype)
    narrowest = max(1, 16 // (4 if dtype == "float32" else 8))
    lanes = narrowest
    while lanes < channels and lanes < widest:
        lanes *= 2
    return min(lanes, widest)


def tap_choice(taps: tuple[tuple[int, int], ...], t: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """(weight tap, source offset) of the t-th tap of a lead axis, as expressions of t.

    The taps of a phase are an arithmetic progression (every s-th tap, and their offsets
    step by −d/s... by one each), so a loop over them indexes both linearly.
    """
    if len(taps) == 1:
        return sp.Integer(taps[0][0]), sp.Integer(taps[0][1])
    (t0, o0), (t1, o1) = taps[0], taps[1]
    return t0 + (t1 - t0) * t, o0 + (o1 - o0) * t


def gradient_frame(spec: object, last_reach: int | None = None) -> list[tuple[int, int]]:
    """Per axis (zeros before ∂L/∂O, extent of its copy) so that every tap of every stride
    phase of dL/dX reads inside it: phase ρ's q-th input reads ∂L/∂O[q + offset] for q below
    the phase's count of inputs, or below `last_reach` along the last axis when given (a
    vector's lanes past the row read too)."""
    found = []
    axes = list(zip(spec.window_axes, spec.input_size, spec.output_size))
    for a, (axis, i, o) in enumerate(axes):
        lows, highs = [0], [o - 1]
        for phase in range(min(axis.stride, i)):
            count = -(-(i - phase) // axis.stride)
            if last_reach is not None and a == len(axes) - 1:
                count = last_reach
            for _, offset in phase_taps(axis, phase):
                lows.append(offset)
                highs.append(count - 1 + offset)
        before = -min(lows)
        found.append((before, max(highs) + before + 1))
    return found


def phase_taps(axis, phase: int) -> list[tuple[int, int]]:
    """Taps t whose input position r = phase + s·q meets an output: (t, offset) with the
    output index j = q + offset, offset = (phase + lo − d·t)/s exact."""
    found = []
    for t in range(axis.kernel):
        shifted = phase + axis.lo - axis.dilation * t
        if shifted % axis.stride == 0:
            found.append((t, shifted // axis.stride))
    return found


def unflatten(flat: sp.Symbol, names: list[sp.Symbol], sizes: list[int]) -> list[Let]:
    """Lets giving each of `names` its part of the row-major counter `flat`."""
    lets, stride = [], math.prod(sizes)
    for name, size in zip(names, sizes):
        stride //= size
        lets.append(Let(name, sp.Mod(sp.floor(flat / stride), size) if size > 1 else sp.S.Zero))
    return lets


#: Positions a forward tile of 4 vectors keeps at least (else it takes 2 vectors).
WIDE_TILE_POSITIONS = 6


def default_tile(
    blocks: int, positions: int, context: LoweringContext, forward: bool = False
) -> tuple[int, int]:
    """V vectors × P positions: as many vectors as blocks up to 2 (each broadcast then feeds
    both), then as many positions as the accumulators allow, at most a dozen.

    A forward pass with 4 blocks or more takes 4 vectors where the accumulators leave 6
    positions (AVX-512's 24): 10 loads per 24 FMAs instead of 12 per 20.  Measured
    interleaved, fp32, µs (2 × 10 / 4 × 6): 64 → 128 channels at stride 2 2,577 / 2,451
    and 2,610 / 2,413 (float64 5,434 / 5,171), the 1×1 256 → 64 layer 597 / 576, a
    transposed layer's ∂L/∂X (a forward correlation) 865 / 817 and 2,441 / 2,522.  Not
    dL/dX's stride phases: 3,000 / 3,809 on the stride-2 layer.
    """
    vectors = min(blocks, 2)
    if forward and blocks >= 4 and context.machine.accumulators // 4 >= WIDE_TILE_POSITIONS:
        vectors = 4
    most = max(1, context.machine.accumulators // vectors)
    count = min(positions, most, MAX_POSITIONS)
    tiles = -(-positions // count)
    return vectors, -(-positions // tiles)  # even tiles: 28 positions as 10, 10, 8


# ----- dL/dF --------------------------------------------------------------------------------
class WeightGradient:
    """gw[m, c, t] = Σ_n Σ_j gy[n, m, j]·x[n, c, s·j + d·t − lo], vectors over m.

    ∂L/∂O is copied once per call with a block's L output channels side by side
    (gy_blocks[n, g, block, j, lane]), so one vector load holds L channels at one output
    position.  A tile of V blocks × input channels × taps accumulates in registers: per
    output position, V vector loads and one broadcast per (channel, tap) feed them all.
    Tasks split the groups, block groups, channel tiles and tap chunks, and the images
    into chunks when that leaves the threads too few tasks; each image chunk writes its
    own partial sums, added up at the end.
    """

    def __init__(self, context: LoweringContext) -> None:
        self.context, self.spec = context, context.spec
        spec, machine = self.spec, context.machine
        self.wide, self.deep = spec.out_channels_per_group, spec.in_channels_per_group
        self.lanes = vector_lanes(self.wide, spec.dtype, context)
        self.blocks = -(-self.wide // self.lanes)
        self.tap_list = list(product(*(range(k) for k in spec.kernel_size)))
        self.taps = len(self.tap_list)
        self.vectors = min(self.blocks, 2)
        room = max(1, machine.accumulators // self.vectors)
        chunks = -(-self.taps // room)
        self.tap_tile = -(-self.taps // chunks)  # even chunks: 25 taps as 13 + 12
        self.channel_tile = largest_divisor(self.deep, max(1, room // self.tap_tile))
        self.chunks = self.batch_chunks()

    def block_groups(self) -> list[tuple[int, int, tuple[int, ...]]]:
        """(first block, how many groups, lanes per block): full groups of V, then the rest."""
        whole_blocks, partial = divmod(self.wide, self.lanes)
        found = []
        groups = whole_blocks // self.vectors
        if groups:
            found.append((0, groups, (self.lanes,) * self.vectors))
        left = whole_blocks - groups * self.vectors
        counts = (self.lanes,) * left + ((partial,) if partial else ())
        if counts:
            found.append((groups * self.vectors, 1, counts))
        return found

    def tap_chunks(self) -> list[list[tuple[int, ...]]]:
        return [self.tap_list[i : i + self.tap_tile] for i in range(0, self.taps, self.tap_tile)]

    def tasks(self) -> int:
        groups = sum(count for _, count, _ in self.block_groups())
        return self.spec.groups * groups * (self.deep // self.channel_tile) * len(self.tap_chunks())

    def batch_chunks(self) -> int:
        """`cache_sized_chunks` of the ∂L/∂O blocks a task reads: one chunk of 16 images, 2 MB,
        read the 1-D 32-channel layer's ∂L/∂O once per input channel from the shared cache
        (863 µs, against 761 in chunks of 4)."""
        return cache_sized_chunks(self.context, self.tasks(), self.image_gradient_bytes())

    def image_gradient_bytes(self) -> int:
        """Bytes of the ∂L/∂O blocks one task reads per image: V blocks of every position."""
        positions = math.prod(self.spec.output_size)
        size = 4 if self.spec.dtype == "float32" else 8
        return self.vectors * positions * self.lanes * size

    def build(self) -> LoopNest:
        spec, shapes = self.spec, self.context.shapes
        params = tuple(Operand(p, shapes[p]) for p in self.context.order if p in ("x", "gy"))
        positions = math.prod(spec.output_size)
        gradient = Operand(
            GRADIENT, (spec.batch, spec.groups, self.blocks, positions, self.lanes), zeroed=True
        )
        scratch = [gradient]
        target = "gw"
        if self.chunks > 1:
            scratch.append(Operand(PARTIAL, (self.chunks, *shapes["gw"])))
            target = PARTIAL
        staged = padded_input(spec, shapes)  # x, zero-bordered
        source = staged.name if staged is not None else "x"
        body: list[Stmt] = [self.block_gradient()]
        body += [self.accumulate(source, target, *group) for group in self.block_groups()]
        if self.chunks > 1:
            body.append(add_partials(self.spec, self.chunks, PARTIAL))
        flat = ("x", "gy", "gw", GRADIENT) + ((PARTIAL,) if self.chunks > 1 else ())
        if staged is not None:
            flat += (staged.name,)
        return LoopNest(
            "grad_weight",
            params,
            Operand("gw", shapes["gw"]),
            tuple(body),
            staged=(staged,) if staged is not None else (),
            scratch=tuple(scratch),
            parallel=self.context.threaded,
            flat=flat,
            lanes=self.lanes,
            notes=(
                f"simd dL/dF: tiles of {self.vectors} vectors of {self.lanes} output channels × "
                f"{self.channel_tile} input channels × {self.tap_tile} taps",
                *(
                    (f"batch split into {self.chunks} chunks with private partial sums",)
                    if self.chunks > 1
                    else ()
                ),  # fmt: skip
            ),
        )

    def block_gradient(self) -> Stmt:
        """gy_blocks[n, g, b, j, l] = gy[n, g·M + b·L + l, j] (the lanes past M stay 0).

        A whole block is a transpose: L vectors of L positions, one per channel, stored as
        L vectors of L channels, one per position (`VecStoreRows` with rows a lane apart,
        transposed in registers): 36 µs for 8 × 64 channels × 784 positions on one thread,
        87 element by element.  A partial block goes element by element.
        """
        spec, lanes = self.spec, self.lanes
        n, g, b = symbol("bn"), symbol("bg"), symbol("bb")
        whole, partial = divmod(self.wide, lanes)
        body: list[Stmt] = []
        if whole:
            body.append(For(g, spec.groups, (For(b, whole, tuple(self.transposes(n, g, b))),)))
        if partial:
            body.append(For(g, spec.groups, self.element_copy(n, g, sp.Integer(whole))))
        return For(n, spec.batch, tuple(body), parallel=True)

    def transposes(self, n: sp.Symbol, g: sp.Symbol, b: sp.Expr) -> list[Stmt]:
        """Block b's channels, L positions at a time: L loads, one transposing store."""
        spec, lanes = self.spec, self.lanes
        positions = math.prod(spec.output_size)
        zeros = (0,) * (spec.rank - 1)
        q = symbol("bq")

        def transpose(first: sp.Expr, count: int) -> tuple[Stmt, ...]:
            names = tuple(f"bv{lane}" for lane in range(lanes))
            rows = [Read("gy", (n, g * self.wide + b * lanes + lane, *zeros, first))
                    for lane in range(lanes)]  # fmt: skip
            loads = tuple(VecLoad(name, row, 0, count) for name, row in zip(names, rows))
            target = Read(GRADIENT, (n, g, b, first, 0))
            return (*loads, VecStoreRows(target, names, lanes, 1, count))

        whole, rest = divmod(positions, lanes)
        out: list[Stmt] = []
        if whole:
            out.append(For(q, whole, transpose(q * lanes, 0)))
        if rest:
            out += transpose(sp.Integer(whole * lanes), rest)
        return out

    def element_copy(self, n: sp.Symbol, g: sp.Symbol, b: sp.Expr) -> tuple[Stmt, ...]:
        """Block b element by element, its lanes past the channels left 0."""
        spec = self.spec
        lane = symbol("bl")
        outputs = tuple(symbol(f"bj{a}") for a in range(spec.rank))
        flat = row_major(outputs, spec.output_size)
        channel = b * self.lanes + lane
        store = (
            Init("bv", Read("gy", (n, g * self.wide + channel, *outputs))),
            Store(Read(GRADIENT, (n, g, b, flat, lane)), "bv"),
        )
        body: tuple[Stmt, ...] = (If((InRange(channel, self.wide),), store),)
        for var, extent in reversed([*zip(outputs, spec.output_size), (lane, self.lanes)]):
            body = (For(var, extent, body),)
        return body

    def accumulate(
        self, source: str, target: str, first: int, groups: int, lanes: tuple[int, ...]
    ) -> Stmt:
        """One parallel loop over (chunk, g, block group, channel tile, tap chunk) tasks."""
        spec = self.spec
        task = symbol("task")
        chunk, g, vb, cb, tc = (symbol(v) for v in ("wch", "wg", "wvb", "wcb", "wtc"))
        chunks = self.tap_chunks()
        sizes = [self.chunks, spec.groups, groups, self.deep // self.channel_tile, len(chunks)]
        lets = unflatten(task, [chunk, g, vb, cb, tc], sizes)
        block = first + len(lanes) * vb
        body: list[Stmt] = []
        for number, taps in enumerate(chunks):
            tile = tuple(self.tile(source, target, chunk, g, block, cb, taps, lanes))
            body.append(If((InRange(tc - number, 1),), tile) if len(chunks) > 1 else tile)
        flat_body: list[Stmt] = []
        for item in body:
            flat_body += list(item) if isinstance(item, tuple) else [item]
        return For(task, math.prod(sizes), (*lets, *flat_body), parallel=True)

    def tile(self, source, target, chunk, g, block, cb, taps, lanes) -> list[Stmt]:  # fmt: skip
        spec = self.spec
        axes = spec.window_axes
        vectors = len(lanes)
        names = {
            (v, c, t): f"wa{v}_{c}_{t}"
            for v in range(vectors)
            for c in range(self.channel_tile)
            for t in range(len(taps))
        }
        out: list[Stmt] = [VecZero(name) for name in names.values()]
        each = spec.batch // self.chunks
        image, n = symbol("wi"), symbol("wn")
        outputs = [symbol(f"wj{a}") for a in range(spec.rank)]
        flat = row_major(outputs, spec.output_size)
        inner: list[Stmt] = [
            VecLoad(f"vg{v}", Read(GRADIENT, (n, g, block + v, flat, 0))) for v in range(vectors)
        ]
        for c in range(self.channel_tile):
            channel = g * self.deep + cb * self.channel_tile + c
            for t, tap in enumerate(taps):
                position = [a.stride * j + a.dilation * k for a, j, k in zip(axes, outputs, tap)]
                inner.append(VecBroadcast("vx", Read(source, (n, channel, *position))))
                inner += [VecFma(names[v, c, t], f"vg{v}", "vx") for v in range(vectors)]
        loop: tuple[Stmt, ...] = tuple(inner)
        for j, o in reversed(list(zip(outputs, spec.output_size))):
            loop = (For(j, o, loop),)
        out.append(For(image, each, (Let(n, chunk * each + image), *loop)))
        # lane l of acc[v, c, t] is the gradient of output channel (block + v)·L + l, a row
        # of the weight (C_in/G · taps elements) from the next one
        stride = self.deep * self.taps
        prefix = (chunk,) if target == PARTIAL else ()
        for (v, c, t), name in names.items():
            channel = g * self.wide + (block + v) * self.lanes
            tap = applied_taps(spec, taps[t])
            place = Read(target, (*prefix, channel, cb * self.channel_tile + c, *tap))
            out.append(VecStore(place, name, stride, lanes[v]))
        return out


def add_partials(spec: object, chunks: int, partial: str) -> Stmt:
    """gw[m, c, t] = Σ_chunk partial[chunk, m, c, t]: the per-chunk dL/dF sums in the buffer
    named `partial` added up, parallel over output channels (simd's and positions' dL/dF)."""
    m, c = symbol("sm"), symbol("sc")
    taps = tuple(symbol(f"st{a}") for a in range(spec.rank))
    chunk = symbol("sch")
    update = Accumulate("sv", (Read(partial, (chunk, m, c, *taps)),))
    body: tuple[Stmt, ...] = (
        Init("sv"),
        For(chunk, chunks, (update,)),
        Store(Read("gw", (m, c, *taps)), "sv"),
    )
    for var, extent in reversed([(c, spec.in_channels_per_group), *zip(taps, spec.kernel_size)]):
        body = (For(var, extent, body),)
    return For(m, spec.out_channels, body, parallel=True)


def row_major(indices, sizes) -> sp.Expr:
    flat: sp.Expr = sp.S.Zero
    for j, o in zip(indices, sizes):
        flat = flat * o + j
    return flat
