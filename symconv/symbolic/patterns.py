"""The patterns the lecture teaches, each proved symbolically for one layer.

A pattern is a statement, the equation that shows it (an `Identity`, printed exactly
as it is evaluated) and a verdict obtained by comparing SymPy expressions, never by
plugging in numbers.  Both sides are sums of products of symbols in SymPy's canonical
form, so structural equality is a proof; where it fails, the difference is expanded
before a verdict of "does not hold".

The gradient of a convolution *is* another correlation, and that is what the
identities say:

* ∂L/∂X = cross-correlation(∂L/∂O dilated by the stride and padded by
  (k_eff − 1 − lo, k_eff − 1 − hi + a), the filter rotated by 180° with its channels
  swapped; dilation d): the "full convolution with the rotated filter" when the
  padding is k_eff − 1 on both sides.  In convolution mode the forward pass already
  rotates the filter, and the two rotations cancel.
* ∂L/∂F = cross-correlation(X padded by lo and cropped to the rows the windows reach,
  ∂L/∂O dilated by the stride; stride d), summed over the batch: stride and dilation
  trade places.  Convolution mode stores the result rotated by 180°.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sympy as sp

import symconv.symbolic.elements as elements
from symconv.formatting import fmt_tuple, plural
from symconv.kinds import ConvSpec
from symconv.symbolic.expressions import POLYNOMIALS, same_polynomials
from symconv.symbolic.identities import (
    Correlation,
    Dilate,
    Identity,
    Mask,
    Operand,
    Pad,
    Phase,
    Rotate,
    SwapChannels,
    TileOf,
)

Where = dict[sp.Symbol, tuple[str, tuple[int, ...]]]
AXES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}


@dataclass(frozen=True)
class Pattern:
    """A named statement about one layer, its proof verdict and the equation that shows it.

    `title` and `statement` are sentences (Unicode, ∂L/∂X); `identity`, when the pattern
    is an equation between tensors, is that equation as data; `evidence` holds the
    facts the statement is about (the leftover rows, the padding amounts).
    """

    name: str
    title: str
    statement: str
    holds: bool
    identity: Identity | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


def same_expressions(left: np.ndarray, right: np.ndarray) -> bool:
    """Entry-wise symbolic equality (canonical form first, expansion if that differs)."""
    if left.shape != right.shape:
        return False
    for a, b in zip(left.flat, right.flat):
        if a != b and sp.expand(a - b) != 0:
            return False
    return True


def _per_axis(spec: ConvSpec, phrases: list[str]) -> str:
    """'1 zero along height and 2 zeros along width' (or the one phrase of a 1-D layer)."""
    if len(phrases) == 1:
        return phrases[0]
    return " and ".join(f"{p} along {a}" for p, a in zip(phrases, AXES[spec.rank]))


# ----- the identities ---------------------------------------------------------------------------
def full_correlation_padding(spec: ConvSpec) -> tuple[tuple[int, int], ...]:
    """(k_eff − 1 − lo, k_eff − 1 − hi + a) per dimension: ∂L/∂O's padding in ∂L/∂X."""
    return tuple(
        (axis.span - 1 - axis.lo, axis.span - 1 - axis.hi + axis.leftover)
        for axis in spec.window_axes
    )


def is_full(spec: ConvSpec) -> bool:
    """True when that padding is k_eff − 1 on both sides (lo = 0 and hi = a everywhere)."""
    return all(axis.lo == 0 and axis.hi == axis.leftover for axis in spec.window_axes)


def strided(spec: ConvSpec) -> bool:
    return any(s > 1 for s in spec.stride)


