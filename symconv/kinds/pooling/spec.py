"""`PoolSpec`: one max- or average-pooling layer, validated like `ConvSpec`.

PyTorch's conventions: stride defaults to the kernel size, padding is symmetric and
at most half the kernel, max pooling treats padding as −∞ and average pooling counts
the padded zeros in its divisor (``count_include_pad=True``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from symconv.formatting import fmt_shape, fmt_tuple
from symconv.identity import CanonicalSpec
from symconv.kinds.convolution.spec import DTYPES
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

POOL_KINDS: tuple[str, ...] = ("max", "avg")


@dataclass(frozen=True)
class PoolSpec(CanonicalSpec, SlidingWindow):
    """One pooling layer with fixed shapes; int arguments broadcast to every dimension."""

    kind: str
    input_size: tuple[int, ...]
    kernel_size: tuple[int, ...] | int
    channels: int = 1
    batch: int = 1
    stride: tuple[int, ...] | int | None = None
    padding: tuple[int, ...] | int = 0
    dtype: str = "float32"

    KIND: ClassVar[str] = "poolspec"

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, POOL_KINDS)
        input_size = spatial_sizes(self.input_size)
        rank = len(input_size)
        kernel = positive_per_dim("kernel_size", self.kernel_size, rank)
        stride = kernel if self.stride is None else positive_per_dim("stride", self.stride, rank)
        padding = tuple(
            check_int(f"padding[{d}]", p)
            for d, p in enumerate(per_dim("padding", self.padding, rank))
        )
        for d, (p, k) in enumerate(zip(padding, kernel)):
            if p < 0:
                raise ValueError(f"padding[{d}]={p} must not be negative")
            if 2 * p > k:
                raise ValueError(
                    f"padding[{d}]={p} must be at most half of kernel_size[{d}]={k} "
                    "(PyTorch's rule: a window must hold at least one real element)"
                )
        for d, (i, p, k) in enumerate(zip(input_size, padding, kernel)):
            if k > i + 2 * p:
                raise ValueError(
                    f"kernel_size[{d}]={k} is larger than the padded input {i + 2 * p}"
                )
        channels = positive("channels", self.channels)
        batch = positive("batch", self.batch)
        check_choice("dtype", self.dtype, DTYPES)
        self._store(
            input_size=input_size,
            kernel_size=kernel,
            stride=stride,
            padding=padding,
            channels=channels,
            batch=batch,
        )
        check_count(f"the input {fmt_shape(self.input_shape)}", self.input_shape)
        check_count("the padded input", (batch, channels, *self.padded_size))
        check_count("the window reads", (*self.output_shape, self.window_size))

    @property
    def window_axes(self) -> tuple[WindowAxis, ...]:
        """Per spatial dimension: size, window, stride and the padding on both sides."""
        return tuple(
            WindowAxis(i, k, s, 1, p, p)
            for i, k, s, p in zip(self.input_size, self.kernel_size, self.stride, self.padding)
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.batch, self.channels, *self.input_size)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.batch, self.channels, *self.output_size)

    @property
    def window_size(self) -> int:
        """Elements in one window, padding included: average pooling's divisor."""
        return math.prod(self.kernel_size)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "input_size": list(self.input_size),
            "kernel_size": list(self.kernel_size),
            "channels": self.channels,
            "batch": self.batch,
            "stride": list(self.stride),
            "padding": list(self.padding),
            "dtype": self.dtype,
        }

    @property
    def label(self) -> str:
        """Readable name such as ``maxpool2d_1x6x24x24_k2x2_s2`` for files and titles."""
        dims = "x".join(map(str, self.input_shape))
        kernel = "x".join(map(str, self.kernel_size))
        stride = "x".join(map(str, self.stride)) if len(set(self.stride)) > 1 else self.stride[0]
        return f"{self.kind}pool{self.rank}d_{dims}_k{kernel}_s{stride}"

    def summary_rows(self) -> list[tuple[str, str]]:
        return [
            ("kind", f"{self.kind} pooling"),
            ("input", fmt_shape(self.input_shape)),
            ("window", fmt_shape(self.kernel_size)),
            ("output", fmt_shape(self.output_shape)),
            ("stride", fmt_tuple(self.stride)),
            ("padding", fmt_tuple(self.padding)),
            ("dtype", self.dtype),
        ]

    def describe(self) -> str:
        rows = self.summary_rows()
        return ", ".join(
            [rows[0][1], *(f"{what} {value}" for what, value in rows[1:-1]), self.dtype]
        )
