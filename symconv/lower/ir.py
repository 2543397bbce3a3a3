"""The loop-nest IR: what a kernel does, with every index an integer SymPy expression.

The IR sits between the index-level formulas (which say *what* is summed) and the
templates (which only lay out text).  It is deliberately small: counted loops, integer
`Let` bindings, scalar accumulators (a sum or a max), reads, stores, a scatter-add, and
an `If` for any guard no rewrite could remove.  Operands that the rewrites turned into
padded or dilated copies are listed on the `LoopNest` as `Staged` buffers, so a
template emits their set-up and never has to know why they exist.
"""

from __future__ import annotations

from collections.abc import Iterator
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
    """acc += f1 * f2 * ...: the only arithmetic a kernel performs."""

    acc: str
    factors: tuple[Read | Scalar, ...]


@dataclass(frozen=True)
class Maximize:
    """if value > acc: acc = value, and each tracked index var = expr.

    The strict ``>`` keeps the first of equal values, so `track` remembers where the
    first maximum was (an argmax; ties go to the earlier iteration).  Without `track`
    it is a plain running max.
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
    factors: tuple[Read, ...]


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
class For:
    """for var in range(extent); `parallel` marks iterations that write disjoint data."""

    var: sp.Symbol
    extent: int
    body: tuple[Stmt, ...]
    parallel: bool = False


@dataclass(frozen=True)
class If:
    """A guard no rewrite removed; executed only when every guard holds."""

    guards: tuple[Guard, ...]
    body: tuple[Stmt, ...]


Stmt = Init | Accumulate | Maximize | ScatterAdd | Store | Let | For | If


# ----- buffers -----------------------------------------------------------------------
@dataclass(frozen=True)
class Operand:
    """A named array with a fixed shape: a kernel argument, its result or scratch space."""

    name: str
    shape: tuple[int, ...]


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

    `zeroed` says the body adds into the result (`ScatterAdd`), which must therefore
    start at zero; `fastmath` is False when the kernel handles −∞ (max pooling), which
    fast-math code generation may assume never occurs.
    """

    name: str
    params: tuple[Operand, ...]
    result: Operand
    body: tuple[Stmt, ...]
    staged: tuple[Staged, ...] = ()
    scratch: tuple[Operand, ...] = ()
    parallel: bool = False
    notes: tuple[str, ...] = ()
    zeroed: bool = False
    fastmath: bool = True

    def statements(self) -> Iterator[tuple[Stmt, tuple[For, ...]]]:
        """Every statement with the loops that enclose it, outermost first."""
        yield from walk(self.body)


def walk(body: tuple[Stmt, ...], loops: tuple[For, ...] = ()) -> Iterator[tuple[Stmt, tuple]]:
    """Depth-first traversal yielding (statement, enclosing For loops)."""
    for stmt in body:
        yield stmt, loops
        if isinstance(stmt, For):
            yield from walk(stmt.body, loops + (stmt,))
        elif isinstance(stmt, If):
            yield from walk(stmt.body, loops)


# ----- tree rewriting helpers --------------------------------------------------------
def substitute(body: tuple[Stmt, ...], mapping: dict[sp.Symbol, sp.Expr]) -> tuple[Stmt, ...]:
    """Replace index symbols everywhere in `body` (loop bounds are integers, untouched)."""
    return tuple(_substitute(stmt, mapping) for stmt in body)


def _substitute(stmt: Stmt, mapping: dict[sp.Symbol, sp.Expr]) -> Stmt:
    def read(r: Read | Scalar) -> Read | Scalar:
        if isinstance(r, Scalar):
            return r
        return Read(r.buffer, tuple(sp.sympify(e).xreplace(mapping) for e in r.index))

    if isinstance(stmt, Init):
        return replace(stmt, value=read(stmt.value) if stmt.value is not None else None)
    if isinstance(stmt, Accumulate):
        return Accumulate(stmt.acc, tuple(read(f) for f in stmt.factors))
    if isinstance(stmt, Maximize):
        track = tuple((v, sp.sympify(e).xreplace(mapping)) for v, e in stmt.track)
        return Maximize(stmt.acc, read(stmt.value), track)
    if isinstance(stmt, ScatterAdd):
        return ScatterAdd(read(stmt.target), tuple(read(f) for f in stmt.factors))
    if isinstance(stmt, Store):
        return replace(stmt, target=read(stmt.target))
    if isinstance(stmt, Let):
        return Let(stmt.var, stmt.expr.xreplace(mapping))
    if isinstance(stmt, For):
        return For(stmt.var, stmt.extent, substitute(stmt.body, mapping), stmt.parallel)
    return If(
        tuple(substitute_guard(g, mapping) for g in stmt.guards), substitute(stmt.body, mapping)
    )


def substitute_guard(guard: Guard, mapping: dict[sp.Symbol, sp.Expr]) -> Guard:
    if isinstance(guard, InRange):
        return InRange(guard.expr.xreplace(mapping), guard.bound)
    return Divisible(guard.expr.xreplace(mapping), guard.divisor)


def rename_accumulators(body: tuple[Stmt, ...], suffix: str) -> tuple[Stmt, ...]:
    """acc -> acc_<suffix> in every statement: private accumulators for a jammed copy."""
    return tuple(_rename(stmt, suffix) for stmt in body)


def _rename(stmt: Stmt, suffix: str) -> Stmt:
    if isinstance(stmt, (Init, Accumulate, Maximize, Store)):
        return replace(stmt, acc=f"{stmt.acc}_{suffix}")
    if isinstance(stmt, For):
        return For(stmt.var, stmt.extent, rename_accumulators(stmt.body, suffix), stmt.parallel)
    if isinstance(stmt, If):
        return If(stmt.guards, rename_accumulators(stmt.body, suffix))
    return stmt


def declares_accumulator(body: tuple[Stmt, ...]) -> bool:
    """True when `body` starts a sum of its own (an Init somewhere inside)."""
    return any(isinstance(stmt, Init) for stmt, _ in walk(body))
