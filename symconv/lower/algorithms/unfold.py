"""Unfold (im2col) and matrix products: any convolution as BLAS GEMMs per image and group.

PyTorch's ``unfold`` lays every window of an image out as a column: for input
channel c and tap t, row c·|K| + t of the column matrix holds, at output position j,
x[c, s·j + d·t − lo] (zero where that lands in the padding).  Then, per group,

    forward      y[n]  (C_out × P)        =  w (C_out × C_in·|K|) @ cols[n]
    grad_input   cols  (C_in·|K| × P)     =  wᵀ @ gy[n],   then folded back:
                 gx[n, c, s·j + d·t − lo] += cols[c·|K| + t, j]
    grad_weight  gw    (C_out × C_in·|K|) += gy[n] @ cols[n]ᵀ

which is the lecture's sparse matrix made dense per window, and the classic way to
run stride, dilation and the weight gradient on a BLAS.  The column matrix of one
image is C_in·|K| × P floats.  The image is first copied into a zeroed padded plane
(zeroed once per call: the padding is never written), so the strided copy into the
columns needs no guard and its loops stay loops (taps are not unrolled: an unrolled
5×5 kernel made Numba's compile take minutes); dL/dX adds the columns back into a
padded plane zeroed per image, then crops it into gx.

Threads: with a batch, the images are split into chunks that run in parallel, each
chunk with its own column matrix (and, for dL/dF, its own partial sum) and the BLAS
held to one thread (`LoopNest.blas_in_threads`); a single image is unfolded with
threads over channels and multiplied with the BLAS's own threads.
"""

from __future__ import annotations

import math

import sympy as sp

from symconv.lower.algorithms.base import Algorithm, shared_filter_convolution, work
from symconv.lower.ir import (
    Accumulate,
    AddBias,
    For,
    Gemm,
    Init,
    Let,
    LoopNest,
    Matrix,
    Operand,
    Read,
    ScatterAdd,
    Stmt,
    Store,
    substitute,
)
from symconv.lower.passes import DROP_UNIT_LOOPS, LoweringContext, run_passes
from symconv.lower.rewrites.blocking import largest_divisor

KERNELS = ("forward", "grad_input", "grad_weight")
COLUMNS, PARTIAL_SUMS, PADDED = "columns", "partial_sums", "padded"
#: Largest column buffer (all chunks) the algorithm allocates: past it, another algorithm.
MAX_COLUMN_FLOATS = 2**25


class UnfoldAlgorithm(Algorithm):
    name = "unfold"
    passes = (DROP_UNIT_LOOPS,)

    def applies(self, context: LoweringContext) -> bool:
        spec = context.spec
        if not shared_filter_convolution(context) or context.formula.name not in KERNELS:
            return False
        return context.machine.blas and chunk_count(context) * column_floats(spec) <= (
            MAX_COLUMN_FLOATS
        )

    def preferred(self, context: LoweringContext) -> bool:
        """Where a product of matrices has something to multiply (measured against rows,
        blocked and direct on the benchmark's layers):

        - forward: at least 16 output channels per group and 16 rows (C_in·|K|) per
          column: the strided 64 → 128 layer 7.8 ms against rows' 10.8, LeNet conv2
          481 µs against 897; with 1 input channel and 3×3 taps rows stays ahead;
        - dL/dX: always past the direct layers' size (a 1-channel MNIST layer 375 µs
          against rows' 1,853, the strided layer 7.3 ms against 27);
        - dL/dF: strided layers (7.1 ms against blocked's 26); at stride 1 blocked
          accumulates in registers and won (1-D dilated: 1.95 ms against 2.55).
        """
        spec = context.spec
        if spec.groups > 1 and spec.in_channels_per_group == 1:
            return False  # depthwise: one-row matrices
        rows = spec.in_channels_per_group * math.prod(spec.kernel_size)
        heavy = spec.out_channels_per_group >= 16 and rows >= 16
        name = context.formula.name
        if name == "forward":
            return heavy
        if name == "grad_input":
            return work(context.formula) >= context.machine.rows_min_work
        return heavy and any(s > 1 for s in spec.stride)

    def build(self, context: LoweringContext) -> LoopNest:
        return UnfoldNest(context).build(self.passes)


