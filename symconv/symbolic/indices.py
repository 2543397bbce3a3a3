"""Index level: closed-form formulas for the forward pass and its transposes, at any size.

Each formula is in *gather* form: one free index per element written, a sum over
reduction indices, and explicit guards (bounds, divisibility) instead of Kronecker
deltas.  The gradient rules were obtained by solving the forward index equation

    p = s·j + d·t − lo          (input position p, output j, tap t)

for the unknown index, not by SymPy's `deltasummation`, which returns fractional
indices for strided layers:

* dL/dX gathers over taps t: j = (r + lo − d·t) / s must be an integer in [0, o).
* dL/dF gathers over outputs j: p = s·j + d·t − lo must lie in [0, i).

Each transpose rule is a small named function next to the forward rule it
transposes, as in JAX's ``lax/convolution.py``.  The formulas are plain data
(`Loop`, `Access`, guards) so the printers render them and the lowering turns them
into loop nests without re-deriving anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import product

import numpy as np
import sympy as sp

from symconv.spec import ConvSpec
from symconv.symbolic.index_printer import python_index
from symconv.symbolic.tensors import multiply, zeros_like


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


@dataclass(frozen=True)
class IndexFormula:
    """target = addend + Σ_{reductions, guards hold} Π factors, for every free index."""

    name: str
    target: Access
    loops: tuple[Loop, ...]
    reductions: tuple[Loop, ...]
    guards: tuple[Guard, ...]
    factors: tuple[Access, ...]
    addend: Access | None = None

    def evaluate(self, arrays: dict[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        """Enumerate every index and add up the products (small layers: the check).

        Works on NumPy object arrays of SymPy symbols as well as on numbers, so the
        same formula is compared with the element equations and with the reference.
        """
        variables = [loop.var for loop in self.loops + self.reductions]
        compile_index = index_compiler(variables)
        target_at = compile_index(self.target.index)
        reads = [(a.tensor, compile_index(a.index)) for a in self.factors]
        checks = [guard_check(g, compile_index) for g in self.guards]
        addend = None
        if self.addend is not None:
            addend = (self.addend.tensor, compile_index(self.addend.index))
        numeric = all(arrays[name].dtype != object for name, _ in reads)
        result = np.zeros(shape) if numeric else zeros_like(shape)
        unused = (0,) * len(self.reductions)  # target and addend depend on free indices only
        for outer in product(*(range(loop.extent) for loop in self.loops)):
            terms = []
            for inner in product(*(range(loop.extent) for loop in self.reductions)):
                values = outer + inner
                if all(check(values) for check in checks):
                    factors = [arrays[name][at(values)] for name, at in reads]
                    terms.append(np.prod(factors) if numeric else multiply(*factors))
            if addend is not None:
                terms.append(arrays[addend[0]][addend[1](outer + unused)])
            total = sum(terms) if numeric else sp.Add(*terms)
            result[target_at(outer + unused)] = total
        return result


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
    """Integer index symbols of one spec: batch n, group g, channels, and per-dimension j, t, r."""

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


def _group_loops(spec: ConvSpec, ix: Indices) -> tuple[tuple[Loop, ...], sp.Expr, sp.Expr]:
    """The group loop (absent when groups=1) and the absolute channel offsets it gives."""
    if spec.groups == 1:
        return (), sp.S.Zero, sp.S.Zero
    cin_base = ix.g * spec.in_channels_per_group
    cout_base = ix.g * spec.out_channels_per_group
    return (Loop(ix.g, spec.groups),), cin_base, cout_base


def _stored_tap(spec: ConvSpec, ix: Indices) -> tuple[sp.Expr, ...]:
    """Index of the stored weight that tap t applies (rotated in "convolution" mode)."""
    if spec.flips_kernel:
        return tuple(k - 1 - t for k, t in zip(spec.kernel_size, ix.tap))
    return ix.tap


def _input_position(spec: ConvSpec, ix: Indices, d: int) -> sp.Expr:
    """p = s·j + d·t − lo: the forward index equation of dimension d."""
    s, dil, lo = spec.stride[d], spec.dilation[d], spec.padding[d][0]
    return s * ix.out[d] + dil * ix.tap[d] - lo


def _position_guards(spec: ConvSpec, ix: Indices) -> tuple[Guard, ...]:
    """Bounds on p that can fail; a guard that always holds is left out.

    p ≥ 0 always when lo = 0.  The largest p is i + hi − a − 1, so p < i always
    when hi ≤ a (the leftover a swallows the hi padding).
    """
    guards: list[Guard] = []
    for d in range(spec.rank):
        lo, hi = spec.padding[d]
        if lo > 0 or hi > spec.leftover[d]:
            guards.append(InRange(_input_position(spec, ix, d), spec.input_size[d]))
    return tuple(guards)


def _spatial_loops(symbols: tuple[sp.Symbol, ...], extents: tuple[int, ...]) -> tuple[Loop, ...]:
    return tuple(Loop(v, e) for v, e in zip(symbols, extents))


# ----- forward and its transposes --------------------------------------------------------
def forward_formula(spec: ConvSpec, ix: Indices) -> IndexFormula:
    """y[n, m, j] = b[m] + Σ_{c, t} x[n, c, s·j + d·t − lo] · w[m, c, t]."""
    group_loops, cin_base, cout_base = _group_loops(spec, ix)
    out_channel = cout_base + ix.c_out
    positions = tuple(_input_position(spec, ix, d) for d in range(spec.rank))
    return IndexFormula(
        name="forward",
        target=Access("y", (ix.n, out_channel, *ix.out)),
        loops=(
            Loop(ix.n, spec.batch),
            *group_loops,
            Loop(ix.c_out, spec.out_channels_per_group),
            *_spatial_loops(ix.out, spec.output_size),
        ),
        reductions=(
            Loop(ix.c_in, spec.in_channels_per_group),
            *_spatial_loops(ix.tap, spec.kernel_size),
        ),
        guards=_position_guards(spec, ix),
        factors=(
            Access("x", (ix.n, cin_base + ix.c_in, *positions)),
            Access("w", (out_channel, ix.c_in, *_stored_tap(spec, ix))),
        ),
        addend=Access("b", (out_channel,)) if spec.bias else None,
    )


def solve_for_output(numerator: sp.Expr, stride: int, extent: int) -> tuple[sp.Expr, list[Guard]]:
    """Solve numerator = s·j for the window index j: integral and in [0, extent).

    The gather rule of every strided sliding window (convolution and pooling alike):
    `numerator` is the input position shifted by the padding, less the tap's offset.
    """
    guards: list[Guard] = []
    if stride == 1:
        solved = numerator
    else:
        guards.append(Divisible(numerator, stride))
        solved = sp.floor(numerator / stride)
    guards.append(InRange(solved, extent))
    return solved, guards


def _solved_output_index(spec: ConvSpec, ix: Indices, d: int) -> tuple[sp.Expr, list[Guard]]:
    """Solve r = s·j + d·t − lo for j: j = (r + lo − d·t)/s, integral and in [0, o)."""
    numerator = ix.inp[d] + spec.padding[d][0] - spec.dilation[d] * ix.tap[d]
    return solve_for_output(numerator, spec.stride[d], spec.output_size[d])


def grad_input_formula(spec: ConvSpec, ix: Indices) -> IndexFormula:
    """Transpose of `forward_formula` in x.

    gx[n, c, r] = Σ_{m, t} gy[n, m, j(r, t)] · w[m, c, t]
    """
    group_loops, cin_base, cout_base = _group_loops(spec, ix)
    out_channel = cout_base + ix.c_out
    solved, guards = [], []
    for d in range(spec.rank):
        j, g = _solved_output_index(spec, ix, d)
        solved.append(j)
        guards.extend(g)
    return IndexFormula(
        name="grad_input",
        target=Access("gx", (ix.n, cin_base + ix.c_in, *ix.inp)),
        loops=(
            Loop(ix.n, spec.batch),
            *group_loops,
            Loop(ix.c_in, spec.in_channels_per_group),
            *_spatial_loops(ix.inp, spec.input_size),
        ),
        reductions=(
            Loop(ix.c_out, spec.out_channels_per_group),
            *_spatial_loops(ix.tap, spec.kernel_size),
        ),
        guards=tuple(guards),
        factors=(
            Access("gy", (ix.n, out_channel, *solved)),
            Access("w", (out_channel, ix.c_in, *_stored_tap(spec, ix))),
        ),
    )


def grad_weight_formula(spec: ConvSpec, ix: Indices) -> IndexFormula:
    """Transpose of `forward_formula` in w.

    gw[m, c, t] = Σ_{n, j} gy[n, m, j] · x[n, c, s·j + d·t − lo]
    """
    group_loops, cin_base, cout_base = _group_loops(spec, ix)
    out_channel = cout_base + ix.c_out
    positions = tuple(_input_position(spec, ix, d) for d in range(spec.rank))
    return IndexFormula(
        name="grad_weight",
        target=Access("gw", (out_channel, ix.c_in, *_stored_tap(spec, ix))),
        loops=(
            *group_loops,
            Loop(ix.c_out, spec.out_channels_per_group),
            Loop(ix.c_in, spec.in_channels_per_group),
            *_spatial_loops(ix.tap, spec.kernel_size),
        ),
        reductions=(Loop(ix.n, spec.batch), *_spatial_loops(ix.out, spec.output_size)),
        guards=_position_guards(spec, ix),
        factors=(
            Access("gy", (ix.n, out_channel, *ix.out)),
            Access("x", (ix.n, cin_base + ix.c_in, *positions)),
        ),
    )


def grad_bias_formula(spec: ConvSpec, ix: Indices) -> IndexFormula:
    """Transpose of the bias term: gb[m] = Σ_{n, j} gy[n, m, j]."""
    return IndexFormula(
        name="grad_bias",
        target=Access("gb", (ix.c_out,)),
        loops=(Loop(ix.c_out, spec.out_channels),),
        reductions=(Loop(ix.n, spec.batch), *_spatial_loops(ix.out, spec.output_size)),
        guards=(),
        factors=(Access("gy", (ix.n, ix.c_out, *ix.out)),),
    )


@dataclass(frozen=True)
class IndexLevel:
    """The four closed forms of one spec, and the index symbols they use."""

    indices: Indices
    forward: IndexFormula
    grad_input: IndexFormula
    grad_weight: IndexFormula
    grad_bias: IndexFormula | None

    def formulas(self) -> tuple[IndexFormula, ...]:
        found = (self.forward, self.grad_input, self.grad_weight, self.grad_bias)
        return tuple(f for f in found if f is not None)


def index_level(spec: ConvSpec) -> IndexLevel:
    """Closed forms for any size: the cost does not grow with the layer."""
    ix = make_indices(spec.rank)
    return IndexLevel(
        indices=ix,
        forward=forward_formula(spec, ix),
        grad_input=grad_input_formula(spec, ix),
        grad_weight=grad_weight_formula(spec, ix),
        grad_bias=grad_bias_formula(spec, ix) if spec.bias else None,
    )
