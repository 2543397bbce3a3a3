"""PyTorch bridge: one convolution layer as a differentiable torch function.

`function(spec)` wraps the generated kernels of `spec` in a `torch.autograd.Function`
whose forward calls ``kernels.forward`` and whose backward calls ``grad_input``,
``grad_weight`` and ``grad_bias`` (only those autograd asks for).  `Conv(spec)` is the
matching `nn.Module` with PyTorch's default initialisation.

**Any batch size.**  Kernels are specialized for every size, the batch included, so
a batch of another size gets kernels of its own: generated once (or loaded from the
on-disk cache) the first time that size is met, then reused.  An epoch's smaller
last batch costs one compile per run, and nothing on later runs.
**No copies on the CPU.**  A contiguous CPU tensor is handed to the kernels as a
NumPy view of its memory, and the result comes back as a tensor over the kernel's
array.  **CUDA tensors** run the CUDA target's kernels (numba-cuda) on the device,
passed through ``__cuda_array_interface__`` without copies.

Everything but the batch is fixed by the spec; a tensor that does not fit raises a
`ValueError` naming the expected and the given shape *before* any kernel runs,
because inside a kernel a wrong shape would either fail without naming the argument
or read out of bounds.  **Derivatives of any order**: the backward runs the layer's
gradient kernels as autograd functions of their own, whose derivatives are the layer's
kernels again (double backward, Hessian-vector products, gradient penalties).  An
empty batch gives an empty output, as ``nn.Conv2d`` does.

This module is imported only on request (``import symconv.torch``); ``import
symconv`` never needs PyTorch.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable
from typing import Any

try:
    import torch
except ModuleNotFoundError as error:  # only a missing torch itself; a broken one propagates
    if error.name != "torch":
        raise
    raise ImportError("symconv.torch needs PyTorch: pip install torch==2.13.0") from error

import numpy as np
from torch import nn

from symconv.kinds import CONVOLUTION, TRANSPOSED, ConvSpec, kind_of
from symconv.pipeline import generate
from symconv.runtime import Kernels

__all__ = [
    "Conv",
    "ConvTranspose",
    "ConvFunction",
    "GradBias",
    "GradInput",
    "GradWeight",
    "KernelSet",
    "function",
]

ConvCallable = Callable[..., torch.Tensor]

_TORCH_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


def torch_dtype(spec: ConvSpec) -> torch.dtype:
    """The torch dtype every tensor of `spec` must have."""
    return _TORCH_DTYPES[spec.dtype]


def check_tensor(
    name: str, value: object, shape: tuple[int, ...], spec: ConvSpec, any_batch: bool = False
) -> torch.Tensor:
    """Return `value` if it is a tensor of `shape` in the spec's dtype, else raise ValueError.

    With `any_batch` the first axis may have any length, 0 included.  Checked on the
    tensor (not later on the NumPy view) so the message speaks of the caller's
    argument and mentions the layer it was meant for.
    """
    if not isinstance(value, torch.Tensor):
        raise ValueError(
            f"{name} is a {type(value).__name__}, expected a torch.Tensor of shape {shape} "
            f"for {spec.label}"
        )
    given = tuple(value.shape)
    fits = given[1:] == shape[1:] and len(given) == len(shape)
    if not (fits if any_batch else given == shape):
        expected = (
            f"(N, {', '.join(map(str, shape[1:]))}) for any batch N" if any_batch else str(shape)
        )
        raise ValueError(
            f"{name} has shape {given}, expected {expected} for {spec.label}"
            + ("" if any_batch else " (a generated layer accepts exactly the shapes of its spec)")
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
    """A C-contiguous CPU array the kernels' checks accept: a view when the tensor is one."""
    array = value.detach().cpu().resolve_conj().resolve_neg().contiguous().numpy()
    return np.ascontiguousarray(array)


def to_kernel(value: torch.Tensor) -> Any:
    """What a kernel takes: a NumPy view on the CPU, the contiguous tensor itself on CUDA
    (read by the CUDA target through ``__cuda_array_interface__``, no copy)."""
    if value.device.type == "cuda":
        return value.detach().resolve_conj().resolve_neg().contiguous()
    return to_numpy(value)


def from_kernel(result: Any, like: torch.Tensor) -> torch.Tensor:
    """A kernel's result as a tensor on the device of `like` (no copy on either)."""
    if like.device.type == "cuda":
        return torch.as_tensor(result, device=like.device)
    return torch.from_numpy(result)


