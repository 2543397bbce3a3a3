"""Tests for shared offset bases: flat reads a constant apart share one `Let`."""

from __future__ import annotations

import numpy as np
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv.lower.interpret import run
from symconv.lower.ir import Accumulate, For, Init, Let, LoopNest, Operand, Read, Store
from symconv.lower.passes.offsets import share_offset_bases, split_offset
from symconv.symbolic.indices import index_symbol

q, t, c = index_symbol("q"), index_symbol("t"), index_symbol("c")
at0, at1 = sp.Symbol("at0", integer=True), sp.Symbol("at1", integer=True)


def test_the_constant_of_a_flat_index_is_split_off():
    assert split_offset(29 * q + 10 * t + 3) == (3, 29 * q + 10 * t)
    assert split_offset(29 * q) == (0, 29 * q)


def test_reads_a_constant_apart_share_one_base_bound_before_the_first():
    block = (
        Init("a", Read("x", (29 * q + 10 * t + 1,))),
        Accumulate("a", (Read("x", (29 * q + 10 * t + 2,)), Read("w", (q,)))),
        Store(Read("y", (q,)), "a"),
    )
    assert share_offset_bases(block) == (
        Let(at0, 29 * q + 10 * t),
        Init("a", Read("x", (at0 + 1,))),
        Accumulate("a", (Read("x", (at0 + 2,)), Read("w", (q,)))),
        Store(Read("y", (q,)), "a"),
    )


def test_a_single_read_or_a_lone_variable_gets_no_base():
    block = (Init("a", Read("x", (29 * q + 1,))), Init("b", Read("x", (q + 1,))))
    block += (Init("d", Read("x", (q + 2,))),)
    assert share_offset_bases(block) == block


def test_a_base_is_bound_again_after_a_let_of_one_of_its_variables():
    block = (
        Init("a", Read("x", (4 * q + t,))),
        Init("b", Read("x", (4 * q + t + 1,))),
        Let(t, q + 1),
        Init("d", Read("x", (4 * q + t + 2,))),
    )
    out = share_offset_bases(block)
    assert out[0] == Let(at0, 4 * q + t) and out[4] == Let(at1, 4 * q + t)
    assert out[5] == Init("d", Read("x", (at1 + 2,)))


def test_a_nested_loop_binds_its_own_base_and_never_reads_the_outer_one():
    inner = For(
        c, 2, (Init("b", Read("x", (4 * q + 2 * c,))), Init("d", Read("x", (4 * q + 2 * c + 1,))))
    )
    block = (
        Init("a", Read("x", (4 * q + 2 * t,))),
        Init("e", Read("x", (4 * q + 2 * t + 1,))),
        inner,
    )
    out = share_offset_bases(block)
    assert out[0] == Let(at0, 4 * q + 2 * t)
    assert out[3].body[0] == Let(at1, 4 * q + 2 * c)
    assert all(at0 not in s.value.index[0].free_symbols for s in out[3].body[1:])


def test_a_base_never_takes_a_name_the_kernel_uses():
    block = (Init("at0", Read("x", (3 * q + 1,))), Init("b", Read("x", (3 * q + 2,))))
    assert share_offset_bases(block)[0] == Let(at1, 3 * q)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 5)), min_size=1, max_size=6
    ),
    st.integers(1, 3),
    st.integers(1, 3),
)
def test_the_nest_computes_the_same_with_shared_bases(reads, rows, columns):
    """Random sums of flat reads, with a Let that rebinds a variable halfway."""
    size = 4 * rows + 4 * columns + 8
    first, second = reads[: len(reads) // 2 + 1], reads[len(reads) // 2 + 1 :]
    body = [Init("a", Read("x", (q,)))]
    body += [Accumulate("a", (Read("x", (a * q + b * t + k,)),)) for a, b, k in first]
    body += [Let(c, t + 1)]
    body += [Accumulate("a", (Read("x", (a * q + b * c + k,)),)) for a, b, k in second]
    body += [Store(Read("y", (q * columns + t,)), "a")]
    loops = (For(q, rows, (For(t, columns, tuple(body)),)),)
    nest = LoopNest("f", (Operand("x", (size,)),), Operand("y", (rows * columns,)), loops)
    x = np.random.default_rng(len(reads)).standard_normal(size)
    shared = LoopNest(nest.name, nest.params, nest.result, share_offset_bases(nest.body))
    np.testing.assert_array_equal(run(shared, {"x": x}), run(nest, {"x": x}))