def grad_input_identity(spec: ConvSpec) -> Identity:
    """∂L/∂X as a correlation of the dilated, padded ∂L/∂O with the rotated filter."""
    upstream: tuple = (Dilate(spec.stride),) if strided(spec) else ()
    full = is_full(spec)
    if not full:
        upstream += (Pad(full_correlation_padding(spec)),)
    filter_steps: tuple = (SwapChannels(spec.groups),)
    if not spec.flips_kernel:
        filter_steps += (Rotate(),)
    return Identity(
        lhs="gx",
        operation=Correlation((1,) * spec.rank, spec.dilation, spec.groups, "channels", full),
        grid=Operand("gy", upstream),
        kernel=Operand("w", filter_steps),
    )


def grad_weight_identity(spec: ConvSpec) -> Identity:
    """∂L/∂F as the correlation of X (padded, cropped to the reach) with the dilated ∂L/∂O."""
    amounts = tuple((axis.lo, axis.hi - axis.leftover) for axis in spec.window_axes)
    upstream: tuple = (Dilate(spec.stride),) if strided(spec) else ()
    return _grad_weight_correlation(spec, amounts, upstream)


def _grad_weight_correlation(
    spec: ConvSpec, amounts: tuple, upstream: tuple, tile: tuple[int, ...] = ()
) -> Identity:
    """∂L/∂F (of `tile`) = the correlation, summed over the batch, of X padded (or cropped)
    by `amounts` with ∂L/∂O after `upstream`; rotated back when the layer convolves."""
    data: tuple = (Pad(tuple(amounts)),) if any(a != (0, 0) for a in amounts) else ()
    return Identity(
        lhs="gw",
        operation=Correlation(spec.dilation, (1,) * spec.rank, spec.groups, "batch"),
        grid=Operand("x", data),
        kernel=Operand("gy", upstream),
        result_steps=(Rotate(),) if spec.flips_kernel else (),
        lhs_tile=tile,
    )


# ----- the patterns -----------------------------------------------------------------------------
def rotation_pattern(spec: ConvSpec, symbols: dict, grad_input: np.ndarray) -> Pattern:
    identity = grad_input_identity(spec)
    upstream = "the dilated ∂L/∂O" if strided(spec) else "∂L/∂O"
    if spec.flips_kernel:
        title = (
            f"∂L/∂X is the {identity.operation.name} of {upstream} with the filter itself "
            "(convolution mode: the two 180° rotations cancel)"
        )
    else:
        title = f"∂L/∂X is the {identity.operation.name} of {upstream} with the 180°-rotated filter"
    sentences = [
        "The right side is computed from the operands as shown and compared with the "
        "chain-rule result entry by entry."
    ]
    if not spec.flips_kernel:
        sentences.append(
            "Correlating with the rotated filter is convolving with the filter itself, which "
            "is why this rule is often stated as a full convolution of ∂L/∂O with F."
        )
    if not identity.operation.full:
        sentences.append(
            "The padding of ∂L/∂O is not k_eff − 1 on every side here, so this is not a "
            "full correlation: the padding is part of the operand."
        )
    return Pattern(
        name="rotation",
        title=title,
        statement=" ".join(sentences),
        holds=same_polynomials(identity.evaluate(symbols, POLYNOMIALS), grad_input),
        identity=identity,
    )


def padding_pattern(spec: ConvSpec, rotation: Pattern) -> Pattern:
    amounts = full_correlation_padding(spec)
    listed = ", ".join(f"({b}, {a})" for b, a in amounts)
    sizes = [
        (axis.stride * (axis.outputs - 1) + 1) + b + a - axis.span + 1
        for axis, (b, a) in zip(spec.window_axes, amounts)
    ]
    size_ok = tuple(sizes) == spec.input_size
    statement = (
        f"Per dimension (before, after) = {listed}: the padded grid is "
        f"{fmt_tuple(tuple(s + a.span - 1 for s, a in zip(sizes, spec.window_axes)))} long, "
        f"and less the dilated kernel's span k_eff = {fmt_tuple(spec.effective_kernel)} plus 1 "
        f"that is the input size {fmt_tuple(spec.input_size)}."
    )
    if is_full(spec):
        statement += " Both amounts are k_eff − 1: the full correlation."
    if any(min(pair) < 0 for pair in amounts):
        statement += " A negative amount crops the grid instead of padding it."
    return Pattern(
        name="padding",
        title="∂L/∂O is padded by k_eff − 1 − lo before and k_eff − 1 − hi + a after",
        statement=statement,
        holds=rotation.holds and size_ok,
        evidence={"amounts": amounts},
    )


