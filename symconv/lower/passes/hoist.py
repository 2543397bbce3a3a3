"""Loop-invariant reads out of hot loops: a weight read once per channel, not per pixel.

A read inside a loop whose index uses none of the variables bound in that loop
(its own counter, inner loops, `Let`s) gives the same value on every iteration.
Numba cannot prove that the arrays a kernel reads never alias the one it writes, so
LLVM reloads such a read on every iteration; copying it into a local first (an
`Init` of a `Scalar`) lets the inner loop keep it in a register.  Reads of the
result or of scratch buffers are never hoisted: the loop writes them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace

import sympy as sp

from symconv.lower.ir import (
    Accumulate,
    Block,
    For,
    Init,
    LoopNest,
    Read,
    Scalar,
    Stmt,
    Transformer,
    bound_indices,
    walk,
)


def hoist_invariant_reads(nest: LoopNest) -> LoopNest:
    """Every loop-invariant read of an input moves before the outermost loop it is free of."""
    written = {nest.result.name} | {buffer.name for buffer in nest.scratch}
    return replace(nest, body=_Hoist(written)(nest.body))


class _Hoist(Transformer):
    def __init__(self, written: set[str]) -> None:
        self.written = written
        self.counter = itertools.count()

    def visit_For(self, stmt: For) -> Stmt | Block:
        if stmt.parallel:
            return replace(stmt, body=self.block(stmt.body))
        bound = _bound_inside(stmt)
        invariant = [
            r
            for r in _factor_reads(stmt.body)
            if r.buffer not in self.written and not _symbols(r) & bound
        ]
        names: dict[Read, Scalar] = {}
        hoisted: list[Stmt] = []
        for read in dict.fromkeys(invariant):
            names[read] = Scalar(f"{read.buffer}_v{next(self.counter)}")
            hoisted.append(Init(names[read].name, read))
        inner = _ReplaceReads(names)(stmt.body) if names else stmt.body
        return (*hoisted, replace(stmt, body=self.block(inner)))


def _symbols(read: Read) -> set[sp.Symbol]:
    return set().union(*(sp.sympify(e).free_symbols for e in read.index))


def _bound_inside(loop: For) -> set[sp.Symbol]:
    """Index variables whose value changes inside `loop`: its counter, inner loops, Lets."""
    return bound_indices((loop,))


def _factor_reads(body: tuple[Stmt, ...]) -> Iterator[Read]:
    for stmt, _ in walk(body):
        if isinstance(stmt, Accumulate):
            yield from (f for f in stmt.factors if isinstance(f, Read))


class _ReplaceReads(Transformer):
    def __init__(self, names: dict[Read, Scalar]) -> None:
        self.names = names

    def visit_Accumulate(self, stmt: Accumulate) -> Stmt:
        factors = tuple(self.names.get(f, f) if isinstance(f, Read) else f for f in stmt.factors)
        return Accumulate(stmt.acc, factors)
