"""Hypothesis strategies for valid `ConvSpec`s and matching random arrays, shared by tests.

Specs are built from the output side: draw the kernel, dilation, stride, the number of
outputs and the leftover, which fixes the padded length; then split it into padding
and input.  Every draw is therefore valid (no filtering), and the awkward cases -- a
stride that leaves leftover rows, lopsided padding, dilation, groups -- come up often
instead of only by luck.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st

from symconv.check.search import dimension
from symconv.kinds import ConvSpec, ConvTransposeSpec
from symconv.kinds.convolution import DTYPES, MODES

# Per-rank cap on outputs per dimension: rank-3 layers stay tiny so brute force is fast.
_DEFAULT_MAX_OUTPUT = {1: 5, 2: 4, 3: 2}
_DEFAULT_MAX_KERNEL = {1: 4, 2: 3, 3: 2}


def _choice(value: object, default: Sequence[object]) -> st.SearchStrategy:
    """None -> any of `default`; a strategy -> itself; a sequence -> one of it; else fixed."""
    if value is None:
        return st.sampled_from(tuple(default))
    if isinstance(value, st.SearchStrategy):
        return value
    if isinstance(value, (list, tuple)):
        return st.sampled_from(tuple(value))
    return st.just(value)


@st.composite
def conv_specs(
    draw: st.DrawFn,
    max_rank: int = 3,
    *,
    min_rank: int = 1,
    max_batch: int = 2,
    groups: Sequence[int] = (1, 2, 3),
    max_channels_per_group: int = 2,
    max_kernel: int | None = None,
    max_stride: int = 3,
    max_dilation: int = 3,
    max_padding: int = 2,
    max_output: int | None = None,
    dtype: object = None,
    mode: object = None,
    bias: object = None,
) -> ConvSpec:
    """Valid ConvSpecs of rank min_rank..max_rank.

    max_kernel and max_output bound each spatial dimension and default to a per-rank
    value (smaller for rank 3).  dtype, mode and bias accept None (any), a fixed value,
    a sequence to choose from, or a strategy.
    """
    rank = draw(st.integers(min_rank, max_rank))
    k_cap = max_kernel if max_kernel is not None else _DEFAULT_MAX_KERNEL[rank]
    o_cap = max_output if max_output is not None else _DEFAULT_MAX_OUTPUT[rank]
    dims = [
        draw(dimension(k_cap, max_stride, max_dilation, max_padding, o_cap)) for _ in range(rank)
    ]
    n_groups = draw(st.sampled_from(tuple(groups)))
    in_per_group = draw(st.integers(1, max_channels_per_group))
    out_per_group = draw(st.integers(1, max_channels_per_group))
    return ConvSpec(
        input_size=tuple(d[0] for d in dims),
        kernel_size=tuple(d[1] for d in dims),
        stride=tuple(d[2] for d in dims),
        dilation=tuple(d[3] for d in dims),
        padding=tuple(d[4] for d in dims),
        in_channels=n_groups * in_per_group,
        out_channels=n_groups * out_per_group,
        groups=n_groups,
        batch=draw(st.integers(1, max_batch)),
        bias=draw(_choice(bias, (False, True))),
        dtype=draw(_choice(dtype, DTYPES)),
        mode=draw(_choice(mode, MODES)),
    )


def long_row_specs(max_channels_per_group: int = 3, max_batch: int = 2) -> st.SearchStrategy:
    """Layers whose rows span several vectors (up to 40 positions in 1-D, 12 in 2-D, 5 in
    3-D): a vector loop, a partial last vector, padding wider than a vector reaches."""
    common = {"max_channels_per_group": max_channels_per_group, "max_batch": max_batch,
              "max_padding": 3}  # fmt: skip
    return st.one_of(
        conv_specs(1, min_rank=1, max_output=40, **common),
        conv_specs(2, min_rank=2, max_output=12, **common),
        conv_specs(3, min_rank=3, max_output=5, **common),
    )


def depthwise_specs(max_channels: int = 40, max_batch: int = 3) -> st.SearchStrategy:
    """Depthwise layers (one channel per group) of 2 to `max_channels` channels: several
    vectors of channels and a partial last one, rows of up to 40 positions in 1-D, 8 in 2-D
    and 3 in 3-D (a row filled in several vectors, and its partial last one)."""
    common = {"groups": tuple(range(2, max_channels + 1)), "max_channels_per_group": 1,
              "max_batch": max_batch, "max_padding": 3}  # fmt: skip
    return st.one_of(
        conv_specs(1, min_rank=1, max_output=40, **common),
        conv_specs(2, min_rank=2, max_output=8, **common),
        conv_specs(3, min_rank=3, max_output=3, **common),
    )


def divisors(n: int) -> list[int]:
    """Every divisor of `n`, smallest first: the channel blocks that tile `n` channels."""
    return [d for d in range(1, n + 1) if n % d == 0]


def random_arrays(
    spec: ConvSpec, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Standard-normal x, w, b, gy in spec.dtype; b is None when the spec has no bias."""
    dtype = np.dtype(spec.dtype)
    x = rng.standard_normal(spec.input_shape).astype(dtype)
    w = rng.standard_normal(spec.weight_shape).astype(dtype)
    b = rng.standard_normal(spec.bias_shape).astype(dtype) if spec.bias else None
    gy = rng.standard_normal(spec.output_shape).astype(dtype)
    return x, w, b, gy


