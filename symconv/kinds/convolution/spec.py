"""`ConvSpec`: one convolution layer, validated once, so every later stage can trust it.

Everything downstream (the symbolic derivation, the NumPy reference, the generated
kernels) reads sizes from a `ConvSpec`.  Validation therefore happens here and only
here, and every rule that fails raises a one-line `ValueError` naming the field, the
value and the rule.  Generated source is built from these validated integers only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from symconv.cost import CostTable, conv_cost
from symconv.formatting import fmt_padding, fmt_shape, fmt_tuple
from symconv.identity import CanonicalSpec
from symconv.validation import (
    check_choice,
    check_count,
    check_int,
    per_dim,
    positive,
    positive_per_dim,
    spatial_sizes,
)
from symconv.window import SlidingWindow, WindowAxis

Mode = Literal["cross-correlation", "convolution"]
DType = Literal["float32", "float64"]

MODES: tuple[str, ...] = ("cross-correlation", "convolution")
DTYPES: tuple[str, ...] = ("float32", "float64")


def _padding_pair(name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"{name}={tuple(value)!r} must be one int or a (lo, hi) pair")
        lo, hi = value
    else:
        lo = hi = value
    lo = check_int(f"{name}.lo", lo)
    hi = check_int(f"{name}.hi", hi)
    for side, amount in (("lo", lo), ("hi", hi)):
        if amount < 0:
            raise ValueError(f"{name}.{side}={amount} must not be negative")
    return lo, hi


def _same_padding(kernel: Sequence[int], dilation: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """PyTorch's "same": total d*(k-1), the odd zero going to the hi side."""
    pairs = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        pairs.append((total // 2, total - total // 2))
    return tuple(pairs)


def _resolve_padding(
    padding: Any, rank: int, kernel: Sequence[int], dilation: Sequence[int], stride: Sequence[int]
) -> tuple[tuple[int, int], ...]:
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * rank
        if padding == "same":
            for d, s in enumerate(stride):
                if s != 1:
                    raise ValueError(
                        f'padding="same" needs stride 1 in every dimension, but stride[{d}]={s}'
                    )
            return _same_padding(kernel, dilation)
        raise ValueError(f'padding={padding!r} must be an int, a tuple, "same" or "valid"')
    items = per_dim("padding", padding, rank)
    return tuple(_padding_pair(f"padding[{d}]", v) for d, v in enumerate(items))


LOCAL = "local"


def _resolve_tiles(tiles: Any, outputs: Sequence[int]) -> tuple[int, ...]:
    """`tiles`: an int (every dimension), one per dimension, or "local" (one per output).

    Output position j uses filter j mod t along each dimension; t = 1 shares one filter
    (ordinary convolution), t = the output size gives every position its own.
    """
    if isinstance(tiles, str):
        if tiles != LOCAL:
            raise ValueError(f'tiles={tiles!r} must be an int, one int per dimension, or "local"')
        return tuple(outputs)
    resolved = positive_per_dim("tiles", tiles, len(outputs))
    for d, (t, o) in enumerate(zip(resolved, outputs)):
        if t > o:
            raise ValueError(
                f"tiles[{d}]={t} is more than the output size {o} along that dimension: "
                "a tile count is at most the number of output positions"
            )
    return resolved


@dataclass(frozen=True)
class ConvSpec(CanonicalSpec, SlidingWindow):
    """One convolution layer with fixed shapes, named with PyTorch's parameter names.

    Any int argument broadcasts to every spatial dimension; `padding` also accepts
    one ``(lo, hi)`` pair per dimension, ``"valid"`` or ``"same"``.  `tiles` makes the
    layer a tiled convolution (Goodfellow et al., ch. 9.5): output position j uses
    filter j mod t per dimension, so the weight gains a tile axis per dimension;
    ``tiles="local"`` is a locally connected layer (no sharing at all), 1 (the
    default) ordinary convolution.  After
    construction every per-dimension field is a tuple and `padding` is a tuple of
    ``(lo, hi)`` pairs, so two specs that describe the same layer compare equal and
    share one `key`.  Every size and every tensor's element count stays below 2**63.
    """

    input_size: tuple[int, ...]
    kernel_size: tuple[int, ...] | int
    in_channels: int = 1
    out_channels: int = 1
    batch: int = 1
    stride: tuple[int, ...] | int = 1
    padding: Any = 0
    dilation: tuple[int, ...] | int = 1
    groups: int = 1
    bias: bool = False
    dtype: str = "float32"
    mode: str = "cross-correlation"
    tiles: Any = 1

    KIND: ClassVar[str] = "convspec"

    def __post_init__(self) -> None:
        input_size = spatial_sizes(self.input_size)
        rank = len(input_size)
        kernel = positive_per_dim("kernel_size", self.kernel_size, rank)
        stride = positive_per_dim("stride", self.stride, rank)
        dilation = positive_per_dim("dilation", self.dilation, rank)
        padding = _resolve_padding(self.padding, rank, kernel, dilation, stride)
        in_channels = positive("in_channels", self.in_channels)
        out_channels = positive("out_channels", self.out_channels)
        batch = positive("batch", self.batch)
        groups = positive("groups", self.groups)
        for name, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
            if channels % groups:
                raise ValueError(f"{name}={channels} is not divisible by groups={groups}")
        if not isinstance(self.bias, bool):
            raise ValueError(f"bias={self.bias!r} must be True or False")
        check_choice("dtype", self.dtype, DTYPES)
        check_choice("mode", self.mode, MODES)
        for d in range(rank):
            span = dilation[d] * (kernel[d] - 1) + 1
            padded = input_size[d] + padding[d][0] + padding[d][1]
            if span > padded:
                via = f" with dilation {dilation[d]}" if dilation[d] > 1 else ""
                raise ValueError(
                    f"kernel_size[{d}]={kernel[d]}{via} spans {span}, "
                    f"more than the padded input {padded}"
                )
        self._store(
            input_size=input_size,
            kernel_size=kernel,
            stride=stride,
            dilation=dilation,
            padding=padding,
            in_channels=in_channels,
            out_channels=out_channels,
            batch=batch,
            groups=groups,
        )
        self._store(tiles=_resolve_tiles(self.tiles, self.output_size))
        self._check_counts()

    def _check_counts(self) -> None:
        """Every tensor (the padded copy of the input too) and the pass within int64."""
        check_count(f"the input {fmt_shape(self.input_shape)}", self.input_shape)
        check_count("the padded input", (self.batch, self.in_channels, *self.padded_size))
        check_count(f"the weight {fmt_shape(self.weight_shape)}", self.weight_shape)
        check_count(f"the output {fmt_shape(self.output_shape)}", self.output_shape)
        check_count(
            "the forward pass's multiply-adds",
            (*self.output_shape, self.in_channels_per_group, *self.kernel_size),
        )

    # ----- derived sizes -------------------------------------------------------------
    @property
    def window_axes(self) -> tuple[WindowAxis, ...]:
        """Per spatial dimension: size, kernel, stride, dilation and (lo, hi) padding."""
        return tuple(
            WindowAxis(i, k, s, d, lo, hi)
            for i, k, s, d, (lo, hi) in zip(
                self.input_size, self.kernel_size, self.stride, self.dilation, self.padding
            )
        )

    @property
    def in_channels_per_group(self) -> int:
        return self.in_channels // self.groups

    @property
    def out_channels_per_group(self) -> int:
        return self.out_channels // self.groups

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.batch, self.in_channels, *self.input_size)

    @property
    def tiled(self) -> bool:
        """True when output positions do not all share one filter (some tile count > 1)."""
        return any(t > 1 for t in self.tiles)

    @property
    def locally_connected(self) -> bool:
        """True when every output position has its own filter (tiles = output size)."""
        return self.tiled and self.tiles == self.output_size

    @property
    def filters(self) -> int:
        """Filters per (output channel, input channel): the product of the tile counts."""
        return math.prod(self.tiles)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """(C_out, C_in/groups, *kernel), with the tile axes before the kernel when tiled."""
        tiles = self.tiles if self.tiled else ()
        return (self.out_channels, self.in_channels_per_group, *tiles, *self.kernel_size)

    @property
    def bias_shape(self) -> tuple[int, ...]:
        return (self.out_channels,)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.batch, self.out_channels, *self.output_size)

    @property
    def flips_kernel(self) -> bool:
        """True in "convolution" mode, where the kernel is applied rotated by 180 degrees."""
        return self.mode == "convolution"

    @property
    def multiply_adds(self) -> int:
        """Multiply-adds of one forward pass (bias additions not counted)."""
        return (
            math.prod(self.output_shape) * self.in_channels_per_group * math.prod(self.kernel_size)
        )

    # ----- identity ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Canonical, JSON-ready form: lists only, padding as [lo, hi] pairs."""
        return {
            "input_size": list(self.input_size),
            "kernel_size": list(self.kernel_size),
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "batch": self.batch,
            "stride": list(self.stride),
            "padding": [list(p) for p in self.padding],
            "dilation": list(self.dilation),
            "groups": self.groups,
            "bias": self.bias,
            "dtype": self.dtype,
            "mode": self.mode,
            **({"tiles": list(self.tiles)} if self.tiled else {}),
        }

    @property
    def label(self) -> str:
        """Readable name such as ``conv2d_1x1x3x3_to1_k2x2_s1`` for file names and titles."""
        dims = "x".join(map(str, self.input_shape))
        kernel = "x".join(map(str, self.kernel_size))
        stride = (
            "x".join(map(str, self.stride)) if len(set(self.stride)) > 1 else str(self.stride[0])
        )
        label = f"conv{self.rank}d_{dims}_to{self.out_channels}_k{kernel}_s{stride}"
        if self.locally_connected:
            return label + "_local"
        if self.tiled:
            return label + "_t" + "x".join(map(str, self.tiles))
        return label

    def summary_rows(self) -> list[tuple[str, str]]:
        """(what, value): shapes, then every hyperparameter, as `describe` lists them."""
        rows = [
            ("input", fmt_shape(self.input_shape)),
            ("weight", fmt_shape(self.weight_shape)),
            ("output", fmt_shape(self.output_shape)),
            ("stride", fmt_tuple(self.stride)),
            ("padding", fmt_padding(self.padding)),
            ("dilation", fmt_tuple(self.dilation)),
        ]
        if self.groups > 1:
            rows.append(("groups", str(self.groups)))
        if self.tiled:
            tiles = (
                "local (one filter per output)" if self.locally_connected else fmt_tuple(self.tiles)
            )
            rows.append(("tiles", tiles))
        rows += [("bias", "yes" if self.bias else "no"), ("mode", self.mode), ("dtype", self.dtype)]
        return rows

    def describe(self) -> str:
        """One line a person reads: shapes and every non-default hyperparameter."""
        parts = [f"{what} {value}" for what, value in self.summary_rows()[:6]]
        if self.groups > 1:
            parts.append(f"groups {self.groups}")
        if self.tiled:
            parts.append(
                "locally connected" if self.locally_connected else f"tiles {fmt_tuple(self.tiles)}"
            )
        parts.append("bias" if self.bias else "no bias")
        parts.append(self.mode)
        parts.append(self.dtype)
        return ", ".join(parts)

    def cost(self) -> CostTable:
        """The lecture's efficiency table: convolution vs dense vs sparse matrix, per image."""
        return conv_cost(self)