class KernelSet:
    """The layer's kernels per (device type, batch size), made on first use.

    Kernels are specialized for the batch too, so each batch size met gets its own
    set: from the on-disk cache when an earlier run generated it, else generated and
    compiled now (about a second per kernel).  CUDA tensors get the CUDA target's.
    """

    def __init__(self, spec: ConvSpec, kernels: Kernels | None = None) -> None:
        self.spec = spec
        self._sets: dict[tuple[str, int], Kernels] = {}
        self._lock = threading.Lock()
        if kernels is not None:
            self._sets["cpu", spec.batch] = kernels

    def get(self, batch: int, device: str) -> Kernels:
        key = (device, batch)
        with self._lock:
            if key not in self._sets:
                spec = dataclasses.replace(self.spec, batch=batch)
                self._sets[key] = generate(spec, target="cuda" if device == "cuda" else None)
            return self._sets[key]

    @property
    def batches(self) -> tuple[tuple[str, int], ...]:
        """(device type, batch size) of every kernel set made so far."""
        return tuple(self._sets)


class ConvFunction(torch.autograd.Function):
    """y = conv(x, w) (+ b) with the generated kernels; use through `function(spec)`.

    Its backward is made of the layer's other kernels, each an autograd function of its
    own (`GradInput`, `GradWeight`), so derivatives of any order flow: the gradients of
    a convolution are convolutions of the same layer again.
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        kernel_set: KernelSet,
        x: torch.Tensor,
        w: torch.Tensor,
        b: torch.Tensor | None,
    ) -> torch.Tensor:
        ctx.kernel_set = kernel_set
        ctx.has_bias = b is not None
        # save_for_backward (not NumPy views) so autograd's version counter catches an
        # in-place change of x or w between forward and backward.
        ctx.save_for_backward(x, w)
        spec = kernel_set.spec
        if x.shape[0] == 0:  # an empty batch: nothing to compute, as nn.Conv*d
            return x.new_zeros((0, *spec.output_shape[1:]))
        kernels = kernel_set.get(x.shape[0], x.device.type)
        if b is None and spec.bias:  # a gradient's own convolution has no bias
            b = w.new_zeros(spec.bias_shape)
        y = kernels.forward(to_kernel(x), to_kernel(w), None if b is None else to_kernel(b))
        return from_kernel(y, x)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, gy: torch.Tensor
    ) -> tuple[None, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        kernel_set: KernelSet = ctx.kernel_set
        x, w = ctx.saved_tensors
        _, need_x, need_w, need_b = ctx.needs_input_grad
        gx = GradInput.apply(kernel_set, gy, w) if need_x else None
        gw = GradWeight.apply(kernel_set, x, gy) if need_w else None
        gb = GradBias.apply(kernel_set, gy) if (need_b and ctx.has_bias) else None
        return None, gx, gw, gb


class GradInput(torch.autograd.Function):
    """dL/dX = grad_input(dL/dO, w), itself differentiable: its derivative by dL/dO is the
    forward convolution, and by w the weight gradient (the adjoint identities of a linear
    map: <u, grad_input(g, w)> = <conv(u, w), g> = <grad_weight(u, g), w>)."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        kernel_set: KernelSet,
        gy: torch.Tensor,
        w: torch.Tensor,
    ) -> torch.Tensor:
        ctx.kernel_set = kernel_set
        ctx.save_for_backward(gy, w)
        spec = kernel_set.spec
        if gy.shape[0] == 0:
            return gy.new_zeros((0, *spec.input_shape[1:]))
        kernels = kernel_set.get(gy.shape[0], gy.device.type)
        g = to_kernel(check_tensor("grad_output", gy, spec.output_shape, spec, any_batch=True))
        return from_kernel(kernels.grad_input(g, to_kernel(w)), gy)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, ggx: torch.Tensor
    ) -> tuple[None, torch.Tensor | None, torch.Tensor | None]:
        gy, w = ctx.saved_tensors
        _, need_gy, need_w = ctx.needs_input_grad
        kernel_set = ctx.kernel_set
        d_gy = ConvFunction.apply(kernel_set, ggx, w, None) if need_gy else None
        d_w = GradWeight.apply(kernel_set, ggx, gy) if need_w else None
        return None, d_gy, d_w


