"""Transposed convolution: the spec's rules, its NumPy oracle against a scalar loop and
PyTorch's conv_transposeNd, and its generated kernels against the oracle."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from symconv.cli import main
from symconv.kinds import TOLERANCES, TRANSPOSED, ConvTransposeSpec, relative_error, spec_from_json
from tests.strategies import transposed_specs


def scatter_loop(spec: ConvTransposeSpec, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """y by the definition, one product at a time: x[n, c, i]·w[c, m, t] lands at s·i + d·t − p."""
    y = np.zeros(spec.output_shape)
    per_in, per_out = spec.in_channels_per_group, spec.out_channels_per_group
    for n, c in itertools.product(range(spec.batch), range(spec.in_channels)):
        group = c // per_in
        for i in np.ndindex(*spec.input_size):
            for t in np.ndindex(*spec.kernel_size):
                q = tuple(s * a + d * b - p for s, a, d, b, p in
                          zip(spec.stride, i, spec.dilation, t, spec.padding))  # fmt: skip
                if all(0 <= v < o for v, o in zip(q, spec.output_size)):
                    for m in range(per_out):
                        y[(n, group * per_out + m, *q)] += x[(n, c, *i)] * w[(c, m, *t)]
    return y


@settings(max_examples=40, deadline=None)
@given(transposed_specs(max_size=3))
def test_oracle_forward_is_the_scatter_and_its_gradients_its_adjoint(spec) -> None:
    rng = np.random.default_rng(1)
    a = TRANSPOSED.random_inputs(spec, rng)
    ref = TRANSPOSED.reference(spec, a)
    want = scatter_loop(spec, a["x"].astype(float), a["w"].astype(float))
    if spec.bias:
        want += a["b"].reshape(1, -1, *(1,) * spec.rank)
    assert relative_error(ref["forward"], want)[1] < 1e-5
    # ⟨gy, y(x)⟩ = ⟨gx(gy), x⟩ and ⟨gy, y(w)⟩ = ⟨gw, w⟩: the gradients are the adjoints
    y_no_bias = scatter_loop(spec, a["x"].astype(float), a["w"].astype(float))
    inner = float(np.sum(a["gy"] * y_no_bias))
    assert np.isclose(inner, float(np.sum(ref["grad_input"] * a["x"])), rtol=1e-4, atol=1e-4)
    assert np.isclose(inner, float(np.sum(ref["grad_weight"] * a["w"])), rtol=1e-4, atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(transposed_specs())
def test_oracle_agrees_with_pytorch_conv_transpose(spec) -> None:
    pytest.importorskip("torch", reason="PyTorch is optional: pip install torch==2.13.0")
    a = TRANSPOSED.random_inputs(spec, np.random.default_rng(2))
    ours, theirs = TRANSPOSED.reference(spec, a), TRANSPOSED.torch_reference(spec, a)
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        assert relative_error(ours[name], theirs[name])[1] < TOLERANCES[spec.dtype], name


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(transposed_specs(max_rank=2, max_size=3))
def test_generated_kernels_match_the_oracle(tmp_path_factory, spec) -> None:
    import symconv

    kernels = symconv.generate(spec, out=tmp_path_factory.mktemp("transposed"))
    a = TRANSPOSED.random_inputs(spec, np.random.default_rng(3))
    got, want = TRANSPOSED.run(spec, kernels, a), TRANSPOSED.reference(spec, a)
    assert sorted(got) == sorted(want)
    for name in want:
        assert relative_error(got[name], want[name])[1] < TOLERANCES[spec.dtype], name


def test_a_decoder_layer_has_pytorchs_output_size_and_its_convolution() -> None:
    spec = ConvTransposeSpec((14, 14), 4, in_channels=64, out_channels=32, batch=8, stride=2,
                             padding=1, output_padding=1)  # fmt: skip
    assert spec.output_size == (29, 29)  # (14 − 1)·2 − 2 + 3 + 1 + 1
    conv = spec.convolution
    assert conv.input_size == (29, 29) and conv.output_size == (14, 14)
    assert conv.leftover == (1, 1)  # output_padding is the convolution's leftover
    assert conv.weight_shape == spec.weight_shape == (64, 32, 4, 4)
    assert spec_from_json(spec.to_json()) == spec
    assert json.loads(spec.to_json())["output_padding"] == [1, 1]


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"output_padding": 2, "stride": 2}, "output_padding[0]=2 must be smaller than stride 2"),
        ({"padding": 5}, "crops the output"),
        ({"output_padding": 2, "stride": 1, "dilation": 3}, "output_padding − padding < stride"),
        ({"in_channels": 3, "groups": 2}, "in_channels=3 is not divisible by groups=2"),
        ({"padding": -1}, "padding[0]=-1 must not be negative"),
    ],
)
def test_bad_transposed_layers_are_one_line(fields, words) -> None:
    arguments = {"input_size": (4, 4), "kernel_size": 3} | fields
    with pytest.raises(ValueError, match=None) as caught:
        ConvTransposeSpec(**arguments)
    assert words in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--transposed", "--padding", "0:1"], "one int per dimension"),
        (["--output-padding", "1"], "--output-padding needs --transposed"),
        (["--transposed", "--tiles", "2"], "--tiles is not for --transposed"),
        (
            ["--transposed", "--mode", "convolution"],
            "--mode is not for --transposed: a transposed layer is PyTorch's conv_transposeNd",
        ),
        (["--transposed", "--stride", "2", "--output-padding", "2"], "must be smaller than"),
    ],
)
def test_transposed_flags_are_checked_in_one_line(argv, words, capsys) -> None:
    assert main(["verify", *argv]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and words in error


# ----- the PyTorch bridge -----------------------------------------------------------------------
def test_conv_transpose_module_matches_pytorch_and_passes_gradcheck(tmp_path) -> None:
    torch = pytest.importorskip("torch", reason="PyTorch is optional: pip install torch==2.13.0")
    import symconv.torch as bridge

    spec = ConvTransposeSpec((3, 3), 3, in_channels=2, out_channels=4, groups=2, stride=2,
                             padding=1, output_padding=1, bias=True, dtype="float64")  # fmt: skip
    torch.manual_seed(0)
    ours = bridge.ConvTranspose(spec)
    torch.manual_seed(0)
    theirs = torch.nn.ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2,
                                      bias=True, dtype=torch.float64)  # fmt: skip
    assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)
    x = torch.randn(spec.input_shape, dtype=torch.float64, requires_grad=True)
    assert torch.allclose(ours(x), theirs(x), atol=1e-12)
    layer = bridge.function(spec)
    w = torch.randn(spec.weight_shape, dtype=torch.float64, requires_grad=True)
    b = torch.randn(spec.bias_shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x, w, b))
    assert torch.autograd.gradgradcheck(layer, (x, w, b))
    with pytest.raises(TypeError, match="ConvTransposeSpec"):
        bridge.ConvTranspose(spec.convolution)
