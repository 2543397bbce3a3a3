"""Winograd F(m, r) for stride-1 layers: forward, dL/dX and dL/dF through transformed tiles.

The transforms are `symconv.symbolic.winograd`'s, derived and proved there; every
constant of the nest is an entry of their Aᵀ, G or Bᵀ.  For a rank-R layer each
spatial axis is cut into tiles of m outputs, read from windows of n = m + r − 1
inputs, and (Lavin & Gray 2016, per image):

    U[ξ, a, b] = (G ⊗ … ⊗ G) · filter[a, b]          once per call (n^R × A × B/G)
    V[ξ, b, t] = (Bᵀ ⊗ … ⊗ Bᵀ) · tile t of input b    per image
    M[ξ]      = U[ξ] @ V[ξ]                         n^R matrix products
    out tile t of channel a = (Aᵀ ⊗ … ⊗ Aᵀ) · M[:, a, t]

with a the result's channels and b the channels read.  dL/dX of a stride-1 layer is
the full correlation of dL/dO with the 180°-rotated filter, its channels swapped (the
rotation pattern), so the same nest computes it from dL/dO padded by k − 1 − lo.
dL/dF uses F(r, m) instead, a tile of dL/dO as the filter (`WinogradWeightNest`).

Layout, chosen so LLVM vectorizes the transforms across tiles: the last axis of the
padded input is split into m phase planes (column u·m + p goes to plane p, place u),
so a tile's loads are contiguous across neighbouring tiles, and the output transform
writes phase planes that one strided pass copies into the result (dropping the
overhang of the last tile).  Transforms are unrolled into linear combinations of
locals, zero coefficients dropped.  The matrix products of forward and dL/dX are
register tiles of vector FMAs where the machine has vectors (`vector_products`), and
dL/dF's where an image has tiles enough (`weight_vector_lanes`); the rest go to the
BLAS, held to one thread inside the parallel loop: one level of parallelism, as in
`gemm`.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, replace

import sympy as sp

from symconv.lower.algorithms.base import Algorithm, shared_filter_convolution, splits
from symconv.lower.ir import (
    Accumulate,
    Combine,
    For,
    Gemm,
    Init,
    LoopNest,
    Matrix,
    Operand,
    Read,
    Scalar,
    Stmt,
    Store,
    VecBroadcast,
    VecFma,
    VecLoad,
    VecStore,
    VecTotal,
    VecZero,
    substitute,
)
from symconv.lower.passes import DROP_UNIT_LOOPS, LoweringContext, run_passes
from symconv.symbolic.winograd import (
    MAX_TILE,
    Tiling,
    Winograd,
    fp32_error,
    refusal,
    winograd,
)

KERNELS = ("forward", "grad_input", "grad_weight")
#: The largest tile (n = m + r − 1) the default picks.
LARGEST_TILE = 8
#: The float32 error (`symconv.symbolic.winograd.fp32_error`: the largest error of random
#: tiles relative to the typical output) a float32 kernel's transforms may have: half of
#: verify's 1e-4, which is relative to the largest output, never below the typical one.
#: It admits F(8, 3) in 1-D (1.6e-5), F(6, 3)² (3.1e-5) and F(4, 3)³ (1.3e-5), and
#: refuses F(9, 3) (5.3e-5), F(7, 3)² (1.2e-3) and F(5, 3)³ (1.1e-4).  Float64 takes every
#: tile up to `MAX_TILE` points (F(9, 3)² within 1e-12).
FP32_ERROR_LIMIT = 5e-5
#: The largest output tile a schedule may name ("winograd:9").
LARGEST_M = 9
#: Vectors of tiles a register tile of the vector product spans (rows fill the rest).
VECTOR_TILE_COLUMNS = 4
#: Rows of dL/dO's transformed tiles a register tile of dL/dF's vector product spans.
WEIGHT_TILE_ROWS = 4
#: Vectors of tiles per image from which dL/dF's products use vector registers.
MIN_WEIGHT_VECTORS = 8

# Buffer names the nest makes (never from user input).
PHASES, RESULT_PHASES = "phase_planes", "result_planes"
FILTERS, TILES, PRODUCTS = "filters_hat", "tiles_hat", "products"
GRADIENT_PHASES, GRADIENT_TILES = "gradient_planes", "gradient_hat"


@functools.cache
def float32_error(m: int, kernel: tuple[int, ...], weight: bool = False) -> float:
    """The float32 error of the kernel's transforms nested over the layer's axes: F(m, rᵢ),
    or F(rᵢ, m) for dL/dF (`weight`: a tile of m dL/dO values is the filter)."""
    return fp32_error(tuple(winograd(r, m) if weight else winograd(m, r) for r in kernel))


def _label(m: int, kernel: tuple[int, ...], weight: bool = False) -> str:
    return "×".join(f"F({r}, {m})" if weight else f"F({m}, {r})" for r in kernel)


def _weight(context: LoweringContext) -> bool:
    return context.formula.name == "grad_weight"


def vector_lanes(context: LoweringContext) -> int:
    """Lanes of the matrix products' register tiles (0: the BLAS multiplies): float32 on
    any vector unit, float64 from 4 lanes."""
    lanes = context.machine.lanes(context.spec.dtype)
    return lanes if lanes >= 4 and context.machine.vector_bits else 0


def weight_vector_lanes(context: LoweringContext, m: int) -> int:
    """Lanes of dL/dF's register tiles, when an image has `MIN_WEIGHT_VECTORS` vectors of
    tiles: each accumulator ends an image with a sum across its lanes, which the 49 tiles
    of a 28 × 28 image (3 vectors and a lane) did not pay for (128 channels: 4,361 µs
    against the BLAS's 2,343; 196 tiles of 56 × 56: 5,102 against 5,543)."""
    lanes = vector_lanes(context)
    tiles = math.prod(-(-o // m) for o in context.spec.output_size)
    return lanes if lanes and tiles >= MIN_WEIGHT_VECTORS * lanes else 0


def tile_side(channels: int, most: int) -> int:
    """Rows of a register tile: the largest divisor of `channels` up to `most`, so one tile
    shape covers them (no copy of the loop for the rest, a shorter compile), unless that
    divisor is under half of `most` (a prime count of channels): then `most`, and a rest."""
    most = max(1, most)
    divisor = max(d for d in range(1, most + 1) if channels % d == 0)
    return divisor if 2 * divisor >= most else most


def default_m(kernel: tuple[int, ...], rank: int) -> int | None:
    """The output tile of the default F(m, r): 4 where the tile stays <= 8 (2 in 3-D, whose
    n³ locals per tile would spill), else 2; None when even F(2, r) is too large."""
    for m in (2,) if rank == 3 else (4, 2):
        if max(kernel) + m - 1 <= LARGEST_TILE:
            return m
    return None


@dataclass(frozen=True)
class Roles:
    """What the nest reads and writes, in the result's terms: the same nest serves both kernels.

    `read` is the tensor tiled (x, or dL/dO), `result` what is written (y, or dL/dX);
    `a` counts the result's channels, `b` the channels read; `offsets` place the read
    tensor in its padded copy; `rotated` says the filter's taps run backwards.
    """

    read: str
    result: str
    a: int
    b: int
    groups: int
    offsets: tuple[int, ...]
    counts: tuple[int, ...]
    outputs: tuple[int, ...]
    rotated: bool
    swapped: bool
    bias: bool

    @property
    def a_per_group(self) -> int:
        return self.a // self.groups

    @property
    def b_per_group(self) -> int:
        return self.b // self.groups


def roles(context: LoweringContext) -> Roles:
    spec = context.spec
    lows = tuple(lo for lo, _ in spec.padding)
    rotate_forward = spec.mode == "convolution"
    if context.formula.name == "grad_weight":  # x is tiled as in the forward; gw is written
        return Roles(
            "x", "gw", spec.out_channels, spec.in_channels, spec.groups, lows,
            spec.input_size, spec.output_size, rotate_forward, False, False,
        )  # fmt: skip
    if context.formula.name == "forward":
        return Roles(
            "x", "y", spec.out_channels, spec.in_channels, spec.groups, lows,
            spec.input_size, spec.output_size, rotate_forward, False, spec.bias,
        )  # fmt: skip
    offsets = tuple(k - 1 - lo for k, lo in zip(spec.kernel_size, lows))
    return Roles(
        "gy", "gx", spec.in_channels, spec.out_channels, spec.groups, offsets,
        spec.output_size, spec.input_size, not rotate_forward, True, False,
    )  # fmt: skip


class WinogradAlgorithm(Algorithm):
    """F(m, r) per axis; `m` None picks `default_m` for the layer."""

    passes = (DROP_UNIT_LOOPS,)

    def __init__(self, m: int | None = None) -> None:
        self.m = m
        self.name = "winograd" if m is None else f"winograd:{m}"

    def tile(self, context: LoweringContext) -> int | None:
        spec = context.spec
        return self.m if self.m is not None else default_m(spec.kernel_size, spec.rank)

    def applies(self, context: LoweringContext) -> bool:
        spec = context.spec
        if not shared_filter_convolution(context) or context.formula.name not in KERNELS:
            return False
        m = self.tile(context)
        return (
            context.machine.blas
            and refusal(spec) is None
            and m is not None
            and max(spec.kernel_size) + m - 1 <= MAX_TILE
            and (
                spec.dtype != "float32"
                or float32_error(m, spec.kernel_size, _weight(context)) <= FP32_ERROR_LIMIT
            )
        )

    def why_not(self, context: LoweringContext) -> str:
        """Why a named tile does not apply, when the tile's float32 error is the reason."""
        spec, m = context.spec, self.tile(context)
        if m is None or refusal(spec) is not None or spec.dtype != "float32":
            return ""
        if max(spec.kernel_size) + m - 1 > MAX_TILE:
            return ""
        error = float32_error(m, spec.kernel_size, _weight(context))
        if error <= FP32_ERROR_LIMIT:
            return ""
        label = _label(m, spec.kernel_size, _weight(context))
        return (
            f"in float32, {label} errs by {error:.1e} of a typical output, "
            f"more than the {FP32_ERROR_LIMIT:.0e} a float32 kernel may (use a smaller tile, or "
            "float64)"
        )

    def variants(self, context: LoweringContext) -> tuple[Algorithm, ...]:
        """Every output tile m from 1 to `LARGEST_M` that applies: within `MAX_TILE` points,
        and within `FP32_ERROR_LIMIT` in float32."""
        if self.m is not None:
            return super().variants(context)
        found = (WinogradAlgorithm(m) for m in range(1, LARGEST_M + 1))
        return tuple(a for a in found if a.applies(context))

    def preferred(self, context: LoweringContext) -> bool:
        """Channel-heavy 3×3 layers: every kernel of 8×64×56×56 → 64 ran 1.4-2.0× PyTorch
        (forward 4.7 ms against 9.3, dL/dF 7.7 against 10.7); with few channels the
        transforms outweigh the products (LeNet conv2, 6 → 16 with 5×5: 0.23×).

        dL/dF only from 128 channels: `simd` (which lays ∂L/∂O out by transposes) was the
        faster at 64 with the BLAS's products (8×64×56×56: 5,337 µs against 6,234) and
        level with the vector products (4,915 against 5,106, 4,678 against 4,942 in two
        more rounds, one round the other way: 3,889 against 4,607), level at 128
        (4×128×28×28: 3,023 against 2,967).
        """
        spec = context.spec
        channels = min(spec.in_channels_per_group, spec.out_channels_per_group)
        fewest = 128 if context.formula.name == "grad_weight" else 32
        return max(spec.kernel_size) <= 3 and channels >= fewest and self.tile(context) == 4

    def build(self, context: LoweringContext) -> LoopNest:
        m = self.tile(context)
        role = roles(context)
        kernel = context.spec.kernel_size
        if context.formula.name == "grad_weight":
            transforms = tuple(winograd(r, m) for r in kernel)
            tiling = Tiling(transforms, role.outputs)
            return WinogradWeightNest(context, role, tiling, m).build(self.passes)
        transforms = tuple(winograd(m, r) for r in kernel)
        return WinogradNest(context, role, Tiling(transforms, role.outputs)).build(self.passes)


class WinogradNest:
    """The buffers and loops of one Winograd kernel (see the module docstring)."""

    def __init__(
        self, context: LoweringContext, role: Roles, tiling: Tiling, step: int | None = None
    ) -> None:
        """`step`: outputs per tile along every axis (the transforms' m unless given)."""
        self.context, self.role, self.tiling = context, role, tiling
        self.spec, self.ix = context.spec, context.indices
        self.m = tiling.transforms[0].m if step is None else step
        self.rank = self.spec.rank
        self.tiles = tuple(-(-o // self.m) for o in tiling.outputs)
        self.points = tuple(t.n for t in tiling.transforms)  # n per axis
        self.products = math.prod(self.points)
        # the padded copy: every axis covers its tiles' windows; the last one also a whole
        # number of phase places (u·m + p for u < places, p < m)
        last = self.points[-1]
        self.places = self.tiles[-1] + (last - 1) // self.m
        self.padded = tuple(t * self.m + n - self.m for t, n in zip(self.tiles, self.points))
        self.padded = (*self.padded[:-1], self.places * self.m)
        self.symbols = sp.symbols(f"t0:{self.rank}", integer=True, nonnegative=True)

    # ----- buffers -------------------------------------------------------------------
    def scratch(self) -> tuple[Operand, ...]:
        """The work arrays; the phase planes start at zero once per call, and only their
        interior is written per image, so the padding stays zero for every image."""
        role, tiles = self.role, math.prod(self.tiles)
        result_rows = tuple(t * self.m for t in self.tiles[:-1])
        return (
            Operand(FILTERS, (self.products, role.a, role.b_per_group)),
            Operand(PHASES, (role.b, *self.padded[:-1], self.m, self.places), zeroed=True),
            Operand(TILES, (self.products, role.b, tiles)),
            Operand(PRODUCTS, (self.products, role.a, tiles)),
            Operand(RESULT_PHASES, (role.a, *result_rows, self.m, self.tiles[-1])),
        )

    # ----- the nest ------------------------------------------------------------------
    def build(self, passes: tuple) -> LoopNest:
        ix, role, spec = self.ix, self.role, self.spec
        per_image = (
            fused(self.split_phases(), self.input_transform()),
            self.matrix_products(),
            fused(self.output_transform(), self.store_result()),
        )
        body = (*self.filter_transform(), For(ix.n, spec.batch, per_image))
        shapes = self.context.shapes
        reads = (role.read, "w", *(("b",) if role.bias else ()))
        params = tuple(Operand(p, shapes[p]) for p in self.context.order if p in reads)
        label = self.tiling.label
        scratch = self.scratch()
        threaded = self.context.threaded
        nest = LoopNest(
            self.context.formula.name,
            params,
            Operand(role.result, shapes[role.result]),
            body,
            scratch=scratch,
            parallel=threaded,
            flat=(role.read, "w", *(s.name for s in scratch), role.result),
            blas_in_threads=threaded and not self.vector_lanes(),
            lanes=self.vector_lanes(),
            notes=(
                f"winograd {label}: {self.products} products per tile instead of "
                f"{self.tiling.direct_per_tile}, {math.prod(self.tiles)} tiles per image",
                f"{self.products} matrix products per image "
                f"({role.a_per_group}x{role.b_per_group} by {role.b_per_group}x"
                f"{math.prod(self.tiles)})"
                + (
                    f", register tiles of vector FMAs ({self.vector_lanes()} lanes)"
                    if self.vector_lanes()
                    else ", by the BLAS" + (" held to one thread" if threaded else "")
                ),
            ),
        )
        return run_passes(nest, passes, self.context)

    def filter_transform(self) -> tuple[Stmt, ...]:
        """U[ξ, a, b] = G-transform of the filter taps that take channel b to channel a."""
        ix, role = self.ix, self.role
        g, a, b = ix.g, ix.c_out, ix.c_in
        kernel = self.spec.kernel_size
        channel = g * role.a_per_group + a
        values = {}
        for taps in itertools.product(*(range(k) for k in kernel)):
            tap = tuple(k - 1 - t if role.rotated else t for k, t in zip(kernel, taps))
            if role.swapped:  # dL/dX: w[g·B/G + b, a, taps] takes read channel b to a
                index = (g * role.b_per_group + b, a, *tap)
            else:
                index = (channel, b, *tap)
            values[taps] = Read("w", index)
        stmts, values = self.transformed(values, "G", "f")
        stores = tuple(
            Store(Read(FILTERS, (self.flat(xi), channel, b)), value.name)
            for xi, value in values.items()
        )
        inner = For(b, role.b_per_group, (*stmts, *stores))
        return (For(g, role.groups, (For(a, role.a_per_group, (inner,), parallel=True),)),)

    def split_phases(self) -> For:
        """planes[b, rows…, p, u] = read[n, b, rows…, u·m + p − offset]: tiles' loads contiguous.

        Only source elements land (padding stays zero): whole groups of m columns in a
        vector loop (an interleaved load), the few columns at the edges one by one.
        """
        ix, role = self.ix, self.role
        b = ix.c_in
        rows = sp.symbols(f"row0:{self.rank - 1}", integer=True, nonnegative=True)
        source_rows, landing_rows, loops = [], [], []
        for axis, row in enumerate(rows):
            offset, count, extent = role.offsets[axis], role.counts[axis], self.padded[axis]
            first, stop = max(0, -offset), min(count, extent - offset)
            source_rows.append(first + row)
            landing_rows.append(first + row + offset)
            loops.append((row, stop - first))

        def copy(column: sp.Expr, phase: int, place: sp.Expr) -> tuple[Stmt, ...]:
            source = Read(role.read, (ix.n, b, *source_rows, column))
            return (
                Init("value", source),
                Store(Read(PHASES, (b, *landing_rows, phase, place)), "value"),
            )

        groups, singles = phase_groups(role.offsets[-1], role.counts[-1], self.m, self.places)
        u = sp.Symbol("place", integer=True, nonnegative=True)
        body: list[Stmt] = []
        if groups:
            first = groups.start
            group = tuple(
                stmt
                for p in range(self.m)
                for stmt in copy((first + u) * self.m + p - role.offsets[-1], p, first + u)
            )
            body.append(For(u, len(groups), group, vector=True))
        for column, phase, place in singles:
            body.extend(copy(sp.Integer(column), phase, sp.Integer(place)))
        nest: tuple[Stmt, ...] = tuple(body)
        for row, extent in reversed(loops):
            nest = (For(row, extent, nest),)
        return For(b, role.b, nest, parallel=True)

    def input_transform(self) -> For:
        """V[ξ, b, tile] = Bᵀ-transform of the tile's window, across tiles of the last axis."""
        b, t = self.ix.c_in, self.symbols
        values = {}
        for offsets in itertools.product(*(range(n) for n in self.points)):
            rows = tuple(t[i] * self.m + offsets[i] for i in range(self.rank - 1))
            last = offsets[-1]
            index = (b, *rows, last % self.m, t[-1] + last // self.m)
            values[offsets] = Read(PHASES, index)
        stmts, values = self.transformed(values, "BT", "d")
        tile = self.tile_index()
        stores = tuple(
            Store(Read(TILES, (self.flat(xi), b, tile)), value.name) for xi, value in values.items()
        )
        return For(b, self.role.b, self.tile_loops((*stmts, *stores)), parallel=True)

    def matrix_products(self) -> For:
        """products[ξ] = u[ξ] @ v[ξ] per group: n^R BLAS calls on contiguous views, or
        register tiles of vector FMAs where the machine has vectors (`vector_products`)."""
        if self.vector_lanes():
            return self.vector_products()
        ix, role = self.ix, self.role
        xi, g = sp.Symbol("xi", integer=True, nonnegative=True), ix.g
        tiles = math.prod(self.tiles)
        a_rows, b_rows = g * role.a_per_group, g * role.b_per_group

        def view(buffer: str, height: int, cols: int, first: sp.Expr, rows: int) -> Matrix:
            return Matrix(buffer, (xi,), height, cols, first, rows)

        product = Gemm(
            view(PRODUCTS, role.a, tiles, a_rows, role.a_per_group),
            view(FILTERS, role.a, role.b_per_group, a_rows, role.a_per_group),
            view(TILES, role.b, tiles, b_rows, role.b_per_group),
        )
        return For(xi, self.products, (For(g, role.groups, (product,)),), parallel=True)

    def vector_lanes(self) -> int:
        """Lanes of the vector product (0: the BLAS multiplies)."""
        return vector_lanes(self.context)

    def vector_products(self) -> For:
        """products[ξ, a, t] = Σ_b u[ξ, a, b] · v[ξ, b, t], tiles of R rows a × V vectors of
        tiles t in registers: per b, V loads of v and R broadcasts of u feed R·V FMAs.

        The BLAS ran these small products (64 × 64 by 64 × 196 for the 64-channel ResNet
        layer) at 86 GFLOP/s a thread, a third of the core's peak, and they were half of
        the kernel's time; the same register tiles as the `positions` algorithm's reach
        about twice that.
        """
        ix, role, lanes = self.ix, self.role, self.vector_lanes()
        xi, g = sp.Symbol("xi", integer=True, nonnegative=True), ix.g
        tiles = math.prod(self.tiles)
        vectors, rest = divmod(tiles, lanes)
        width = min(VECTOR_TILE_COLUMNS, vectors + (rest > 0))
        # rows: a divisor of the channels, so one tile shape (64 channels: 4 rows, 3,484 µs
        # against 3,442 with 6 and a tile of 4 for the rest, and a shorter compile)
        height = tile_side(role.a_per_group, self.context.machine.accumulators // width)
        rt, vt, k = (sp.Symbol(name, integer=True, nonnegative=True) for name in ("rt", "vt", "k"))
        blocks: list[Stmt] = []
        for r_first, r_count, r_size in splits(role.a_per_group, height):
            row0 = r_first + r_size * rt if r_count > 1 else sp.Integer(r_first)
            columns: list[Stmt] = []
            looped, left = divmod(vectors, width)
            if looped:
                tile = self.vector_tile(xi, g, row0, r_size, width * vt, width, 0, k)
                columns += (
                    [For(vt, looped, tile)] if looped > 1 else substitute(tile, {vt: sp.S.Zero})
                )
            if left or rest:
                first = sp.Integer(looped * width)
                columns += self.vector_tile(xi, g, row0, r_size, first, left + (rest > 0), rest, k)
            blocks += [For(rt, r_count, tuple(columns))] if r_count > 1 else columns
        return For(xi, self.products, (For(g, role.groups, tuple(blocks)),), parallel=True)

    def vector_tile(self, xi, g, row0, rows, vector0, count, partial, k) -> tuple[Stmt, ...]:
        """One tile: `rows` rows from row0 × `count` vectors from vector0, the last one
        holding `partial` lanes when partial (masked load and store)."""
        role, lanes = self.role, self.vector_lanes()
        a_rows, b_rows = g * role.a_per_group, g * role.b_per_group
        acc = {(r, v): f"wa{r}_{v}" for r in range(rows) for v in range(count)}
        stop = {v: (partial if partial and v == count - 1 else 0) for v in range(count)}
        inner: list[Stmt] = []
        for v in range(count):
            column = (vector0 + v) * lanes
            inner.append(VecLoad(f"wv{v}", Read(TILES, (xi, b_rows + k, column)), stop=stop[v]))
        for r in range(rows):
            inner.append(VecBroadcast("wu", Read(FILTERS, (xi, a_rows + row0 + r, k))))
            inner += [VecFma(acc[r, v], "wu", f"wv{v}") for v in range(count)]
        stores = [
            VecStore(
                Read(PRODUCTS, (xi, a_rows + row0 + r, (vector0 + v) * lanes)), name, 1, stop[v]
            )
            for (r, v), name in acc.items()
        ]
        zeros = [VecZero(name) for name in acc.values()]
        return (*zeros, For(k, role.b_per_group, tuple(inner)), *stores)

    def output_transform(self) -> For:
        """out_planes[a, rows…, p, tile] = Aᵀ-transform of the products of the tile."""
        a, t = self.ix.c_out, self.symbols
        tile = self.tile_index()
        values = {
            xi: Read(PRODUCTS, (self.flat(xi), a, tile))
            for xi in itertools.product(*(range(n) for n in self.points))
        }
        stmts, values = self.transformed(values, "AT", "o")
        stores = []
        for offsets, value in values.items():
            rows = tuple(t[i] * self.m + offsets[i] for i in range(self.rank - 1))
            stores.append(Store(Read(RESULT_PHASES, (a, *rows, offsets[-1], t[-1])), value.name))
        return For(a, self.role.a, self.tile_loops((*stmts, *stores)), parallel=True)

    def store_result(self) -> For:
        """result[n, a, o…, u·m + p] = out_planes[a, o…, p, u] (+ bias), the overhang dropped.

        Whole groups of m columns in a vector loop (an interleaved store), the last
        partial group one by one: no iteration needs a guard.
        """
        ix, role = self.ix, self.role
        a = ix.c_out
        outputs = role.outputs
        rows = sp.symbols(f"o0:{self.rank - 1}", integer=True, nonnegative=True)

        def copy(phase: int, place: sp.Expr) -> tuple[Stmt, ...]:
            read = Read(RESULT_PHASES, (a, *rows, phase, place))
            target = Read(role.result, (ix.n, a, *rows, place * self.m + phase))
            bias = (Accumulate("value", (Read("b", (a,)),)),) if role.bias else ()
            return (Init("value", read), *bias, Store(target, "value"))

        u = sp.Symbol("place", integer=True, nonnegative=True)
        whole, partial = divmod(outputs[-1], self.m)
        body: list[Stmt] = []
        if whole:
            group = tuple(stmt for p in range(self.m) for stmt in copy(p, u))
            body.append(For(u, whole, group, vector=True))
        for p in range(partial):
            body.extend(copy(p, sp.Integer(whole)))
        nest: tuple[Stmt, ...] = tuple(body)
        for row, extent in reversed(tuple(zip(rows, outputs[:-1]))):
            nest = (For(row, extent, nest),)
        return For(a, role.a, nest, parallel=True)

    # ----- helpers -------------------------------------------------------------------
    def tile_loops(self, body: tuple[Stmt, ...]) -> tuple[Stmt, ...]:
        """for t0 … for t_last: body; the last axis innermost (the vectorized one)."""
        last = len(self.tiles) - 1
        for axis, (symbol, extent) in reversed(tuple(enumerate(zip(self.symbols, self.tiles)))):
            body = (For(symbol, extent, body, vector=axis == last),)
        return body

    def tile_index(self) -> sp.Expr:
        index, stride = sp.S.Zero, 1
        for symbol, extent in reversed(tuple(zip(self.symbols, self.tiles))):
            index += symbol * stride
            stride *= extent
        return index

    def flat(self, xi: tuple[int, ...]) -> int:
        """The position of a transformed point ξ in the n^R products (row-major)."""
        index = 0
        for value, shape in zip(xi, self.points):
            index = index * shape + value
        return index

    def transformed(
        self, values: dict[tuple[int, ...], Read], which: str, prefix: str
    ) -> tuple[tuple[Stmt, ...], dict[tuple[int, ...], Scalar]]:
        """`which` (G, Bᵀ or Aᵀ of each axis's transform) applied along every axis in turn.

        Returns the statements (loads into locals, then one `Combine` per new entry) and
        the locals holding the result, keyed by their multi-index.
        """
        stmts: list[Stmt] = []
        held: dict[tuple[int, ...], Scalar] = {}
        for key, read in values.items():
            name = f"{prefix}0_{'_'.join(map(str, key))}"
            stmts.append(Init(name, read))
            held[key] = Scalar(name)
        for axis, transform in enumerate(self.tiling.transforms):
            held = apply_along(
                held, matrix_of(transform, which), axis, f"{prefix}{axis + 1}", stmts
            )
        return tuple(stmts), held


class WinogradWeightNest(WinogradNest):
    """dL/dF by F(r, m): a tile of m × … dL/dO values is the filter, the r taps the outputs.

    dL/dF[k, c, t] = Σ_n Σ_j dL/dO[n, k, j] · x[n, c, j + t − lo] is, per tile of m
    positions j, an r-output correlation of an (r + m − 1)-window of x with the m
    values of dL/dO (cuDNN's non-fused Winograd weight gradient swaps the roles the
    same way).  With F(r, m)'s matrices, per image:

        X̂[ξ, c, tile] = Bᵀ-transform of the x window,   Ĝ[ξ, k, tile] = G-transform of dL/dO
        M[ξ]          += Ĝ[ξ] @ X̂[ξ]ᵀ                  (summed over tiles and images)

    and once at the end dL/dF[k, c] = Aᵀ-transform of M[:, k, c].  The proof is the one
    of F(r, m) (`symconv.symbolic.winograd`); dL/dO past the layer's edge is zero.
    """

    def scratch(self) -> tuple[Operand, ...]:
        role, tiles = self.role, math.prod(self.tiles)
        gradient_rows = tuple(t * self.m for t in self.tiles[:-1])
        return (
            Operand(PHASES, (role.b, *self.padded[:-1], self.m, self.places), zeroed=True),
            Operand(GRADIENT_PHASES, (role.a, *gradient_rows, self.m, self.tiles[-1]), zeroed=True),
            Operand(TILES, (self.products, role.b, tiles)),
            Operand(GRADIENT_TILES, (self.products, role.a, tiles)),
            Operand(PRODUCTS, (self.products, role.a, role.b_per_group), accumulated=True),
        )

    def build(self, passes: tuple) -> LoopNest:
        ix, spec = self.ix, self.spec
        per_image = (
            fused(self.split_phases(), self.input_transform()),
            fused(self.split_gradient(), self.gradient_transform()),
            self.weight_products(),
        )
        body = (For(ix.n, spec.batch, per_image), self.weight_output())
        shapes = self.context.shapes
        params = tuple(Operand(p, shapes[p]) for p in self.context.order if p in ("x", "gy"))
        scratch = self.scratch()
        threaded = self.context.threaded
        label = "×".join(f"F({t.m}, {t.r})" for t in dict.fromkeys(self.tiling.transforms))
        nest = LoopNest(
            "grad_weight",
            params,
            Operand("gw", shapes["gw"]),
            body,
            scratch=scratch,
            parallel=threaded,
            flat=("x", "gy", *(s.name for s in scratch), "gw"),
            blas_in_threads=threaded and not self.vector_lanes(),
            lanes=self.vector_lanes(),
            notes=(
                f"winograd weight gradient {label}: dL/dO tiles of {self.m} are the filter, "
                f"the taps the outputs; {self.products} accumulated products per image, "
                + (
                    "register tiles of vector FMAs along the tiles, summed across the lanes"
                    if self.vector_lanes()
                    else "by the BLAS"
                ),
            ),
        )
        return run_passes(nest, passes, self.context)

    def split_gradient(self) -> For:
        """gradient_planes[k, o…, p, u] = gy[n, k, o…, u·m + p]; past the edge stays zero."""
        ix, role = self.ix, self.role
        k = ix.c_out
        outputs = role.outputs
        rows = sp.symbols(f"o0:{self.rank - 1}", integer=True, nonnegative=True)

        def copy(column: sp.Expr, phase: int, place: sp.Expr) -> tuple[Stmt, ...]:
            source = Read("gy", (ix.n, k, *rows, column))
            target = Read(GRADIENT_PHASES, (k, *rows, phase, place))
            return (Init("value", source), Store(target, "value"))

        groups, singles = phase_groups(0, outputs[-1], self.m, self.tiles[-1])
        u = sp.Symbol("place", integer=True, nonnegative=True)
        body: list[Stmt] = []
        if groups:
            group = tuple(stmt for p in range(self.m) for stmt in copy(u * self.m + p, p, u))
            body.append(For(u, len(groups), group, vector=True))
        for column, phase, place in singles:
            body.extend(copy(sp.Integer(column), phase, sp.Integer(place)))
        nest: tuple[Stmt, ...] = tuple(body)
        for row, extent in reversed(tuple(zip(rows, outputs[:-1]))):
            nest = (For(row, extent, nest),)
        return For(k, role.a, nest, parallel=True)

    def gradient_transform(self) -> For:
        """Ĝ[ξ, k, tile] = G-transform of the tile's m × … values of dL/dO."""
        k, t = self.ix.c_out, self.symbols
        values = {}
        for offsets in itertools.product(*(range(self.m) for _ in range(self.rank))):
            rows = tuple(t[i] * self.m + offsets[i] for i in range(self.rank - 1))
            values[offsets] = Read(GRADIENT_PHASES, (k, *rows, offsets[-1], t[-1]))
        stmts, values = self.transformed(values, "G", "e")
        tile = self.tile_index()
        stores = tuple(
            Store(Read(GRADIENT_TILES, (self.flat(xi), k, tile)), value.name)
            for xi, value in values.items()
        )
        return For(k, self.role.a, self.tile_loops((*stmts, *stores)), parallel=True)

    def weight_products(self) -> For:
        """products[ξ] += Ĝ[ξ] @ X̂[ξ]ᵀ per group: the sum over this image's tiles."""
        if self.vector_lanes():
            return self.vector_weight_products()
        role, g = self.role, self.ix.g
        xi = sp.Symbol("xi", integer=True, nonnegative=True)
        tiles = math.prod(self.tiles)
        a_rows, b_rows = g * role.a_per_group, g * role.b_per_group
        product = Gemm(
            Matrix(PRODUCTS, (xi,), role.a, role.b_per_group, a_rows, role.a_per_group),
            Matrix(GRADIENT_TILES, (xi,), role.a, tiles, a_rows, role.a_per_group),
            Matrix(TILES, (xi,), role.b, tiles, b_rows, role.b_per_group, transposed=True),
            accumulate=True,
        )
        return For(xi, self.products, (For(g, role.groups, (product,)),), parallel=True)

    def vector_lanes(self) -> int:
        """Lanes of dL/dF's vector product, when an image has tiles enough (see
        `weight_vector_lanes`); 0: the BLAS multiplies."""
        return weight_vector_lanes(self.context, self.m)

    def vector_weight_products(self) -> For:
        """products[ξ, a, b] += Σ_t Ĝ[ξ, a, t] · X̂[ξ, b, t]: tiles of R rows a × C rows b
        in registers, each a vector of partial sums along the tiles t (R + C loads feed
        R·C FMAs per vector), summed across its lanes at the end of the image."""
        role, lanes = self.role, self.vector_lanes()
        xi, g = sp.Symbol("xi", integer=True, nonnegative=True), self.ix.g
        rows = min(role.a_per_group, WEIGHT_TILE_ROWS)
        # a divisor of the channels: no second tile shape for the rest, whose copy of the
        # loop cost compile time and no speed (4 and 6 of 64: 5,186 µs and 5,125)
        columns = tile_side(role.b_per_group, self.context.machine.accumulators // rows)
        at, bt = (sp.Symbol(name, integer=True, nonnegative=True) for name in ("at", "bt"))
        blocks: list[Stmt] = []
        for a_first, a_count, a_size in splits(role.a_per_group, rows):
            a0 = a_first + a_size * at if a_count > 1 else sp.Integer(a_first)
            inner: list[Stmt] = []
            for b_first, b_count, b_size in splits(role.b_per_group, columns):
                b0 = b_first + b_size * bt if b_count > 1 else sp.Integer(b_first)
                tile = self.dot_tile(xi, g, a0, a_size, b0, b_size, lanes)
                inner += [For(bt, b_count, tile)] if b_count > 1 else tile
            blocks += [For(at, a_count, tuple(inner))] if a_count > 1 else inner
        return For(xi, self.products, (For(g, role.groups, tuple(blocks)),), parallel=True)

    def dot_tile(self, xi, g, a0, a_size, b0, b_size, lanes) -> tuple[Stmt, ...]:
        role, q = self.role, sp.Symbol("q", integer=True, nonnegative=True)
        a_rows, b_rows = g * role.a_per_group, g * role.b_per_group
        full, rest = divmod(math.prod(self.tiles), lanes)
        acc = {(i, j): f"wd{i}_{j}" for i in range(a_size) for j in range(b_size)}

        def one_vector(column: sp.Expr, stop: int) -> tuple[Stmt, ...]:
            out: list[Stmt] = []
            for i in range(a_size):
                place = Read(GRADIENT_TILES, (xi, a_rows + a0 + i, column))
                out.append(VecLoad(f"wg{i}", place, stop=stop))
            for j in range(b_size):
                out.append(VecLoad(f"wx{j}", Read(TILES, (xi, b_rows + b0 + j, column)), stop=stop))
            out += [VecFma(name, f"wg{i}", f"wx{j}") for (i, j), name in acc.items()]
            return tuple(out)

        body: list[Stmt] = [VecZero(name) for name in acc.values()]
        if full > 1:
            body.append(For(q, full, one_vector(q * lanes, 0)))
        elif full:
            body += one_vector(sp.Integer(0), 0)
        if rest:
            body += one_vector(sp.Integer(full * lanes), rest)
        for (i, j), name in acc.items():
            place = Read(PRODUCTS, (xi, a_rows + a0 + i, b0 + j))
            body += [VecTotal("wt", name), Init("wp", place), Accumulate("wp", (Scalar("wt"),))]
            body.append(Store(place, "wp"))
        return tuple(body)

    def weight_output(self) -> For:
        """gw[k, c, taps] = Aᵀ-transform of products[:, k, c] (taps mirrored for a convolution)."""
        k, c = self.ix.c_out, self.ix.c_in
        kernel = self.spec.kernel_size
        values = {
            xi: Read(PRODUCTS, (self.flat(xi), k, c))
            for xi in itertools.product(*(range(n) for n in self.points))
        }
        stmts, values = self.transformed(values, "AT", "o")
        stores = []
        for taps, value in values.items():
            tap = tuple(r - 1 - t if self.role.rotated else t for r, t in zip(kernel, taps))
            stores.append(Store(Read("gw", (k, c, *tap)), value.name))
        inner = For(c, self.role.b_per_group, (*stmts, *stores))
        return For(k, self.role.a, (inner,), parallel=True)


def fused(first: For, second: For) -> For:
    """One loop over the same channels doing both bodies: a thread splits a channel's planes
    and transforms them while they are in its cache, and Numba compiles one parallel region
    instead of two (each costs a separate compilation of its body)."""
    assert first.var == second.var and first.extent == second.extent
    return replace(first, body=first.body + second.body)


def phase_groups(
    offset: int, count: int, m: int, places: int
) -> tuple[range, list[tuple[int, int, int]]]:
    """Where the source columns j of one row land in m phase planes (column j + offset).

    Returns the places whose m columns all come from the source (one vector loop) and,
    for every other source column that lands, (j, phase, place).
    """
    first = -(-offset // m)  # u·m − offset >= 0
    stop = min(places, (count + offset - m) // m + 1)  # u·m + m − 1 − offset < count
    groups = range(max(first, 0), max(stop, max(first, 0)))
    singles = []
    for j in range(count):
        landing = j + offset
        if 0 <= landing < places * m and landing // m not in groups:
            singles.append((j, landing % m, landing // m))
    return groups, singles


def matrix_of(transform: Winograd, which: str) -> sp.Matrix:
    return getattr(transform, which)


def apply_along(
    held: dict[tuple[int, ...], Scalar],
    matrix: sp.Matrix,
    axis: int,
    prefix: str,
    stmts: list[Stmt],
) -> dict[tuple[int, ...], Scalar]:
    """The rows of `matrix` applied to the values along `axis`: one local per new entry.

    A row with a single coefficient 1 only renames its value (no statement).
    """
    out: dict[tuple[int, ...], Scalar] = {}
    others = sorted({key[:axis] + key[axis + 1 :] for key in held})
    for rest in others:
        for row in range(matrix.rows):
            terms = tuple(
                (sp.Rational(matrix[row, j]), held[(*rest[:axis], j, *rest[axis:])])
                for j in range(matrix.cols)
                if matrix[row, j] != 0
            )
            key = (*rest[:axis], row, *rest[axis:])
            if len(terms) == 1 and terms[0][0] == 1:
                out[key] = terms[0][1]
                continue
            name = f"{prefix}_{'_'.join(map(str, key))}"
            stmts.append(Combine(name, terms) if terms else Init(name))
            out[key] = Scalar(name)
    return dict(sorted(out.items()))


WINOGRAD = WinogradAlgorithm()
