"""The layers the benchmark times: the issue's table, the examples and the awkward families.

Each entry is a float32 `ConvSpec`; the runner derives the float64 twin with
`dataclasses.replace`.  Names are short so the table stays readable.
"""

from __future__ import annotations

from symconv.kinds import ConvSpec

SUITE: dict[str, ConvSpec] = {
    "lenet_conv1": ConvSpec((28, 28), 5, in_channels=1, out_channels=6, batch=64),
    "mnist_32ch": ConvSpec((28, 28), 3, in_channels=1, out_channels=32, batch=64, padding=1),
    "resnet_64": ConvSpec((56, 56), 3, in_channels=64, out_channels=64, batch=8, padding=1),
    "resnet_64s2": ConvSpec(
        (56, 56), 3, in_channels=64, out_channels=128, batch=8, stride=2, padding=1
    ),
    "digits": ConvSpec((8, 8), 3, in_channels=1, out_channels=16, batch=32, padding=1),
    "lenet_conv2": ConvSpec((12, 12), 5, in_channels=6, out_channels=16, batch=64),
    "pointwise_1x1": ConvSpec((28, 28), 1, in_channels=256, out_channels=64, batch=8),
    "depthwise": ConvSpec(
        (56, 56), 3, in_channels=64, out_channels=64, batch=8, padding=1, groups=64
    ),
    "conv1d_dilated": ConvSpec(
        (1024,), 9, in_channels=32, out_channels=32, batch=16, padding=4, dilation=2
    ),
    "lecture": ConvSpec((3, 3), 2),
}

#: A short run: one small, one channel-heavy and one awkward layer.
QUICK = ("lenet_conv1", "lenet_conv2", "depthwise", "lecture")


def quick_suite() -> dict[str, ConvSpec]:
    return {name: SUITE[name] for name in QUICK}