@st.composite
def pointwise_specs(draw: st.DrawFn, max_rank: int = 3, max_size: int = 5) -> ConvSpec:
    """1×1 layers with stride 1 and no padding (any dilation: it spans nothing), of any rank."""
    rank = draw(st.integers(1, max_rank))
    groups = draw(st.sampled_from((1, 2, 3)))
    return ConvSpec(
        input_size=tuple(draw(st.integers(1, max_size)) for _ in range(rank)),
        kernel_size=1,
        dilation=draw(st.integers(1, 3)),
        in_channels=groups * draw(st.integers(1, 3)),
        out_channels=groups * draw(st.integers(1, 3)),
        groups=groups,
        batch=draw(st.integers(1, 3)),
        bias=draw(st.booleans()),
        dtype=draw(st.sampled_from(DTYPES)),
        mode=draw(st.sampled_from(MODES)),
    )


@st.composite
def tiled_specs(draw: st.DrawFn, **kw: object) -> ConvSpec:
    """A random layer of `conv_specs` made tiled: per dimension 1..its output size tiles,
    or "local"; at least one dimension with more than one tile."""
    base = draw(conv_specs(**kw))
    if all(o == 1 for o in base.output_size):
        base = dataclasses.replace(base, input_size=tuple(i + 1 for i in base.input_size))
        if all(o == 1 for o in base.output_size):
            return draw(tiled_specs(**kw))
    if draw(st.booleans()):
        return dataclasses.replace(base, tiles="local")
    tiles = tuple(draw(st.integers(1, o)) for o in base.output_size)
    if all(t == 1 for t in tiles):
        axis = next(a for a, o in enumerate(base.output_size) if o > 1)
        tiles = tuple(2 if a == axis else t for a, t in enumerate(tiles))
    return dataclasses.replace(base, tiles=tiles)


@st.composite
def coinciding_specs(draw: st.DrawFn, max_rank: int = 2, max_products: int = 16) -> ConvSpec:
    """Layers whose loop extents coincide, where fused or mis-split threaded loops go wrong.

    One number E is drawn among Winograd's products per tile ∏(kᵢ + m − 1) for some
    output tile m, the batch chunks a dL/dF split makes (2 or 4 images) and a small
    channel count; then batch, input and output channels each take E or a small other
    value, so channels equal to the products per tile, chunks equal to the output
    channels and batch equal to channels all come up.  Stride 1 (Winograd applies) and
    stride 2 (unfold's chunks), padding on either side, groups 1 or E when E divides.
    """
    rank = draw(st.integers(1, max_rank))
    kernel = draw(st.integers(2, 3))
    tile = draw(st.integers(1, 3))
    products = (kernel + tile - 1) ** rank
    extents = sorted({2, 4} | ({products} if products <= max_products else set()))
    extent = draw(st.sampled_from(extents), label="E")
    others = st.sampled_from(sorted({1, 2, extent}))
    batch = draw(others, label="batch")
    in_channels = draw(others, label="in_channels")
    out_channels = draw(st.sampled_from(sorted({extent, batch})), label="out_channels")
    stride = draw(st.integers(1, 2))
    dims = []
    for _ in range(rank):
        outputs = draw(st.integers(1, 2 * tile + 1))
        leftover = draw(st.integers(0, stride - 1))
        padded = kernel + (outputs - 1) * stride + leftover
        lo = draw(st.integers(0, min(1, padded - 1)))
        hi = draw(st.integers(0, min(1, padded - 1 - lo)))
        dims.append((padded - lo - hi, (lo, hi)))
    depthwise = in_channels == out_channels and in_channels > 1 and draw(st.booleans())
    return ConvSpec(
        input_size=tuple(d[0] for d in dims),
        kernel_size=kernel,
        stride=stride,
        padding=tuple(d[1] for d in dims),
        in_channels=in_channels,
        out_channels=out_channels,
        groups=in_channels if depthwise else 1,
        batch=batch,
        bias=draw(st.booleans()),
        dtype=draw(st.sampled_from(DTYPES)),
        mode=draw(st.sampled_from(MODES)),
    )


@st.composite
def transposed_specs(draw, max_rank: int = 3, max_size: int = 4) -> ConvTransposeSpec:
    """Valid transposed layers over the awkward cases: output_padding, dilation, groups."""
    rank = draw(st.integers(1, max_rank))
    sizes, kernels, strides, paddings, extras, dilations = [], [], [], [], [], []
    for _ in range(rank):
        stride, dilation = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        kernel, size = draw(st.integers(1, 3)), draw(st.integers(1, max_size))
        extra = draw(st.integers(0, max(stride, dilation) - 1))
        floor = stride * (extra // stride)  # symconv's rule: padding covers whole strides
        padding = draw(st.integers(floor, floor + 2))
        if (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + extra + 1 < 1:
            padding = floor
        if (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + extra + 1 < 1:
            extra, padding = 0, 0
        for found, value in zip((sizes, kernels, strides, paddings, extras, dilations),
                                (size, kernel, stride, padding, extra, dilation)):  # fmt: skip
            found.append(value)
    groups = draw(st.sampled_from((1, 2)))
    return ConvTransposeSpec(
        input_size=tuple(sizes), kernel_size=tuple(kernels), stride=tuple(strides),
        padding=tuple(paddings), output_padding=tuple(extras), dilation=tuple(dilations),
        groups=groups, in_channels=groups * draw(st.integers(1, 2)),
        out_channels=groups * draw(st.integers(1, 2)), batch=draw(st.integers(1, 2)),
        bias=draw(st.booleans()), dtype=draw(st.sampled_from(("float32", "float64"))),
    )  # fmt: skip