def column_floats(spec: object) -> int:
    """Floats of one image's column matrix: C_in·|K| rows by P output positions."""
    return spec.in_channels * math.prod(spec.kernel_size) * math.prod(spec.output_size)


def chunk_count(context: LoweringContext) -> int:
    """Images in parallel: a divisor of the batch up to the machine's image chunks (threads)."""
    if not context.threaded or context.spec.batch < 2:
        return 1
    return largest_divisor(context.spec.batch, context.machine.image_chunks)


class UnfoldNest:
    """The loops of one unfold kernel (see the module docstring)."""

    def __init__(self, context: LoweringContext) -> None:
        self.context, self.spec, self.ix = context, context.spec, context.indices
        self.name = context.formula.name
        self.chunks = chunk_count(context)
        self.taps = math.prod(self.spec.kernel_size)
        self.positions = math.prod(self.spec.output_size)
        self.chunk = sp.Symbol("chunk", integer=True, nonnegative=True)
        self.slot = self.chunk if self.chunks > 1 else sp.S.Zero
        self.column = sp.Symbol("column", integer=True, nonnegative=True)
        self.rows = sp.symbols(f"i0:{self.spec.rank}", integer=True, nonnegative=True)

    # ----- the nest ------------------------------------------------------------------
    def build(self, passes: tuple) -> LoopNest:
        spec, shapes = self.spec, self.context.shapes
        per_image = {
            "forward": self.forward,
            "grad_input": self.grad_input,
            "grad_weight": self.grad_weight,
        }[self.name]()
        body: tuple[Stmt, ...] = (self.images(per_image),)
        scratch = [
            Operand(COLUMNS, (self.chunks, spec.in_channels * self.taps, self.positions)),
            Operand(PADDED, (self.chunks, spec.in_channels, *self.padded_extent()), zeroed=True),
        ]
        result = self.context.formula.target.tensor
        if self.name == "grad_weight" and self.chunks > 1:
            scratch.append(Operand(PARTIAL_SUMS, (self.chunks, *shapes["w"]), accumulated=True))
            body += (self.sum_partials(),)
        reads = {"forward": ("x", "w", "b"), "grad_input": ("gy", "w"), "grad_weight": ("x", "gy")}
        params = tuple(
            Operand(p, shapes[p])
            for p in self.context.order
            if p in reads[self.name] and (p != "b" or spec.bias)
        )
        threaded_images = self.chunks > 1
        nest = LoopNest(
            self.name,
            params,
            Operand(result, shapes[result]),
            body,
            scratch=tuple(scratch),
            parallel=self.context.threaded,
            zeroed=self.name == "grad_weight" and self.chunks == 1,
            flat=tuple(p.name for p in params if p.name != "b") + (COLUMNS, PADDED, result),
            blas_in_threads=threaded_images,
            notes=(
                f"unfold: {spec.in_channels * self.taps}x{self.positions} columns per image, "
                f"one BLAS product per image{' and group' if spec.groups > 1 else ''}",
                f"{self.chunks} chunks of images in threads, the BLAS held to one thread"
                if threaded_images
                else "one image at a time, the BLAS runs the threads",
            ),
        )
        return run_passes(nest, passes, self.context)

    def images(self, per_image: tuple[Stmt, ...]) -> For:
        """for each chunk (in threads): for each of its images: per_image."""
        batch, n = self.spec.batch, self.ix.n
        if self.chunks == 1:
            return For(n, batch, per_image)
        each = batch // self.chunks
        image = sp.Symbol("image", integer=True, nonnegative=True)
        inner = For(image, each, (Let(n, self.chunk * each + image), *per_image))
        return For(self.chunk, self.chunks, (inner,), parallel=True)

    def forward(self) -> tuple[Stmt, ...]:
        spec = self.spec
        products = self.per_group(
            lambda rows: Gemm(
                self.image_matrix("y", spec.out_channels, rows["out"]),
                self.weight(rows["out"]),
                self.columns(rows["in"]),
            )
        )
        stmts: tuple[Stmt, ...] = (self.pad("x"), self.unfold(), products)
        if spec.bias:
            stmts += (AddBias(Matrix("y", (self.ix.n,), spec.out_channels, self.positions), "b"),)
        return stmts

    def grad_input(self) -> tuple[Stmt, ...]:
        spec = self.spec
        products = self.per_group(
            lambda rows: Gemm(
                self.columns(rows["in"]),
                self.weight(rows["out"], transposed=True),
                self.image_matrix("gy", spec.out_channels, rows["out"]),
            )
        )
        return (products, *self.fold())

    def grad_weight(self) -> tuple[Stmt, ...]:
        spec = self.spec
        target = PARTIAL_SUMS if self.chunks > 1 else "gw"
        prefix = (self.slot,) if self.chunks > 1 else ()
        per_group_in = spec.in_channels_per_group * self.taps

        def product(rows: dict[str, sp.Expr]) -> Gemm:
            out = Matrix(
                target, prefix, spec.out_channels, per_group_in, rows["out"],
                spec.out_channels_per_group,
            )  # fmt: skip
            return Gemm(
                out,
                self.image_matrix("gy", spec.out_channels, rows["out"]),
                self.columns(rows["in"], transposed=True),
                accumulate=True,
            )

        return (self.pad("x"), self.unfold(), self.per_group(product))

    def sum_partials(self) -> For:
        """gw = Σ over chunks of their partial sums (threads over output channels)."""
        spec, ix = self.spec, self.ix
        k, c = ix.c_out, ix.c_in
        taps = sp.symbols(f"t0:{spec.rank}", integer=True, nonnegative=True)
        index = (k, c, *taps)
        body: tuple[Stmt, ...] = (
            Init("acc"),
            For(
                self.chunk,
                self.chunks,
                (Accumulate("acc", (Read(PARTIAL_SUMS, (self.chunk, *index)),)),),
            ),
            Store(Read("gw", index), "acc"),
        )
        for tap, extent in reversed(tuple(zip(taps, spec.kernel_size))):
            body = (For(tap, extent, body),)
        body = (For(c, spec.in_channels_per_group, body),)
        return For(k, spec.out_channels, body, parallel=True)

    # ----- matrices ------------------------------------------------------------------
    def per_group(self, make: callable) -> Stmt:
        spec, g = self.spec, self.ix.g
        first_in = g * spec.in_channels_per_group * self.taps
        first_out = g * spec.out_channels_per_group
        product = make({"in": first_in, "out": first_out})
        return For(g, spec.groups, (product,)) if spec.groups > 1 else _at_group_zero(product, g)

    def image_matrix(self, buffer: str, channels: int, first: sp.Expr) -> Matrix:
        per_group = channels // self.spec.groups
        return Matrix(buffer, (self.ix.n,), channels, self.positions, first, per_group)

    def weight(self, first: sp.Expr, transposed: bool = False) -> Matrix:
        spec = self.spec
        cols = spec.in_channels_per_group * self.taps
        return Matrix("w", (), spec.out_channels, cols, first, spec.out_channels_per_group,
                      transposed)  # fmt: skip

    def columns(self, first: sp.Expr, transposed: bool = False) -> Matrix:
        spec = self.spec
        height = spec.in_channels * self.taps
        rows = spec.in_channels_per_group * self.taps
        return Matrix(COLUMNS, (self.slot,), height, self.positions, first, rows, transposed)

    # ----- unfolding and folding -----------------------------------------------------
    def padded_extent(self) -> tuple[int, ...]:
        """Per axis, the padded positions the windows read, (O − 1)·s + d·(k − 1) + 1, or
        lo + the input size when more (rows a strided layer never reads: their dL/dX is 0)."""
        spec = self.spec
        return tuple(
            max((o - 1) * s + d * (k - 1) + 1, low + size)
            for o, s, d, k, (low, _), size in zip(
                spec.output_size, spec.stride, spec.dilation, spec.kernel_size, spec.padding,
                spec.input_size,
            )
        )  # fmt: skip

    def pad(self, source: str) -> For:
        """padded[slot, c, p…] = source[n, c, p… − lo]: only the image's own positions."""
        spec, ix = self.spec, self.ix
        positions = sp.symbols(f"p0:{spec.rank}", integer=True, nonnegative=True)
        landing = [position + low for position, (low, _) in zip(positions, spec.padding)]
        body: tuple[Stmt, ...] = (
            Init("value", Read(source, (ix.n, ix.c_in, *positions))),
            Store(Read(PADDED, (self.slot, ix.c_in, *landing)), "value"),
        )
        return self.spatial(positions, spec.input_size, body, parallel_channels=True)

    def unfold(self) -> For:
        """columns[c·|K| + t, j] = padded[c, s·j + d·t]: a strided copy, no guard (padding is 0)."""
        spec, ix = self.spec, self.ix
        taps = sp.symbols(f"a0:{spec.rank}", integer=True, nonnegative=True)
        outputs = sp.symbols(f"j0:{spec.rank}", integer=True, nonnegative=True)
        window = tuple(
            s * j + d * t for s, j, d, t in zip(spec.stride, outputs, spec.dilation, taps)
        )
        body: tuple[Stmt, ...] = (
            Init("value", Read(PADDED, (self.slot, ix.c_in, *window))),
            Store(
                Read(COLUMNS, (self.slot, self.column_row(taps), _flat(outputs, spec.output_size))),
                "value",
            ),
        )
        return self.windows(taps, outputs, body)

    def fold(self) -> tuple[Stmt, ...]:
        """gx[n, c, s·j + d·t − lo] += columns[c·|K| + t, j], through a zeroed padded plane."""
        spec, ix = self.spec, self.ix
        positions = sp.symbols(f"p0:{spec.rank}", integer=True, nonnegative=True)
        zero = self.spatial(
            positions, self.padded_extent(),
            (Init("value"), Store(Read(PADDED, (self.slot, ix.c_in, *positions)), "value")),
            parallel_channels=True,
        )  # fmt: skip
        taps = sp.symbols(f"a0:{spec.rank}", integer=True, nonnegative=True)
        outputs = sp.symbols(f"j0:{spec.rank}", integer=True, nonnegative=True)
        window = tuple(
            s * j + d * t for s, j, d, t in zip(spec.stride, outputs, spec.dilation, taps)
        )
        column = Read(COLUMNS, (self.slot, self.column_row(taps), _flat(outputs, spec.output_size)))
        add = self.windows(
            taps, outputs, (ScatterAdd(Read(PADDED, (self.slot, ix.c_in, *window)), (column,)),)
        )
        reads = [position + low for position, (low, _) in zip(positions, spec.padding)]
        copy = self.spatial(
            positions, spec.input_size,
            (
                Init("value", Read(PADDED, (self.slot, ix.c_in, *reads))),
                Store(Read("gx", (ix.n, ix.c_in, *positions)), "value"),
            ),
            parallel_channels=True,
        )  # fmt: skip
        return (zero, add, copy)

    def column_row(self, taps: tuple[sp.Symbol, ...]) -> sp.Expr:
        """c·|K| + t: the filter tap that meets window offset t (mirrored for a convolution)."""
        spec = self.spec
        flipped = spec.mode == "convolution"
        row: sp.Expr = self.ix.c_in
        for t, k in zip(taps, spec.kernel_size):
            row = row * k + ((k - 1 - t) if flipped else t)
        return sp.expand(row)

    def windows(self, taps, outputs, body: tuple[Stmt, ...]) -> For:
        """for c: for taps: for output positions (the last one a vector loop): body."""
        spec = self.spec
        last = spec.rank - 1
        for axis in reversed(range(spec.rank)):
            body = (For(outputs[axis], spec.output_size[axis], body, vector=axis == last),)
        for axis in reversed(range(spec.rank)):
            body = (For(taps[axis], spec.kernel_size[axis], body),)
        return For(self.ix.c_in, spec.in_channels, body, parallel=self.chunks == 1)

    def spatial(self, positions, extents, body: tuple[Stmt, ...], parallel_channels: bool) -> For:
        last = self.spec.rank - 1
        for axis in reversed(range(self.spec.rank)):
            body = (For(positions[axis], extents[axis], body, vector=axis == last),)
        return For(
            self.ix.c_in, self.spec.in_channels, body,
            parallel=parallel_channels and self.chunks == 1,
        )  # fmt: skip


def _flat(positions: tuple[sp.Expr, ...], outputs: tuple[int, ...]) -> sp.Expr:
    index: sp.Expr = sp.S.Zero
    for p, o in zip(positions, outputs):
        index = index * o + p
    return sp.expand(index)


def _at_group_zero(stmt: Stmt, g: sp.Symbol) -> Stmt:
    (done,) = substitute((stmt,), {g: sp.S.Zero})
    return done


UNFOLD = UnfoldAlgorithm()
