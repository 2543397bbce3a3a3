"""The right equation of the wrong element, from symconv's derivation of the layer.

`derive` builds every forward equation of the (small, shrunk) layer and every gradient
by the chain rule, keeping each summand ∂L/∂O_k · ∂O_k/∂v.  For the element where the
user's answer is furthest off, this prints that sum term by term with the numbers of
the check's data, so the reader sees which terms a wrong implementation dropped or
misplaced.  Indices are 0-based and complete: (n, c, *spatial) for X and O,
(c_out, c_in, *taps) for F, as in PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from symconv.check.run import Outcome
from symconv.kinds import TOLERANCES
from symconv.symbolic.derive import derive

_LETTERS = {"x": "X", "w": "F", "b": "b", "gy": "∂L/∂O"}
_WHAT = {"forward": ("O", "output"), "grad_input": ("∂L/∂X", "x"), "grad_weight": ("∂L/∂F", "w")}


@dataclass(frozen=True)
class WrongElement:
    """Where the answer is furthest off, both values, and the equation that decides it."""

    kernel: str
    index: tuple[int, ...]
    got: float | None
    right: float
    equation: tuple[str, ...]
    wrong_elements: int
    elements: int


def worst_index(outcome: Outcome) -> tuple[int, ...]:
    """The element with the largest difference (a NaN counts as the largest)."""
    if outcome.got is None:
        flat = int(np.argmax(np.abs(outcome.want)))
        return tuple(int(i) for i in np.unravel_index(flat, outcome.want.shape))
    difference = _difference(outcome)
    # among the elements furthest off, the one whose right value is largest: its
    # equation has terms to read (a tie with an element that should be 0 is common)
    furthest = difference >= difference.max() * (1 - 1e-9)
    flat = int(np.argmax(np.where(furthest, np.abs(outcome.want) + 1, 0)))
    return tuple(int(i) for i in np.unravel_index(flat, difference.shape))


def _difference(outcome: Outcome) -> np.ndarray:
    assert outcome.got is not None
    difference = np.abs(outcome.got - outcome.want)
    difference[np.isnan(difference)] = np.inf
    return difference


def _name(key: str, index: tuple[int, ...]) -> str:
    return f"{_LETTERS[key]}[{', '.join(map(str, index))}]"


def _number(value: float) -> str:
    return f"{value:g}" if value >= 0 else f"({value:g})"


def explain(outcome: Outcome) -> WrongElement:
    """The derivation of the worst element of `outcome`, with the check's numbers."""
    index = worst_index(outcome)
    derivation = derive(outcome.spec, element_level=True)
    where = derivation.table.where
    letter, array_key = _WHAT[outcome.kernel]
    if outcome.kernel == "forward":
        terms = [_factors(term, where) for term in sp.Add.make_args(derivation.output[index])]
        head = f"{letter}[{', '.join(map(str, index))}] = Σ X·F over the window of this output"
        if outcome.spec.bias:
            head += " + b"
    else:
        terms = [
            [("gy", chain.output_index), *_factors(chain.local_gradient, where)]
            for chain in derivation.chain[array_key][index]
        ]
        head = (
            f"{letter}[{', '.join(map(str, index))}] = Σ ∂L/∂O · ∂O/∂{letter[-1]} "
            "over the outputs that use it"
        )
    lines = [head + ":"]
    total = 0.0
    for factors in (t for t in terms if t):
        product = float(np.prod([outcome.arrays[key][pos] for key, pos in factors]))
        total += product
        names = " · ".join(_name(key, pos) for key, pos in factors)
        numbers = " × ".join(_number(float(outcome.arrays[key][pos])) for key, pos in factors)
        lines.append(f"    {names:<40} {numbers} = {product:g}")
    if len(lines) == 1:
        lines.append("    (no term: nothing reads or writes this element, so it is 0)")
    lines.append(f"  = {total:g}")
    got = None if outcome.got is None else float(outcome.got[index])
    tolerance = TOLERANCES[outcome.spec.dtype] * max(float(np.abs(outcome.want).max()), 1.0)
    wrong = (
        outcome.want.size if outcome.got is None else int((_difference(outcome) > tolerance).sum())
    )
    return WrongElement(
        outcome.kernel,
        index,
        got,
        float(outcome.want[index]),
        tuple(lines),
        wrong,
        outcome.want.size,
    )


def _factors(expr: sp.Expr, where: dict) -> list[tuple[str, tuple[int, ...]]]:
    """A product of symbols as (tensor key, index) pairs, in a fixed order (X, F, b)."""
    if expr == 0:
        return []
    order = {"gy": 0, "x": 1, "w": 2, "b": 3}
    factors = [where[s] for s in sp.Mul.make_args(expr) if s in where]
    return sorted(factors, key=lambda kp: order[kp[0]])