def dilation_pattern(
    spec: ConvSpec, symbols: dict, where: Where, output: np.ndarray, grad_input: np.ndarray
) -> Pattern:
    """A stride-s layer backpropagates like the stride-1 layer fed the dilated ∂L/∂O.

    Stride s is stride 1 followed by keeping every s-th output; the chain rule through
    that subsampling puts s − 1 zeros between the entries of ∂L/∂O.  Proved on the
    stride-1 layer itself, not through the rotation identity.
    """
    title = "For stride s, ∂L/∂O gets s − 1 zeros between its entries"
    if not strided(spec):
        return Pattern(
            name="dilation",
            title=title,
            statement="Stride 1: no zeros are inserted; the gradient takes ∂L/∂O as it is.",
            holds=True,
        )
    unit = replace(spec, stride=1)
    unit_out = elements.forward(unit, symbols, POLYNOMIALS)
    keep = (slice(None), slice(None), *(slice(None, None, s) for s in spec.stride))
    dilated = Dilate(spec.stride).apply(symbols["gy"])
    trailing = tuple((0, u - n) for u, n in zip(unit.output_size, dilated.shape[2:]))
    upstream = Pad(trailing).apply(dilated)
    by_unit = elements.chain_polynomials(unit_out, upstream, where, "x", spec.input_shape)
    holds = same_polynomials(unit_out[keep], output) and same_polynomials(by_unit, grad_input)
    zeros = [plural(s - 1, "zero") for s in spec.stride]
    return Pattern(
        name="dilation",
        title=title,
        statement=(
            f"Stride {fmt_tuple(spec.stride)} is stride 1 followed by keeping every s-th "
            "output, so ∂L/∂X is the stride-1 layer's gradient fed ∂L/∂O with "
            f"{_per_axis(spec, zeros)} between neighbours; proved on the stride-1 layer."
        ),
        holds=holds,
        evidence={"dilated": dilated},
    )


def unreached_positions(spec: ConvSpec) -> tuple[tuple[int, ...], ...]:
    """Per dimension, the input rows (0-based) that no tap of any window reads."""
    return tuple(axis.unreached() for axis in spec.window_axes)


def leftover_pattern(
    spec: ConvSpec, symbols: dict, output: np.ndarray, grad_input: np.ndarray
) -> Pattern:
    """Rows no window reaches are absent from every output and get exactly zero gradient."""
    unreached = unreached_positions(spec)
    used = set().union(*(e.free_symbols for e in output.flat))
    holds = True
    for index in np.ndindex(grad_input.shape):
        if any(index[2 + d] in unreached[d] for d in range(spec.rank)):
            holds = holds and grad_input[index] == 0 and symbols["x"][index] not in used
    statement = f"Leftover a = (i + lo + hi − k_eff) mod s = {fmt_tuple(spec.leftover)}. "
    count = sum(map(len, unreached))
    if not count:
        statement += "Every input element is read by some window."
    else:
        tails = [max(axis.leftover - axis.hi, 0) for axis in spec.window_axes]
        where_ = _per_axis(spec, [f"{t} past the last window" for t in tails])
        statement += (
            f"{plural(count, 'input row or column', 'input rows or columns')} "
            f"{'is' if count == 1 else 'are'} read by no window ({where_}"
            + ("; the rest lie between dilated taps" if count > sum(tails) else "")
            + "): they appear in no output and get exactly zero gradient."
        )
    return Pattern(
        name="leftover",
        title="Rows no window reaches receive zero gradient",
        statement=statement,
        holds=holds,
        evidence={"unreached": unreached, "leftover": spec.leftover},
    )


