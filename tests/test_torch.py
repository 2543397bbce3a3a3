"""symconv.torch: generated kernels as a differentiable PyTorch function and module.

gradcheck compares the kernels' backward with finite differences of their forward
in float64, on tiny specs that each exercise one awkward case (a stride with
leftover rows, asymmetric padding, dilation with groups in convolution mode, 1-D,
3-D); the forward is compared with torch.nn.functional itself.
"""

from __future__ import annotations

import dataclasses
import importlib
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="symconv.torch needs PyTorch (pip install torch)")

import symconv.torch as st  # noqa: E402
from symconv import ConvSpec  # noqa: E402
from symconv.kinds import CONVOLUTION  # noqa: E402
from symconv.pipeline import generate  # noqa: E402

SPECS = {
    # (8 - 3) % 2 = 1: the last input row is in no window, its gradient must be zero.
    "strided_leftover": ConvSpec((8, 7), 3, 2, 3, batch=2, stride=2, dtype="float64"),
    "asymmetric_padding_bias": ConvSpec(
        (5, 4), (2, 3), 2, 2, padding=((1, 0), (0, 2)), bias=True, dtype="float64"
    ),
    "dilation_groups_convolution": ConvSpec(
        (7, 6),
        3,
        4,
        6,
        stride=(1, 2),
        padding=1,
        dilation=(2, 1),
        groups=2,
        bias=True,
        mode="convolution",
        dtype="float64",
    ),
    "conv1d": ConvSpec(
        (9,), 3, 2, 3, batch=2, stride=2, padding=1, dilation=2, bias=True, dtype="float64"
    ),
    "conv3d": ConvSpec(
        (4, 3, 3), 2, 2, 2, stride=(2, 1, 1), padding=(1, 0, 1), groups=2, dtype="float64"
    ),
    # PyTorch has no tiled layer: its side is the oracle built from unfold and einsum
    "tiled_strided": ConvSpec(
        (7, 6),
        2,
        2,
        2,
        stride=(2, 1),
        padding=((1, 0), (0, 1)),
        tiles=(2, 3),
        bias=True,
        dtype="float64",
    ),  # fmt: skip
    "locally_connected_1d": ConvSpec(
        (8,), 3, 1, 2, dilation=2, tiles="local", mode="convolution", dtype="float64"
    ),
}


def random_args(spec: ConvSpec, seed: int = 0, requires_grad: bool = True) -> list:
    """x, w (and b) for `spec`, as leaf tensors in its dtype."""
    gen = torch.Generator().manual_seed(seed)
    dtype = st.torch_dtype(spec)
    shapes = [spec.input_shape, spec.weight_shape] + ([spec.bias_shape] if spec.bias else [])
    return [
        torch.randn(shape, generator=gen, dtype=dtype).requires_grad_(requires_grad)
        for shape in shapes
    ]


def torch_conv(spec: ConvSpec, x, w, b=None):
    """The same layer as PyTorch computes it (the convolution kind's PyTorch oracle)."""
    return CONVOLUTION.torch_function(spec)(x, w, b)


@pytest.fixture(scope="module")
def functions():
    """One compiled function per spec, shared by the tests of this module."""
    return {name: st.function(spec) for name, spec in SPECS.items()}


@pytest.mark.parametrize("name", SPECS)
def test_forward_matches_torch(functions, name):
    spec = SPECS[name]
    args = random_args(spec, requires_grad=False)
    y = functions[name](*args)
    assert y.shape == spec.output_shape
    assert y.dtype == torch.float64
    torch.testing.assert_close(y, torch_conv(spec, *args), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", SPECS)
def test_gradcheck(functions, name):
    spec = SPECS[name]
    assert torch.autograd.gradcheck(functions[name], tuple(random_args(spec, seed=1)))


@pytest.mark.parametrize("name", SPECS)
def test_gradients_match_torch(functions, name):
    """Same gradients as torch's own conv for a loss whose gradient is not all ones."""
    spec = SPECS[name]
    ours, theirs = random_args(spec, seed=2), random_args(spec, seed=2)
    (functions[name](*ours) ** 2).sum().backward()
    (torch_conv(spec, *theirs) ** 2).sum().backward()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-10)


