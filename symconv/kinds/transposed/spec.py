"""`ConvTransposeSpec`: one transposed convolution, PyTorch's `ConvTransposeNd`, validated.

A transposed convolution is the ∂L/∂X of a convolution run forward: input element i
scatters x[i]·w[t] to output position s·i + d·t − p.  Its output size per dimension is

    o = (i − 1)·s − 2p + d·(k − 1) + output_padding + 1

(Dumoulin & Visin's relationship for transposed layers, PyTorch's formula), and
`output_padding` adds rows at the far end: exactly the leftover a = (o + 2p − k_eff) mod s
of the convolution that maps o back to i (padded rows past its last window; with
padding, products of the last inputs may still land in some of them).  `convolution`
is that convolution, whose ∂L/∂X this layer's forward is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from symconv.formatting import fmt_shape, fmt_tuple
from symconv.identity import CanonicalSpec
from symconv.kinds.convolution.spec import DTYPES, ConvSpec
from symconv.validation import (
    check_choice,
    check_count,
    per_dim,
    positive,
    positive_per_dim,
    spatial_sizes,
)


def _non_negative_per_dim(name: str, value: Any, rank: int) -> tuple[int, ...]:
    items = per_dim(name, value, rank)
    out = []
    for d, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, int):
            raise ValueError(f"{name}[{d}]={item!r} must be an int")
        if item < 0:
            raise ValueError(f"{name}[{d}]={item} must not be negative")
        out.append(item)
    return tuple(out)


@dataclass(frozen=True)
class ConvTransposeSpec(CanonicalSpec):
    """One transposed convolution with fixed shapes, with PyTorch's names and rules.

    The weight is (in_channels, out_channels / groups, *kernel_size), as in
    `torch.nn.ConvTranspose2d`; `padding` is symmetric (one int per dimension) and
    `output_padding` must be smaller than the stride or the dilation of its dimension.
    """

    input_size: tuple[int, ...]
    kernel_size: tuple[int, ...] | int
    in_channels: int = 1
    out_channels: int = 1
    batch: int = 1
    stride: tuple[int, ...] | int = 1
    padding: tuple[int, ...] | int = 0
    output_padding: tuple[int, ...] | int = 0
    dilation: tuple[int, ...] | int = 1
    groups: int = 1
    bias: bool = False
    dtype: str = "float32"

    KIND: ClassVar[str] = "convtransposespec"

    def __post_init__(self) -> None:
        input_size = spatial_sizes(self.input_size)
        rank = len(input_size)
        kernel = positive_per_dim("kernel_size", self.kernel_size, rank)
        stride = positive_per_dim("stride", self.stride, rank)
        dilation = positive_per_dim("dilation", self.dilation, rank)
        padding = _non_negative_per_dim("padding", self.padding, rank)
        output_padding = _non_negative_per_dim("output_padding", self.output_padding, rank)
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
        for d in range(rank):
            if output_padding[d] >= max(stride[d], dilation[d]):
                raise ValueError(
                    f"output_padding[{d}]={output_padding[d]} must be smaller than stride "
                    f"{stride[d]} or dilation {dilation[d]} (PyTorch's rule: output_padding "
                    "stands for the rows a convolution's stride leaves past its last window)"
                )
            size = (input_size[d] - 1) * stride[d] - 2 * padding[d]
            size += dilation[d] * (kernel[d] - 1) + output_padding[d] + 1
            if size < 1:
                raise ValueError(
                    f"padding[{d}]={padding[d]} crops the output to {size} along dimension {d}: "
                    "(i − 1)·s − 2p + d·(k − 1) + output_padding + 1 must be at least 1"
                )
            hi = padding[d] - stride[d] * (output_padding[d] // stride[d])
            if hi < 0:
                raise ValueError(
                    f"output_padding[{d}]={output_padding[d]} is a stride or more past the "
                    f"padding {padding[d]}: symconv needs output_padding − padding < stride "
                    f"{stride[d]} (PyTorch allows it up to the dilation {dilation[d]})"
                )
        self._store(
            input_size=input_size,
            kernel_size=kernel,
            stride=stride,
            dilation=dilation,
            padding=padding,
            output_padding=output_padding,
            in_channels=in_channels,
            out_channels=out_channels,
            batch=batch,
            groups=groups,
        )
        for name, shape in (
            ("the input", self.input_shape),
            ("the output", self.output_shape),
            ("the weight", self.weight_shape),
        ):
            check_count(f"{name} {fmt_shape(shape)}", shape)

    # ----- sizes ------------------------------------------------------------------------
    @property
    def rank(self) -> int:
        return len(self.input_size)

    @property
    def output_size(self) -> tuple[int, ...]:
        """(i − 1)·s − 2p + d·(k − 1) + output_padding + 1 per dimension."""
        return tuple(
            (i - 1) * s - 2 * p + d * (k - 1) + a + 1
            for i, s, p, d, k, a in zip(
                self.input_size, self.stride, self.padding, self.dilation, self.kernel_size,
                self.output_padding,
            )
        )  # fmt: skip

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
    def output_shape(self) -> tuple[int, ...]:
        return (self.batch, self.out_channels, *self.output_size)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """(C_in, C_out / groups, *kernel): PyTorch's ConvTranspose weight layout."""
        return (self.in_channels, self.out_channels_per_group, *self.kernel_size)

    @property
    def bias_shape(self) -> tuple[int, ...]:
        return (self.out_channels,)

    @property
    def multiply_adds(self) -> int:
        """Products of one forward pass: every input element times every tap of its group."""
        taps = math.prod(self.kernel_size)
        return (
            self.batch
            * self.in_channels
            * math.prod(self.input_size)
            * taps
            * (self.out_channels_per_group)
        )

    @property
    def convolution(self) -> ConvSpec:
        """The convolution whose ∂L/∂X this layer's forward is: input = this output, output =
        this input, the same weight tensor (C_out of the convolution = this C_in).

        Its padding is (p, p − s·⌊output_padding / s⌋): with output_padding below the
        stride that is p on both sides, and the output_padding rows are its leftover.
        """
        return ConvSpec(
            input_size=self.output_size,
            kernel_size=self.kernel_size,
            in_channels=self.out_channels,
            out_channels=self.in_channels,
            batch=self.batch,
            stride=self.stride,
            padding=tuple(
                (p, p - s * (a // s))
                for p, s, a in zip(self.padding, self.stride, self.output_padding)
            ),
            dilation=self.dilation,
            groups=self.groups,
            bias=False,
            dtype=self.dtype,
        )

    # ----- names ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "kernel_size": list(self.kernel_size),
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "batch": self.batch,
            "stride": list(self.stride),
            "padding": list(self.padding),
            "output_padding": list(self.output_padding),
            "dilation": list(self.dilation),
            "groups": self.groups,
            "bias": self.bias,
            "dtype": self.dtype,
        }

    @property
    def label(self) -> str:
        """``convtranspose2d_8x64x14x14_to32_k4x4_s2`` (stride shown when not 1)."""
        dims = "x".join(map(str, self.input_shape))
        kernel = "x".join(map(str, self.kernel_size))
        stride = "x".join(map(str, self.stride)) if len(set(self.stride)) > 1 else self.stride[0]
        return f"convtranspose{self.rank}d_{dims}_to{self.out_channels}_k{kernel}_s{stride}"

    def summary_rows(self) -> list[tuple[str, str]]:
        return [
            ("input", fmt_shape(self.input_shape)),
            ("weight", fmt_shape(self.weight_shape)),
            ("output", fmt_shape(self.output_shape)),
            ("stride", fmt_tuple(self.stride)),
            ("padding", fmt_tuple(self.padding)),
            ("output_padding", fmt_tuple(self.output_padding)),
            ("dilation", fmt_tuple(self.dilation)),
            ("groups", str(self.groups)),
            ("bias", "yes" if self.bias else "no"),
            ("dtype", self.dtype),
        ]

    def describe(self) -> str:
        return (
            f"transposed convolution: input {fmt_shape(self.input_shape)}, weight "
            f"{fmt_shape(self.weight_shape)}, output {fmt_shape(self.output_shape)}, stride "
            f"{fmt_tuple(self.stride)}, padding {fmt_tuple(self.padding)}, output_padding "
            f"{fmt_tuple(self.output_padding)}, dilation {fmt_tuple(self.dilation)}, groups "
            f"{self.groups}, {'bias' if self.bias else 'no bias'}, {self.dtype}"
        )
