"""The named layers `symconv check` tries first, each chosen for the bug it catches.

These are the bugs that recur in public convolution code: the rows a stride leaves
unread (torch7 #20, backpack #30, opacus #245, FlagGems #1576), dilation forgotten in
a gradient (pytorch #13008, #16012), groups and lopsided padding mishandled.  Every
layer is small, so a failure here is already close to minimal; the random search
that follows (`search.py`) finds the rest and shrinks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from symconv.kinds import ConvSpec


@dataclass(frozen=True)
class Case:
    """One named layer: what it is for, and the ConvSpec arguments that make it."""

    name: str
    catches: str
    layer: dict[str, Any] = field(default_factory=dict)

    def spec(self, dtype: str, bias: bool) -> ConvSpec:
        return ConvSpec(**{"bias": bias, **self.layer, "dtype": dtype})


CATALOGUE: tuple[Case, ...] = (
    Case(
        "plain",
        "the sums themselves: index order, kernel taps, bias",
        {"input_size": (5, 5), "kernel_size": 3},
    ),
    Case(
        "leftover rows",
        "a stride that leaves the last input row and column unread: their gradient is 0",
        {"input_size": (6, 6), "kernel_size": 3, "stride": 2},
    ),
    Case(
        "stride > kernel",
        "inputs that no window reads, between windows: gaps in dL/dX",
        {"input_size": (7, 7), "kernel_size": 2, "stride": 3},
    ),
    Case(
        "non-square",
        "height and width swapped somewhere: different sizes, kernel and stride per axis",
        {"input_size": (5, 7), "kernel_size": (2, 3), "stride": (1, 2)},
    ),
    Case(
        "padding",
        "zeros around the input: windows that hang over the border",
        {"input_size": (4, 4), "kernel_size": 3, "padding": 1},
    ),
    Case(
        "asymmetric padding",
        "a different padding on each side (TensorFlow's SAME with an even kernel)",
        {"input_size": (5, 5), "kernel_size": 2, "padding": ((1, 0), (0, 2))},
    ),
    Case(
        "dilation",
        "gaps between the taps: a gradient that forgets them",
        {"input_size": (7, 7), "kernel_size": 3, "dilation": 2},
    ),
    Case(
        "dilation with stride",
        "dilated dL/dO and spread taps at once, with leftover rows",
        {"input_size": (10, 10), "kernel_size": 3, "dilation": 2, "stride": 2},
    ),
    Case(
        "channels",
        "input and output channels mixed up, or the weight's axes transposed",
        {"input_size": (4, 4), "kernel_size": 2, "in_channels": 3, "out_channels": 2},
    ),
    Case(
        "groups",
        "each output channel reads only its group's input channels",
        {"input_size": (4, 4), "kernel_size": 2, "in_channels": 4, "out_channels": 6, "groups": 2},
    ),
    Case(
        "depthwise",
        "one group per input channel, two filters each",
        {"input_size": (4, 4), "kernel_size": 3, "in_channels": 3, "out_channels": 6, "groups": 3},
    ),
    Case(
        "1x1 kernel",
        "a pointwise layer: the channel sum alone, with a stride",
        {"input_size": (5, 5), "kernel_size": 1, "in_channels": 3, "out_channels": 2, "stride": 2},
    ),
    Case(
        "batch > 1",
        "the batch axis summed where it must not be (or not summed in dL/dF)",
        {"input_size": (4, 4), "kernel_size": 2, "batch": 3, "in_channels": 2, "out_channels": 2},
    ),
    Case(
        "1-D",
        "a layer with one spatial axis, strided, padded and dilated",
        {"input_size": (11,), "kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2},
    ),
    Case(
        "3-D",
        "a layer with three spatial axes, each with its own stride",
        {"input_size": (4, 5, 4), "kernel_size": 2, "stride": (1, 2, 1), "in_channels": 2},
    ),
    Case(
        "convolution mode",
        "a true convolution: the kernel rotated 180° (and the rotation undone in dL/dF)",
        {"input_size": (4, 5), "kernel_size": (2, 3), "mode": "convolution"},
    ),
)
