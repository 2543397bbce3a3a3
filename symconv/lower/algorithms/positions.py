"""Explicit vectors along output positions: layers with few channels per group.

`simd` fills its vectors with output channels; a layer with one input channel (the
first layer of an MNIST network), or one channel per group (depthwise), has too few
terms per output to pay for that layout's lane-by-lane stores.  Here a vector holds
L neighbouring positions of one row instead, loaded and stored contiguously, and the
weight is the broadcast scalar:

    phased[n, c, rows, φ, j] = the padded source at column S·j + φ   (copied once per call)
    for (n, g, tile of C result channels, tile of H rows), in threads:
        for each tile of V vectors along the row:
            acc[c][h][v] = bias, or 0
            for d in the reduction channels: for tap:
                xv[h][v] = phased[n, d, row h + Dl·tap, φ(tap), j + v·L + off(tap)]   H·V loads
                for c: wv = broadcast(weight[c, d, tap]); acc[c][h][v] += wv · xv[h][v]
            result[n, c, row h, positions of v] = acc[c][h][v]                 contiguous

A strided layer would read every S-th column; the copy splits the last axis into its S
phases, so column S·o + Dl·t is phase (Dl·t) mod S at o + ⌊Dl·t / S⌋: contiguous in o
(each phase of a source row filled by strided vector loads).  dL/dX at stride 1 is the
same correlation over ∂L/∂O padded (the rotated filter, channel roles swapped); at a
larger stride it goes one stride phase of the input at a time (`PhaseGradient`): each
phase reads only the taps that meet a real output, and the phases of a row are woven
together on the store, so no product touches a zero the stride would insert.  dL/dF
accumulates vectors of ∂L/∂O · X over the positions of a row and sums their lanes once
per tile (X read in place, every S-th column, when a row's vectors are all written out):

    acc[m][t] += gy[n, m, row, j + v·L] · phased[n, c, row + Dl·t, φ(t), j + v·L + off(t)]

where the row's partial last vector of ∂L/∂O is a masked load (its lanes past the row
are 0, and never read).  The tile is the algorithm's parameter: ``positions:CxHxV``.
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
    splits,
    work,
)
from symconv.lower.algorithms.simd import (
    add_partials,
    applied_taps,
    gradient_frame,
    phase_taps,
    staged_copy,
    tap_choice,
    unflatten,
)
from symconv.lower.ir import (
    For,
    If,
    Let,
    LoopNest,
    Operand,
    Read,
    StagedAxis,
    Stmt,
    Store,
    VecBroadcast,
    VecFma,
    VecLoad,
    VecStore,
    VecStoreInterleaved,
    VecTotal,
    VecZero,
)
from symconv.lower.passes import LoweringContext
from symconv.lower.passes.simplify import static_value
from symconv.symbolic.indices import InRange, index_symbol

NAME = "positions"
KERNELS = ("forward", "grad_input", "grad_weight")
#: The most vectors a tile holds along a row.
MAX_VECTORS = 4
# Buffer names the nest makes (never from user input).
PHASED, PARTIAL = "phased", "partial_taps"


def symbol(name: str) -> sp.Symbol:
    return index_symbol(name)


def parse_tile(text: str) -> tuple[int, int, int] | None:
    """(C, H, V) from "CxHxV", each at least 1, or None when it is not one."""
    parts = text.split("x")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    tile = tuple(int(p) for p in parts)
    return tile if min(tile) >= 1 and tile[2] <= MAX_VECTORS else None  # type: ignore[return-value]


def lanes_for(positions: int, dtype: str, context: LoweringContext) -> int:
    """The narrowest vector (at least 4 float32 or 2 float64 lanes) holding a row, at most
    the machine's: an 8-wide row fills 8 lanes instead of half of 16."""
    widest = context.machine.lanes(dtype)
    lanes = 4 if dtype == "float32" else 2
    while lanes < positions and lanes < widest:
        lanes *= 2
    return min(lanes, widest)