def grad_weight_pattern(spec: ConvSpec, symbols: dict, grad_weight: np.ndarray) -> Pattern:
    """∂L/∂F = correlation of X (padded, cropped) with ∂L/∂O: stride and dilation trade places."""
    identity = grad_weight_identity(spec)
    upstream = "∂L/∂O dilated by the stride" if strided(spec) else "∂L/∂O"
    title = f"∂L/∂F is the cross-correlation of X with {upstream}"
    if spec.flips_kernel:
        title += ", rotated by 180° (convolution mode)"
    sentences = [
        f"∂L/∂O is the kernel and the layer's dilation {fmt_tuple(spec.dilation)} its stride: "
        "stride and dilation trade places, and the sum runs over the batch."
    ]
    crop = [max(axis.leftover - axis.hi, 0) for axis in spec.window_axes]
    if any(axis.lo or axis.hi for axis in spec.window_axes) or any(crop):
        sentences.append(
            "X is zero-padded as in the forward pass"
            + (" and cropped to the rows the windows reach" if any(crop) else "")
            + ", so the correlation is exactly as large as the filter."
        )
    if spec.flips_kernel:
        sentences.append(
            "Convolution mode applies the stored filter rotated, so its gradient is the "
            "correlation rotated back by 180°."
        )
    return Pattern(
        name="grad_weight",
        title=title,
        statement=" ".join(sentences),
        holds=same_polynomials(identity.evaluate(symbols, POLYNOMIALS), grad_weight),
        identity=identity,
    )


def grad_bias_pattern(symbols: dict[str, np.ndarray], grad_bias: np.ndarray) -> Pattern:
    """dL/db_m is the sum of dL/dO over the batch and every position of channel m."""
    gy = symbols["gy"]
    sums = np.empty(gy.shape[1], dtype=object)
    for m in range(gy.shape[1]):
        sums[m] = POLYNOMIALS.total([POLYNOMIALS.product(v) for v in gy[:, m].flat])
    return Pattern(
        name="grad_bias",
        title="∂L/∂b is ∂L/∂O summed over the batch and all positions",
        statement="Each bias receives the sum of ∂L/∂O over its output channel.",
        holds=same_polynomials(sums, grad_bias),
    )


# ----- tiled and locally connected layers ----------------------------------------------------
def tile_phases(spec: ConvSpec) -> list[tuple[int, ...]]:
    """Every tile τ of a tiled layer, in order."""
    return list(np.ndindex(*spec.tiles))


def tile_map(spec: ConvSpec) -> np.ndarray:
    """For every output position, the tile (the filter) it uses: j mod t per dimension."""
    grid = np.empty(spec.output_size, dtype=object)
    for position in np.ndindex(*spec.output_size):
        grid[position] = tuple(j % t for j, t in zip(position, spec.tiles))
    return grid


def _sum_polynomials(arrays: list[np.ndarray]) -> np.ndarray:
    """Entry-wise sum of arrays of polynomials (dicts of monomial -> coefficient)."""
    out = np.empty(arrays[0].shape, dtype=object)
    for index in np.ndindex(*out.shape):
        total: dict = {}
        for array in arrays:
            for monomial, coefficient in array[index].items():
                value = total.get(monomial, 0) + coefficient
                if value == 0:
                    total.pop(monomial, None)
                else:
                    total[monomial] = value
        out[index] = total
    return out


