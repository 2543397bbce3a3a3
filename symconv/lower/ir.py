"""The loop-nest IR: what a kernel does, with every index an integer SymPy expression.

The IR sits between the index-level formulas (which say *what* is summed) and a
target's templates (which only lay out text).  It is deliberately small: counted
loops, integer `Let` bindings, scalar accumulators (a sum or a max), reads, exact
constants, linear combinations with exact coefficients (a transform's rows), stores,
a scatter-add, a matrix product on contiguous 2-D views (`Gemm`, which a target may
hand to its BLAS), and an `If` for any guard no rewrite could remove.  Operands that
the rewrites turned into padded or dilated copies are listed on the `LoopNest` as
`Staged` buffers, so a template emits their set-up and never has to know why they
exist.

Passes rewrite nests with a `Transformer`: it walks every statement and rebuilds only
what a pass's ``visit_<Class>`` method changes, as SymPy's printers dispatch on
``_print_<Class>``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import sympy as sp

from symconv.symbolic.indices import Divisible, Guard, InRange

#: Accumulator kinds and the value each starts from: the identity of its reduction.
IDENTITIES = {"sum": 0.0, "max": -float("inf")}


# ----- expressions -------------------------------------------------------------------
@dataclass(frozen=True)
class Read:
    """buffer[index]: one element of an operand, a staged copy or the result."""

    buffer: str
    index: tuple[sp.Expr, ...]


@dataclass(frozen=True)
class Scalar:
    """A float held in a local variable: a read hoisted out of loops it does not depend on.

    Numba cannot prove that a weight never aliases the result it stores into, so
    LLVM keeps reloading it inside the hot loop; a local copy (`Init` of a `Read`)
    made before the loop is what lets the loop hold it in a register.
    """

    name: str


@dataclass(frozen=True)
class Const:
    """An exact rational constant factor (a transform matrix entry, a mean's 1/|K|).

    Targets print it exactly in their float type: numerator and denominator as
    integers, divided in that type.
    """

    value: sp.Rational


Factor = Read | Scalar | Const


@dataclass(frozen=True)
class Matrix:
    """A 2-D view of a contiguous buffer: ``buffer[prefix]`` reshaped to (rows, cols).

    `first_row` selects rows first_row .. first_row + rows − 1 of a taller matrix of
    `height` rows (a group's channels); `transposed` reads it as its transpose.  Every
    view a `Gemm` names is contiguous, which is what a BLAS needs.
    """

    buffer: str
    prefix: tuple[sp.Expr, ...]
    height: int
    cols: int
    first_row: sp.Expr = sp.S.Zero
    rows: int | None = None
    transposed: bool = False

    @property
    def shape(self) -> tuple[int, int]:
        rows = self.height if self.rows is None else self.rows
        return (self.cols, rows) if self.transposed else (rows, self.cols)


# ----- statements --------------------------------------------------------------------
@dataclass(frozen=True)
class Init:
    """acc = value (the bias addend, a result element, a hoisted read), or the identity of
    `reduction`: 0 or −∞."""

    acc: str
    value: Read | None = None
    reduction: str = "sum"


@dataclass(frozen=True)
class Accumulate:
    """acc += f1 * f2 * ...: the arithmetic of a reduction."""

    acc: str
    factors: tuple[Factor, ...]


@dataclass(frozen=True)
class Combine:
    """acc = c1·f1 + c2·f2 + …: a linear combination with exact rational coefficients.

    One row of a transform matrix applied to values held in locals (a Winograd tile);
    the coefficients come from the derivation, and a target prints them exactly.
    """

    acc: str
    terms: tuple[tuple[sp.Rational, Factor], ...]


@dataclass(frozen=True)
class Maximize:
    """if value > acc or value is NaN: acc = value, and each tracked index var = expr.

    The strict ``>`` keeps the first of equal values, so `track` remembers where the
    first maximum was (an argmax; ties go to the earlier iteration).  A NaN always
    takes over, as in PyTorch's pooling, so it propagates to the result.  Without
    `track` it is a plain running max.
    """

    acc: str
    value: Read
    track: tuple[tuple[sp.Symbol, sp.Expr], ...] = ()


@dataclass(frozen=True)
class ScatterAdd:
    """target += f1 * f2 * ...: an element chosen at run time (by an argmax) gains a term.

    Iterations that scatter must not run in parallel unless they write disjoint
    elements; the lowering parallelizes such nests only over whole (n, c) planes.
    """

    target: Read
    factors: tuple[Factor, ...]


@dataclass(frozen=True)
class Store:
    """target = acc · scale: write a finished reduction (scale 1/|K| for a mean)."""

    target: Read
    acc: str
    scale: sp.Rational = sp.S.One


@dataclass(frozen=True)
class Let:
    """var = expr: bind an integer index, e.g. from a fused loop counter.

    A `Maximize` may later reassign a var it tracks (the tap of a running argmax).
    """

    var: sp.Symbol
    expr: sp.Expr


@dataclass(frozen=True)
class Gemm:
    """out = a @ b, or out += a @ b when `accumulate`: a matrix product of 2-D views.

    A target with a BLAS calls it here; the nest around it decides the threads (never
    a threaded BLAS inside a parallel loop: one level of parallelism).
    """

    out: Matrix
    a: Matrix
    b: Matrix
    accumulate: bool = False


@dataclass(frozen=True)
class AddBias:
    """result[prefix, c, ...] += bias[c] for every channel c and position: after a `Gemm`."""

    target: Matrix
    bias: str


# ----- vector statements -------------------------------------------------------------
# A kernel with vector statements names its width once (`LoopNest.lanes`); a vector value
# lives in a named local, as accumulators do.  Their reads and stores index a buffer the
# nest reads through its flat 1-D view (`LoopNest.flat`): lanes are consecutive elements.
@dataclass(frozen=True)
class VecZero:
    """var = (0, …, 0)."""

    var: str


@dataclass(frozen=True)
class VecLoad:
    """var = source[index + l·step] for the lanes first ≤ l < stop, 0 in the others: one
    contiguous vector load, masked when it leaves lanes out (stop 0: every lane).  A
    masked-off lane is never read, so it may lie past the end of a row or the buffer.

    A step above 1 reads every step-th element (one stride phase of a row): contiguous
    loads of the stretch the lanes span, then a shuffle that keeps every step-th element;
    nothing past the last lane read is touched.
    """

    var: str
    source: Read
    first: int = 0
    stop: int = 0
    step: int = 1


@dataclass(frozen=True)
class VecBroadcast:
    """var = (value, …, value): one scalar in every lane."""

    var: str
    value: Factor


@dataclass(frozen=True)
class VecFma:
    """acc = a·b + acc, lane by lane (a vector FMA where the CPU has one)."""

    acc: str
    a: str
    b: str


@dataclass(frozen=True)
class VecStore:
    """target[index + l·stride] = var[l] for the lanes l < count.

    Stride 1 is one vector store (masked when it stops short of the last lane); another
    stride goes lane by lane, as when a tile of output channels lands in NCHW, where
    neighbouring channels lie a plane apart.
    """

    target: Read
    var: str
    stride: int = 1
    count: int = 0  # 0: every lane


@dataclass(frozen=True)
class VecStoreRows:
    """target[index + l·stride + k·step] = vars[k][l] for the lanes l < count and every k,
    written lane by lane, each lane's row of k together.

    A tile of output channels × neighbouring positions lands in NCHW one channel's row at a
    time, so each cache line is written in one go.  Written vector by vector instead (a
    `VecStore` per position), consecutive stores go to lines a plane apart; when the plane
    is a multiple of 4 KiB they all fall in one L1 set and evict each other (a 1-D layer
    with 1,024 outputs per channel ran 2.4 times slower than one with 1,040).
    """

    target: Read
    vars: tuple[str, ...]
    stride: int
    step: int = 1
    count: int = 0  # 0: every lane


@dataclass(frozen=True)
class VecStoreInterleaved:
    """target[index + l·k + j] = vars[j][l] for every element l·k + j < count (k vectors;
    count 0: all k·lanes): k vectors woven into consecutive elements, a lane of each in turn.

    The k stride phases of one row of dL/dX: phase j holds the inputs j, j + k, j + 2k, …
    of a stretch of the row, and woven they are the stretch itself, stored contiguously
    (one element at a time, every k-th, would cost a store per element).
    """

    target: Read
    vars: tuple[str, ...]
    count: int = 0  # 0: every element


@dataclass(frozen=True)
class VecTotal:
    """acc = the sum of var's lanes (a horizontal sum into a scalar accumulator)."""

    acc: str
    var: str


VectorStmt = (
    VecZero
    | VecLoad
    | VecBroadcast
    | VecFma
    | VecStore
    | VecStoreRows
    | VecStoreInterleaved
    | VecTotal
)


@dataclass(frozen=True)
class For:
    """for var in range(extent); `parallel` marks iterations that write disjoint data.

    `vector` marks the loop an algorithm laid its data out to vectorize (contiguous
    across iterations).  A target should keep its trip count opaque to the compiler:
    LLVM fully unrolls a short literal trip count (14 tile columns, say) and leaves
    the body scalar, where an unknown count of the same value gets vector FMAs.
    """

    var: sp.Symbol
    extent: int
    body: tuple[Stmt, ...]
    parallel: bool = False
    vector: bool = False
    #: Keep the trip count opaque without vectorizing: a loop LLVM must not unroll (a tap
    #: loop of explicit vector code, whose unrolled copies share loads and spill registers).
    opaque: bool = False


@dataclass(frozen=True)
class If:
    """A guard no rewrite removed; executed only when every guard holds."""

    guards: tuple[Guard, ...]
    body: tuple[Stmt, ...]


Stmt = (
    Init
    | Accumulate
    | Combine
    | Maximize
    | ScatterAdd
    | Store
    | Let
    | Gemm
    | AddBias
    | For
    | If
    | VectorStmt
)
Block = tuple[Stmt, ...]


# ----- buffers -----------------------------------------------------------------------
@dataclass(frozen=True)
class Operand:
    """A named array with a fixed shape: a kernel argument, its result or scratch space.

    Scratch that is `zeroed` starts at zero (its untouched parts are read as padding):
    a caller that keeps it between calls zeroes it once, since every call writes the
    same elements.  Scratch that is `accumulated` is added into (partial sums): it is
    zeroed at the start of every call.
    """

    name: str
    shape: tuple[int, ...]
    zeroed: bool = False
    accumulated: bool = False


@dataclass(frozen=True)
class StagedAxis:
    """How one axis of a staged copy is laid out: source element j lands at step·j + offset.

    `offset` may be negative (the copy starts past the first source elements: they are
    never read) and the copy may end before the source does; `extent` is exactly the
    range the kernel reads, so every read is in bounds without a guard.
    """

    offset: int
    step: int
    extent: int
    count: int

    @property
    def kept(self) -> range:
        """Source indices j whose landing place step·j + offset lies inside the copy."""
        first = max(0, -(self.offset // self.step))  # ceil(-offset / step)
        last = min(self.count - 1, (self.extent - 1 - self.offset) // self.step)
        return range(first, max(first, last + 1))

    @property
    def identity(self) -> bool:
        return self.offset == 0 and self.step == 1 and self.extent == self.count


@dataclass(frozen=True)
class Staged:
    """A copy of `source` with axes padded, cropped or dilated, filled with `fill`.

    This is the lecture's "pad X" and "dilate dL/dO with s − 1 zeros, then pad"
    as data: the template allocates `fill` of `shape` (zeros, or −∞ for a max) and
    copies the kept source elements to their landing places.
    """

    name: str
    source: Operand
    axes: tuple[StagedAxis, ...]
    fill: float = 0.0

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.extent for a in self.axes)

    @property
    def empty(self) -> bool:
        """True when no source element is ever read (every read lands in padding)."""
        return any(len(a.kept) == 0 for a in self.axes)

    def copy_slices(self) -> tuple[tuple[range, ...], tuple[range, ...]]:
        """(landing ranges in the copy, kept ranges of the source), one per axis.

        Ranges carry start, stop and step; a dilated axis lands every step-th element.
        """
        landing, kept = [], []
        for axis in self.axes:
            k = axis.kept
            start = axis.step * k.start + axis.offset
            landing.append(range(start, start + axis.step * len(k), axis.step))
            kept.append(k)
        return tuple(landing), tuple(kept)

    @property
    def pads(self) -> tuple[tuple[int, int], ...]:
        """(before, after) zeros per axis in landing coordinates; negative means cropped."""
        return tuple(
            (a.offset, a.extent - (a.step * (a.count - 1) + 1) - a.offset) for a in self.axes
        )


@dataclass(frozen=True)
class LoopNest:
    """One kernel: arguments, staged copies, scratch buffers, the result and the loops.

    `zeroed` says the body adds into the result (`ScatterAdd`, an accumulating `Gemm`),
    which must therefore start at zero; `strict_float` says the kernel relies on −∞ or
    NaN behaving as IEEE 754 says (max pooling), so a target must not compile it with
    fast-math assumptions of finite values.  `flat` names buffers the target should
    index through flat 1-D views with literal strides: a hint from algorithms whose hot
    loops read many rows of one array (LLVM cannot prove that rows reached through
    runtime strides never overlap, and then declines to vectorize).  `blas_in_threads`
    says a `Gemm` runs inside a parallel loop: the runtime must hold the BLAS to one
    thread for the call, or its threads and the loop's oversubscribe the cores.
    `algorithm` names the algorithm that built the nest (the driver records it);
    `threads` holds a parallel kernel to that many threads (0: as many as the runtime has);
    `lanes` is the width of its vector statements.
    """

    name: str
    params: tuple[Operand, ...]
    result: Operand
    body: Block
    staged: tuple[Staged, ...] = ()
    scratch: tuple[Operand, ...] = ()
    parallel: bool = False
    notes: tuple[str, ...] = ()
    zeroed: bool = False
    strict_float: bool = False
    flat: tuple[str, ...] = ()
    blas_in_threads: bool = False
    algorithm: str = ""
    threads: int = 0
    #: Lanes of the nest's vector statements (0: it has none).
    lanes: int = 0

    def buffers(self) -> dict[str, tuple[int, ...]]:
        """Every array the body may read or write, by name: its shape."""
        found = {p.name: p.shape for p in (*self.params, *self.scratch, self.result)}
        found.update({s.name: s.shape for s in self.staged})
        return found

    def statements(self) -> Iterator[tuple[Stmt, tuple[For, ...]]]:
        """Every statement with the loops that enclose it, outermost first."""
        yield from walk(self.body)


def walk(body: Block, loops: tuple[For, ...] = ()) -> Iterator[tuple[Stmt, tuple]]:
    """Depth-first traversal yielding (statement, enclosing For loops)."""
    for stmt in body:
        yield stmt, loops
        if isinstance(stmt, For):
            yield from walk(stmt.body, loops + (stmt,))
        elif isinstance(stmt, If):
            yield from walk(stmt.body, loops)


def free_indices(body: Block) -> frozenset[sp.Symbol]:
    """Index variables `body` reads but does not bind: what it needs from around it."""
    used: set[sp.Symbol] = set()

    def note(expr: sp.Expr) -> sp.Expr:
        used.update(expr.free_symbols)
        return expr

    ExpressionMapper(note)(body)
    return frozenset(used - bound_indices(body))


def bound_indices(body: Block) -> set[sp.Symbol]:
    """Index variables `body` assigns: loop counters, `Let`s and a `Maximize`'s tracks."""
    bound: set[sp.Symbol] = set()
    for stmt, _ in walk(body):
        if isinstance(stmt, (For, Let)):
            bound.add(stmt.var)
        elif isinstance(stmt, Maximize):
            bound.update(var for var, _ in stmt.track)
    return bound


def accessed_buffers(body: Block) -> frozenset[str]:
    """Names of the buffers `body` reads or writes element by element (not `Gemm` views)."""
    found: set[str] = set()

    class _Note(ExpressionMapper):
        def read(self, factor: Factor) -> Factor:
            if isinstance(factor, Read):
                found.add(factor.buffer)
            return factor

    _Note(lambda e: e)(body)
    return frozenset(found)


def buffer_effects(body: Block) -> tuple[frozenset[str], frozenset[str]]:
    """(buffers `body` reads, buffers it writes), element by element or as matrix views.

    A scatter-add, an accumulating product and a bias update read what they write.
    """
    reads: set[str] = set()
    writes: set[str] = set()

    def read(factor: object) -> None:
        if isinstance(factor, Read):
            reads.add(factor.buffer)

    for stmt, _ in walk(body):
        if isinstance(stmt, VecLoad):
            read(stmt.source)
        elif isinstance(stmt, VecBroadcast):
            read(stmt.value)
        elif isinstance(stmt, (VecStore, VecStoreRows, VecStoreInterleaved)):
            writes.add(stmt.target.buffer)
        if isinstance(stmt, Init) and stmt.value is not None:
            read(stmt.value)
        elif isinstance(stmt, (Accumulate, ScatterAdd)):
            for factor in stmt.factors:
                read(factor)
        elif isinstance(stmt, Combine):
            for _, factor in stmt.terms:
                read(factor)
        elif isinstance(stmt, Maximize):
            read(stmt.value)
        if isinstance(stmt, ScatterAdd):
            reads.add(stmt.target.buffer)
            writes.add(stmt.target.buffer)
        elif isinstance(stmt, Store):
            writes.add(stmt.target.buffer)
        elif isinstance(stmt, Gemm):
            reads.update((stmt.a.buffer, stmt.b.buffer))
            writes.add(stmt.out.buffer)
            if stmt.accumulate:
                reads.add(stmt.out.buffer)
        elif isinstance(stmt, AddBias):
            reads.update((stmt.target.buffer, stmt.bias))
            writes.add(stmt.target.buffer)
    return frozenset(reads), frozenset(writes)


def has_vector_statement(body: Block) -> bool:
    vector = (
        VecZero, VecLoad, VecBroadcast, VecFma, VecStore, VecStoreRows, VecStoreInterleaved,
        VecTotal,
    )  # fmt: skip
    return any(isinstance(s, vector) for s, _ in walk(body))


def has_parallel_loop(body: Block) -> bool:
    return any(isinstance(s, For) and s.parallel for s, _ in walk(body))


# ----- rewriting ---------------------------------------------------------------------
class Transformer:
    """Rebuild a block statement by statement; override ``visit_<Class>`` for what changes.

    A visit returns a statement, a tuple of statements (spliced in place) or ``()``
    (the statement goes).  The default visit of `For` and `If` rewrites their bodies
    and keeps everything else, so a pass names only the nodes it cares about.
    """

    def __call__(self, body: Block) -> Block:
        return self.block(body)

    def block(self, body: Block) -> Block:
        out: list[Stmt] = []
        for stmt in body:
            result = self.visit(stmt)
            out.extend(result if isinstance(result, tuple) else (result,))
        return tuple(out)

    def visit(self, stmt: Stmt) -> Stmt | Block:
        method = getattr(self, f"visit_{type(stmt).__name__}", self.generic_visit)
        return method(stmt)

    def generic_visit(self, stmt: Stmt) -> Stmt | Block:
        if isinstance(stmt, (For, If)):
            return replace(stmt, body=self.block(stmt.body))
        return stmt


class ExpressionMapper(Transformer):
    """Apply `expression` to every index expression of every statement (not loop bounds)."""

    def __init__(self, expression: Callable[[sp.Expr], sp.Expr]) -> None:
        self.expression = expression

    def exprs(self, values: tuple) -> tuple[sp.Expr, ...]:
        return tuple(self.expression(sp.sympify(e)) for e in values)

    def read(self, factor: Factor) -> Factor:
        if isinstance(factor, Read):
            return Read(factor.buffer, self.exprs(factor.index))
        return factor

    def matrix(self, m: Matrix) -> Matrix:
        return replace(m, prefix=self.exprs(m.prefix), first_row=self.expression(m.first_row))

    def guard(self, guard: Guard) -> Guard:
        if isinstance(guard, InRange):
            return InRange(self.expression(guard.expr), guard.bound)
        return Divisible(self.expression(guard.expr), guard.divisor)

    def visit_Init(self, stmt: Init) -> Stmt:
        return replace(stmt, value=self.read(stmt.value) if stmt.value is not None else None)

    def visit_Accumulate(self, stmt: Accumulate) -> Stmt:
        return Accumulate(stmt.acc, tuple(self.read(f) for f in stmt.factors))

    def visit_Combine(self, stmt: Combine) -> Stmt:
        return Combine(stmt.acc, tuple((c, self.read(f)) for c, f in stmt.terms))

    def visit_Maximize(self, stmt: Maximize) -> Stmt:
        track = tuple((v, self.expression(sp.sympify(e))) for v, e in stmt.track)
        return Maximize(stmt.acc, self.read(stmt.value), track)

    def visit_ScatterAdd(self, stmt: ScatterAdd) -> Stmt:
        return ScatterAdd(self.read(stmt.target), tuple(self.read(f) for f in stmt.factors))

    def visit_Store(self, stmt: Store) -> Stmt:
        return replace(stmt, target=self.read(stmt.target))

    def visit_Let(self, stmt: Let) -> Stmt:
        return Let(stmt.var, self.expression(stmt.expr))

    def visit_Gemm(self, stmt: Gemm) -> Stmt:
        return replace(
            stmt, out=self.matrix(stmt.out), a=self.matrix(stmt.a), b=self.matrix(stmt.b)
        )

    def visit_AddBias(self, stmt: AddBias) -> Stmt:
        return replace(stmt, target=self.matrix(stmt.target))

    def visit_If(self, stmt: If) -> Stmt:
        return If(tuple(self.guard(g) for g in stmt.guards), self.block(stmt.body))

    def visit_VecLoad(self, stmt: VecLoad) -> Stmt:
        return replace(stmt, source=self.read(stmt.source))

    def visit_VecBroadcast(self, stmt: VecBroadcast) -> Stmt:
        return replace(stmt, value=self.read(stmt.value))

    def visit_VecStore(self, stmt: VecStore) -> Stmt:
        return replace(stmt, target=self.read(stmt.target))

    def visit_VecStoreRows(self, stmt: VecStoreRows) -> Stmt:
        return replace(stmt, target=self.read(stmt.target))

    def visit_VecStoreInterleaved(self, stmt: VecStoreInterleaved) -> Stmt:
        return replace(stmt, target=self.read(stmt.target))


class _Flatten(ExpressionMapper):
    def __init__(self, shapes: dict[str, tuple[int, ...]], suffix: str) -> None:
        super().__init__(lambda e: e)
        self.shapes, self.suffix = shapes, suffix

    def read(self, factor: Factor) -> Factor:
        if not isinstance(factor, Read) or factor.buffer not in self.shapes:
            return factor
        linear, stride = sp.S.Zero, 1
        for index, size in reversed(tuple(zip(factor.index, self.shapes[factor.buffer]))):
            linear += sp.sympify(index) * stride
            stride *= size
        return Read(f"{factor.buffer}{self.suffix}", (sp.expand(linear),))


def flatten_reads(body: Block, shapes: dict[str, tuple[int, ...]], suffix: str) -> Block:
    """Every read of a buffer in `shapes` as a read of its flat view `<name><suffix>`."""
    return _Flatten(shapes, suffix)(body)


def substitute(body: Block, mapping: dict[sp.Symbol, sp.Expr]) -> Block:
    """Replace index symbols everywhere in `body` (loop bounds are integers, untouched)."""
    return ExpressionMapper(lambda e: e.xreplace(mapping))(body)


def substitute_guard(guard: Guard, mapping: dict[sp.Symbol, sp.Expr]) -> Guard:
    return ExpressionMapper(lambda e: e.xreplace(mapping)).guard(guard)


class _RenameAccumulators(Transformer):
    def __init__(self, suffix: str) -> None:
        self.suffix = suffix

    def _renamed(self, stmt: Init | Accumulate | Maximize | Store) -> Stmt:
        return replace(stmt, acc=f"{stmt.acc}_{self.suffix}")

    visit_Init = visit_Accumulate = visit_Maximize = visit_Store = _renamed


def rename_accumulators(body: Block, suffix: str) -> Block:
    """acc -> acc_<suffix> in every statement: private accumulators for a jammed copy."""
    return _RenameAccumulators(suffix)(body)


def declares_accumulator(body: Block) -> bool:
    """True when `body` starts a sum of its own (an Init somewhere inside)."""
    return any(isinstance(stmt, Init) for stmt, _ in walk(body))
