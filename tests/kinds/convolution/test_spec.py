"""ConvSpec: the arithmetic of Dumoulin & Visin, validation messages, canonical identity."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from symconv import ConvSpec

# ----- Dumoulin & Visin, "A guide to convolution arithmetic for deep learning" -------------
# Each row: relationship number, the paper's statement, the forward spec, and the size the
# paper's formula gives, written out with the numbers of the row (not computed by symconv).
FORWARD_RELATIONSHIPS = [
    (1, "s=1, p=0: o = i - k + 1", dict(input_size=(4,), kernel_size=3), 4 - 3 + 1),
    (2, "s=1: o = i - k + 2p + 1", dict(input_size=(5,), kernel_size=4, padding=2), 5 - 4 + 4 + 1),
    (3, "half padding, k odd: o = i", dict(input_size=(5,), kernel_size=3, padding=1), 5),
    (
        4,
        "full padding p = k-1: o = i + k - 1",
        dict(input_size=(5,), kernel_size=3, padding=2),
        5 + 3 - 1,
    ),
    (
        5,
        "p=0: o = floor((i - k)/s) + 1",
        dict(input_size=(5,), kernel_size=3, stride=2),
        (5 - 3) // 2 + 1,
    ),
    (
        6,
        "o = floor((i + 2p - k)/s) + 1",
        dict(input_size=(6,), kernel_size=3, stride=2, padding=1),
        (6 + 2 - 3) // 2 + 1,
    ),
    (
        7,
        "pooling arithmetic: o = floor((i - k)/s) + 1",
        dict(input_size=(7,), kernel_size=2, stride=2),
        (7 - 2) // 2 + 1,
    ),
    (
        15,
        "dilated: o = floor((i + 2p - k - (k-1)(d-1))/s) + 1",
        dict(input_size=(7,), kernel_size=3, dilation=2, stride=1),
        (7 - 3 - 2 * 1) // 1 + 1,
    ),
]

# Transposed relationships: the forward spec's output i' fed back gives o' = the input size.
# The lambda is the paper's formula in its own variables; a is the leftover.
TRANSPOSED_RELATIONSHIPS = [
    (
        8,
        "s=1, p=0: o' = i' + (k - 1)",
        dict(input_size=(4,), kernel_size=3),
        lambda ip, k, s, p, a: ip + (k - 1),
    ),
    (
        9,
        "s=1: o' = i' + (k - 1) - 2p",
        dict(input_size=(5,), kernel_size=4, padding=2),
        lambda ip, k, s, p, a: ip + (k - 1) - 2 * p,
    ),
    (
        10,
        "half padding: o' = i'",
        dict(input_size=(5,), kernel_size=3, padding=1),
        lambda ip, k, s, p, a: ip,
    ),
    (
        11,
        "full padding: o' = i' - (k - 1)",
        dict(input_size=(5,), kernel_size=3, padding=2),
        lambda ip, k, s, p, a: ip - (k - 1),
    ),
    (
        12,
        "p=0, s | i-k: o' = s(i' - 1) + k",
        dict(input_size=(5,), kernel_size=3, stride=2),
        lambda ip, k, s, p, a: s * (ip - 1) + k,
    ),
    (
        13,
        "s | i+2p-k: o' = s(i' - 1) + k - 2p",
        dict(input_size=(5,), kernel_size=3, stride=2, padding=1),
        lambda ip, k, s, p, a: s * (ip - 1) + k - 2 * p,
    ),
    (
        14,
        "a = (i+2p-k) mod s: o' = s(i' - 1) + a + k - 2p",
        dict(input_size=(6,), kernel_size=3, stride=2, padding=1),
        lambda ip, k, s, p, a: s * (ip - 1) + a + k - 2 * p,
    ),
]


@pytest.mark.parametrize("number,statement,kwargs,expected", FORWARD_RELATIONSHIPS)
def test_forward_relationship(number, statement, kwargs, expected):
    assert ConvSpec(**kwargs).output_size == (expected,), f"relationship {number}: {statement}"


@pytest.mark.parametrize("number,statement,kwargs,formula", TRANSPOSED_RELATIONSHIPS)
def test_transposed_relationship(number, statement, kwargs, formula):
    spec = ConvSpec(**kwargs)
    (i_prime,) = spec.output_size
    (a,) = spec.leftover
    (p,) = {lo for lo, _ in spec.padding}
    o_prime = formula(i_prime, spec.kernel_size[0], spec.stride[0], p, a)
    assert o_prime == spec.input_size[0], f"relationship {number}: {statement}"


def test_relationship_14_has_a_nonzero_leftover():
    assert ConvSpec(input_size=(6,), kernel_size=3, stride=2, padding=1).leftover == (1,)


def test_all_fifteen_relationships_are_tabled():
    numbers = {row[0] for row in FORWARD_RELATIONSHIPS + TRANSPOSED_RELATIONSHIPS}
    assert numbers == set(range(1, 16))


@pytest.mark.parametrize("number,statement,kwargs,formula", TRANSPOSED_RELATIONSHIPS)
def test_leftover_is_torch_output_padding(number, statement, kwargs, formula):
    torch = pytest.importorskip(
        "torch",
        reason="PyTorch not installed: cannot cross-check "
        "the leftover against conv_transpose1d's output_padding",
    )
    spec = ConvSpec(**kwargs)
    gy = torch.zeros(1, 1, *spec.output_size)
    w = torch.zeros(1, 1, *spec.kernel_size)
    out = torch.nn.functional.conv_transpose1d(
        gy, w, stride=spec.stride, padding=spec.padding[0][0], output_padding=spec.leftover[0]
    )
    assert tuple(out.shape[2:]) == spec.input_size


# ----- shapes and derived sizes ----------------------------------------------------------
def test_shapes_of_a_grouped_strided_layer():
    spec = ConvSpec(
        (9, 8),
        (3, 2),
        in_channels=4,
        out_channels=6,
        batch=2,
        stride=(2, 3),
        padding=((1, 0), (0, 2)),
        dilation=(1, 2),
        groups=2,
        bias=True,
    )
    assert spec.rank == 2
    assert spec.input_shape == (2, 4, 9, 8)
    assert spec.weight_shape == (6, 2, 3, 2)
    assert spec.effective_kernel == (3, 3)
    # (9+1+0-3)//2+1 = 4, (8+0+2-3)//3+1 = 3; leftovers 7 % 2 = 1, 7 % 3 = 1
    assert spec.output_size == (4, 3)
    assert spec.output_shape == (2, 6, 4, 3)
    assert spec.leftover == (1, 1)
    assert spec.bias_shape == (6,)


def test_int_arguments_broadcast_to_every_dimension():
    spec = ConvSpec((5, 6, 7), 3, stride=2, padding=1, dilation=1)
    assert spec.kernel_size == (3, 3, 3)
    assert spec.stride == (2, 2, 2)
    assert spec.padding == ((1, 1), (1, 1), (1, 1))


@pytest.mark.parametrize(
    "kernel,dilation,expected",
    [
        ((3,), (1,), ((1, 1),)),
        ((4,), (1,), ((1, 2),)),
        ((3,), (2,), ((2, 2),)),
        ((2, 5), (3, 1), ((1, 2), (2, 2))),
    ],
)
def test_same_padding_puts_the_odd_zero_on_the_hi_side(kernel, dilation, expected):
    spec = ConvSpec((9,) * len(kernel), kernel, padding="same", dilation=dilation)
    assert spec.padding == expected
    assert spec.output_size == spec.input_size


def test_same_padding_matches_torch():
    torch = pytest.importorskip(
        "torch", reason="PyTorch not installed: cannot compare padding='same' with torch"
    )
    x = torch.zeros(1, 1, 9, 9)
    w = torch.zeros(1, 1, 4, 3)
    out = torch.nn.functional.conv2d(x, w, padding="same", dilation=(1, 2))
    assert (
        tuple(out.shape[2:])
        == ConvSpec((9, 9), (4, 3), padding="same", dilation=(1, 2)).output_size
    )


def test_valid_padding_is_zero():
    assert ConvSpec((5, 5), 3, padding="valid").padding == ((0, 0), (0, 0))


# ----- validation: one clear message naming field, value and rule -------------------------
INVALID = [
    (
        dict(input_size=(3, 7), kernel_size=(5, 3), dilation=(2, 1)),
        "kernel_size[0]=5 with dilation 2 spans 9, more than the padded input 3",
    ),
    (dict(input_size=(0, 3), kernel_size=1), "input_size[0]=0 must be a positive int"),
    (dict(input_size=(3, 3), kernel_size=(2, -1)), "kernel_size[1]=-1 must be a positive int"),
    (dict(input_size=(3, 3), kernel_size=2, stride=0), "stride[0]=0 must be a positive int"),
    (dict(input_size=(3, 3), kernel_size=2, dilation=(1, 0)), "dilation[1]=0 must be a positive"),
    (dict(input_size=(3, 3), kernel_size=2, padding=-1), "padding[0].lo=-1 must not be negative"),
    (
        dict(input_size=(3, 3), kernel_size=2, padding=((0, 1), (0, -2))),
        "padding[1].hi=-2 must not be negative",
    ),
    (
        dict(input_size=(3, 3), kernel_size=2, in_channels=3, groups=2),
        "in_channels=3 is not divisible by groups=2",
    ),
    (
        dict(input_size=(3, 3), kernel_size=2, in_channels=2, out_channels=3, groups=2),
        "out_channels=3 is not divisible by groups=2",
    ),
    (
        dict(input_size=(5, 5), kernel_size=3, stride=2, padding="same"),
        'padding="same" needs stride 1 in every dimension, but stride[0]=2',
    ),
    (
        dict(input_size=(5, 5), kernel_size=(3, 3, 3)),
        "kernel_size=(3, 3, 3) has 3 entries, but the input has 2 spatial dimensions",
    ),
    (dict(input_size=(5, 5), kernel_size=3, stride=(1, 1, 1)), "stride=(1, 1, 1) has 3 entries"),
    (dict(input_size=(5, 5, 5, 5), kernel_size=3), "has 4 entries; symconv handles 1, 2 or 3"),
    (dict(input_size=(5, 5), kernel_size=True), "kernel_size[0]=True must be an int, not bool"),
    (dict(input_size=(5, 5.0), kernel_size=3), "input_size[1]=5.0 must be an int, not float"),
    (dict(input_size=(5, 5), kernel_size=3, groups=1.0), "groups=1.0 must be an int, not float"),
    (dict(input_size=(5, 5), kernel_size=3, bias=1), "bias=1 must be True or False"),
    (dict(input_size=(5, 5), kernel_size=3, dtype="float16"), "dtype='float16' must be one of"),
    (dict(input_size=(5, 5), kernel_size=3, mode="conv"), "mode='conv' must be one of"),
    (dict(input_size=(5, 5), kernel_size=3, padding="full"), "padding='full' must be an int"),
    (dict(input_size=5, kernel_size=3), "input_size=5 must be a tuple"),
    (dict(input_size=(5,), kernel_size=3, padding=[(1, 2, 3)]), "must be one int or a (lo, hi)"),
]


@pytest.mark.parametrize("kwargs,message", INVALID)
def test_invalid_spec_names_field_value_and_rule(kwargs, message):
    with pytest.raises(ValueError) as caught:
        ConvSpec(**kwargs)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_padding_counts_towards_the_kernel_span_check():
    ConvSpec((3,), 5, padding=1)  # padded input 5 holds the kernel exactly
    with pytest.raises(ValueError, match="spans 5, more than the padded input 4"):
        ConvSpec((3,), 5, padding=((1, 0),))


# ----- identity ----------------------------------------------------------------------------
def test_spec_is_frozen():
    spec = ConvSpec((3, 3), 2)
    with pytest.raises(AttributeError):
        spec.stride = (2, 2)


def test_equal_layers_written_differently_are_equal():
    a = ConvSpec((5, 5), 3, stride=1, padding=1)
    b = ConvSpec([5, 5], (3, 3), stride=(1, 1), padding=((1, 1), (1, 1)))
    assert a == b and hash(a) == hash(b)
    assert a.key == b.key and a.to_json() == b.to_json()


def test_canonical_json_round_trips():
    spec = ConvSpec(
        (9, 8),
        (3, 2),
        in_channels=4,
        out_channels=6,
        stride=(2, 3),
        padding=((1, 0), (0, 2)),
        groups=2,
        bias=True,
        dtype="float64",
        mode="convolution",
    )
    data = json.loads(spec.to_json())
    assert data["padding"] == [[1, 0], [0, 2]]
    assert list(data) == sorted(data)
    assert ConvSpec.from_json(spec.to_json()) == spec


def test_key_differs_when_any_field_differs():
    base = ConvSpec((5, 5), 3)
    variants = [
        ConvSpec((5, 6), 3),
        ConvSpec((5, 5), 2),
        ConvSpec((5, 5), 3, stride=2),
        ConvSpec((5, 5), 3, padding=((0, 1), (0, 0))),
        ConvSpec((5, 5), 3, bias=True),
        ConvSpec((5, 5), 3, dtype="float64"),
        ConvSpec((5, 5), 3, mode="convolution"),
    ]
    keys = {base.key} | {v.key for v in variants}
    assert len(keys) == len(variants) + 1


def test_key_is_stable_across_processes():
    code = "from symconv import ConvSpec; print(ConvSpec((28, 28), 5, out_channels=6).key)"
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    )
    assert other.stdout.strip() == ConvSpec((28, 28), 5, out_channels=6).key


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown ConvSpec field 'kernel'"):
        ConvSpec.from_dict({"input_size": [3, 3], "kernel": [2, 2]})
