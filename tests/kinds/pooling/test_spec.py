"""PoolSpec: PyTorch's pooling arithmetic and rules, and clear errors."""

from __future__ import annotations

import pytest

from symconv import PoolSpec


def test_stride_defaults_to_the_kernel():
    spec = PoolSpec("max", (24, 24), 2, channels=6)
    assert spec.stride == (2, 2)
    assert spec.output_size == (12, 12)  # (24 - 2) // 2 + 1
    assert spec.input_shape == (1, 6, 24, 24) and spec.output_shape == (1, 6, 12, 12)


@pytest.mark.parametrize(
    "kwargs,expected",
    [
        (dict(input_size=(7,), kernel_size=3, stride=2), (3,)),  # (7 - 3) // 2 + 1
        (dict(input_size=(7,), kernel_size=3, stride=2, padding=1), (4,)),  # (7 + 2 - 3) // 2 + 1
        (dict(input_size=(5, 6, 7), kernel_size=(1, 2, 3), stride=1), (5, 5, 5)),
    ],
)
def test_output_size(kwargs, expected):
    assert PoolSpec("avg", **kwargs).output_size == expected


def test_output_size_matches_torch():
    torch = pytest.importorskip("torch", reason="PyTorch not installed: cannot compare sizes")
    x = torch.zeros(1, 1, 9, 8)
    out = torch.nn.functional.max_pool2d(x, (3, 2), stride=(2, 3), padding=(1, 1))
    spec = PoolSpec("max", (9, 8), (3, 2), stride=(2, 3), padding=(1, 1))
    assert tuple(out.shape[2:]) == spec.output_size


def test_window_size_counts_padding():
    assert PoolSpec("avg", (4, 4), 3, padding=1).window_size == 9


INVALID = [
    (dict(kind="min", input_size=(4,), kernel_size=2), "kind='min' must be one of max, avg"),
    (
        dict(kind="max", input_size=(4,), kernel_size=2, padding=2),
        "padding[0]=2 must be at most half of kernel_size[0]=2",
    ),
    (dict(kind="max", input_size=(4,), kernel_size=3, padding=-1), "padding[0]=-1 must not be"),
    (
        dict(kind="max", input_size=(2,), kernel_size=5, padding=1),
        "kernel_size[0]=5 is larger than the padded input 4",
    ),
    (
        dict(kind="avg", input_size=(4, 4), kernel_size=2, stride=0),
        "stride[0]=0 must be a positive",
    ),
    (
        dict(kind="avg", input_size=(4, 4), kernel_size=2, channels=0),
        "channels=0 must be a positive",
    ),
    (dict(kind="avg", input_size=(4, 4), kernel_size=(2, 2, 2)), "has 3 entries"),
    (dict(kind="avg", input_size=(4, 4), kernel_size=2.0), "kernel_size[0]=2.0 must be an int"),
    (dict(kind="avg", input_size=(4, 4), kernel_size=2, dtype="int8"), "dtype='int8' must be"),
]


@pytest.mark.parametrize("kwargs,message", INVALID)
def test_invalid_pool_spec(kwargs, message):
    with pytest.raises(ValueError) as caught:
        PoolSpec(**kwargs)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_identity():
    spec = PoolSpec("max", (24, 24), 2, channels=6)
    assert PoolSpec.from_json(spec.to_json()) == spec
    assert spec.key != PoolSpec("avg", (24, 24), 2, channels=6).key
    assert spec.label == "maxpool2d_1x6x24x24_k2x2_s2"
