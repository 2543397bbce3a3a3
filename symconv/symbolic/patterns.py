"""The patterns the lecture notes teach, each proved symbolically for one spec.

A pattern is a statement with the matrices that show it (the rotated filter, the
dilated and padded dL/dO grid) and a verdict obtained by comparing SymPy
expressions, never by plugging in numbers.  Both sides are sums of products of
symbols in SymPy's canonical form, so structural equality is a proof; where it
fails, the difference is expanded before a verdict of "does not hold".

Every construction here reuses `elements.forward` on a helper `ConvSpec`: the
gradient of a convolution *is* the forward pass of another convolution, and that is
exactly what the patterns say.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sympy as sp

import symconv.symbolic.elements as elements
from symconv.kinds import ConvSpec
from symconv.symbolic.tensors import zeros_like

Where = dict[sp.Symbol, tuple[str, tuple[int, ...]]]


@dataclass(frozen=True)
class Pattern:
    """A named statement about this spec, its proof verdict and the matrices that show it."""

    name: str
    title: str
    statement: str
    holds: bool
    evidence: dict[str, Any] = field(default_factory=dict)


def same_expressions(left: np.ndarray, right: np.ndarray) -> bool:
    """Entry-wise symbolic equality (canonical form first, expansion if that differs)."""
    if left.shape != right.shape:
        return False
    for a, b in zip(left.flat, right.flat):
        if a != b and sp.expand(a - b) != 0:
            return False
    return True


# ----- the constructions the notes draw ----------------------------------------------------
def dilate(grid: np.ndarray, stride: tuple[int, ...]) -> np.ndarray:
    """Insert (s − 1) zeros between neighbouring elements along every spatial axis."""
    spatial = grid.shape[2:]
    shape = grid.shape[:2] + tuple((o - 1) * s + 1 for o, s in zip(spatial, stride))
    out = zeros_like(shape)
    out[(slice(None), slice(None), *(slice(None, None, s) for s in stride))] = grid
    return out


def pad_or_crop(grid: np.ndarray, amounts: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Zero-pad each spatial axis by (before, after); a negative amount crops instead.

    Entry q of the result is entry q − before of `grid`, or zero where that falls
    outside it: one rule for padding, cropping, and a crop larger than the grid.
    """
    spatial = grid.shape[2:]
    shape = grid.shape[:2] + tuple(n + b + a for n, (b, a) in zip(spatial, amounts))
    out = zeros_like(shape)
    source, target = [], []
    for n, m, (before, _) in zip(spatial, shape[2:], amounts):
        first, last = max(before, 0), min(m, n + before)  # target range that has a source
        if first >= last:
            return out
        source.append(slice(first - before, last - before))
        target.append(slice(first, last))
    out[(slice(None), slice(None), *target)] = grid[(slice(None), slice(None), *source)]
    return out


def full_correlation_padding(spec: ConvSpec) -> tuple[tuple[int, int], ...]:
    """(k_eff − 1 − lo, k_eff − 1 − hi + a) per dimension: what makes the correlation 'full'."""
    return tuple(
        (k - 1 - lo, k - 1 - hi + a)
        for k, (lo, hi), a in zip(spec.effective_kernel, spec.padding, spec.leftover)
    )


def rotated_filter(spec: ConvSpec, w: np.ndarray) -> np.ndarray:
    """The kernel of the transposed correlation: in/out channels swapped, taps rotated 180°.

    Shape (C_in, C_out/groups, *k).  In "convolution" mode the stored filter is already
    applied rotated, so rotating once more gives it back unrotated.
    """
    cin_g, cout_g = spec.in_channels_per_group, spec.out_channels_per_group
    out = np.empty((spec.in_channels, cout_g, *spec.kernel_size), dtype=object)
    flip = tuple(slice(None, None, -1) for _ in spec.kernel_size)
    for g in range(spec.groups):
        block = w[g * cout_g : (g + 1) * cout_g]  # (cout_g, cin_g, *k)
        swapped = np.swapaxes(block, 0, 1)
        out[g * cin_g : (g + 1) * cin_g] = swapped if spec.flips_kernel else swapped[(..., *flip)]
    return out


def correlate(
    grid: np.ndarray,
    kernel: np.ndarray,
    *,
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
) -> np.ndarray:
    """Valid cross-correlation of symbol grids, by the very forward rule being studied."""
    helper = ConvSpec(
        input_size=grid.shape[2:],
        kernel_size=kernel.shape[2:],
        in_channels=grid.shape[1],
        out_channels=kernel.shape[0],
        batch=grid.shape[0],
        stride=stride,
        dilation=dilation,
        groups=groups,
    )
    return elements.forward(helper, {"x": grid, "w": kernel})