class Positions(Algorithm):
    """Vectors along the last axis: forward, dL/dX and dL/dF; `tile` (C, H, V) or None."""

    def __init__(self, tile: tuple[int, int, int] | None = None) -> None:
        self.tile = tile
        self.name = NAME if tile is None else f"{NAME}:{tile[0]}x{tile[1]}x{tile[2]}"

    def applies(self, context: LoweringContext) -> bool:
        spec, machine = context.spec, context.machine
        if not shared_filter_convolution(context) or context.formula.name not in KERNELS:
            return False
        if machine.lanes(spec.dtype) < 2:
            return False
        if self.tile is not None:
            if (
                context.formula.name == "grad_weight"
                or math.prod(self.tile) > 2 * machine.accumulators
            ):
                return False
        return True

    def why_not(self, context: LoweringContext) -> str:
        if self.tile is not None and context.formula.name == "grad_weight":
            return "dL/dF tiles output channels × taps by itself: give plain positions"
        if self.tile is not None and math.prod(self.tile) > 2 * context.machine.accumulators:
            return f"a {'×'.join(map(str, self.tile))} tile would spill the registers"
        return ""

    def preferred(self, context: LoweringContext) -> bool:
        """Measured against `simd` and the rest, fp32, 2 threads, interleaved medians in µs
        (positions / the best other):

        - forward, where a vector of output channels would be part empty or each output
          gathers few terms (`few_terms`): LeNet conv1 84 / 112, MNIST 206 / 347, ResNeXt's
          groups of 8 channels 317 / 628; or at stride 1 with rows of a vector or more and
          more than one tap: 3-D 16 → 32 channels 368 / 680, a 1-D 32-channel layer 768 /
          897.  Not LeNet conv2 (8-wide rows: 146 / simd 87), nor strided layers (a 1-D
          stride-3 layer 418 / 339), nor 1×1 layers (800 / simd 599);
        - dL/dX at stride 1 (LeNet conv2 166 / 367, 3-D 351 / 761, MNIST 374 / 739); at a
          larger stride, phase by phase (`PhaseGradient`), where `simd`'s vectors of input
          channels would be less than a quarter full (of float32's: the stem's float64
          too, 915 / simd 1,939): a 7×7 stride-2 stem on 3 channels 498 / unfold 1,613
          (PyTorch 2,335), depthwise stride 2 307 / PyTorch 397; not 64 → 128 channels at
          stride 2 (4,318 / simd 3,708);
        - dL/dF where `few_terms` holds (MNIST 202 / simd 246, depthwise 543 / 1,043, LeNet
          conv1 80 / 133, 2 → 4 channels dilated 55 / 155); not LeNet conv2 (151 / simd 103),
          the 3-D layer (467 / 413) nor the 1-D 32-channel layer (1,086 / simd 883, 1,105 /
          881; float64 2,312 / 1,699), which positions took while simd's dL/dF copied ∂L/∂O
          element by element (1,269 / 1,444 then).
        """
        spec, name = context.spec, context.formula.name
        if self.tile is not None or work(context.formula) < context.machine.rows_min_work:
            return False
        lanes = context.machine.lanes(spec.dtype)
        stride_one = all(s == 1 for s in spec.stride)
        taps = math.prod(spec.kernel_size)
        if name == "grad_input":
            quarter = context.machine.lanes("float32") // 4  # 4 with AVX-512, either dtype
            return stride_one or spec.in_channels_per_group < quarter
        rows = spec.output_size[-1]
        if name == "forward":
            return few_terms(context) or (stride_one and rows >= lanes and taps > 1)
        return few_terms(context)

    def variants(self, context: LoweringContext) -> tuple[Algorithm, ...]:
        """The default tile, 1×1×1 (every remainder path at once) and 2×1×2 where they differ."""
        if self.tile is not None or not self.applies(context):
            return super().variants(context)
        if context.formula.name == "grad_weight":
            return (self,)
        found = [self] + [Positions(t) for t in ((1, 1, 1), (2, 1, 2))]
        return tuple(a for a in found if a.applies(context))

    def tunings(self, context: LoweringContext) -> tuple[Algorithm, ...]:
        """Half and twice the default tile's channels, the rows filling the accumulators,
        and one row of the default channels (forward and dL/dX)."""
        if self.tile is not None or context.formula.name == "grad_weight":
            return ()
        problem = Problem.of(context)
        phased = split_by_phase(context)
        tiles = PhaseGradient(context, None) if phased else Correlate(context, problem, None)
        channels, height, vectors = tiles.tile
        room = context.machine.accumulators // (len(tiles.last) if phased else 1)
        rows = problem.counts[-2] if problem.rank > 1 else 1
        found = set()
        for c in {max(1, channels // 2), min(problem.wide, 2 * channels)}:
            h = max(1, min(rows, room // (c * vectors)))
            if c * h * vectors <= room:
                found.add((c, h, vectors))
        found.add((channels, 1, vectors))
        found.discard(tiles.tile)
        return tuple(Positions(t) for t in sorted(found) if Positions(t).applies(context))

    def build(self, context: LoweringContext) -> LoopNest:
        problem = Problem.of(context)
        if context.formula.name == "grad_weight":
            return WeightGradient(context, problem).build()
        if split_by_phase(context):
            return PhaseGradient(context, self.tile).build()
        return Correlate(context, problem, self.tile).build()


def split_by_phase(context: LoweringContext) -> bool:
    """dL/dX of a strided layer goes phase by phase (`PhaseGradient`), not over the zeros
    the stride would insert into ∂L/∂O."""
    return context.formula.name == "grad_input" and any(s > 1 for s in context.spec.stride)


def weight_tile(channels: int, taps: int, room: int) -> tuple[int, int]:
    """(M_t output channels, T taps) of a dL/dF tile: M_t divides the channels, the taps
    split evenly, and the most FMAs per load (M_t·T / (M_t + T)), then the most taps.

    The tile holds M_t·T accumulators and the M_t vectors of ∂L/∂O the taps share, plus
    one of X: all of it must stay in the registers (`room` accumulators leave a third
    more for loads: 32 with AVX-512).  32 channels × 3 taps: 4 × 3, not 8 × 3, whose
    24 accumulators and 8 loads spilled 50 times in the inner loop.
    """
    registers = room + room // 3
    best = (0.0, 0, 1, 1)
    for m in range(1, min(channels, room) + 1):
        if channels % m:
            continue
        per_chunk = max(1, min(room // m, (registers - 2 - m) // m))
        t = -(-taps // -(-taps // per_chunk))
        if m * t > room or m * t + m + 2 > registers:
            continue
        best = max(best, (m * t / (m + t), t, m, t))
    return best[2], best[3]


def few_terms(context: LoweringContext) -> bool:
    """True when `simd`'s vectors of output channels would be part empty (fewer output
    channels per group than lanes) or each output gathers fewer than 16 terms (input
    channels per group × taps): its lane-by-lane stores then cost more than its FMAs."""
    spec = context.spec
    lanes = context.machine.lanes(spec.dtype)
    terms = spec.in_channels_per_group * math.prod(spec.kernel_size)
    return spec.out_channels_per_group < lanes or terms < 16


POSITIONS = Positions()


# ----- the correlation every kernel is ----------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """result[n, g·R + r, o] = Σ_{d<D} Σ_t weight(g, r, d, t) · padded[n, g·D + d, S·o + Dl·t].

    `padded` is `source` with each element i of an axis landing at step·i + before (the
    stride's inserted zeros for dL/dX) in a frame of `extent` positions per axis.
    """

    source: Operand
    result: str
    wide: int  # R: result channels per group
    deep: int  # D: reduced channels per group
    counts: tuple[int, ...]  # O: result positions per axis
    strides: tuple[int, ...]  # S
    dilations: tuple[int, ...]  # Dl
    kernel: tuple[int, ...]
    landing: tuple[tuple[int, int], ...]  # (before, step) per axis
    weight: Callable[[sp.Expr, sp.Expr, sp.Expr, tuple[sp.Expr, ...]], Read]

    @staticmethod
    def of(context: LoweringContext) -> Problem:
        spec, shapes, name = context.spec, context.shapes, context.formula.name
        axes = spec.window_axes
        if name == "grad_input":
            wide, deep = spec.in_channels_per_group, spec.out_channels_per_group

            def rotated(g, r, d, taps):  # w[g·D + d, r, K − 1 − t]: the filter turned 180°
                turned = tuple(k - 1 - t for k, t in zip(spec.kernel_size, taps))
                return Read("w", (g * deep + d, r, *applied_taps(spec, turned)))

            return Problem(
                Operand("gy", shapes["gy"]), "gx", wide, deep, spec.input_size,
                (1,) * spec.rank, spec.dilation, spec.kernel_size,
                tuple((a.dilation * (a.kernel - 1) - a.lo, a.stride) for a in axes),
                rotated,
            )  # fmt: skip
        wide, deep = spec.out_channels_per_group, spec.in_channels_per_group

        def forward(g, r, d, taps):
            return Read("w", (g * wide + r, d, *applied_taps(spec, taps)))

        return Problem(
            Operand("x", shapes["x"]), "y", wide, deep, spec.output_size, spec.stride,
            spec.dilation, spec.kernel_size, tuple((a.lo, 1) for a in axes), forward,
        )  # fmt: skip

    @property
    def rank(self) -> int:
        return len(self.counts)

    def extent(self, axis: int) -> int:
        """Positions of the padded frame the windows reach along `axis`."""
        return (
            (self.counts[axis] - 1) * self.strides[axis]
            + (self.kernel[axis] - 1) * self.dilations[axis]
            + 1
        )

    def phase_groups(self) -> list[tuple[int, list[tuple[int, int]]]]:
        """(phase, [(tap, offset)...]) of the last axis: column S·o + Dl·t is phase
        (Dl·t) mod S at o + ⌊Dl·t / S⌋; each phase's taps step evenly, as do their offsets."""
        s, dl = self.strides[-1], self.dilations[-1]
        found: dict[int, list[tuple[int, int]]] = {}
        for t in range(self.kernel[-1]):
            found.setdefault(dl * t % s, []).append((t, dl * t // s))
        return sorted(found.items())


@dataclass(frozen=True)
class Phased:
    """The phase-split copy: shape (N, channels, lead frame extents..., S, J)."""

    operand: Operand
    problem: Problem
    lanes: int

    @staticmethod
    def of(problem: Problem, vectors_per_row: int, lanes: int) -> Phased:
        n, channels = problem.source.shape[:2]
        lead = tuple(problem.extent(a) for a in range(problem.rank - 1))
        widest = max(off for _, taps in problem.phase_groups() for _, off in taps)
        row = vectors_per_row * lanes + widest
        shape = (n, channels, *lead, problem.strides[-1], row)
        return Phased(Operand(PHASED, shape, zeroed=True), problem, lanes)

    def image_bytes(self, dtype: str) -> int:
        """Bytes of one image's part of the copy."""
        return math.prod(self.operand.shape[1:]) * (4 if dtype == "float32" else 8)

    def fill(self, image: sp.Symbol | None = None) -> Stmt:
        """Every source element to its place in the copy, the padding left zero.

        Per row of the source, each stride phase of the last axis takes every S-th element
        of the row: a strided vector load (contiguous loads and a shuffle) per L of them,
        stored contiguously into the phase's row.  Element by element, the scatter cost
        as much as the depthwise stride-2 layer's whole dL/dF (187 of 300 µs).

        `image` given: only that image's channels, in a serial loop (the caller's
        parallel loop over images runs it); else every image, in parallel.
        """
        problem = self.problem
        n, c, task, vector = image or symbol("fn"), symbol("fc"), symbol("ftask"), symbol("fv")
        source = problem.source
        batch, channels = source.shape[:2]
        lead = [symbol(f"fi{a}") for a in range(problem.rank - 1)]
        *lead_landing, (before, _) = problem.landing  # the last axis lands with step 1
        rows = [st * i + b for i, (b, st) in zip(lead, lead_landing)]
        guards = [InRange(r, problem.extent(a)) for a, r in enumerate(rows)]
        extents = dict(zip(lead, source.shape[2:-1]))
        needed = tuple(g for g in guards if static_value(g, extents) is not True)
        width, stride, lanes = source.shape[-1], problem.strides[-1], self.lanes
        copies: list[Stmt] = []
        for phase in range(stride):
            # copy position j of this phase holds source column S·j + phase − before
            first = max(0, -((phase - before) // stride))
            count = min(self.operand.shape[-1] - 1, (width - 1 + before - phase) // stride)
            count -= first - 1
            if count <= 0:
                continue
            full, rest = divmod(count, lanes)

            def copy(j: sp.Expr, stop: int, phase: int = phase) -> tuple[Stmt, ...]:
                column = stride * j + phase - before
                load = Read(source.name, (n, c, *lead, column))
                return (
                    VecLoad("fx", load, stop=stop, step=stride),
                    VecStore(self.read(n, c, rows, phase, j), "fx", 1, stop),
                )

            if full:
                copies.append(For(vector, full, copy(first + lanes * vector, 0)))
            if rest:
                copies += copy(sp.Integer(first + lanes * full), rest)
        body: tuple[Stmt, ...] = (If(needed, tuple(copies)),) if needed else tuple(copies)
        for var, extent in reversed(list(zip(lead, source.shape[2:-1]))):
            body = (For(var, extent, body),)
        if image is not None:
            return For(c, channels, body)
        lets = unflatten(task, [n, c], [batch, channels])
        return For(task, batch * channels, (*lets, *body), parallel=True)

    def read(self, n, channel, rows, phase: int, column: sp.Expr) -> Read:
        return Read(PHASED, (n, channel, *rows, phase, column))


# ----- forward and dL/dX ---------------------------------------------------------------------
class Correlate:
    """Tiles of C result channels × H rows × V vectors of positions (module docstring)."""

    def __init__(
        self, context: LoweringContext, problem: Problem, tile: tuple[int, int, int] | None
    ) -> None:
        self.context, self.spec, self.problem = context, context.spec, problem
        last = problem.counts[-1]
        self.lanes = lanes_for(last, self.spec.dtype, context)
        self.row_vectors = -(-last // self.lanes)
        self.tile = tile or self.default_tile()
        self.phased = Phased.of(problem, self.row_vectors, self.lanes)
        self.n, self.g = symbol("n"), symbol("g")

    def default_tile(self) -> tuple[int, int, int]:
        """V: the whole row up to `MAX_VECTORS`; C: the channels up to the accumulators; H:
        rows to fill what is left (a depthwise tile of 1 channel stacks rows instead)."""
        room = self.context.machine.accumulators
        vectors = min(self.row_vectors, MAX_VECTORS)
        vectors = -(-self.row_vectors // -(-self.row_vectors // vectors))  # even tiles
        channels = max(1, min(self.problem.wide, room // vectors))
        rows = self.problem.counts[-2] if self.problem.rank > 1 else 1
        height = max(1, min(rows, room // (vectors * channels)))
        return channels, height, vectors

    def build(self) -> LoopNest:
        spec, shapes, problem = self.spec, self.context.shapes, self.problem
        forward = problem.result == "y"
        params = correlation_operands(self.context, forward)
        bias = forward and spec.bias
        if self.by_image():
            image = (self.phased.fill(self.n), *self.tiles(bias, by_image=True))
            body: list[Stmt] = [For(self.n, spec.batch, image, parallel=True)]
        else:
            body = [self.phased.fill(), *self.tiles(bias)]
        flat = (*(p.name for p in params), problem.result, PHASED)
        channels, height, vectors = self.tile
        return LoopNest(
            self.context.formula.name,
            params,
            Operand(problem.result, shapes[problem.result]),
            tuple(body),
            scratch=(self.phased.operand,),
            parallel=self.context.threaded,
            flat=flat,
            lanes=self.lanes,
            notes=(
                f"positions: tiles of {channels} channels × {height} rows × {vectors} vectors "
                f"of {self.lanes} positions, a {problem.strides[-1]}-phase copy of the source",
            ),
        )

    def by_image(self) -> bool:
        """Copy and correlate one image at a time, in one parallel loop over images.

        The copy of a whole batch outgrows the caches (mnist_32ch's dL/dX in float64:
        16.7 MB), so the correlation read back from memory what the copy had just
        written.  One image's part (261 KB there) is still in the core's cache when its
        tiles read it.  It needs images enough to share among the threads.
        """
        machine = self.context.machine
        return (
            self.spec.batch >= machine.image_chunks
            and self.phased.image_bytes(self.spec.dtype) <= machine.task_cache_bytes
        )

    def tiles(self, bias: bool, by_image: bool = False) -> list[Stmt]:
        """One parallel loop per (channel tile size, row tile size): tasks over images,
        groups, channel tiles, lead positions and row tiles (`by_image`: a serial loop
        over all but the images, for the caller's parallel loop over them)."""
        problem, spec = self.problem, self.spec
        channels, height, _ = self.tile
        rows = problem.counts[-2] if problem.rank > 1 else 1
        out: list[Stmt] = []
        for c_first, c_count, c_size in splits(problem.wide, channels):
            for h_first, h_count, h_size in splits(rows, height):
                task = symbol("task")
                outer = list(problem.counts[:-2]) if problem.rank > 2 else []
                sizes = [spec.batch, spec.groups, c_count, *outer, h_count]
                leads = [symbol(f"q{a}") for a in range(len(outer))]
                names = [self.n, self.g, symbol("ct"), *leads, symbol("ht")]
                channel0 = c_first + c_size * names[2]
                row0 = h_first + h_size * names[-1]
                lead = names[3:-1]
                if by_image:  # the caller's loop binds the image
                    names, sizes = names[1:], sizes[1:]
                lets = unflatten(task, names, sizes)
                body = self.along_row(channel0, c_size, lead, row0, h_size, bias)
                loop = (*lets, *body)
                out.append(For(task, math.prod(sizes), loop, parallel=not by_image))
        return out

    def along_row(self, channel0, c_size, lead, row0, h_size, bias) -> list[Stmt]:
        """The tiles of V vectors along the row: full ones in a loop, then the rest."""
        out: list[Stmt] = []
        q = symbol("vt")
        for count, first, size in self.row_tiles():
            start = first + size * q if count > 1 else sp.Integer(first)
            body = self.tile_body(channel0, c_size, lead, row0, h_size, start, size, bias)
            out += [For(q, count, tuple(body))] if count > 1 else body
        return out

    def row_tiles(self) -> list[tuple[int, int, int]]:
        """Tiles of V vectors, the looped ones never holding the row's last vector when it
        is partial (its store stops short)."""
        partial = self.problem.counts[-1] % self.lanes != 0
        return row_tiles(self.row_vectors, self.tile[2], partial)

    def tile_body(self, channel0, c_size, lead, row0, h_size, vector0, v_size, bias) -> list[Stmt]:
        problem, n, g, lanes = self.problem, self.n, self.g, self.lanes
        acc = {(c, h, v): f"pa{c}_{h}_{v}" for c in range(c_size) for h in range(h_size)
               for v in range(v_size)}  # fmt: skip
        body: list[Stmt] = []
        for (c, _, _), name in acc.items():
            if bias:
                body.append(VecBroadcast(name, Read("b", (g * problem.wide + channel0 + c,))))
            else:
                body.append(VecZero(name))
        d = symbol("rd")
        taps = [symbol(f"rt{a}") for a in range(problem.rank)]
        reduction: list[Stmt] = []
        for phase, group in problem.phase_groups():
            inner = self.one_tap(d, channel0, c_size, lead, row0, h_size, vector0, v_size,
                                 taps, phase, group, acc)  # fmt: skip
            loop: tuple[Stmt, ...] = tuple(inner)
            loop = (For(taps[-1], len(group), loop, opaque=len(group) > 1),)
            reduction += list(loop)
        block: tuple[Stmt, ...] = tuple(reduction)
        for a in reversed(range(problem.rank - 1)):
            block = (For(taps[a], problem.kernel[a], block, opaque=problem.kernel[a] > 1),)
        body.append(For(d, problem.deep, block))
        last = problem.counts[-1]
        for (c, h, v), name in acc.items():
            position = (*lead, row0 + h) if problem.rank > 1 else ()
            column = (vector0 + v) * lanes
            target = Read(problem.result, (n, g * problem.wide + channel0 + c, *position, column))
            count = self.tail_count(vector0, v, last)
            body.append(VecStore(target, name, 1, count))
        return body

    def tail_count(self, vector0: sp.Expr, v: int, last: int) -> int:
        """Lanes to store of vector v of a tile starting at vector0: all but past the row."""
        if not sp.sympify(vector0).is_Integer:
            return 0  # looped tiles never hold the row's partial last vector (`row_tiles`)
        used = last - (int(vector0) + v) * self.lanes
        return 0 if used >= self.lanes else used

    def one_tap(self, d, channel0, c_size, lead, row0, h_size, vector0, v_size, taps, phase,
                group, acc) -> list[Stmt]:  # fmt: skip
        """One tap: H·V vector loads of the copy, C broadcast weights, C·H·V FMAs."""
        problem, n, g, lanes = self.problem, self.n, self.g, self.lanes
        (t0, o0) = group[0]
        t_step, o_step = (group[1][0] - t0, group[1][1] - o0) if len(group) > 1 else (0, 0)
        t_last = t0 + t_step * taps[-1]
        offset = o0 + o_step * taps[-1]
        lead_taps = taps[:-1]
        tap = (*lead_taps, t_last)
        channel = g * problem.deep + d
        out: list[Stmt] = []
        loads = {}
        for h in range(h_size):
            rows = []
            if problem.rank > 1:
                position = (*lead, row0 + h)
                rows = [problem.strides[a] * p + problem.dilations[a] * t
                        for a, (p, t) in enumerate(zip(position, lead_taps))]  # fmt: skip
            for v in range(v_size):
                name = f"px{h}_{v}"
                column = (vector0 + v) * lanes + offset
                out.append(VecLoad(name, self.phased.read(n, channel, rows, phase, column)))
                loads[h, v] = name
        for c in range(c_size):
            out.append(VecBroadcast("pw", problem.weight(g, channel0 + c, d, tap)))
            for h in range(h_size):
                for v in range(v_size):
                    out.append(VecFma(acc[c, h, v], "pw", loads[h, v]))
        return out


# ----- dL/dF -----------------------------------------------------------------------------------
class WeightGradient:
    """gw[g·M + m, c, t] = Σ_n Σ_o gy[n, g·M + m, o] · phased(x)[n, g·C + c, S·o + Dl·t].

    A tile of M_t output channels × T taps of one input channel accumulates vectors over
    the positions of each row (M_t + T loads feed M_t·T FMAs), then sums its lanes.  The T
    taps lie along the last axis; the taps of the leading axes are task indices, so the
    code of a tile is written once per chunk of the last axis, not once per tap: a 5×5
    kernel's dL/dF compiled in 6.6 s with every tap written out, in 1.7 s so.  Tasks split
    groups, channel tiles, input channels, leading taps and tap chunks, and the images
    into chunks with partial sums when that leaves the threads too few tasks.
    """

    def __init__(self, context: LoweringContext, problem: Problem) -> None:
        self.context, self.spec, self.problem = context, context.spec, problem
        spec, machine = self.spec, context.machine
        last = problem.counts[-1]
        self.lanes = lanes_for(last, spec.dtype, context)
        self.row_vectors = -(-last // self.lanes)
        self.phased = Phased.of(problem, self.row_vectors, self.lanes)
        #: X read in place, the padding and the rows' ends masked off, when every vector
        #: of a row is written out (its lanes then known); at a stride, every S-th element
        #: (`VecLoad`'s step): the copy would cost as much as a depthwise layer's whole
        #: gradient.
        self.in_place = all(c == 1 for c, _, _ in self.row_parts())
        last_taps = spec.kernel_size[-1]
        self.channel_tile, self.tap_tile = weight_tile(
            problem.wide, last_taps, machine.accumulators
        )
        self.lead_taps = [symbol(f"wk{a}") for a in range(problem.rank - 1)]
        self.chunks = self.batch_chunks()

    def tap_chunks(self) -> list[list[tuple[sp.Expr, ...]]]:
        """Taps of each tile: the leading axes' task indices, then T of the last axis."""
        size, last = self.tap_tile, self.spec.kernel_size[-1]
        return [
            [(*self.lead_taps, k) for k in range(first, min(first + size, last))]
            for first in range(0, last, size)
        ]

    def tasks(self) -> int:
        problem, spec = self.problem, self.spec
        return (spec.groups * (problem.wide // self.channel_tile) * problem.deep
                * math.prod(spec.kernel_size[:-1]) * len(self.tap_chunks()))  # fmt: skip

    def batch_chunks(self) -> int:
        """`cache_sized_chunks` of what a task reads per image: its channels of ∂L/∂O and one
        channel of X (the tasks that share ∂L/∂O, the leading axes' taps, run in a row)."""
        size = 4 if self.spec.dtype == "float32" else 8
        image = (self.channel_tile + 1) * math.prod(self.problem.counts) * size
        return cache_sized_chunks(self.context, self.tasks(), image)

    def row_parts(self) -> list[tuple[int, int, int]]:
        """(how many vectors, the first, lanes of each: 0 for all) along a row of ∂L/∂O:
        a few whole vectors one by one, more in a loop, then the row's partial last one
        (a masked load: the lanes past the row are 0, and never read)."""
        last = self.problem.counts[-1]
        full, rest = divmod(last, self.lanes)
        parts = [(1, v, 0) for v in range(full)] if full <= MAX_VECTORS else [(full, 0, 0)]
        if rest:
            parts.append((1, full, rest))
        return parts

    def build(self) -> LoopNest:
        shapes = self.context.shapes
        params = tuple(Operand(p, shapes[p]) for p in self.context.order if p in ("x", "gy"))
        scratch = [] if self.in_place else [self.phased.operand]
        target = "gw"
        if self.chunks > 1:
            scratch.append(Operand(PARTIAL, (self.chunks, *shapes["gw"])))
            target = PARTIAL
        body: list[Stmt] = [] if self.in_place else [self.phased.fill()]
        body.append(self.accumulate(target))
        if self.chunks > 1:
            body.append(add_partials(self.spec, self.chunks, PARTIAL))
        flat = ("x", "gy", "gw") + ((PARTIAL,) if self.chunks > 1 else ())
        flat += () if self.in_place else (PHASED,)
        return LoopNest(
            "grad_weight",
            params,
            Operand("gw", shapes["gw"]),
            tuple(body),
            scratch=tuple(scratch),
            parallel=self.context.threaded,
            flat=flat,
            lanes=self.lanes,
            notes=(
                f"positions dL/dF: tiles of {self.channel_tile} output channels × "
                f"{self.tap_tile} taps, vectors of {self.lanes} positions summed once per tile",
                *(
                    (f"batch split into {self.chunks} chunks with private partial sums",)
                    if self.chunks > 1
                    else ()
                ),  # fmt: skip
            ),
        )

    def accumulate(self, target: str) -> Stmt:
        problem, spec = self.problem, self.spec
        task = symbol("task")
        chunk, g, mt, c, tc = (symbol(v) for v in ("wch", "wg", "wmt", "wc", "wtc"))
        chunks = self.tap_chunks()
        sizes = [
            self.chunks,
            spec.groups,
            problem.wide // self.channel_tile,
            problem.deep,
            *spec.kernel_size[:-1],
            len(chunks),
        ]
        lets = unflatten(task, [chunk, g, mt, c, *self.lead_taps, tc], sizes)
        body: list[Stmt] = []
        for number, taps in enumerate(chunks):
            tile = self.tile(target, chunk, g, mt, c, taps)
            body += [If((InRange(tc - number, 1),), tuple(tile))] if len(chunks) > 1 else tile
        return For(task, math.prod(sizes), (*lets, *body), parallel=True)

    def tile(self, target, chunk, g, mt, c, taps) -> list[Stmt]:
        problem, spec = self.problem, self.spec
        m_size = self.channel_tile
        acc = {(m, t): f"wa{m}_{t}" for m in range(m_size) for t in range(len(taps))}
        out: list[Stmt] = [VecZero(name) for name in acc.values()]
        each = spec.batch // self.chunks
        image, n, q = symbol("wi"), symbol("wn"), symbol("wq")
        outputs = [symbol(f"wj{a}") for a in range(problem.rank - 1)]
        row: list[Stmt] = []
        for count, first, used in self.row_parts():
            vector = first + q if count > 1 else sp.Integer(first)
            part = self.one_vector(n, g, mt, c, taps, outputs, vector, used, acc)
            row += [For(q, count, tuple(part))] if count > 1 else part
        loop: tuple[Stmt, ...] = tuple(row)
        for o, extent in reversed(list(zip(outputs, problem.counts[:-1]))):
            loop = (For(o, extent, loop),)
        out.append(For(image, each, (Let(n, chunk * each + image), *loop)))
        prefix = (chunk,) if target == PARTIAL else ()
        first_channel = g * problem.wide + mt * m_size
        for (m, t), name in acc.items():
            place = Read(target, (*prefix, first_channel + m, c, *applied_taps(spec, taps[t])))
            out += [VecTotal("ws", name), Store(place, "ws")]
        return out

    def one_vector(self, n, g, mt, c, taps, outputs, vector, used, acc) -> list[Stmt]:  # fmt: skip
        """One vector of positions: M_t loads of ∂L/∂O (masked to `used` lanes), T of X."""
        problem, lanes = self.problem, self.lanes
        m_size = self.channel_tile
        out: list[Stmt] = []
        for m in range(m_size):
            place = Read("gy", (n, g * problem.wide + mt * m_size + m, *outputs, vector * lanes))
            out.append(VecLoad(f"wg{m}", place, 0, used))
        channel = g * problem.deep + c
        for t, tap in enumerate(taps):
            load = self.x_in_place if self.in_place else self.x_phased
            found = load(n, channel, tap, outputs, vector, used)
            if found is None:  # every lane in the padding
                continue
            statements = [found, *(VecFma(acc[m, t], f"wg{m}", "wx") for m in range(m_size))]
            guards = self.row_guards(tap, outputs) if self.in_place else ()
            out += [If(guards, tuple(statements))] if guards else statements
        return out

    def x_phased(self, n, channel, tap, outputs, vector, used) -> VecLoad:
        problem = self.problem
        s, dl = problem.strides[-1], problem.dilations[-1]
        rows = [problem.strides[a] * o + problem.dilations[a] * k
                for a, (o, k) in enumerate(zip(outputs, tap[:-1]))]  # fmt: skip
        column = vector * self.lanes + dl * tap[-1] // s
        return VecLoad("wx", self.phased.read(n, channel, rows, dl * tap[-1] % s, column))

    def x_in_place(self, n, channel, tap, outputs, vector, used) -> VecLoad | None:
        """X itself at columns S·j + Dl·t − lo (every S-th element: a strided load), the
        lanes outside the row masked off (None when none is inside)."""
        problem, lanes = self.problem, self.lanes
        (before, _), width = problem.landing[-1], problem.source.shape[-1]
        stride = problem.strides[-1]
        start = stride * int(vector) * lanes + problem.dilations[-1] * tap[-1] - before
        # lane l reads column start + S·l: inside the row for −start/S ≤ l < (width − start)/S
        first = max(0, -(start // stride))
        stop = min(used or lanes, -((start - width) // stride))
        if first >= stop:
            return None
        rows = [
            problem.strides[a] * o + problem.dilations[a] * k - before_row
            for a, (o, k, (before_row, _)) in enumerate(zip(outputs, tap[:-1], problem.landing))
        ]
        place = Read("x", (n, channel, *rows, start))
        if (first, stop) == (0, lanes):
            return VecLoad("wx", place, step=stride)
        return VecLoad("wx", place, first, stop, step=stride)

    def row_guards(self, tap, outputs) -> tuple[InRange, ...]:
        """Rows of X a lead tap may reach outside the image, for some output rows and taps."""
        problem, guards = self.problem, []
        for a, (o, k) in enumerate(zip(outputs, tap[:-1])):
            before, size = problem.landing[a][0], problem.source.shape[2 + a]
            row = problem.strides[a] * o + problem.dilations[a] * k - before
            lowest = -before
            highest = (
                problem.strides[a] * (problem.counts[a] - 1)
                + problem.dilations[a] * (problem.kernel[a] - 1)
                - before
            )
            if lowest < 0 or highest >= size:
                guards.append(InRange(row, size))
        return tuple(guards)


# ----- dL/dX of a strided layer, one stride phase at a time -----------------------------------
@dataclass(frozen=True)
class PhaseAxis:
    """The inputs ρ, ρ + s, ρ + 2s, … of one axis (`count` of them) and the taps that reach
    them: input ρ + s·q receives ∂L/∂O[q + offset] through tap t, for (t, offset) in `taps`."""

    phase: int
    count: int
    taps: tuple[tuple[int, int], ...]


def phase_axes(axis, size: int) -> list[PhaseAxis]:
    """The stride phases of one axis of the input, each with the taps that meet an output."""
    return [
        PhaseAxis(phase, -(-(size - phase) // axis.stride), tuple(phase_taps(axis, phase)))
        for phase in range(min(axis.stride, size))
    ]


class PhaseGradient:
    """dL/dX of a strided layer as gx[ρ + s·q] = Σ_(t, offset) ∂L/∂O[q + offset] · w[t], phase
    by phase: no product touches a zero the stride would insert into ∂L/∂O.

    Along the leading axes each phase is its own set of tasks (its rows lie s apart); along
    the last axis a tile holds all s phases of the same stretch of the row (vectors over q,
    read contiguously from a zero-bordered copy of ∂L/∂O) and weaves them into the row on
    the store (`VecStoreInterleaved`): s·L consecutive inputs in s vector stores.  A tile
    is C channels × H rows × V vectors × s phases of accumulators.
    """

    def __init__(self, context: LoweringContext, tile: tuple[int, int, int] | None) -> None:
        self.context, self.spec = context, context.spec
        spec = self.spec
        self.wide, self.deep = spec.in_channels_per_group, spec.out_channels_per_group
        self.axes = [phase_axes(a, i) for a, i in zip(spec.window_axes, spec.input_size)]
        self.last = self.axes[-1]
        self.lanes = lanes_for(self.last[0].count, spec.dtype, context)
        self.row_vectors = -(-self.last[0].count // self.lanes)
        self.tile = tile or self.default_tile()
        self.n, self.g = symbol("n"), symbol("g")

    def default_tile(self) -> tuple[int, int, int]:
        """As `Correlate`'s, with each accumulator s times over (one per phase of the row)."""
        room = max(1, self.context.machine.accumulators // len(self.last))
        vectors = min(self.row_vectors, MAX_VECTORS, room)
        vectors = -(-self.row_vectors // -(-self.row_vectors // vectors))
        channels = max(1, min(self.wide, room // vectors))
        rows = max(p.count for p in self.axes[-2]) if self.spec.rank > 1 else 1
        height = max(1, min(rows, room // (vectors * channels)))
        return channels, height, vectors

    def frame(self) -> list[tuple[int, int]]:
        """(zeros before ∂L/∂O, extent) per axis of its copy: every tap of every phase reads
        inside it, the last axis up to the end of the row's last whole vector."""
        return gradient_frame(self.spec, self.row_vectors * self.lanes)

    def build(self) -> LoopNest:
        spec, shapes = self.spec, self.context.shapes
        params = tuple(Operand(p, shapes[p]) for p in self.context.order if p in ("gy", "w"))
        frame = self.frame()
        axes = [StagedAxis(before, 1, extent, o)
                for (before, extent), o in zip(frame, spec.output_size)]  # fmt: skip
        staged = staged_copy(Operand("gy", shapes["gy"]), axes)
        source = staged.name if staged is not None else "gy"
        body: list[Stmt] = []
        for lead in product(*self.axes[:-1]):
            body += self.tiles(source, list(lead), [b for b, _ in frame])
        flat = ("gy", "w", "gx") + ((staged.name,) if staged is not None else ())
        channels, height, vectors = self.tile
        phases = len(self.last)
        return LoopNest(
            "grad_input",
            params,
            Operand("gx", shapes["gx"]),
            tuple(body),
            staged=(staged,) if staged is not None else (),
            parallel=self.context.threaded,
            flat=flat,
            lanes=self.lanes,
            notes=(
                f"positions: tiles of {channels} channels × {height} rows × {vectors} vectors "
                f"of {self.lanes} positions × {phases} stride phases, woven into the row on "
                "the store; each phase reads only the taps that meet a real output",
            ),
        )

    def tiles(self, source: str, lead: list[PhaseAxis], before: list[int]) -> list[Stmt]:
        """The parallel loops of one phase of the leading axes: tasks over images, groups,
        channel tiles, outer positions and row tiles."""
        spec = self.spec
        channels, height, _ = self.tile
        rows = lead[-1].count if lead else 1
        out: list[Stmt] = []
        for c_first, c_count, c_size in splits(self.wide, channels):
            for h_first, h_count, h_size in splits(rows, height):
                task = symbol("task")
                outer = [p.count for p in lead[:-1]]
                sizes = [spec.batch, spec.groups, c_count, *outer, h_count]
                names = [self.n, self.g, symbol("ct"),
                         *(symbol(f"q{a}") for a in range(len(outer))), symbol("ht")]  # fmt: skip
                lets = unflatten(task, names, sizes)
                channel0 = c_first + c_size * names[2]
                row0 = h_first + h_size * names[-1]
                qs = names[3:-1]
                body: list[Stmt] = []
                for count, first, size in self.row_tiles():
                    q = symbol("vt")
                    start = first + size * q if count > 1 else sp.Integer(first)
                    tile = self.tile_body(source, lead, before, channel0, c_size, qs, row0,
                                          h_size, start, size)  # fmt: skip
                    body += [For(q, count, tuple(tile))] if count > 1 else tile
                out.append(For(task, math.prod(sizes), (*lets, *body), parallel=True))
        return out

    def row_tiles(self) -> list[tuple[int, int, int]]:
        """Tiles of V vectors, the looped ones never holding the row's last vector when its
        weave stops short of s·L inputs."""
        partial = len(self.last) * self.lanes * self.row_vectors > self.spec.input_size[-1]
        return row_tiles(self.row_vectors, self.tile[2], partial)

    def tile_body(self, source, lead, before, channel0, c_size, qs, row0, h_size, vector0,
                  v_size) -> list[Stmt]:  # fmt: skip
        spec, n, g, lanes = self.spec, self.n, self.g, self.lanes
        phases = len(self.last)
        acc = {(c, h, v, p): f"pa{c}_{h}_{v}_{p}" for c in range(c_size) for h in range(h_size)
               for v in range(v_size) for p in range(phases)}  # fmt: skip
        body: list[Stmt] = [VecZero(name) for name in acc.values()]
        d = symbol("rd")
        lead_taps = [symbol(f"rt{a}") for a in range(len(lead))]
        chosen = [tap_choice(p.taps, k) for p, k in zip(lead, lead_taps) if p.taps]
        reduction: list[Stmt] = []
        for number, phase in enumerate(self.last):
            if not phase.taps or len(chosen) < len(lead):
                continue  # no tap meets an output: the accumulators stay 0
            k = symbol("rtl")
            tap, offset = tap_choice(phase.taps, k)
            inner = []
            for h in range(h_size):
                # per leading axis: the tile row's position, the tap's offset, the border
                at = [*qs, row0 + h]
                rows = [q + off + b for q, (_, off), b in zip(at, chosen, before)]
                for v in range(v_size):
                    column = (vector0 + v) * lanes + offset + before[-1]
                    read = Read(source, (n, g * self.deep + d, *rows, column))
                    inner.append(VecLoad(f"px{h}_{v}", read))
            for c in range(c_size):
                taps = applied_taps(spec, (*(t for t, _ in chosen), tap))
                weight = Read("w", (g * self.deep + d, channel0 + c, *taps))
                inner.append(VecBroadcast("pw", weight))
                inner += [VecFma(acc[c, h, v, number], "pw", f"px{h}_{v}")
                          for h in range(h_size) for v in range(v_size)]  # fmt: skip
            reduction.append(For(k, len(phase.taps), tuple(inner), opaque=len(phase.taps) > 1))
        if reduction:
            block: tuple[Stmt, ...] = tuple(reduction)
            for p, k in reversed(list(zip(lead, lead_taps))):
                block = (For(k, len(p.taps), block, opaque=len(p.taps) > 1),)
            body.append(For(d, self.deep, block))
        size, step = spec.input_size[-1], len(self.last)
        for c, h, v in product(range(c_size), range(h_size), range(v_size)):
            names = tuple(acc[c, h, v, p] for p in range(phases))  # woven in phase order
            at = [*qs, row0 + h]
            rows = [p.phase + spec.stride[a] * q for a, (p, q) in enumerate(zip(lead, at))]
            first = step * (vector0 + v) * lanes
            target = Read("gx", (n, g * self.wide + channel0 + c, *rows, first))
            count = 0
            if sp.sympify(vector0).is_Integer and size - int(first) < step * lanes:
                count = size - int(first)
            body.append(VecStoreInterleaved(target, names, count))
        return body


def row_tiles(row_vectors: int, vectors: int, partial: bool) -> list[tuple[int, int, int]]:
    """(how many, first vector, vectors per tile) along a row of `row_vectors` vectors in
    tiles of `vectors`: the looped tiles first, never holding the row's last vector when
    it is `partial` (a looped tile's store is always whole), then the tiles written once."""
    size = min(vectors, row_vectors)
    full, rest = divmod(row_vectors, size)
    looped = full - (1 if partial and not rest else 0)
    found = [(looped, 0, size)] if looped else []
    if looped < full:
        found.append((1, looped * size, size))
    if rest:
        found.append((1, full * size, rest))
    return found