class SpyKernels:
    """Kernels that record which functions were called."""

    def __init__(self, kernels) -> None:
        self._kernels = kernels
        self.spec = kernels.spec
        self.calls: list[str] = []

    def __getattr__(self, name: str):
        function = getattr(self._kernels, name)

        def call(*args):
            self.calls.append(name)
            return function(*args)

        return call


def test_backward_computes_only_needed_gradients():
    spec = SPECS["asymmetric_padding_bias"]
    spy = SpyKernels(generate(spec))
    conv = st.function(spec, spy)
    x, w, b = random_args(spec)
    x.requires_grad_(False)
    b.requires_grad_(False)
    # sum() hands backward an expanded, non-contiguous gradient
    conv(x, w, b).sum().backward()
    assert spy.calls == ["forward", "grad_weight"]
    assert x.grad is None and b.grad is None and w.grad is not None


def test_no_bias_gives_three_gradients():
    spec = SPECS["strided_leftover"]
    x, w = random_args(spec)
    st.function(spec)(x, w).sum().backward()
    assert x.grad.shape == spec.input_shape and w.grad.shape == spec.weight_shape
    # the leftover last row lies in no window
    assert torch.count_nonzero(x.grad[:, :, -1]) == 0


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda x, w, b: (x[..., :3], w, b),
            r"x has shape \(1, 2, 5, 3\), expected \(N, 2, 5, 4\)",
        ),
        (lambda x, w, b: (x, w[:, :1], b), r"w has shape \(2, 1, 2, 3\), expected \(2, 2, 2, 3\)"),
        (lambda x, w, b: (x, w, b[:1]), r"b has shape \(1,\), expected \(2,\)"),
        (lambda x, w, b: (x.float(), w, b), r"x has dtype torch.float32, expected torch.float64"),
        (lambda x, w, b: (x, w, None), r"b is required"),
        (lambda x, w, b: (x.numpy(), w, b), r"x is a ndarray, expected a torch.Tensor"),
    ],
)
def test_wrong_arguments_name_the_expected_shape(mutate, message):
    spec = SPECS["asymmetric_padding_bias"]
    conv = st.function(spec)
    x, w, b = mutate(*random_args(spec, requires_grad=False))
    with pytest.raises(ValueError, match=message):
        conv(x, w, b)


def test_bias_given_to_a_layer_without_one():
    spec = SPECS["strided_leftover"]
    x, w = random_args(spec)
    with pytest.raises(ValueError, match="bias=False"):
        st.function(spec)(x, w, torch.zeros(3, dtype=torch.float64))


def test_function_rejects_kernels_of_another_spec():
    spec = SPECS["strided_leftover"]
    with pytest.raises(ValueError, match="kernels were generated for"):
        st.function(SPECS["asymmetric_padding_bias"], generate(spec))


