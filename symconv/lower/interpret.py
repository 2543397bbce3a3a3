"""Run a loop nest in plain Python: the executable meaning of the IR, for small layers.

Every lowering pass must keep a nest's meaning.  This interpreter makes that
checkable without Numba or templates: lower a formula, run the nest here on random
arrays and compare with `symconv.reference`.  It mirrors `IndexFormula.evaluate` one
stage later and is as slow as it is simple.

It also checks what a parallel loop promises (`For.parallel`: its iterations may run
at once, in any order).  While a parallel loop runs, every element each iteration
reads or writes is recorded, and so is every local it reads before writing it; the
loop is a race, and `run` raises `RaceError`, when an element one iteration writes
is read or written by another, or when an iteration reads a local that some
iteration writes (a value carried from one iteration to the next).  A target runs
parallel loops one after another in the order written (the CPU target compiles
with Numba's loop fusion off), so these two checks are all that threads add to the
meaning of a nest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import sympy as sp

from symconv.lower.ir import (
    IDENTITIES,
    Accumulate,
    AddBias,
    Combine,
    Const,
    Factor,
    For,
    Gemm,
    If,
    Init,
    Let,
    LoopNest,
    Matrix,
    Maximize,
    Read,
    ScatterAdd,
    Staged,
    Stmt,
    Store,
    VecBroadcast,
    VecFma,
    VecLoad,
    VecStore,
    VecStoreInterleaved,
    VecStoreRows,
    VecTotal,
    VecZero,
)
from symconv.symbolic.index_printer import python_index
from symconv.symbolic.indices import Guard, InRange


class RaceError(AssertionError):
    """Two iterations of a parallel loop touch the same data, one of them writing it."""


def run(nest: LoopNest, inputs: dict[str, np.ndarray], check_races: bool = True) -> np.ndarray:
    """Execute `nest` on `inputs` (by parameter name) and return its result array.

    The result starts as NaN, so an element the nest forgets to store is visible;
    a nest that adds into its result (`LoopNest.zeroed`) starts from zeros instead.
    With `check_races`, every parallel loop is checked as the module docstring says.
    """
    buffers: dict[str, np.ndarray] = {p.name: np.asarray(inputs[p.name]) for p in nest.params}
    for staged in nest.staged:
        buffers[staged.name] = materialize(staged, buffers[staged.source.name])
    for scratch in nest.scratch:
        starts_at_zero = scratch.zeroed or scratch.accumulated
        buffers[scratch.name] = np.full(scratch.shape, 0.0 if starts_at_zero else np.nan)
    buffers[nest.result.name] = np.full(nest.result.shape, 0.0 if nest.zeroed else np.nan)
    _Interpreter(buffers, check_races, nest.lanes).execute(nest.body)
    return buffers[nest.result.name]


def materialize(staged: Staged, source: np.ndarray) -> np.ndarray:
    """The padded / dilated copy a kernel would set up, filled with `staged.fill`."""
    out = np.full(staged.shape, staged.fill, dtype=source.dtype)
    if not staged.empty:
        landing, kept = staged.copy_slices()
        out[tuple(slice(r.start, r.stop, r.step) for r in landing)] = source[
            tuple(slice(r.start, r.stop, r.step) for r in kept)
        ]
    return out


@dataclass
class _Iteration:
    """What one iteration of a parallel loop touched."""

    reads: set[tuple[str, int]] = field(default_factory=set)
    writes: set[tuple[str, int]] = field(default_factory=set)
    #: Locals (accumulators, index variables) written, and those read before any write.
    assigned: set[str] = field(default_factory=set)
    inherited: set[str] = field(default_factory=set)


class _Interpreter:
    """The state of one run: index variables, accumulators, buffers, open parallel loops."""

    def __init__(self, buffers: dict[str, np.ndarray], check_races: bool, lanes: int = 0) -> None:
        self.env: dict[sp.Symbol, int] = {}
        self.accs: dict[str, float] = {}
        self.buffers = buffers
        self.check_races = check_races
        #: Width of vector values: a vector local is a NumPy array of this many lanes.
        self.lanes = lanes
        #: One record per open parallel loop: the iteration running now.
        self.open: list[_Iteration] = []

    # ----- what the open parallel loops see ---------------------------------------------
    def _touch(self, buffer: str, flat: np.ndarray | int, write: bool) -> None:
        if not self.open:
            return
        elements = {(buffer, int(i)) for i in np.atleast_1d(flat)}
        for iteration in self.open:
            (iteration.writes if write else iteration.reads).update(elements)

    def _assign(self, name: str) -> None:
        for iteration in self.open:
            iteration.assigned.add(name)

    def _use(self, name: str) -> None:
        for iteration in self.open:
            if name not in iteration.assigned:
                iteration.inherited.add(name)

    def _flat(self, buffer: str, index: tuple[int, ...]) -> int:
        return int(np.ravel_multi_index(index, self.buffers[buffer].shape))

    # ----- values ---------------------------------------------------------------------
    def index(self, exprs: tuple) -> tuple[int, ...]:
        values = _evaluator(tuple(exprs))(self.env)
        if self.open:
            for symbol in _symbols(tuple(exprs)):
                self._use(symbol.name)
        return values

    def element(self, read: Read) -> tuple[int, ...]:
        """The element a read touches; a negative index (NumPy would wrap it) is an error."""
        index = self.index(read.index)
        if any(i < 0 for i in index):
            raise IndexError(f"negative index {index} reading {read.buffer}")
        return index

    def load(self, factor: Factor) -> float:
        if isinstance(factor, Const):
            return float(factor.value)
        if isinstance(factor, Read):
            index = self.element(factor)
            self._touch(factor.buffer, self._flat(factor.buffer, index), write=False)
            return float(self.buffers[factor.buffer][index])
        self._use(factor.name)
        return self.accs[factor.name]

    def product(self, factors: tuple[Factor, ...]) -> float:
        product = 1.0
        for factor in factors:
            product *= self.load(factor)
        return product

    def holds(self, guard: Guard) -> bool:
        (value,) = self.index((guard.expr,))
        if isinstance(guard, InRange):
            return 0 <= value < guard.bound
        return value % guard.divisor == 0

    def matrix(self, matrix: Matrix, write: bool, read: bool = True) -> np.ndarray:
        """The 2-D view a `Gemm` names (a view: writing it writes the buffer)."""
        prefix = self.index(tuple(matrix.prefix)) if matrix.prefix else ()
        rows = self.rows(matrix)
        view = self.buffers[matrix.buffer][prefix].reshape(matrix.height, matrix.cols)[rows]
        if self.open:
            numbers = np.arange(self.buffers[matrix.buffer].size)
            numbers = numbers.reshape(self.buffers[matrix.buffer].shape)[prefix]
            touched = numbers.reshape(matrix.height, matrix.cols)[rows].ravel()
            if read:
                self._touch(matrix.buffer, touched, write=False)
            if write:
                self._touch(matrix.buffer, touched, write=True)
        return view.T if matrix.transposed else view

    def rows(self, matrix: Matrix) -> slice:
        (first,) = self.index((matrix.first_row,))
        rows = matrix.height if matrix.rows is None else matrix.rows
        return slice(first, first + rows)

    # ----- statements -----------------------------------------------------------------
    def execute(self, body: tuple[Stmt, ...]) -> None:
        for stmt in body:
            getattr(self, f"_{type(stmt).__name__}")(stmt)

    def _For(self, stmt: For) -> None:
        if stmt.parallel and self.check_races:
            self._parallel(stmt)
            return
        for value in range(stmt.extent):
            self.env[stmt.var] = value
            self._assign(stmt.var.name)
            self.execute(stmt.body)

    def _parallel(self, stmt: For) -> None:
        iterations = []
        for value in range(stmt.extent):
            with self._recording() as iteration:
                self.env[stmt.var] = value
                self._assign(stmt.var.name)
                self.execute(stmt.body)
            iterations.append(iteration)
            if self.open:  # what an inner parallel loop touched, the outer iteration touched
                parent = self.open[-1]
                parent.reads |= iteration.reads
                parent.writes |= iteration.writes
                parent.assigned |= iteration.assigned
                parent.inherited |= iteration.inherited - parent.assigned
        _check_iterations(stmt, iterations)

    @contextmanager
    def _recording(self) -> Iterator[_Iteration]:
        iteration = _Iteration()
        saved, self.open = self.open, [iteration]
        try:
            yield iteration
        finally:
            self.open = saved

    def _Let(self, stmt: Let) -> None:
        (self.env[stmt.var],) = self.index((stmt.expr,))
        self._assign(stmt.var.name)

    def _Init(self, stmt: Init) -> None:
        start = IDENTITIES[stmt.reduction]
        self.accs[stmt.acc] = start if stmt.value is None else self.load(stmt.value)
        self._assign(stmt.acc)

    def _Accumulate(self, stmt: Accumulate) -> None:
        self._use(stmt.acc)
        self.accs[stmt.acc] += self.product(stmt.factors)
        self._assign(stmt.acc)

    def _Combine(self, stmt: Combine) -> None:
        self.accs[stmt.acc] = sum(float(c) * self.load(f) for c, f in stmt.terms)
        self._assign(stmt.acc)

    def _Maximize(self, stmt: Maximize) -> None:
        value = self.load(stmt.value)
        self._use(stmt.acc)
        if value > self.accs[stmt.acc] or value != value:
            self.accs[stmt.acc] = value
            self._assign(stmt.acc)
            for var, expr in stmt.track:
                (self.env[var],) = self.index((expr,))
                self._assign(var.name)

    def _ScatterAdd(self, stmt: ScatterAdd) -> None:
        index = self.element(stmt.target)
        flat = self._flat(stmt.target.buffer, index)
        self._touch(stmt.target.buffer, flat, write=False)
        self._touch(stmt.target.buffer, flat, write=True)
        self.buffers[stmt.target.buffer][index] += self.product(stmt.factors)

    def _Store(self, stmt: Store) -> None:
        self._use(stmt.acc)
        index = self.element(stmt.target)
        self._touch(stmt.target.buffer, self._flat(stmt.target.buffer, index), write=True)
        self.buffers[stmt.target.buffer][index] = self.accs[stmt.acc] * float(stmt.scale)

    def _If(self, stmt: If) -> None:
        if all(self.holds(g) for g in stmt.guards):
            self.execute(stmt.body)

    # ----- vector statements: each lane as the plain arithmetic it stands for --------------
    def _VecZero(self, stmt: VecZero) -> None:
        self.accs[stmt.var] = np.zeros(self.lanes)
        self._assign(stmt.var)

    def _VecLoad(self, stmt: VecLoad) -> None:
        flat = self._lane_base(stmt.source)
        buffer = self.buffers[stmt.source.buffer].reshape(-1)
        first, stop = stmt.first, stmt.stop or self.lanes
        read = flat + stmt.step * np.arange(first, stop)
        if read.size and (read[0] < 0 or read[-1] >= buffer.size):
            raise IndexError(f"vector load outside {stmt.source.buffer} at {flat}")
        self._touch(stmt.source.buffer, read, write=False)
        value = np.zeros(self.lanes)
        value[first:stop] = buffer[read]
        self.accs[stmt.var] = value
        self._assign(stmt.var)

    def _VecBroadcast(self, stmt: VecBroadcast) -> None:
        self.accs[stmt.var] = np.full(self.lanes, self.load(stmt.value))
        self._assign(stmt.var)

    def _VecFma(self, stmt: VecFma) -> None:
        for name in (stmt.a, stmt.b, stmt.acc):
            self._use(name)
        self.accs[stmt.acc] = self.accs[stmt.a] * self.accs[stmt.b] + self.accs[stmt.acc]
        self._assign(stmt.acc)

    def _VecStore(self, stmt: VecStore) -> None:
        self._store_lanes(stmt.target, (stmt.var,), stmt.stride, 0, stmt.count)

    def _VecStoreRows(self, stmt: VecStoreRows) -> None:
        self._store_lanes(stmt.target, stmt.vars, stmt.stride, stmt.step, stmt.count)

    def _VecStoreInterleaved(self, stmt: VecStoreInterleaved) -> None:
        """target[index + e] = vars[e mod k][e div k] for the elements e < count (0: all)."""
        for name in stmt.vars:
            self._use(name)
        woven = np.stack([self.accs[name] for name in stmt.vars], axis=1).reshape(-1)
        count = stmt.count or woven.size
        places = self._lane_base(stmt.target) + np.arange(count)
        buffer = self.buffers[stmt.target.buffer]
        if places.min() < 0 or places.max() >= buffer.size:
            raise IndexError(f"vector store outside {stmt.target.buffer} at {places}")
        self._touch(stmt.target.buffer, places, write=True)
        buffer.reshape(-1)[places] = woven[:count]

    def _store_lanes(
        self, target: Read, names: tuple[str, ...], stride: int, step: int, count: int
    ) -> None:
        """target[index + l·stride + k·step] = names[k][l] for the lanes l < count (0: all)."""
        for name in names:
            self._use(name)
        flat = self._lane_base(target)
        count = count or self.lanes
        places = flat + stride * np.arange(count)[:, None] + step * np.arange(len(names))
        buffer = self.buffers[target.buffer]
        if places.min() < 0 or places.max() >= buffer.size:
            raise IndexError(f"vector store outside {target.buffer} at {places}")
        self._touch(target.buffer, places.reshape(-1), write=True)
        values = np.stack([self.accs[name][:count] for name in names], axis=1)
        buffer.reshape(-1)[places] = values

    def _VecTotal(self, stmt: VecTotal) -> None:
        self._use(stmt.var)
        self.accs[stmt.acc] = float(np.sum(self.accs[stmt.var]))
        self._assign(stmt.acc)

    def _lane_base(self, read: Read) -> int:
        """The flat position of lane 0, row-major as the target's flat views compute it: a
        masked vector may start before its row (or the buffer), at lanes it never reads."""
        index = self.index(read.index)
        shape = self.buffers[read.buffer].shape
        flat = 0
        for i, size in zip(index, shape):
            flat = flat * size + i
        return flat

    def _Gemm(self, stmt: Gemm) -> None:
        product = self.matrix(stmt.a, write=False) @ self.matrix(stmt.b, write=False)
        out = self.matrix(stmt.out, write=True, read=stmt.accumulate)
        out[...] = out + product if stmt.accumulate else product

    def _AddBias(self, stmt: AddBias) -> None:
        out = self.matrix(stmt.target, write=True)
        rows = self.rows(stmt.target)
        if self.open:
            self._touch(stmt.bias, np.arange(self.buffers[stmt.bias].size)[rows], write=False)
        out += self.buffers[stmt.bias][rows][:, None]


def _check_iterations(loop: For, iterations: list[_Iteration]) -> None:
    """Raise `RaceError` when two iterations of `loop` conflict (see the module docstring)."""
    writer: dict[tuple[str, int], int] = {}
    for number, iteration in enumerate(iterations):
        for element in iteration.writes:
            other = writer.setdefault(element, number)
            if other != number:
                raise RaceError(
                    f"parallel loop over {loop.var} is a race: iterations {other} and {number} "
                    f"both write {element[0]} element {element[1]}"
                )
    for number, iteration in enumerate(iterations):
        for element in iteration.reads:
            other = writer.get(element, number)
            if other != number:
                raise RaceError(
                    f"parallel loop over {loop.var} is a race: iteration {number} reads "
                    f"{element[0]} element {element[1]}, which iteration {other} writes"
                )
    assigned = set().union(*(i.assigned for i in iterations)) if iterations else set()
    for number, iteration in enumerate(iterations):
        carried = iteration.inherited & assigned
        if carried:
            raise RaceError(
                f"parallel loop over {loop.var} is a race: iteration {number} reads "
                f"{', '.join(sorted(carried))} before writing it, and the loop writes it"
            )


@cache
def _symbols(exprs: tuple) -> tuple[sp.Symbol, ...]:
    return tuple(set().union(*(sp.sympify(e).free_symbols for e in exprs))) if exprs else ()


@cache
def _evaluator(exprs: tuple[sp.Expr, ...]) -> Callable[[dict], tuple[int, ...]]:
    """Compile integer index expressions once; evaluate them from the loop environment.

    Exact integer arithmetic (`python_index` prints floor(a/b) as ``a // b``): floats
    would turn floor(7/3 − 1/3) into floor(1.9999…) = 1.
    """
    exprs = tuple(sp.sympify(e) for e in exprs)
    symbols = sorted(set().union(*(e.free_symbols for e in exprs)), key=lambda s: s.name)
    body = ", ".join(python_index(e) for e in exprs)
    func = eval(f"lambda {', '.join(s.name for s in symbols)}: ({body},)")  # noqa: S307
    return lambda env: func(*(env[s] for s in symbols))
