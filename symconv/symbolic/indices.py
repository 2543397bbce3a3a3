"""Index level: closed-form formulas as plain data, valid at any size.

Each formula is in *gather* form: one free index per element written, a sum (or a
max, an argmax) over reduction indices, and explicit guards (bounds, divisibility)
instead of Kronecker deltas.  Every layer kind writes its formulas with these types
(`symconv.kinds.convolution.formulas`, `symconv.kinds.pooling.formulas`); the printers
render them and the lowering turns them into loop nests without re-deriving anything.

The gather rule of every strided sliding window is solved once, here
(`solve_for_output`), from the window equation p = s·j + d·t − lo of
`symconv.window.WindowAxis`, not by SymPy's `deltasummation`, which returns fractional
indices for strided layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product

import numpy as np
import sympy as sp

from symconv.symbolic.expressions import SYMPY
from symconv.symbolic.index_printer import python_index


def index_symbol(name: str) -> sp.Symbol:
    return sp.Symbol(name, integer=True, nonnegative=True)


@dataclass(frozen=True)
class Loop:
    """An index running over 0, 1, ..., extent − 1."""

    var: sp.Symbol
    extent: int


@dataclass(frozen=True)
class Access:
    """One element of a named tensor ("x", "w", "b", "gy", "y", "gx", "gw", "gb")."""

    tensor: str
    index: tuple[sp.Expr, ...]


@dataclass(frozen=True)
class InRange:
    """Guard 0 ≤ expr < bound: the tap reads a real input element, not padding."""

    expr: sp.Expr
    bound: int


@dataclass(frozen=True)
class Divisible:
    """Guard expr ≡ 0 (mod divisor): the tap lines up with a strided output."""

    expr: sp.Expr
    divisor: int


Guard = InRange | Divisible

#: How a formula reduces over its reduction indices.
REDUCTIONS: tuple[str, ...] = ("sum", "max", "argmax")


@dataclass(frozen=True)
class IndexFormula:
    """target = addend + scale · reduce_{reductions, guards hold} Π factors, per free index.

    `reduction` is "sum" (a convolution, average pooling), "max" (max pooling: one
    factor, its largest value) or "argmax" (max pooling's gradient: the first tap whose
    `select` value is the window's maximum receives the product of the factors, a
    scatter into the target element at that tap).  `scale` multiplies the finished
    reduction (1/|K| for a mean).
    """

    name: str
    target: Access
    loops: tuple[Loop, ...]
    reductions: tuple[Loop, ...]
    guards: tuple[Guard, ...]
    factors: tuple[Access, ...]
    addend: Access | None = None
    reduction: str = "sum"
    scale: sp.Rational = sp.S.One
    select: Access | None = None

    def __post_init__(self) -> None:
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction={self.reduction!r} must be one of {REDUCTIONS}")
        if (self.reduction == "argmax") != (self.select is not None):
            raise ValueError("an argmax needs a select access, and only an argmax has one")
        if self.reduction == "max" and len(self.factors) != 1:
            raise ValueError("a max reduces exactly one factor")

    @property
    def scatters(self) -> bool:
        """True when the element written depends on the reduction (an argmax scatter)."""
        return self.reduction == "argmax"

    def evaluate(
        self, arrays: dict[str, np.ndarray], shape: tuple[int, ...], algebra: object = SYMPY
    ) -> np.ndarray:
        """Enumerate every index and reduce (small layers: the check).

        A sum works on NumPy object arrays of SymPy symbols (built with `algebra`: SymPy
        expressions, or the polynomials the proofs compare) as well as on numbers, so
        the same formula is compared with the element equations and with the
        reference; a max of symbols is SymPy's Max; an argmax needs numbers.
        """
        if self.reduction == "sum":
            return self._sum(arrays, shape, algebra)
        return self._select(arrays, shape)

    def _sum(
        self, arrays: dict[str, np.ndarray], shape: tuple[int, ...], algebra: object
    ) -> np.ndarray:
        variables = [loop.var for loop in self.loops + self.reductions]
        compile_index = index_compiler(variables)
        target_at = compile_index(self.target.index)
        reads = [(a.tensor, compile_index(a.index)) for a in self.factors]
        checks = [guard_check(g, compile_index) for g in self.guards]
        addend = None
        if self.addend is not None:
            addend = (self.addend.tensor, compile_index(self.addend.index))
        numeric = all(arrays[name].dtype != object for name, _ in reads)
        result = np.zeros(shape) if numeric else np.empty(shape, dtype=object)
        unused = (0,) * len(self.reductions)  # target and addend depend on free indices only
        for outer in product(*(range(loop.extent) for loop in self.loops)):
            terms = []
            for inner in product(*(range(loop.extent) for loop in self.reductions)):
                values = outer + inner
                if all(check(values) for check in checks):
                    factors = [arrays[name][at(values)] for name, at in reads]
                    terms.append(np.prod(factors) if numeric else algebra.product(*factors))
            if addend is not None:
                value = arrays[addend[0]][addend[1](outer + unused)]
                terms.append(value if numeric else algebra.product(value))
            total = sum(terms) if numeric else algebra.total(terms)
            result[target_at(outer + unused)] = total
        if self.scale != 1:
            result = result * (float(self.scale) if numeric else self.scale)
        return result

    def _select(self, arrays: dict[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        """A max, or an argmax scatter: NaN wins as in PyTorch, else the first maximum."""
        numeric = all(arrays[a.tensor].dtype != object for a in self.factors)
        at = index_compiler([loop.var for loop in self.loops + self.reductions])
        if self.reduction == "argmax" and not numeric:
            raise TypeError("an argmax compares numbers; SymPy symbols have no order")
        result = np.zeros(shape) if numeric else np.full(shape, sp.S.Zero, dtype=object)
        reads = [(a.tensor, at(a.index)) for a in self.factors]
        checks = [guard_check(g, at) for g in self.guards]
        target = at(self.target.index)
        select = (self.select.tensor, at(self.select.index)) if self.select else None
        for outer in product(*(range(loop.extent) for loop in self.loops)):
            valid = [
                outer + inner
                for inner in product(*(range(loop.extent) for loop in self.reductions))
                if all(check(outer + inner) for check in checks)
            ]
            if self.reduction == "max":
                name, read = reads[0]
                values = [arrays[name][read(v)] for v in valid]
                result[target(valid[0])] = first_max(values)[1] if numeric else sp.Max(*values)
                continue
            chosen, _ = first_max([arrays[select[0]][select[1](v)] for v in valid])
            winner = valid[chosen]
            term = np.prod([arrays[name][read(winner)] for name, read in reads])
            result[target(winner)] += term * float(self.scale)
        return result


def first_max(values: list[float]) -> tuple[int, float]:
    """(position, value) of a window's maximum as PyTorch's CPU pooling finds it.

    The scan starts at −∞ on the first entry and moves on ``value > best or value is
    NaN``: ties keep the first maximum, and a NaN wins (the last NaN of the window),
    so a NaN anywhere in the window propagates to the output and to its gradient.
    """
    chosen, best = 0, -math.inf
    for position, value in enumerate(values):
        if value > best or value != value:
            chosen, best = position, value
    return chosen, best


def index_compiler(variables: list[sp.Symbol]) -> Callable:
    """Index expressions -> a function of the loop values, in exact integer arithmetic."""
    names = ", ".join(v.name for v in variables)

    def compile_index(exprs: tuple[sp.Expr, ...]) -> Callable[[tuple[int, ...]], tuple]:
        body = ", ".join(python_index(e) for e in exprs)
        return eval(f"lambda values: (lambda {names}: ({body},))(*values)")  # noqa: S307

    return compile_index


def guard_check(guard: Guard, compile_index: Callable) -> Callable[[tuple[int, ...]], bool]:
    """A guard as a predicate on the loop values."""
    if isinstance(guard, InRange):
        at = compile_index((guard.expr,))
        return lambda values: 0 <= at(values)[0] < guard.bound
    at = compile_index((guard.expr,))
    return lambda values: at(values)[0] % guard.divisor == 0


# ----- the index names ---------------------------------------------------------------------
@dataclass(frozen=True)
class Indices:
    """Integer index symbols of one layer: batch n, group g, channels, per-dimension j, t, r."""

    n: sp.Symbol
    g: sp.Symbol
    c_out: sp.Symbol
    c_in: sp.Symbol
    out: tuple[sp.Symbol, ...]
    tap: tuple[sp.Symbol, ...]
    inp: tuple[sp.Symbol, ...]


def make_indices(rank: int) -> Indices:
    suffix = ["h", "w"] if rank == 2 else (["d", "h", "w"] if rank == 3 else [""])
    return Indices(
        n=index_symbol("n"),
        g=index_symbol("g"),
        c_out=index_symbol("m"),
        c_in=index_symbol("c"),
        out=tuple(index_symbol(f"j{s}") for s in suffix),
        tap=tuple(index_symbol(f"t{s}") for s in suffix),
        inp=tuple(index_symbol(f"r{s}") for s in suffix),
    )


def spatial_loops(symbols: tuple[sp.Symbol, ...], extents: tuple[int, ...]) -> tuple[Loop, ...]:
    return tuple(Loop(v, e) for v, e in zip(symbols, extents))


def solve_for_output(numerator: sp.Expr, stride: int, extent: int) -> tuple[sp.Expr, list[Guard]]:
    """Solve numerator = s·j for the window index j: integral and in [0, extent).

    The gather rule of every strided sliding window (convolution and pooling alike):
    `numerator` is the input position shifted by the padding, less the tap's offset
    (`WindowAxis.window_numerator`).
    """
    guards: list[Guard] = []
    if stride == 1:
        solved = numerator
    else:
        guards.append(Divisible(numerator, stride))
        solved = sp.floor(numerator / stride)
    guards.append(InRange(solved, extent))
    return solved, guards


@dataclass(frozen=True)
class IndexLevel:
    """The closed forms of one layer, by kernel name, and the index symbols they use."""

    indices: Indices
    by_name: dict[str, IndexFormula]

    def formulas(self) -> tuple[IndexFormula, ...]:
        return tuple(self.by_name.values())

    def __getattr__(self, name: str) -> IndexFormula:
        by_name = self.__dict__.get("by_name", {})
        if name in by_name:
            return by_name[name]
        raise AttributeError(f"this layer has no {name!r} formula")
