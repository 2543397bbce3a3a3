"""The closed forms of a convolution: the forward rule and, next to it, each transpose rule.

Every formula comes from the window equation of `symconv.window.WindowAxis`,

    p = s·j + d·t − lo          (input position p, output j, tap t)

solved for the unknown index of the gradient being gathered:

* dL/dX gathers over taps t: j = (r + lo − d·t) / s must be an integer in [0, o).
* dL/dF gathers over outputs j: p = s·j + d·t − lo must lie in [0, i).

Each transpose rule is a small named function next to the forward rule it
transposes, as in JAX's ``lax/convolution.py``.
"""

from __future__ import annotations

import sympy as sp

from symconv.kinds.convolution.spec import ConvSpec
from symconv.symbolic.indices import (
    Access,
    Guard,
    IndexFormula,
    IndexLevel,
    Indices,
    InRange,
    Loop,
    index_symbol,
    make_indices,
    solve_for_output,
    spatial_loops,
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


def _tile_of(spec: ConvSpec, outputs: tuple[sp.Expr, ...]) -> tuple[sp.Expr, ...]:
    """The weight's tile index for output position j: j mod t per dimension (tiled only).

    An untiled weight has no tile axes (empty); a dimension with one tile is 0, one
    with a filter per output position (locally connected) is j itself.
    """
    if not spec.tiled:
        return ()
    return tuple(
        sp.S.Zero if t == 1 else (j if t == o else sp.Mod(j, t))
        for j, t, o in zip(outputs, spec.tiles, spec.output_size)
    )


def tile_symbols(rank: int) -> tuple[sp.Symbol, ...]:
    """τ per dimension: the tile a weight gradient belongs to."""
    suffix = ["h", "w"] if rank == 2 else (["d", "h", "w"] if rank == 3 else [""])
    return tuple(index_symbol(f"tau{s}") for s in suffix)


def phase_symbols(rank: int) -> tuple[sp.Symbol, ...]:
    """q per dimension: the q-th output position of a tile, j = t·q + τ."""
    suffix = ["h", "w"] if rank == 2 else (["d", "h", "w"] if rank == 3 else [""])
    return tuple(index_symbol(f"q{s}") for s in suffix)


def _input_positions(
    spec: ConvSpec, ix: Indices, outputs: tuple[sp.Expr, ...] | None = None
) -> tuple[sp.Expr, ...]:
    """p = s·j + d·t − lo in every dimension: the forward index equation (j = `outputs`,
    by default the output index symbols)."""
    outputs = ix.out if outputs is None else outputs
    return tuple(
        axis.position(j, t) for axis, j, t in zip(spec.window_axes, outputs, ix.tap, strict=True)
    )


def _position_guards(spec: ConvSpec, positions: tuple[sp.Expr, ...]) -> tuple[Guard, ...]:
    """Bounds on the input positions p that can fail; a guard that always holds is left out.

    p ≥ 0 always when lo = 0.  The largest p is i + hi − a − 1, so p < i always
    when hi ≤ a (the leftover a swallows the hi padding).
    """
    return tuple(
        InRange(p, axis.size)
        for axis, p in zip(spec.window_axes, positions, strict=True)
        if axis.lo > 0 or axis.hi > axis.leftover
    )


# ----- forward and its transposes --------------------------------------------------------
def forward_formula(spec: ConvSpec, ix: Indices) -> IndexFormula:
    """y[n, m, j] = b[m] + Σ_{c, t} x[n, c, s·j + d·t − lo] · w[m, c, t]."""
    group_loops, cin_base, cout_base = _group_loops(spec, ix)
    out_channel = cout_base + ix.c_out
    positions = _input_positions(spec, ix)
    return IndexFormula(
        name="forward",
        target=Access("y", (ix.n, out_channel, *ix.out)),
        loops=(
            Loop(ix.n, spec.batch),
            *group_loops,
            Loop(ix.c_out, spec.out_channels_per_group),
            *spatial_loops(ix.out, spec.output_size),
        ),
        reductions=(
            Loop(ix.c_in, spec.in_channels_per_group),
            *spatial_loops(ix.tap, spec.kernel_size),
        ),
        guards=_position_guards(spec, positions),
        factors=(
            Access("x", (ix.n, cin_base + ix.c_in, *positions)),
            Access("w", (out_channel, ix.c_in, *_tile_of(spec, ix.out), *_stored_tap(spec, ix))),
        ),
        addend=Access("b", (out_channel,)) if spec.bias else None,
    )


def grad_input_formula(spec: ConvSpec, ix: Indices) -> IndexFormula:
    """Transpose of `forward_formula` in x.

    gx[n, c, r] = Σ_{m, t} gy[n, m, j(r, t)] · w[m, c, t],  s·j = r + lo − d·t
    """
    group_loops, cin_base, cout_base = _group_loops(spec, ix)
    out_channel = cout_base + ix.c_out
    solved, guards = [], []
    for axis, r, t in zip(spec.window_axes, ix.inp, ix.tap, strict=True):
        j, g = solve_for_output(axis.window_numerator(r, t), axis.stride, axis.outputs)
        solved.append(j)
        guards.extend(g)
    return IndexFormula(
        name="grad_input",
        target=Access("gx", (ix.n, cin_base + ix.c_in, *ix.inp)),
        loops=(
            Loop(ix.n, spec.batch),
            *group_loops,
            Loop(ix.c_in, spec.in_channels_per_group),
            *spatial_loops(ix.inp, spec.input_size),
        ),
        reductions=(
            Loop(ix.c_out, spec.out_channels_per_group),
            *spatial_loops(ix.tap, spec.kernel_size),
        ),
        guards=tuple(guards),
        factors=(
            Access("gy", (ix.n, out_channel, *solved)),
            Access(
                "w", (out_channel, ix.c_in, *_tile_of(spec, tuple(solved)), *_stored_tap(spec, ix))
            ),
        ),
    )


def grad_weight_formula(spec: ConvSpec, ix: Indices) -> IndexFormula:
    """Transpose of `forward_formula` in w.

    gw[m, c, t] = Σ_{n, j} gy[n, m, j] · x[n, c, s·j + d·t − lo]
    """
    group_loops, cin_base, cout_base = _group_loops(spec, ix)
    out_channel = cout_base + ix.c_out
    if spec.tiled:
        return _tiled_grad_weight(spec, ix, group_loops, cin_base, out_channel)
    positions = _input_positions(spec, ix)
    return IndexFormula(
        name="grad_weight",
        target=Access("gw", (out_channel, ix.c_in, *_stored_tap(spec, ix))),
        loops=(
            *group_loops,
            Loop(ix.c_out, spec.out_channels_per_group),
            Loop(ix.c_in, spec.in_channels_per_group),
            *spatial_loops(ix.tap, spec.kernel_size),
        ),
        reductions=(Loop(ix.n, spec.batch), *spatial_loops(ix.out, spec.output_size)),
        guards=_position_guards(spec, positions),
        factors=(
            Access("gy", (ix.n, out_channel, *ix.out)),
            Access("x", (ix.n, cin_base + ix.c_in, *positions)),
        ),
    )


def _tiled_grad_weight(
    spec: ConvSpec, ix: Indices, group_loops: tuple, cin_base: sp.Expr, out_channel: sp.Expr
) -> IndexFormula:
    """gw[m, c, τ, t] = Σ_n Σ_q gy[n, m, t·q + τ] · x[n, c, s·(t·q + τ) + d·t − lo].

    Filter τ receives only the output positions of its phase, j = t·q + τ: a grid of
    step t (the dilation pattern again, over the outputs); where t does not divide the
    output size, the last q of some phases falls past the edge and is guarded away.
    """
    taus, qs = tile_symbols(spec.rank), phase_symbols(spec.rank)
    outputs = tuple(t * q + tau for t, q, tau in zip(spec.tiles, qs, taus))
    positions = _input_positions(spec, ix, outputs)
    guards = [InRange(j, o) for j, t, o in zip(outputs, spec.tiles, spec.output_size) if o % t]
    guards += _position_guards(spec, positions)
    return IndexFormula(
        name="grad_weight",
        target=Access("gw", (out_channel, ix.c_in, *taus, *_stored_tap(spec, ix))),
        loops=(
            *group_loops,
            Loop(ix.c_out, spec.out_channels_per_group),
            Loop(ix.c_in, spec.in_channels_per_group),
            *spatial_loops(taus, spec.tiles),
            *spatial_loops(ix.tap, spec.kernel_size),
        ),
        reductions=(
            Loop(ix.n, spec.batch),
            *(Loop(q, -(-o // t)) for q, t, o in zip(qs, spec.tiles, spec.output_size)),
        ),
        guards=tuple(guards),
        factors=(
            Access("gy", (ix.n, out_channel, *outputs)),
            Access("x", (ix.n, cin_base + ix.c_in, *positions)),
        ),
    )


def grad_bias_formula(spec: ConvSpec, ix: Indices) -> IndexFormula:
    """Transpose of the bias term: gb[m] = Σ_{n, j} gy[n, m, j]."""
    return IndexFormula(
        name="grad_bias",
        target=Access("gb", (ix.c_out,)),
        loops=(Loop(ix.c_out, spec.out_channels),),
        reductions=(Loop(ix.n, spec.batch), *spatial_loops(ix.out, spec.output_size)),
        guards=(),
        factors=(Access("gy", (ix.n, ix.c_out, *ix.out)),),
    )


def index_level(spec: ConvSpec) -> IndexLevel:
    """Closed forms for any size: the cost does not grow with the layer."""
    ix = make_indices(spec.rank)
    rules = [forward_formula, grad_input_formula, grad_weight_formula]
    if spec.bias:
        rules.append(grad_bias_formula)
    formulas = [rule(spec, ix) for rule in rules]
    return IndexLevel(ix, {f.name: f for f in formulas})
