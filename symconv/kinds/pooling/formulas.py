"""Index level for pooling: the forward pass and dL/dx of one `PoolSpec` as plain data.

A pooling window reads the input exactly where a convolution tap does, with dilation
1, so the index equation is the convolution's (`symconv.window.WindowAxis`),

    p = s·j + t − pad          (input position p, output j, tap t)

and only the reduction over the taps changes (`IndexFormula.reduction`):

* ``"sum"``: average pooling is y = (1/|K|) Σ_t x[s·j + t − pad], and its gradient the
  convolution's dL/dX gather with the constant filter 1/|K| (``count_include_pad=True``:
  the divisor is always prod(kernel), padded zeros included).
* ``"max"``: target = max over the taps where the guards hold of the single factor.
  A tap that fails a guard (padding) is left out, which is the same as padding with
  −∞, the identity of max: the lowering pads that way.
* ``"argmax"``: dL/dx of max pooling.  For every window (free indices n, c, j) the
  tap PyTorch's scan picks (the first maximum in row-major order; a NaN wins, the
  last one of the window) receives the product of the factors:
  target[..., p(t*)] += gy[n, c, j].  Every window counts, so overlapping windows
  (stride < kernel) add up where they share a maximum.

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

import sympy as sp

from symconv.kinds.pooling.spec import PoolSpec
from symconv.symbolic.indices import (
    Access,
    Guard,
    IndexFormula,
    IndexLevel,
    Indices,
    InRange,
    Loop,
    make_indices,
    solve_for_output,
    spatial_loops,
)


def _positions(spec: PoolSpec, ix: Indices) -> tuple[sp.Expr, ...]:
    """p = s·j + t − pad: the input element tap t of window j reads, per dimension."""
    return tuple(
        axis.position(j, t) for axis, j, t in zip(spec.window_axes, ix.out, ix.tap, strict=True)
    )


def _window_guards(spec: PoolSpec, ix: Indices) -> tuple[Guard, ...]:
    """0 ≤ p < i, where it can fail: only with padding (windows end inside i + pad)."""
    return tuple(
        InRange(axis.position(j, t), axis.size)
        for axis, j, t in zip(spec.window_axes, ix.out, ix.tap, strict=True)
        if axis.lo > 0
    )


def _window_loops(spec: PoolSpec, ix: Indices) -> tuple[Loop, ...]:
    """Free loops over the windows: batch, channel, output position."""
    return (
        Loop(ix.n, spec.batch),
        Loop(ix.c_in, spec.channels),
        *spatial_loops(ix.out, spec.output_size),
    )


def _window_read(spec: PoolSpec, ix: Indices, tensor: str) -> Access:
    return Access(tensor, (ix.n, ix.c_in, *_positions(spec, ix)))


def forward_formula(spec: PoolSpec, ix: Indices) -> IndexFormula:
    """y[n, c, j] = max_t x[n, c, s·j + t − pad], or (1/|K|) Σ_t of it for average pooling."""
    average = spec.kind == "avg"
    return IndexFormula(
        name="forward",
        target=Access("y", (ix.n, ix.c_in, *ix.out)),
        loops=_window_loops(spec, ix),
        reductions=spatial_loops(ix.tap, spec.kernel_size),
        guards=_window_guards(spec, ix),
        factors=(_window_read(spec, ix, "x"),),
        reduction="sum" if average else "max",
        scale=sp.Rational(1, spec.window_size) if average else sp.S.One,
    )


def average_grad_input_formula(spec: PoolSpec, ix: Indices) -> IndexFormula:
    """gx[n, c, r] = (1/|K|) Σ_t gy[n, c, j(r, t)]: each input gathers from its windows."""
    solved, guards = [], []
    for axis, r, t in zip(spec.window_axes, ix.inp, ix.tap, strict=True):
        j, g = solve_for_output(axis.window_numerator(r, t), axis.stride, axis.outputs)
        solved.append(j)
        guards.extend(g)
    return IndexFormula(
        name="grad_input",
        target=Access("gx", (ix.n, ix.c_in, *ix.inp)),
        loops=(
            Loop(ix.n, spec.batch),
            Loop(ix.c_in, spec.channels),
            *spatial_loops(ix.inp, spec.input_size),
        ),
        reductions=spatial_loops(ix.tap, spec.kernel_size),
        guards=tuple(guards),
        factors=(Access("gy", (ix.n, ix.c_in, *solved)),),
        scale=sp.Rational(1, spec.window_size),
    )


def max_grad_input_formula(spec: PoolSpec, ix: Indices) -> IndexFormula:
    """gx[n, c, s·j + t* − pad] += gy[n, c, j], t* the tap PyTorch's scan picks."""
    return IndexFormula(
        name="grad_input",
        target=_window_read(spec, ix, "gx"),
        loops=_window_loops(spec, ix),
        reductions=spatial_loops(ix.tap, spec.kernel_size),
        guards=_window_guards(spec, ix),
        factors=(Access("gy", (ix.n, ix.c_in, *ix.out)),),
        reduction="argmax",
        select=_window_read(spec, ix, "x"),
    )


def pool_level(spec: PoolSpec) -> IndexLevel:
    """Closed forms for any size; channel index c, windows j, taps t, inputs r."""
    ix = make_indices(spec.rank)
    grad_input = max_grad_input_formula if spec.kind == "max" else average_grad_input_formula
    formulas = [forward_formula(spec, ix), grad_input(spec, ix)]
    return IndexLevel(ix, {f.name: f for f in formulas})
