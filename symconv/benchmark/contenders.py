"""What the benchmark times for one layer and operation: generated, PyTorch, NumPy.

Each contender is a zero-argument callable over inputs made once, so the timed call
is the operation alone.  PyTorch's gradients come from
``torch.ops.aten.convolution_backward`` with one output enabled, the call autograd
itself makes, so each gradient is timed on its own as our kernels are.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import symconv.reference as reference
from symconv.kinds import TOLERANCES, TRANSPOSED, ConvSpec, kind_of, relative_error
from symconv.kinds.transposed import oracles as transposed
from symconv.runtime import Kernels

OPERATIONS = ("forward", "grad_input", "grad_weight")
Call = Callable[[], object]


@dataclass(frozen=True)
class Inputs:
    """Random x, w, b, dL/dy of the layer's shapes and dtype (seeded: runs compare)."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    gy: np.ndarray

    @classmethod
    def random(cls, spec: ConvSpec, seed: int = 0) -> Inputs:
        rng = np.random.default_rng(seed)

        def draw(shape: tuple[int, ...]) -> np.ndarray:
            return rng.standard_normal(shape).astype(spec.dtype)

        bias = draw(spec.bias_shape) if spec.bias else None
        return cls(draw(spec.input_shape), draw(spec.weight_shape), bias, draw(spec.output_shape))


def flops(spec: ConvSpec) -> int:
    """Floating-point operations of each of forward, grad_input, grad_weight: 2 per multiply-add.

    The same count for all three (each is one multiply-add per (output, tap, channel)
    triple), so GFLOP/s compare across operations; zeros a kernel skips still count.
    """
    return 2 * spec.multiply_adds


def generated_calls(kernels: Kernels, data: Inputs) -> dict[str, Call]:
    args = (data.x, data.w) + ((data.b,) if data.b is not None else ())
    return {
        "forward": lambda: kernels.forward(*args),
        "grad_input": lambda: kernels.grad_input(data.gy, data.w),
        "grad_weight": lambda: kernels.grad_weight(data.x, data.gy),
    }


def numpy_calls(spec: ConvSpec, data: Inputs) -> dict[str, Call]:
    if kind_of(spec) is TRANSPOSED:
        return {
            "forward": lambda: transposed.forward(spec, data.x, data.w, data.b),
            "grad_input": lambda: transposed.grad_input(spec, data.gy, data.w),
            "grad_weight": lambda: transposed.grad_weight(spec, data.x, data.gy),
        }
    return {
        "forward": lambda: reference.forward(spec, data.x, data.w, data.b),
        "grad_input": lambda: reference.grad_input(spec, data.gy, data.w),
        "grad_weight": lambda: reference.grad_weight(spec, data.x, data.gy),
    }


def torch_calls(spec: ConvSpec, data: Inputs, device: str = "cpu") -> dict[str, Call]:
    """PyTorch's convolution on the same arrays (shared memory on the CPU, no copies timed).

    Asymmetric padding has no torch argument: the input is padded with ``F.pad``
    inside every timed call and dL/dx cropped back, as a user would have to.  In
    "convolution" mode torch is given the flipped kernel, so its dL/dw is flipped back.
    `device` "cuda" puts the tensors on the GPU once, before any call.
    """
    import torch
    import torch.nn.functional as F

    if kind_of(spec) is TRANSPOSED:
        return transposed_torch_calls(spec, data, device)
    x, w, gy = (torch.from_numpy(a).to(device) for a in (data.x, data.w, data.gy))
    b = torch.from_numpy(data.b).to(device) if data.b is not None else None
    spatial = tuple(range(2, 2 + spec.rank))
    if spec.flips_kernel:
        w = torch.flip(w, dims=spatial).contiguous()
    symmetric = all(lo == hi for lo, hi in spec.padding)
    padding = [lo for lo, _ in spec.padding] if symmetric else [0] * spec.rank
    pad_args = [p for lo, hi in reversed(spec.padding) for p in (lo, hi)]
    conv = getattr(F, f"conv{spec.rank}d")
    common = dict(stride=list(spec.stride), dilation=list(spec.dilation), groups=spec.groups)
    bias_sizes = [spec.out_channels] if spec.bias else None

    def padded(t: torch.Tensor) -> torch.Tensor:
        return t if symmetric else F.pad(t, pad_args)

    def backward(mask: list[bool]) -> object:
        xp = padded(x)
        return torch.ops.aten.convolution_backward(
            gy,
            xp,
            w,
            bias_sizes,
            list(spec.stride),
            padding,
            list(spec.dilation),
            False,
            [0] * spec.rank,
            spec.groups,
            mask,
        )

    crop = (slice(None), slice(None)) + tuple(
        slice(lo, lo + size) for (lo, _), size in zip(spec.padding, spec.input_size)
    )

    def grad_input() -> object:
        gx = backward([True, False, False])[0]
        return gx if symmetric else gx[crop]

    def grad_weight() -> object:
        # torch differentiates w.r.t. the flipped kernel it was given: flip back.
        gw = backward([False, True, False])[1]
        return torch.flip(gw, dims=spatial) if spec.flips_kernel else gw

    return {
        "forward": lambda: conv(padded(x), w, b, padding=padding, **common),
        "grad_input": grad_input,
        "grad_weight": grad_weight,
    }


def transposed_torch_calls(spec, data: Inputs, device: str = "cpu") -> dict[str, Call]:
    """PyTorch's transposed convolution: ``conv_transposeNd`` forward, and its gradients from
    ``aten.convolution_backward`` with ``transposed=True`` (the call autograd makes)."""
    import torch
    import torch.nn.functional as F

    x, w, gy = (torch.from_numpy(a).to(device) for a in (data.x, data.w, data.gy))
    b = torch.from_numpy(data.b).to(device) if data.b is not None else None
    transpose = getattr(F, f"conv_transpose{spec.rank}d")
    bias_sizes = [spec.out_channels] if spec.bias else None

    def backward(mask: list[bool]) -> object:
        return torch.ops.aten.convolution_backward(
            gy, x, w, bias_sizes, list(spec.stride), list(spec.padding), list(spec.dilation),
            True, list(spec.output_padding), spec.groups, mask,
        )  # fmt: skip

    def forward() -> object:
        return transpose(x, w, b, stride=spec.stride, padding=spec.padding,
                         output_padding=spec.output_padding, groups=spec.groups,
                         dilation=spec.dilation)  # fmt: skip

    return {
        "forward": forward,
        "grad_input": lambda: backward([True, False, False])[0],
        "grad_weight": lambda: backward([False, True, False])[1],
    }


def check_agreement(name: str, got: np.ndarray, expected: np.ndarray, dtype: str) -> None:
    """Refuse to time a contender whose answer is wrong: a fast wrong kernel is no result."""
    got = np.asarray(got, dtype=np.float64)
    if got.shape != expected.shape:  # broadcasting would hide a wrong shape
        raise RuntimeError(f"{name} has shape {got.shape}, the NumPy reference {expected.shape}")
    _, error = relative_error(got, expected)
    if not math.isfinite(error) or error > TOLERANCES[dtype]:
        raise RuntimeError(
            f"{name} differs from the NumPy reference by {error:.2e} > {TOLERANCES[dtype]}"
        )
