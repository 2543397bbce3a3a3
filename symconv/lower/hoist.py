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
    For,
    If,
    Init,
    Let,
    LoopNest,
    Maximize,
    Read,
    Scalar,
    Stmt,
    walk,
)


def hoist_invariant_reads(nest: LoopNest) -> LoopNest:
    """Every loop-invariant read of an input moves before the outermost loop it is free of."""
    written = {nest.result.name} | {buffer.name for buffer in nest.scratch}
    counter = itertools.count()
    return replace(nest, body=_hoist(nest.body, written, counter))


def _hoist(body: tuple[Stmt, ...], written: set[str], counter: Iterator[int]) -> tuple[Stmt, ...]:
    out: list[Stmt] = []
    for stmt in body:
        if isinstance(stmt, For) and not stmt.parallel:
            bound = _bound_inside(stmt)
            invariant = [
                r
                for r in _factor_reads(stmt.body)
                if r.buffer not in written and not _symbols(r) & bound
            ]
            names: dict[Read, Scalar] = {}
            for read in dict.fromkeys(invariant):
                names[read] = Scalar(f"{read.buffer}_v{next(counter)}")
                out.append(Init(names[read].name, read))
            inner = _replace_reads(stmt.body, names) if names else stmt.body
            out.append(replace(stmt, body=_hoist(inner, written, counter)))
        elif isinstance(stmt, (For, If)):
            out.append(replace(stmt, body=_hoist(stmt.body, written, counter)))
        else:
            out.append(stmt)
    return tuple(out)


def _symbols(read: Read) -> set[sp.Symbol]:
    return set().union(*(sp.sympify(e).free_symbols for e in read.index))


def _bound_inside(loop: For) -> set[sp.Symbol]:
    """Index variables whose value changes inside `loop`: its counter, inner loops, Lets."""
    bound = {loop.var}
    for stmt, _ in walk(loop.body):
        if isinstance(stmt, For):
            bound.add(stmt.var)
        elif isinstance(stmt, Let):
            bound.add(stmt.var)
        elif isinstance(stmt, Maximize):
            bound.update(var for var, _ in stmt.track)
    return bound


def _factor_reads(body: tuple[Stmt, ...]) -> Iterator[Read]:
    for stmt, _ in walk(body):
        if isinstance(stmt, Accumulate):
            yield from (f for f in stmt.factors if isinstance(f, Read))


def _replace_reads(body: tuple[Stmt, ...], names: dict[Read, Scalar]) -> tuple[Stmt, ...]:
    out: list[Stmt] = []
    for stmt in body:
        if isinstance(stmt, Accumulate):
            factors = tuple(names.get(f, f) if isinstance(f, Read) else f for f in stmt.factors)
            out.append(Accumulate(stmt.acc, factors))
        elif isinstance(stmt, (For, If)):
            out.append(replace(stmt, body=_replace_reads(stmt.body, names)))
        else:
            out.append(stmt)
    return tuple(out)