# ----- the patterns ------------------------------------------------------------------------
def rotation_and_padding(
    spec: ConvSpec,
    symbols: dict[str, np.ndarray],
    where: Where,
    output: np.ndarray,
    grad_input: np.ndarray,
) -> tuple[Pattern, Pattern, Pattern]:
    """dL/dX = full correlation of the rotated filter with the dilated, padded dL/dO."""
    dilated = dilate(symbols["gy"], spec.stride)
    amounts = full_correlation_padding(spec)
    grid = pad_or_crop(dilated, amounts)
    rotated = rotated_filter(spec, symbols["w"])
    result = correlate(
        grid, rotated, stride=(1,) * spec.rank, dilation=spec.dilation, groups=spec.groups
    )
    holds = same_expressions(result, grad_input)
    filter_words = (
        "the filter itself (convolution mode applies it rotated)"
        if spec.flips_kernel
        else "the filter rotated by 180°"
    )
    rotation = Pattern(
        name="rotation",
        title="dL/dX is a full correlation with the 180°-rotated filter",
        statement=(
            f"dL/dX equals the stride-1 cross-correlation, dilation {_dims(spec.dilation)}, of "
            f"the dilated and padded dL/dO grid with {filter_words}, input and output "
            "channels swapped: the lecture's Full Convolution(rot180 F, dL/dO)."
        ),
        holds=holds,
        evidence={"rotated_filter": rotated, "grid": grid},
    )
    grid_size = tuple(n for n in grid.shape[2:])
    size_ok = all(
        n - k + 1 == i for n, k, i in zip(grid_size, spec.effective_kernel, spec.input_size)
    )
    padding = Pattern(
        name="padding",
        title="the full correlation pads dL/dO by k_eff−1−lo before and k_eff−1−hi+a after",
        statement=(
            "per dimension (before, after) = "
            + ", ".join(f"({b}, {a})" for b, a in amounts)
            + f"; the padded grid {_dims(grid_size)} less the effective kernel "
            f"{_dims(spec.effective_kernel)} plus 1 gives the input size {_dims(spec.input_size)}"
            + (" (a negative amount crops the grid)" if any(min(p) < 0 for p in amounts) else "")
        ),
        holds=holds and size_ok,
        evidence={"amounts": amounts, "grid": grid},
    )
    dilation = _dilation_pattern(spec, symbols, where, output, grad_input, dilated)
    return rotation, dilation, padding


def _dilation_pattern(
    spec: ConvSpec,
    symbols: dict[str, np.ndarray],
    where: Where,
    output: np.ndarray,
    grad_input: np.ndarray,
    dilated: np.ndarray,
) -> Pattern:
    """A stride-s layer backpropagates like the stride-1 layer fed the dilated dL/dO.

    Stride s is stride 1 followed by keeping every s-th output (the notes' down-sampling);
    the chain rule through that down-sampling is the insertion of s − 1 zeros.
    """
    unit = replace(spec, stride=1)
    holds = True
    if spec.stride == (1,) * spec.rank:
        upstream = symbols["gy"]
        holds = same_expressions(dilated, upstream)
    else:
        unit_out = elements.forward(unit, symbols)
        keep = (slice(None), slice(None), *(slice(None, None, s) for s in spec.stride))
        trailing = tuple((0, u - n) for u, n in zip(unit.output_size, dilated.shape[2:]))
        upstream = pad_or_crop(dilated, trailing)
        by_unit = elements.chain_rule(unit_out, {**symbols, "gy": upstream}, where, ("x",)).grads[
            "x"
        ]
        holds = same_expressions(unit_out[keep], output) and same_expressions(by_unit, grad_input)
    return Pattern(
        name="dilation",
        title="for stride s, dL/dO gets s − 1 zeros between its elements",
        statement=(
            "stride 1: no zeros are inserted, the stride-1 gradient takes dL/dO as it is"
            if spec.stride == (1,) * spec.rank
            else f"stride {_dims(spec.stride)} is stride 1 followed by keeping every s-th "
            "output, so dL/dX is the stride-1 gradient fed dL/dO with "
            + _per_axis([f"{s - 1} zero{'s' if s != 2 else ''}" for s in spec.stride])
            + " between neighbours"
        ),
        holds=holds,
        evidence={"dilated": dilated},
    )


def unreached_positions(spec: ConvSpec) -> tuple[tuple[int, ...], ...]:
    """Per dimension, the input rows (0-based) that no tap of any window reads."""
    result = []
    for d in range(spec.rank):
        s, dil, lo = spec.stride[d], spec.dilation[d], spec.padding[d][0]
        read = {
            s * j + dil * t - lo
            for j in range(spec.output_size[d])
            for t in range(spec.kernel_size[d])
        }
        result.append(tuple(p for p in range(spec.input_size[d]) if p not in read))
    return tuple(result)


