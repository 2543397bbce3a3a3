"""Index level for pooling: the forward pass and dL/dx of one `PoolSpec` as plain data.

A pooling window reads the input exactly where a convolution tap does, with dilation
1, so the index equation is the convolution's

    p = s·j + t − pad          (input position p, output j, tap t)

and only the reduction over the taps changes.  `PoolFormula` is an `IndexFormula`
with that reduction spelled out, so the lowering and the printers read one more
field instead of guessing from a name:

* ``"sum"``: target = scale · Σ Π factors, as for a convolution.  Average pooling is
  y = (1/|K|) Σ_t x[s·j + t − pad] and its gradient the convolution's dL/dX gather
  with the constant filter 1/|K| (``count_include_pad=True``: the divisor is always
  prod(kernel), padded zeros included).
* ``"max"``: target = max over the taps where the guards hold of the single factor.
  A tap that fails a guard (padding) is left out, which is the same as padding with
  −∞, the identity of max: the lowering pads that way.
* ``"argmax"``: dL/dx of max pooling.  For every window (free indices n, c, j) the
  *first* tap, in row-major order, whose `select` value is the window's maximum
  receives the product of the factors: target[..., p(t*)] += gy[n, c, j].  Ties
  keep the earlier tap, as PyTorch does on the CPU, and every window counts, so
  overlapping windows (stride < kernel) add up where they share a maximum.

Why a scatter for max pooling's gradient and not a gather: a gather form
gx[r] = Σ_{windows j holding r} gy[j] · [r is the first maximum of window j] has to
re-scan every window once per element it holds (|K| times the work), while the
scatter scans each window once.  Its writes depend on data, so two windows may hit
one element; they are race-free as long as one thread owns a whole (n, c) plane,
which the lowering guarantees by parallelizing only over n and c.

Padding is at most half the kernel (`PoolSpec` validates it), so every window holds
at least one real element and the first maximum always lies inside the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
import sympy as sp

from symconv.pool_spec import PoolSpec
from symconv.symbolic.indices import (
    Access,
    Guard,
    IndexFormula,
    Indices,
    InRange,
    Loop,
    guard_check,
    index_compiler,
    make_indices,
    solve_for_output,
)

REDUCTIONS: tuple[str, ...] = ("sum", "max", "argmax")


@dataclass(frozen=True)
class PoolFormula(IndexFormula):
    """An `IndexFormula` whose reduction over the taps is a sum, a max or a first argmax.

    `scale` multiplies the finished reduction (1/|K| for average pooling).  `select`
    is read only by ``"argmax"``: the value whose first maximum over the reductions
    decides which target element receives the product of the factors.
    """

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

    def evaluate(self, arrays: dict[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        """Enumerate every index, as `IndexFormula.evaluate` does, with this reduction.

        A sum (SymPy symbols allowed) is the parent's sum times `scale`; a max of
        symbols is SymPy's Max; an argmax needs numbers.
        """
        numeric = all(arrays[a.tensor].dtype != object for a in self.factors)
        if self.reduction == "sum":
            return super().evaluate(arrays, shape) * (float(self.scale) if numeric else self.scale)
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
                result[target(valid[0])] = max(values) if numeric else sp.Max(*values)
                continue
            winner = valid[0]  # the first valid tap wins every tie, even one at −∞
            for values in valid[1:]:
                if arrays[select[0]][select[1](values)] > arrays[select[0]][select[1](winner)]:
                    winner = values
            term = np.prod([arrays[name][read(winner)] for name, read in reads])
            result[target(winner)] += term * float(self.scale)
        return result


# ----- the formulas ------------------------------------------------------------------------
def _loops(symbols: tuple[sp.Symbol, ...], extents: tuple[int, ...]) -> tuple[Loop, ...]:
    return tuple(Loop(v, e) for v, e in zip(symbols, extents))


def _position(spec: PoolSpec, ix: Indices, d: int) -> sp.Expr:
    """p = s·j + t − pad: the input element tap t of window j reads in dimension d."""
    return spec.stride[d] * ix.out[d] + ix.tap[d] - spec.padding[d]


def _window_guards(spec: PoolSpec, ix: Indices) -> tuple[Guard, ...]:
    """0 ≤ p < i, where it can fail: only with padding (windows end inside i + pad)."""
    return tuple(
        InRange(_position(spec, ix, d), spec.input_size[d])
        for d in range(spec.rank)
        if spec.padding[d] > 0
    )


def _window_loops(spec: PoolSpec, ix: Indices) -> tuple[Loop, ...]:
    """Free loops over the windows: batch, channel, output position."""
    return (
        Loop(ix.n, spec.batch),
        Loop(ix.c_in, spec.channels),
        *_loops(ix.out, spec.output_size),
    )


def _window_read(spec: PoolSpec, ix: Indices, tensor: str) -> Access:
    positions = tuple(_position(spec, ix, d) for d in range(spec.rank))
    return Access(tensor, (ix.n, ix.c_in, *positions))


def forward_formula(spec: PoolSpec, ix: Indices) -> PoolFormula:
    """y[n, c, j] = max_t x[n, c, s·j + t − pad], or (1/|K|) Σ_t of it for average pooling."""
    average = spec.kind == "avg"
    return PoolFormula(
        name="forward",
        target=Access("y", (ix.n, ix.c_in, *ix.out)),
        loops=_window_loops(spec, ix),
        reductions=_loops(ix.tap, spec.kernel_size),
        guards=_window_guards(spec, ix),
        factors=(_window_read(spec, ix, "x"),),
        reduction="sum" if average else "max",
        scale=sp.Rational(1, spec.window_size) if average else sp.S.One,
    )


def _solved_window(spec: PoolSpec, ix: Indices, d: int) -> tuple[sp.Expr, list[Guard]]:
    """Solve r = s·j + t − pad for j: j = (r + pad − t)/s, integral and in [0, o)."""
    numerator = ix.inp[d] + spec.padding[d] - ix.tap[d]
    return solve_for_output(numerator, spec.stride[d], spec.output_size[d])


def average_grad_input_formula(spec: PoolSpec, ix: Indices) -> PoolFormula:
    """gx[n, c, r] = (1/|K|) Σ_t gy[n, c, j(r, t)]: each input gathers from its windows."""
    solved, guards = [], []
    for d in range(spec.rank):
        j, g = _solved_window(spec, ix, d)
        solved.append(j)
        guards.extend(g)
    return PoolFormula(
        name="grad_input",
        target=Access("gx", (ix.n, ix.c_in, *ix.inp)),
        loops=(
            Loop(ix.n, spec.batch),
            Loop(ix.c_in, spec.channels),
            *_loops(ix.inp, spec.input_size),
        ),
        reductions=_loops(ix.tap, spec.kernel_size),
        guards=tuple(guards),
        factors=(Access("gy", (ix.n, ix.c_in, *solved)),),
        scale=sp.Rational(1, spec.window_size),
    )


def max_grad_input_formula(spec: PoolSpec, ix: Indices) -> PoolFormula:
    """gx[n, c, s·j + t* − pad] += gy[n, c, j], t* the first argmax_t x[n, c, s·j + t − pad]."""
    return PoolFormula(
        name="grad_input",
        target=_window_read(spec, ix, "gx"),
        loops=_window_loops(spec, ix),
        reductions=_loops(ix.tap, spec.kernel_size),
        guards=_window_guards(spec, ix),
        factors=(Access("gy", (ix.n, ix.c_in, *ix.out)),),
        reduction="argmax",
        select=_window_read(spec, ix, "x"),
    )


@dataclass(frozen=True)
class PoolLevel:
    """The two closed forms of one pooling layer, and the index symbols they use."""

    indices: Indices
    forward: PoolFormula
    grad_input: PoolFormula

    def formulas(self) -> tuple[PoolFormula, ...]:
        return (self.forward, self.grad_input)


def pool_level(spec: PoolSpec) -> PoolLevel:
    """Closed forms for any size; channel index c, windows j, taps t, inputs r."""
    ix = make_indices(spec.rank)
    grad_input = max_grad_input_formula if spec.kind == "max" else average_grad_input_formula
    return PoolLevel(indices=ix, forward=forward_formula(spec, ix), grad_input=grad_input(spec, ix))
