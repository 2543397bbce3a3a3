"""Shared offset bases: a block's flat reads that differ by a constant share one `Let`.

A register-blocked tile reads x at ``107648*n + 841*c + 29*q0 + 10*qt + 1``, ``… + 2``,
…, ten times in a row with one sum apart from the last term.  LLVM folds the repeats
whatever the source says, but Numba types and lowers every operator of every copy
first, and that was most of a cold compile: 3,453 typed calls in the strided 64 → 128
layer's dL/dX.  Written as ``at0 = 107648*n + 841*c + 29*q0 + 10*qt`` once and
``at0 + 1``, ``at0 + 2``, … after, the sum is typed and lowered once per block.

Only statements directly in one block share a base, and only while nothing rebinds a
variable of it: a base never crosses into a nested loop (a task body of a parallel
loop must not read a name bound outside it) or past a `Let` of one of its variables.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import fields

import sympy as sp

from symconv.lower.ir import (
    Block,
    ExpressionMapper,
    Factor,
    For,
    If,
    Let,
    Read,
    Stmt,
    Transformer,
    bound_indices,
    walk,
)

#: Names of the bases: at0, at1, ... (skipping any the kernel already uses).
PREFIX = "at"


def share_offset_bases(body: Block) -> Block:
    """`body` with every non-constant sum that two flat reads of a block share bound once."""
    return _ShareBases(_names_in(body))(body)


def split_offset(index: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """(constant, the rest) of a flat index: ``29*q + 10*t + 3`` → (3, 29*q + 10*t)."""
    constant, rest = sp.sympify(index).as_coeff_Add()
    return constant, rest


def _worth_sharing(rest: sp.Expr) -> bool:
    """A sum or a product costs operators at every read; a lone variable costs none."""
    return isinstance(rest, (sp.Add, sp.Mul))


class _FlatReads(ExpressionMapper):
    """Apply `offset` to the index of every one-index (flat) read of one statement."""

    def __init__(self, offset: Callable[[sp.Expr], sp.Expr]) -> None:
        super().__init__(lambda e: e)
        self.offset = offset

    def read(self, factor: Factor) -> Factor:
        if isinstance(factor, Read) and len(factor.index) == 1:
            return Read(factor.buffer, (self.offset(sp.sympify(factor.index[0])),))
        return factor


def _rests(stmt: Stmt) -> list[sp.Expr]:
    found: list[sp.Expr] = []

    def note(index: sp.Expr) -> sp.Expr:
        found.append(split_offset(index)[1])
        return index

    _FlatReads(note).visit(stmt)
    return [rest for rest in found if _worth_sharing(rest)]


class _ShareBases(Transformer):
    def __init__(self, taken: set[str]) -> None:
        self.fresh = (
            sp.Symbol(f"{PREFIX}{k}", integer=True)
            for k in itertools.count()
            if f"{PREFIX}{k}" not in taken
        )

    def block(self, body: Block) -> Block:
        counts = Counter(
            rest for stmt in body if not isinstance(stmt, (For, If)) for rest in _rests(stmt)
        )
        shared = {rest for rest, count in counts.items() if count > 1}
        live: dict[sp.Expr, sp.Symbol] = {}
        out: list[Stmt] = []
        for stmt in body:
            if isinstance(stmt, (For, If)):
                out.append(self.generic_visit(stmt))
            else:
                out.extend(self._rewritten(stmt, shared, live))
            bound = bound_indices((stmt,))
            for rest in [r for r in live if r.free_symbols & bound]:
                del live[rest]
        return tuple(out)

    def _rewritten(
        self, stmt: Stmt, shared: set[sp.Expr], live: dict[sp.Expr, sp.Symbol]
    ) -> list[Stmt]:
        bases: list[Stmt] = []

        def offset(index: sp.Expr) -> sp.Expr:
            constant, rest = split_offset(index)
            if rest not in shared:
                return index
            if rest not in live:
                live[rest] = next(self.fresh)
                bases.append(Let(live[rest], rest))
            return live[rest] + constant

        rewritten = _FlatReads(offset).visit(stmt)
        return [*bases, rewritten]


def _names_in(body: Block) -> set[str]:
    """Every name the block uses: variables, accumulators, vectors and buffers."""
    names: set[str] = set()
    for stmt, _ in walk(body):
        for value in _field_values(stmt):
            if isinstance(value, str):
                names.add(value)
            elif isinstance(value, sp.Basic):
                names.update(s.name for s in value.free_symbols)
    return names


def _field_values(value: object) -> Iterator[object]:
    if isinstance(value, (tuple, list)):
        for item in value:
            yield from _field_values(item)
    elif hasattr(value, "__dataclass_fields__"):
        for field in fields(value):
            if field.name != "body":
                yield from _field_values(getattr(value, field.name))
    else:
        yield value