def test_module_initialises_like_nn_conv2d_and_trains():
    spec = ConvSpec((6, 6), 3, 2, 4, batch=3, padding=1, bias=True)
    torch.manual_seed(0)
    layer = st.Conv(spec)
    torch.manual_seed(0)
    reference = torch.nn.Conv2d(2, 4, 3, padding=1)
    assert layer.weight.dtype == torch.float32
    torch.testing.assert_close(layer.weight, reference.weight, rtol=0, atol=0)
    torch.testing.assert_close(layer.bias, reference.bias, rtol=0, atol=0)
    assert {name for name, _ in layer.named_parameters()} == {"weight", "bias"}
    assert "input 3×2×6×6" in repr(layer)

    x = torch.rand(spec.input_shape)
    layer(x).square().mean().backward()
    reference(x).square().mean().backward()
    torch.testing.assert_close(layer.weight.grad, reference.weight.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(layer.bias.grad, reference.bias.grad, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match=r"expected \(N, 2, 6, 6\)"):
        layer(torch.rand(4, 3, 6, 6))


def test_module_without_bias():
    layer = st.Conv(SPECS["conv3d"])
    assert layer.bias is None
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert layer.weight.dtype == torch.float64


def test_import_without_torch_says_how_to_install(monkeypatch):
    monkeypatch.delitem(sys.modules, "symconv.torch")
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(ImportError, match=r"symconv.torch needs PyTorch: pip install torch=="):
        importlib.import_module("symconv.torch")


def test_import_symconv_does_not_import_torch():
    code = "import sys, symconv; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_numpy_result_does_not_alias_inputs():
    """Outputs are fresh tensors: changing x afterwards leaves y alone."""
    spec = SPECS["strided_leftover"]
    x, w = random_args(spec, requires_grad=False)
    y = st.function(spec)(x, w)
    before = y.clone()
    x.add_(1.0)
    assert np.array_equal(y.numpy(), before.numpy())


# ----- any batch size, no copies on the CPU --------------------------------------------
def test_any_batch_size_gets_kernels_of_its_own_and_matches_torch(functions):
    spec = SPECS["asymmetric_padding_bias"]  # generated for batch 1
    conv = functions["asymmetric_padding_bias"]
    for batch in (3, 1, 3):
        x, w, b = random_args(dataclasses.replace(spec, batch=batch), seed=batch)
        y = conv(x, w, b)
        assert y.shape == (batch, *spec.output_shape[1:])
        torch.testing.assert_close(y, torch_conv(spec, x, w, b), rtol=1e-12, atol=1e-12)
    assert conv.kernel_set.batches == (("cpu", 1), ("cpu", 3))


def test_gradcheck_at_another_batch_size(functions):
    spec = dataclasses.replace(SPECS["strided_leftover"], batch=3)
    assert torch.autograd.gradcheck(functions["strided_leftover"], tuple(random_args(spec, 4)))


def test_contiguous_cpu_tensors_reach_the_kernels_without_a_copy():
    spec = SPECS["strided_leftover"]
    x, w = random_args(spec, requires_grad=False)
    assert np.shares_memory(st.to_kernel(x), x.numpy())
    result = np.ones(spec.output_shape)
    assert np.shares_memory(st.from_kernel(result, x).numpy(), result)
    # a transposed view is not contiguous: that one is copied
    assert not np.shares_memory(st.to_kernel(x.transpose(2, 3)), x.numpy())


def test_an_empty_batch_gives_an_empty_output_and_zero_gradients_like_nn_conv():
    spec = SPECS["asymmetric_padding_bias"]
    conv = st.function(spec)
    _, w, b = random_args(spec)
    x = torch.zeros(0, *spec.input_shape[1:], dtype=torch.float64, requires_grad=True)
    y = conv(x, w, b)
    assert y.shape == (0, *spec.output_shape[1:])
    (y**2).sum().backward()
    assert x.grad.shape == x.shape and not w.grad.any() and not b.grad.any()
    reference = torch_conv(spec, x.detach(), w.detach(), b.detach())
    assert reference.shape == y.shape  # what nn.functional does with an empty batch


def test_a_wrong_channel_count_is_refused():
    spec = SPECS["strided_leftover"]
    conv = st.function(spec)
    _, w = random_args(spec, requires_grad=False)
    with pytest.raises(ValueError, match=r"expected \(N, 2, 8, 7\) for any batch N"):
        conv(torch.zeros(2, 3, 8, 7, dtype=torch.float64), w)


@pytest.mark.parametrize("name", SPECS)
def test_second_derivatives_match_finite_differences(functions, name):
    """gradgradcheck: the backward's own backward (the layer's kernels again) is right."""
    spec = SPECS[name]
    assert torch.autograd.gradgradcheck(functions[name], tuple(random_args(spec, seed=3)))


def test_a_gradient_penalty_trains_like_torch():
    """d/dw of |dL/dx|²: double backward through the bridge equals PyTorch's own."""
    spec = SPECS["dilation_groups_convolution"]
    ours, theirs = random_args(spec, seed=4), random_args(spec, seed=4)
    for args, conv in ((ours, st.function(spec)), (theirs, lambda *a: torch_conv(spec, *a))):
        (gx,) = torch.autograd.grad((conv(*args) ** 2).sum(), args[0], create_graph=True)
        (gx**2).sum().backward()
    for a, b in zip(ours[1:], theirs[1:]):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-10)
