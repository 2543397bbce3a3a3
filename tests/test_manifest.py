"""Tests for symconv.manifest: the example manifest and one-line errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from symconv.manifest import load_manifest
from symconv.spec import ConvSpec

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lenet.toml"


def test_example_manifest_holds_the_four_layers():
    specs = load_manifest(EXAMPLE)
    assert list(specs) == ["lecture", "lenet_conv1", "lenet_conv2", "resnet_conv3_1"]
    assert specs["lecture"] == ConvSpec((3, 3), 2)
    assert specs["lenet_conv1"] == ConvSpec((28, 28), 5, in_channels=1, out_channels=6, bias=True)
    assert specs["lenet_conv2"].input_shape == (1, 6, 12, 12)
    assert specs["lenet_conv2"].output_shape == (1, 16, 8, 8)
    resnet = specs["resnet_conv3_1"]
    assert (resnet.input_shape, resnet.output_shape) == ((1, 64, 56, 56), (1, 128, 28, 28))
    assert resnet.stride == (2, 2) and resnet.padding == ((1, 1), (1, 1)) and not resnet.bias


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
        (
            "[layers.c1]\ninput_size = [4]\nkernel_size = 2.0\n",
            "layer 'c1': kernel_size[0]=2.0 must be an int",
        ),
        (
            '[layers.c1]\ninput_size = [4]\nkernel_size = 2\ndtype = "float16"\n',
            "layer 'c1': dtype='float16' must be one of",
        ),
        ("[layers]\nc1 = 3\n", "layer 'c1' must be a table"),
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
