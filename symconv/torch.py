"""PyTorch bridge: one fixed-shape convolution layer as a differentiable torch function.

`function(spec)` wraps the generated kernels of `spec` in a `torch.autograd.Function`
whose forward calls ``kernels.forward`` and whose backward calls ``grad_input``,
``grad_weight`` and ``grad_bias`` (only those autograd asks for).  `Conv(spec)` is the
matching `nn.Module` with PyTorch's default initialisation.

The kernels run on NumPy arrays on the CPU, so every call copies tensors to
contiguous NumPy arrays and the results back to the input's device.  Shapes and
dtypes are fixed by the spec; a tensor that does not fit raises a `ValueError`
naming the expected and the given shape *before* any kernel runs, because inside a
kernel a wrong shape would either fail without naming the argument or read out of
bounds.  The backward is first-order only (``once_differentiable``): the generated
kernels have no derivatives of their own.

This module is imported only on request (``import symconv.torch``); ``import
symconv`` never needs PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

try:
    import torch
except ModuleNotFoundError as error:  # only a missing torch itself; a broken one propagates
    if error.name != "torch":
        raise
    raise ImportError("symconv.torch needs PyTorch: pip install torch==2.13.0") from error

import numpy as np
from torch import nn
from torch.autograd.function import once_differentiable

from symconv.kinds import CONVOLUTION, ConvSpec, require
from symconv.pipeline import generate
from symconv.runtime import Kernels

__all__ = ["Conv", "ConvFunction", "function"]

ConvCallable = Callable[..., torch.Tensor]

_TORCH_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


def torch_dtype(spec: ConvSpec) -> torch.dtype:
    """The torch dtype every tensor of `spec` must have."""
    return _TORCH_DTYPES[spec.dtype]


def check_tensor(name: str, value: object, shape: tuple[int, ...], spec: ConvSpec) -> torch.Tensor:
    """Return `value` if it is a tensor of `shape` in the spec's dtype, else raise ValueError.

    Checked on the tensor (not later on the NumPy copy) so the message speaks of the
    caller's argument and mentions the layer it was meant for.
    """
    if not isinstance(value, torch.Tensor):
        raise ValueError(
            f"{name} is a {type(value).__name__}, expected a torch.Tensor of shape {shape} "
            f"for {spec.label}"
        )
    if tuple(value.shape) != shape:
        raise ValueError(
            f"{name} has shape {tuple(value.shape)}, expected {shape} for {spec.label} "
            "(a generated layer accepts exactly the shapes of its spec)"
        )
    expected = torch_dtype(spec)
    if value.dtype != expected:
        raise ValueError(
            f"{name} has dtype {value.dtype}, expected {expected} for {spec.label}: "
            f"pass {name}.to({expected})"
        )
    if value.is_complex() or value.layout != torch.strided:
        raise ValueError(f"{name} must be a dense real tensor, got layout {value.layout}")
    return value


def to_numpy(value: torch.Tensor) -> np.ndarray:
    """A C-contiguous, writeable CPU copy-or-view that the kernels' checks accept."""
    array = value.detach().cpu().resolve_conj().resolve_neg().contiguous().numpy()
    return np.ascontiguousarray(array)


def from_numpy(array: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """Wrap a kernel result (a fresh array) as a tensor on the device of `like`."""
    return torch.from_numpy(array).to(like.device)


class ConvFunction(torch.autograd.Function):
    """y = conv(x, w) (+ b) with the generated kernels; use through `function(spec)`."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        kernels: Kernels,
        x: torch.Tensor,
        w: torch.Tensor,
        b: torch.Tensor | None,
    ) -> torch.Tensor:
        y = kernels.forward(to_numpy(x), to_numpy(w), None if b is None else to_numpy(b))
        ctx.kernels = kernels
        ctx.has_bias = b is not None
        # save_for_backward (not NumPy views) so autograd's version counter catches an
        # in-place change of x or w between forward and backward.
        ctx.save_for_backward(x, w)
        return from_numpy(y, x)

    @staticmethod
    @once_differentiable
    def backward(
        ctx: torch.autograd.function.FunctionCtx, gy: torch.Tensor
    ) -> tuple[None, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        kernels: Kernels = ctx.kernels
        spec = kernels.spec
        x, w = ctx.saved_tensors
        # Autograd may hand a non-contiguous (e.g. expanded) gradient: copy it.
        gy_np = to_numpy(check_tensor("grad_output", gy, spec.output_shape, spec))
        _, need_x, need_w, need_b = ctx.needs_input_grad
        gx = from_numpy(kernels.grad_input(gy_np, to_numpy(w)), gy) if need_x else None
        gw = from_numpy(kernels.grad_weight(to_numpy(x), gy_np), gy) if need_w else None
        gb = from_numpy(kernels.grad_bias(gy_np), gy) if (need_b and ctx.has_bias) else None
        return None, gx, gw, gb


def function(spec: ConvSpec, kernels: Kernels | None = None) -> ConvCallable:
    """A differentiable ``(x, w, b=None) -> y`` on torch tensors for the layer `spec`.

    The kernels are generated (and compiled, or loaded from the cache) here, once,
    so calling the result costs only the copies and the kernels.  Pass `kernels` to
    reuse ones you already have.
    """
    require(spec, CONVOLUTION)
    if kernels is None:
        kernels = generate(spec)
    elif kernels.spec != spec:
        raise ValueError(f"kernels were generated for {kernels.spec.label}, not {spec.label}")

    def conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        check_tensor("x", x, spec.input_shape, spec)
        check_tensor("w", w, spec.weight_shape, spec)
        if spec.bias:
            if b is None:
                raise ValueError(f"b is required: {spec.label} has bias=True")
            check_tensor("b", b, spec.bias_shape, spec)
        elif b is not None:
            raise ValueError(f"b was given, but {spec.label} has bias=False")
        return ConvFunction.apply(kernels, x, w, b)

    conv.__name__ = f"conv_{spec.label}"
    conv.__doc__ = f"Differentiable {spec.describe()}."
    conv.spec = spec  # type: ignore[attr-defined]
    conv.kernels = kernels  # type: ignore[attr-defined]
    return conv


class Conv(nn.Module):
    """A fixed-shape convolution layer whose forward and backward run generated kernels.

    `weight` (and `bias` when ``spec.bias``) are `nn.Parameter`s in the spec's dtype,
    initialised as `nn.Conv2d` does (Kaiming-uniform with a=sqrt(5), bias uniform in
    ±1/sqrt(fan_in)), so swapping an `nn.Conv*d` for `Conv` keeps training behaviour.
    The input must have exactly ``spec.input_shape``, batch size included.
    """

    def __init__(self, spec: ConvSpec, kernels: Kernels | None = None) -> None:
        super().__init__()
        self.spec = spec
        self._conv = function(spec, kernels)
        dtype = torch_dtype(spec)
        self.weight = nn.Parameter(torch.empty(spec.weight_shape, dtype=dtype))
        if spec.bias:
            self.bias = nn.Parameter(torch.empty(spec.bias_shape, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's `_ConvNd.reset_parameters`, so initial weights match `nn.Conv2d`."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.spec.in_channels_per_group * math.prod(self.spec.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return self.spec.describe()
