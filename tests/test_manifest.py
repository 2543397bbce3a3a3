"""Tests for symconv.manifest: the example manifest and one-line errors for bad ones.

A table with a ``kind`` key is a pooling layer (`PoolSpec`), any other a convolution.
"""

from __future__ import annotations

import pytest

from symconv.kinds import ConvSpec, PoolSpec
from symconv.manifest import load_manifest
from tests.paths import ROOT

EXAMPLE = ROOT / "examples" / "lenet.toml"


def test_example_manifest_holds_the_six_layers():
    specs = load_manifest(EXAMPLE)
    assert list(specs) == [
        "lecture",
        "lenet_conv1",
        "lenet_pool1",
        "lenet_conv2",
        "lenet_pool2",
        "resnet_conv3_1",
    ]
    assert specs["lecture"] == ConvSpec((3, 3), 2)
    assert specs["lenet_conv1"] == ConvSpec((28, 28), 5, in_channels=1, out_channels=6, bias=True)
    assert specs["lenet_conv2"].input_shape == (1, 6, 12, 12)
    assert specs["lenet_conv2"].output_shape == (1, 16, 8, 8)
    resnet = specs["resnet_conv3_1"]
    assert (resnet.input_shape, resnet.output_shape) == ((1, 64, 56, 56), (1, 128, 28, 28))
    assert resnet.stride == (2, 2) and resnet.padding == ((1, 1), (1, 1)) and not resnet.bias


def test_lenet_pooling_layers_halve_the_convolution_outputs():
    specs = load_manifest(EXAMPLE)
    assert specs["lenet_pool1"] == PoolSpec("max", (24, 24), 2, channels=6)
    assert specs["lenet_pool2"] == PoolSpec("max", (8, 8), 2, channels=16)
    # each pool reads what the convolution before it writes
    assert specs["lenet_pool1"].input_shape == specs["lenet_conv1"].output_shape
    assert specs["lenet_pool2"].input_shape == specs["lenet_conv2"].output_shape
    assert specs["lenet_pool1"].output_shape == specs["lenet_conv2"].input_shape
    assert specs["lenet_pool2"].output_shape == (1, 16, 4, 4)


def test_every_poolspec_field_is_accepted(tmp_path):
    path = tmp_path / "pools.toml"
    path.write_text(
        """
        [layers.everything]
        kind = "avg"
        input_size = [9, 8, 7]
        kernel_size = [3, 2, 2]
        channels = 4
        batch = 2
        stride = [2, 1, 3]
        padding = [1, 0, 1]
        dtype = "float64"

        [layers.conv_between]
        input_size = [5]
        kernel_size = 3
        """
    )
    specs = load_manifest(path)
    assert specs["everything"] == PoolSpec(
        "avg",
        (9, 8, 7),
        (3, 2, 2),
        channels=4,
        batch=2,
        stride=(2, 1, 3),
        padding=(1, 0, 1),
        dtype="float64",
    )
    assert specs["conv_between"] == ConvSpec((5,), 3)


def test_every_convspec_field_is_accepted(tmp_path):
    path = tmp_path / "all.toml"
    path.write_text(
        """
        [layers.everything]
        input_size = [9, 8]
        kernel_size = [3, 2]
        in_channels = 4
        out_channels = 6
        batch = 2
        stride = [2, 1]
        padding = [[1, 0], 2]
        dilation = 1
        groups = 2
        bias = true
        dtype = "float64"
        mode = "convolution"

        [layers.same]
        input_size = [5]
        kernel_size = 3
        padding = "same"
        """
    )
    specs = load_manifest(path)
    assert specs["everything"].padding == ((1, 0), (2, 2))
    assert specs["everything"].groups == 2 and specs["everything"].mode == "convolution"
    assert specs["same"].padding == ((1, 1),)


@pytest.mark.parametrize(
    "text,message",
    [
        (
            "[layers.c1]\ninput_size = [4]\nkernel_size = 2\nstrides = 2\n",
            "layer 'c1': unknown ConvSpec field 'strides'",
        ),
        (
            "[layers.c1]\ninput_size = [4]\nkernel_size = 2\nstride = 0\n",
            "layer 'c1': stride[0]=0 must be a positive int",
        ),
        ("[layers.c1]\ninput_size = [4]\n", "layer 'c1': missing field 'kernel_size'"),
        (  # a misspelt field is named as unknown, not reported as the missing one
            "[layers.c1]\ninput_size = [4]\nkernal_size = 2\n",
            "layer 'c1': unknown ConvSpec field 'kernal_size'",
        ),
        (
            "[layers.c1]\ninput_size = [4]\nkernel_size = 2.0\n",
            "layer 'c1': kernel_size[0]=2.0 must be an int",
        ),
        (
            '[layers.c1]\ninput_size = [4]\nkernel_size = 2\ndtype = "float16"\n',
            "layer 'c1': dtype='float16' must be one of",
        ),
        ("[layers]\nc1 = 3\n", "layer 'c1' must be a table"),
        (
            '[layers.p1]\nkind = "min"\ninput_size = [4]\nkernel_size = 2\n',
            "layer 'p1': kind='min' must be one of max, avg",
        ),
        (
            '[layers.p1]\nkind = "max"\ninput_size = [4]\nkernel_size = 2\nout_channels = 2\n',
            "layer 'p1': unknown PoolSpec field 'out_channels'",
        ),
        (
            '[layers.p1]\nkind = "max"\ninput_size = [4]\nkernel_size = 2\npadding = 2\n',
            "layer 'p1': padding[0]=2 must be at most half of kernel_size[0]=2",
        ),
        (
            '[layers.p1]\nkind = "avg"\ninput_size = [4]\n',
            "layer 'p1': missing field 'kernel_size'",
        ),
        ('[layers."bad name"]\ninput_size = [4]\nkernel_size = 2\n', "layer 'bad name'"),
        ("[layer.c1]\ninput_size = [4]\n", "unknown top-level key 'layer'"),
        ("title = 'x'\n", "unknown top-level key 'title'"),
        ("", "no layers"),
        ("[layers.c1\n", "not valid TOML"),
    ],
)
def test_bad_manifests_name_the_layer_and_field(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match="bad.toml") as error:
        load_manifest(path)
    assert message in str(error.value)
