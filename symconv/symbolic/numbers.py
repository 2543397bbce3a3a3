"""The user's own numbers (``--values``, small arrays in the API) as exact SymPy numbers.

The max of a window is decided by comparing entries, and a tie must stay a tie: the
numbers are therefore kept exact (integers as `Integer`, other floats as the very
binary value they hold), never rounded for print.  The printers show a float by its
shortest ``repr``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import sympy as sp

from symconv.formatting import fmt_shape


def exact(value: Any) -> sp.Expr:
    """One finite number as SymPy: ints stay integers, a float keeps its exact binary value."""
    if isinstance(value, sp.Basic):
        if not value.is_Number:
            raise ValueError(f"value {value} is not a number")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"value {value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"value {value!r} is not finite")
    if isinstance(value, (int, np.integer)) or number.is_integer():
        return sp.Integer(int(value) if isinstance(value, (int, np.integer)) else int(number))
    return sp.Float(number)


def as_numbers(values: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """`values` (any array-like, read row-major) as an object array of `shape`.

    A flat list is accepted as long as it holds the right count, so the CLI's
    comma-separated numbers and a NumPy array of the tensor's shape both work.
    """
    flat = list(np.asarray(values, dtype=object).reshape(-1))
    expected = math.prod(shape)
    if len(flat) != expected:
        raise ValueError(
            f"{what} has {len(flat)} numbers; expected {expected} "
            f"(shape {fmt_shape(shape)}, row-major)"
        )
    out = np.empty(shape, dtype=object)
    for index, value in zip(np.ndindex(shape), flat):
        out[index] = exact(value)
    return out


def mapping(symbols: np.ndarray, numbers: np.ndarray) -> dict[sp.Symbol, sp.Expr]:
    """symbol -> number, element by element (the arrays share one shape)."""
    return dict(zip(symbols.flat, numbers.flat))


def substitute(exprs: np.ndarray, replace: dict[sp.Symbol, sp.Expr]) -> np.ndarray:
    """Every entry with `replace` applied (SymPy evaluates what became numbers)."""
    out = np.empty(exprs.shape, dtype=object)
    for index in np.ndindex(exprs.shape):
        out[index] = sp.sympify(exprs[index]).xreplace(replace)
    return out


def to_float(exprs: np.ndarray) -> np.ndarray:
    """An object array of SymPy numbers as float64 (raises if a symbol is left)."""
    return np.array([float(e) for e in exprs.flat], dtype=np.float64).reshape(exprs.shape)


def is_numeric(exprs: Iterable[sp.Expr]) -> bool:
    return all(sp.sympify(e).is_Number for e in exprs)


def readable(value: sp.Expr) -> sp.Expr:
    """A non-integer rational (an average such as 15/4) as a decimal, as the notes print it."""
    if value.is_Rational and not value.is_Integer:
        return sp.Float(float(value))
    return value
