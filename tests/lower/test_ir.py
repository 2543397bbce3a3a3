"""Tests for symconv.lower.ir: the statements, and the generic rewriting a pass builds on."""

from __future__ import annotations

import sympy as sp

from symconv.lower.ir import (
    Accumulate,
    Const,
    For,
    Gemm,
    If,
    Init,
    Let,
    Matrix,
    Read,
    Store,
    Transformer,
    declares_accumulator,
    rename_accumulators,
    substitute,
    walk,
)
from symconv.symbolic.indices import InRange, index_symbol

i, j, n = (index_symbol(name) for name in ("i", "j", "n"))
BODY = (
    Init("acc"),
    For(i, 3, (If((InRange(i - 1, 2),), (Accumulate("acc", (Read("x", (i - 1,)), Const(2))),)),)),
    Store(Read("y", (j,)), "acc"),
)


def test_substitute_reaches_every_expression_and_leaves_bounds_alone():
    (_, loop, store) = substitute(BODY, {i: j + 1, j: sp.Integer(4)})
    (guarded,) = loop.body
    assert loop.extent == 3 and loop.var == i
    assert guarded.guards == (InRange(j, 2),)
    assert guarded.body[0].factors == (Read("x", (j,)), Const(2))
    assert store.target == Read("y", (4,))


def test_substitute_maps_the_views_of_a_gemm():
    view = Matrix("x", (n,), 4, 6, first_row=2 * n, rows=2)
    (gemm,) = substitute((Gemm(view, view, view),), {n: sp.Integer(3)})
    assert gemm.a.prefix == (3,) and gemm.a.first_row == 6 and gemm.a.shape == (2, 6)
    assert Matrix("w", (), 4, 6, transposed=True).shape == (6, 4)


def test_a_visit_may_splice_or_drop_statements():
    class InlineLoops(Transformer):
        def visit_For(self, stmt: For):
            return tuple(Let(stmt.var, sp.Integer(v)) for v in range(stmt.extent))

        def visit_Store(self, stmt: Store):
            return ()

    out = InlineLoops()(BODY)
    assert out == (Init("acc"), Let(i, 0), Let(i, 1), Let(i, 2))


def test_the_default_visit_rewrites_nested_bodies():
    class CountReads(Transformer):
        reads = 0

        def visit_Accumulate(self, stmt: Accumulate):
            CountReads.reads += sum(isinstance(f, Read) for f in stmt.factors)
            return stmt

    assert CountReads()(BODY) == BODY and CountReads.reads == 1


def test_accumulators_are_renamed_for_a_jammed_copy():
    renamed = rename_accumulators(BODY, "0_1")
    accs = [s.acc for s, _ in walk(renamed) if hasattr(s, "acc")]
    assert accs == ["acc_0_1"] * 3
    assert declares_accumulator(BODY) and not declares_accumulator(BODY[2:])