class GradWeight(torch.autograd.Function):
    """dL/dF = grad_weight(x, dL/dO), itself differentiable: by x it is the input gradient
    of the incoming weight gradient, by dL/dO the forward convolution with it."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        kernel_set: KernelSet,
        x: torch.Tensor,
        gy: torch.Tensor,
    ) -> torch.Tensor:
        ctx.kernel_set = kernel_set
        ctx.save_for_backward(x, gy)
        spec = kernel_set.spec
        if x.shape[0] == 0:
            return x.new_zeros(spec.weight_shape)
        kernels = kernel_set.get(x.shape[0], x.device.type)
        g = to_kernel(check_tensor("grad_output", gy, spec.output_shape, spec, any_batch=True))
        return from_kernel(kernels.grad_weight(to_kernel(x), g), gy)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, ggw: torch.Tensor
    ) -> tuple[None, torch.Tensor | None, torch.Tensor | None]:
        x, gy = ctx.saved_tensors
        _, need_x, need_gy = ctx.needs_input_grad
        kernel_set = ctx.kernel_set
        d_x = GradInput.apply(kernel_set, gy, ggw) if need_x else None
        d_gy = ConvFunction.apply(kernel_set, x, ggw, None) if need_gy else None
        return None, d_x, d_gy


class GradBias(torch.autograd.Function):
    """dL/db = grad_bias(dL/dO), dL/dO summed per channel; its derivative spreads the incoming
    gradient of each channel back over that channel's every image and position."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, kernel_set: KernelSet, gy: torch.Tensor
    ) -> torch.Tensor:
        ctx.shape = gy.shape
        spec = kernel_set.spec
        if gy.shape[0] == 0:
            return gy.new_zeros(spec.bias_shape)
        kernels = kernel_set.get(gy.shape[0], gy.device.type)
        g = to_kernel(check_tensor("grad_output", gy, spec.output_shape, spec, any_batch=True))
        return from_kernel(kernels.grad_bias(g), gy)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, ggb: torch.Tensor
    ) -> tuple[None, torch.Tensor]:
        spread = ggb.reshape(1, -1, *([1] * (len(ctx.shape) - 2)))
        return None, spread.expand(ctx.shape)


def function(spec: ConvSpec, kernels: Kernels | None = None) -> ConvCallable:
    """A differentiable ``(x, w, b) -> y`` on torch tensors for the layer `spec` (``(x, w)``
    for a layer without bias: b is required exactly when ``spec.bias``).

    `x` may have any batch size (see `KernelSet`); the kernels of ``spec.batch`` are
    generated (or loaded from the cache) here, once.  Pass `kernels` to reuse ones you
    already have.
    """
    if kind_of(spec) not in (CONVOLUTION, TRANSPOSED):
        given = type(spec).__name__
        raise TypeError(f"spec must be a ConvSpec or a ConvTransposeSpec, not {given}")
    if kernels is None:
        kernels = generate(spec)
    elif kernels.spec != spec:
        raise ValueError(f"kernels were generated for {kernels.spec.label}, not {spec.label}")
    kernel_set = KernelSet(spec, kernels)

    def conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        check_tensor("x", x, spec.input_shape, spec, any_batch=True)
        check_tensor("w", w, spec.weight_shape, spec)
        if spec.bias:
            if b is None:
                raise ValueError(f"b is required: {spec.label} has bias=True")
            check_tensor("b", b, spec.bias_shape, spec)
        elif b is not None:
            raise ValueError(f"b was given, but {spec.label} has bias=False")
        for name, tensor in (("w", w), ("b", b)):
            if tensor is not None and tensor.device != x.device:
                raise ValueError(f"{name} is on {tensor.device}, x on {x.device}: move one")
        return ConvFunction.apply(kernel_set, x, w, b)

    conv.__name__ = f"conv_{spec.label}"
    conv.__doc__ = f"Differentiable {spec.describe()}."
    conv.spec = spec  # type: ignore[attr-defined]
    conv.kernels = kernels  # type: ignore[attr-defined]
    conv.kernel_set = kernel_set  # type: ignore[attr-defined]
    return conv


class Conv(nn.Module):
    """A fixed-shape convolution layer whose forward and backward run generated kernels.

    `weight` (and `bias` when ``spec.bias``) are `nn.Parameter`s in the spec's dtype,
    initialised as `nn.Conv2d` does (Kaiming-uniform with a=sqrt(5), bias uniform in
    ±1/sqrt(fan_in)), so swapping an `nn.Conv*d` for `Conv` keeps training behaviour.
    The input may have any batch size; everything else is ``spec.input_shape``.
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
        """PyTorch's `_ConvNd.reset_parameters`, so initial weights match `nn.Conv2d` (and
        `nn.ConvTranspose2d`: the fan-in is read off the weight's own layout, as there)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.weight.shape[2:])
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return self.spec.describe()


class ConvTranspose(Conv):
    """A fixed-shape transposed convolution (`nn.ConvTranspose*d`) on generated kernels.

    `spec` is a `ConvTransposeSpec`; the weight is (C_in, C_out / groups, *kernel) and is
    initialised as `nn.ConvTranspose2d` does.  Forward runs the convolution's dL/dX
    kernel, backward its forward and dL/dF kernels (see `symconv.kinds.transposed`).
    """

    def __init__(self, spec, kernels: Kernels | None = None) -> None:
        if kind_of(spec) is not TRANSPOSED:
            raise TypeError(f"spec must be a ConvTransposeSpec, not {type(spec).__name__}")
        super().__init__(spec, kernels)
