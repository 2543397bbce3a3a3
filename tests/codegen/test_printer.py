"""Tests for symconv.codegen.printer: IR index expressions as exact Python integer arithmetic."""

from __future__ import annotations

import pytest
import sympy as sp

from symconv.codegen.printer import print_index, print_slices
from symconv.lower.ir import Read
from symconv.symbolic.indices import Divisible, InRange, index_symbol

jh, jw, th, r, t, f, g = (index_symbol(n) for n in ("jh", "jw", "th", "r", "t", "n_m", "g"))


@pytest.mark.parametrize(
    "expr,text",
    [
        (2 * jh + th - 1, "2 * jh + th - 1"),
        (jw + 3136 * g + 56 * jh, "3136 * g + 56 * jh + jw"),  # the unit-stride counter last
        (2 - th, "2 - th"),
        (-th, "-th"),
        (jh + 0, "jh"),
        (sp.Integer(7), "7"),
        (3 * r - 2 * t, "3 * r - 2 * t"),
        (sp.floor((r + 1 - 2 * t) / 3), "(1 - 2 * t + r) // 3"),  # largest coefficient first
        (sp.floor(f / 6), "n_m // 6"),
        (sp.Mod(sp.floor(f / 3), 2), "(n_m // 3) % 2"),
        (sp.Mod(f, 6), "n_m % 6"),
    ],
)
def test_print_index(expr, text):
    assert print_index(expr) == text


def test_printed_floor_is_exact_integer_division():
    """floor(7/3 − 1/3) is 2; in floating point it would be floor(1.999…) = 1."""
    expr = sp.floor((r - t) / 3)
    code = print_index(expr)
    assert eval(code, {"r": 7, "t": 1}) == 2  # noqa: S307


def test_printer_refuses_fractions_and_floats():
    with pytest.raises(ValueError, match="fraction"):
        print_index(r / 2)
    with pytest.raises(ValueError, match="float"):
        print_index(sp.Float(0.5) + r)


def test_printer_dispatches_on_ir_classes():
    assert print_index(Read("x_padded", (sp.Integer(0), jh + 1))) == "x_padded[0, jh + 1]"
    assert print_index(InRange(jh - 1, 4)) == "0 <= jh - 1 < 4"
    assert print_index(Divisible(r - t, 2)) == "(r - t) % 2 == 0"


def test_print_slices():
    shape = (2, 3, 9)
    assert print_slices((range(0, 2), range(0, 3), range(1, 8, 3)), shape) == ":, :, 1:8:3"
    assert print_slices((range(0, 2), range(1, 3), range(0, 5)), shape) == ":, 1:, :5"