def leftover_pattern(
    spec: ConvSpec, symbols: dict[str, np.ndarray], output: np.ndarray, grad_input: np.ndarray
) -> Pattern:
    """Rows no window reaches are absent from every output and get exactly zero gradient."""
    unreached = unreached_positions(spec)
    used = set().union(*(e.free_symbols for e in output.flat))
    holds = True
    for index in np.ndindex(grad_input.shape):
        if any(index[2 + d] in unreached[d] for d in range(spec.rank)):
            holds = holds and grad_input[index] == 0 and symbols["x"][index] not in used
    tails = [max(a - hi, 0) for a, (_, hi) in zip(spec.leftover, spec.padding)]
    return Pattern(
        name="leftover",
        title="rows no window reaches receive zero gradient",
        statement=(
            f"leftover a = (i + lo + hi − k_eff) mod s = {_dims(spec.leftover)}; "
            + (
                "every input element is read by some window"
                if not any(unreached)
                else f"{sum(map(len, unreached))} input row(s) or column(s) are read by no "
                "window ("
                + _per_axis([f"{t} past the last window" for t in tails])
                + (
                    "; the rest skipped between dilated taps"
                    if sum(map(len, unreached)) > sum(tails)
                    else ""
                )
                + "): they appear in no output and get exactly zero gradient"
            )
        ),
        holds=holds,
        evidence={"unreached": unreached, "leftover": spec.leftover},
    )


def grad_weight_pattern(
    spec: ConvSpec, symbols: dict[str, np.ndarray], grad_weight: np.ndarray
) -> Pattern:
    """dL/dF = correlation of the padded X with dL/dO, stride and dilation trading places."""
    x = pad_or_crop(symbols["x"], spec.padding)
    gy = symbols["gy"]
    cin_g, cout_g = spec.in_channels_per_group, spec.out_channels_per_group
    result = np.empty(spec.weight_shape, dtype=object)
    crop = tuple(slice(0, k) for k in spec.kernel_size)
    for g in range(spec.groups):
        inputs = np.swapaxes(x[:, g * cin_g : (g + 1) * cin_g], 0, 1)  # (cin_g, N, *padded)
        kernel = np.swapaxes(gy[:, g * cout_g : (g + 1) * cout_g], 0, 1)  # (cout_g, N, *o)
        corr = correlate(inputs, kernel, stride=spec.dilation, dilation=spec.stride, groups=1)
        block = np.swapaxes(corr, 0, 1)[(slice(None), slice(None), *crop)]
        if spec.flips_kernel:
            block = block[(..., *(slice(None, None, -1) for _ in spec.kernel_size))]
        result[g * cout_g : (g + 1) * cout_g] = block
    return Pattern(
        name="grad_weight",
        title="dL/dF is the correlation of the padded X with dL/dO",
        statement=(
            f"dL/dF equals the cross-correlation of the padded input with dL/dO as the "
            f"kernel, that kernel dilated by the stride {_dims(spec.stride)} and moved with "
            f"the dilation {_dims(spec.dilation)} as its stride: stride and dilation trade "
            "places (the lecture's Convolution(X, dL/dO))"
            + ("; convolution mode stores the result rotated by 180°" if spec.flips_kernel else "")
        ),
        holds=same_expressions(result, grad_weight),
        evidence={"kernel": dilate(gy, spec.stride)},
    )


def grad_bias_pattern(symbols: dict[str, np.ndarray], grad_bias: np.ndarray) -> Pattern:
    """dL/db_m is the sum of dL/dO over the batch and every position of channel m."""
    gy = symbols["gy"]
    sums = np.array([sp.Add(*gy[:, m].flat) for m in range(gy.shape[1])], dtype=object)
    return Pattern(
        name="grad_bias",
        title="dL/db is dL/dO summed over the batch and all positions",
        statement="each bias receives the sum of dL/dO over its output channel",
        holds=same_expressions(sums, grad_bias),
    )


def _per_axis(phrases: list[str]) -> str:
    """'1 zero along height and 2 zeros along width' (or one phrase for 1-D)."""
    if len(phrases) == 1:
        return phrases[0]
    axes = ("height", "width") if len(phrases) == 2 else ("depth", "height", "width")
    return " and ".join(f"{p} along {a}" for p, a in zip(phrases, axes))


def _dims(values: tuple[int, ...]) -> str:
    return "×".join(str(v) for v in values)