def tiled_rotation_pattern(spec: ConvSpec, symbols: dict, grad_input: np.ndarray) -> Pattern:
    """∂L/∂X of a tiled layer: the rotated-filter rule once per tile, summed.

    Each output position carries the filter of its tile, so no single rotated filter
    slides over ∂L/∂O; keeping ∂L/∂O at the positions of tile τ (zeros elsewhere) and
    correlating that with filter τ rotated, then summing over τ, is ∂L/∂X.
    """
    shared = replace(spec, tiles=1)
    base = grad_input_identity(shared)
    parts = []
    for tile in tile_phases(spec):
        identity = replace(
            base,
            grid=Operand("gy", (Mask(tile, spec.tiles), *base.grid.steps)),
            kernel=Operand("w", (TileOf(tile), *base.kernel.steps)),
        )
        parts.append(identity.evaluate(symbols, POLYNOMIALS))
    holds = same_polynomials(_sum_polynomials(parts), grad_input)
    what = "locally connected" if spec.locally_connected else f"tiled (t = {fmt_tuple(spec.tiles)})"
    count = spec.filters
    return Pattern(
        name="rotation",
        title=(
            f"∂L/∂X of a {what} layer: the rotated-filter rule holds per tile, summed over "
            f"the {plural(count, 'tile')}"
        ),
        statement=(
            "Output position j uses the filter of its tile, j mod t per dimension, so no "
            "single rotated filter slides over ∂L/∂O: the one-correlation shortcut holds only "
            "when t = 1. For each tile τ, ∂L/∂O kept at the positions of tile τ (zeros "
            "elsewhere) is correlated with filter τ rotated by 180° exactly as for an ordinary "
            "convolution, and ∂L/∂X is the sum of those correlations; proved by comparing that "
            "sum with the chain-rule result. The grid below shows which output positions "
            "share a filter."
        ),
        holds=holds,
        evidence={"tile_map": tile_map(spec)},
    )


def tiled_grad_weight_identity(spec: ConvSpec, tile: tuple[int, ...]) -> Identity:
    """∂L/∂F of tile τ: X from s·τ on, correlated with ∂L/∂O at tile τ's positions dilated
    by s·t (stride d): the dilation pattern, over the grid of one tile's outputs."""
    amounts, factors = [], []
    for axis, tau, t in zip(spec.window_axes, tile, spec.tiles):
        count = -(-(axis.outputs - tau) // t)  # positions of this tile along the axis
        span = axis.stride * t * (count - 1) + 1
        needed = axis.dilation * (axis.kernel - 1) + span
        before = axis.lo - axis.stride * tau
        amounts.append((before, needed - axis.size - before))
        factors.append(axis.stride * t)
    upstream: tuple = (Phase(tile, spec.tiles),)
    if any(f > 1 for f in factors):
        upstream += (Dilate(tuple(factors)),)
    return _grad_weight_correlation(spec, tuple(amounts), upstream, tile)


def tiled_grad_weight_pattern(spec: ConvSpec, symbols: dict, grad_weight: np.ndarray) -> Pattern:
    """For every tile τ: ∂L/∂F_τ is the correlation of X with ∂L/∂O at tile τ's positions."""
    holds = True
    for tile in tile_phases(spec):
        identity = tiled_grad_weight_identity(spec, tile)
        mine = grad_weight[(slice(None), slice(None), *tile)]
        holds = holds and same_polynomials(identity.evaluate(symbols, POLYNOMIALS), mine)
    shown = tiled_grad_weight_identity(spec, tile_phases(spec)[0])
    step = tuple(s * t for s, t in zip(spec.stride, spec.tiles))
    return Pattern(
        name="grad_weight",
        title=(
            "∂L/∂F of each tile τ is the cross-correlation of X with ∂L/∂O kept at the "
            "positions of that tile"
        ),
        statement=(
            f"Tile τ collects only the outputs j = t·q + τ, a grid of step t = "
            f"{fmt_tuple(spec.tiles)} over the outputs: ∂L/∂O taken there and dilated by s·t = "
            f"{fmt_tuple(step)} (the dilation pattern again, now over the outputs of one tile), "
            "correlated with X from position s·τ on, stride d, summed over the batch. A shared "
            "filter (t = 1) collects every position; a locally connected one a single "
            "position. Proved for every tile; shown for the first one (τ = 0 along every axis), "
            "whose whole filter the left side names."
        ),
        holds=holds,
        identity=shown,
    )
