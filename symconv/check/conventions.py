"""How someone's convolution is called: the conventions `symconv check` knows.

A convention turns a layer and its arrays into one call of the user's function, and
the result back into a NumPy array.  It also says which layers the function can be
asked about at all: PyTorch's functions take one symmetric padding per dimension and
only correlate; a NumPy function that has no ``dilation`` parameter cannot be asked
about dilated layers.  The user's function runs here, in the user's process; nothing
of it is ever pasted into generated code.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from symconv.kinds import ConvSpec, ConvTransposeSpec

#: The three functions a convolution implementation may provide, in report order.
KERNELS: tuple[str, ...] = ("forward", "grad_input", "grad_weight")

#: What each kernel returns, as the report names it.
RESULT_NAMES = {"forward": "O", "grad_input": "∂L/∂X", "grad_weight": "∂L/∂F"}

UserFunction = Callable[..., Any]


@dataclass(frozen=True)
class Limits:
    """The layers a function can be asked about; `refusal` says why one is out."""

    ranks: tuple[int, ...] = (1, 2, 3)
    stride: bool = True
    padding: bool = True
    asymmetric_padding: bool = True
    dilation: bool = True
    groups: bool = True
    convolution_mode: bool = True
    bias: bool = True
    batch: bool = True

    def refusal(self, spec: ConvSpec) -> str | None:
        """None when `spec` is expressible, else the reason it is not."""
        reasons = (
            (spec.rank not in self.ranks, f"rank {spec.rank}: not among the ranks asked"),
            (not self.stride and max(spec.stride) > 1, "strided: no stride parameter"),
            (
                not self.padding and any(lo or hi for lo, hi in spec.padding),
                "padded: no padding parameter",
            ),
            (
                not self.asymmetric_padding and any(lo != hi for lo, hi in spec.padding),
                "the convention pads both sides alike",
            ),
            (not self.dilation and max(spec.dilation) > 1, "dilated: no dilation parameter"),
            (not self.groups and spec.groups > 1, "grouped: no groups parameter"),
            (not self.convolution_mode and spec.flips_kernel, "cross-correlation only"),
            (not self.batch and spec.batch > 1, "one image at a time"),
        )
        for refused, reason in reasons:
            if refused:
                return reason
        return None

    def meet(self, other: Limits) -> Limits:
        """What both allow: the layers on which every checked function can be called."""
        values = {}
        for field in dataclasses.fields(self):
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            if field.name == "ranks":
                values["ranks"] = tuple(r for r in mine if r in theirs)
            else:
                values[field.name] = mine and theirs
        return Limits(**values)


def _signature(function: UserFunction) -> inspect.Signature | None:
    """The signature, or None for builtins that have none (PyTorch's own convNd)."""
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Call:
    """One call of a user's function: its arguments, and the arrays among them by name (to
    see afterwards whether the function changed them)."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    given: dict[str, Any]


def as_numpy(value: Any) -> np.ndarray:
    """A tensor (detached, on the CPU) or an array as a NumPy array, its dtype kept."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":  # NumPy has no bfloat16
            return np.asarray(value.float().numpy(), dtype=np.float16)
        return value.numpy()
    return np.asarray(value)


class Convention:
    """Base: the name, the limits of one function, and the call."""

    name: str = ""
    summary: str = ""

    def limits(self, kernel: str, function: UserFunction) -> Limits:
        raise NotImplementedError

    def arguments(
        self, kernel: str, function: UserFunction, spec: ConvSpec, arrays: dict[str, np.ndarray]
    ) -> Call:
        """How `function` is called for `kernel` on `spec`: copies of the arrays, never the
        check's own (a function that changes its inputs must not change the next call's)."""
        raise NotImplementedError


# ----- PyTorch's functional convention -----------------------------------------------
_TORCH_CALLS = {
    "forward": "f(x, w, b, stride, padding, dilation, groups) as torch.nn.functional.convNd",
    "grad_input": "f(input_size, w, gy, stride, padding, dilation, groups) "
    "as torch.nn.grad.convNd_input",
    "grad_weight": "f(x, weight_size, gy, stride, padding, dilation, groups) "
    "as torch.nn.grad.convNd_weight",
}


class TorchConvention(Convention):
    """``torch.nn.functional.convNd`` and ``torch.nn.grad.convNd_input/_weight``.

    With `tensors` the arrays arrive as torch tensors (PyTorch must be installed);
    without, as NumPy arrays in the same positions, for a NumPy function written to
    PyTorch's signature.  Padding is one int per dimension (PyTorch pads both sides
    alike) and the layer is a cross-correlation.
    """

    def __init__(self, tensors: bool) -> None:
        self.tensors = tensors
        self.name = "torch" if tensors else "torch-numpy"
        self.summary = "PyTorch's functional signatures, " + (
            "torch tensors in and out" if tensors else "NumPy arrays in and out"
        )

    def limits(self, kernel: str, function: UserFunction) -> Limits:
        return _torch_limits(function, 7, _TORCH_CALLS[kernel], self.tensors)

    def arguments(
        self, kernel: str, function: UserFunction, spec: ConvSpec, arrays: dict[str, np.ndarray]
    ) -> Call:
        wrap = _tensor if self.tensors else np.array
        hyper = (
            spec.stride,
            tuple(lo for lo, _ in spec.padding),
            spec.dilation,
            spec.groups,
        )
        given = {name: wrap(arrays[name]) for name in _TORCH_ARRAYS[kernel] if name in arrays}
        if kernel == "forward":
            args = (given["x"], given["w"], given.get("b"))
        elif kernel == "grad_input":
            args = (list(spec.input_shape), given["w"], given["gy"])
        else:
            args = (given["x"], list(spec.weight_shape), given["gy"])
        return Call((*args, *hyper), {}, given)


#: The arrays each kernel hands over in PyTorch's convention.
_TORCH_ARRAYS = {"forward": ("x", "w", "b"), "grad_input": ("w", "gy"), "grad_weight": ("x", "gy")}


def _torch_limits(function: UserFunction, count: int, call: str, tensors: bool) -> Limits:
    """PyTorch's functional conventions: `function` must take `count` positional
    arguments (checked when its signature can be read), pads both sides alike, and only
    correlates."""
    signature = _signature(function)
    if signature is not None:
        try:
            signature.bind(*range(count))
        except TypeError as error:
            raise ValueError(
                f"{qualified_name(function)} cannot be called as {call}: {error}"
            ) from None
    if tensors:
        _import_torch()
    return Limits(asymmetric_padding=False, convolution_mode=False)


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ValueError(
            "--convention torch passes torch tensors, but PyTorch is not installed: "
            "pip install torch, or use --convention torch-numpy"
        ) from None
    return torch


def _tensor(array: np.ndarray) -> Any:
    return _import_torch().from_numpy(np.array(array))


# ----- NumPy functions that take the spec's fields by name ---------------------------
#: Positional array parameters of each kernel, in order.
_ARRAYS = {"forward": ("x", "w", "b"), "grad_input": ("gy", "w"), "grad_weight": ("x", "gy")}

#: ConvSpec fields a function may ask for by name, and the limit its absence implies.
_FIELD_LIMITS = {
    "stride": "stride",
    "padding": "padding",
    "dilation": "dilation",
    "groups": "groups",
    "mode": "convolution_mode",
}
_PLAIN_FIELDS = ("input_size", "kernel_size", "in_channels", "out_channels", "batch", "bias")


class NumpyConvention(Convention):
    """A NumPy function: arrays by position, then any ConvSpec field by keyword.

    forward(x, w[, b], ...), grad_input(gy, w, ...), grad_weight(x, gy, ...); arrays
    are (N, C, *spatial) and (C_out, C_in/groups, *kernel).  Keyword fields: stride,
    dilation, kernel_size and input_size as tuples (one int per dimension), padding as
    ``((lo, hi), ...)`` per dimension, groups, in_channels, out_channels, batch, bias
    (bool), mode ("cross-correlation" or "convolution").  A field the function does not
    take is held at its default (stride 1, no padding, ...), so the layers asked about
    stay within what it can do.
    """

    name = "numpy"
    summary = "NumPy arrays by position, ConvSpec fields by keyword"

    def limits(self, kernel: str, function: UserFunction) -> Limits:
        signature = _signature(function)
        if signature is None:
            raise ValueError(
                f"{qualified_name(function)} has no Python signature to read its fields from"
            )
        params = list(signature.parameters.values())
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        arrays = _ARRAYS[kernel]
        needed = 2
        if len(positional) < needed:
            raise ValueError(
                f"{qualified_name(function)} takes {len(positional)} positional arrays; the numpy "
                f"convention calls {kernel}({', '.join(arrays[:needed])}, ...)"
            )
        names = {p.name for p in params}
        for param in positional[needed:] + [p for p in params if p.kind is p.KEYWORD_ONLY]:
            known = param.name in _FIELD_LIMITS or param.name in _PLAIN_FIELDS
            if not known and not (kernel == "forward" and param.name == "b"):
                if param.default is param.empty:
                    raise ValueError(
                        f"parameter {param.name!r} of {qualified_name(function)} "
                        "is neither an array "
                        f"({', '.join(arrays)}) nor a ConvSpec field "
                        f"({', '.join((*_FIELD_LIMITS, *_PLAIN_FIELDS))})"
                    )
        allowed = {limit: takes_any or field in names for field, limit in _FIELD_LIMITS.items()}
        takes_bias = kernel != "forward" or takes_any or "b" in names
        return Limits(bias=takes_bias, **allowed)

    def arguments(
        self, kernel: str, function: UserFunction, spec: ConvSpec, arrays: dict[str, np.ndarray]
    ) -> Call:
        signature = _signature(function)
        assert signature is not None  # limits() refused it otherwise
        params = signature.parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        fields = _fields(spec)
        keywords = {k: v for k, v in fields.items() if takes_any or k in params}
        given = {name: arrays[name].copy() for name in _ARRAYS[kernel][:2]}
        if kernel == "forward" and "b" in arrays and (takes_any or "b" in params):
            given["b"] = keywords["b"] = arrays["b"].copy()
        positional = tuple(given[name] for name in _ARRAYS[kernel][:2])
        return Call(positional, keywords, given)


def _fields(spec: ConvSpec) -> dict[str, Any]:
    return {
        "input_size": spec.input_size,
        "kernel_size": spec.kernel_size,
        "in_channels": spec.in_channels,
        "out_channels": spec.out_channels,
        "batch": spec.batch,
        "bias": spec.bias,
        "stride": spec.stride,
        "padding": spec.padding,
        "dilation": spec.dilation,
        "groups": spec.groups,
        "mode": spec.mode,
    }


# ----- PyTorch's transposed convention ---------------------------------------------------
_TRANSPOSE_CALL = (
    "f(x, w, b, stride, padding, output_padding, groups, dilation) as "
    "torch.nn.functional.conv_transposeNd"
)


class TransposeConvention(Convention):
    """``torch.nn.functional.conv_transposeNd``, checked as the ∂L/∂X it is.

    A transposed convolution with stride s, padding p and output_padding a is the
    ∂L/∂X of the convolution with the same stride, padding and weight whose leftover is
    a; so the user's function is called as that convolution's ``grad_input``, fed its
    ∂L/∂O as x, and the search, the shrinking and the explained element are the
    convolution's ∂L/∂X.  Only ``grad_input`` takes a function in this convention.
    """

    def __init__(self, tensors: bool) -> None:
        self.tensors = tensors
        self.name = "torch-transpose" if tensors else "torch-transpose-numpy"
        self.summary = (
            "PyTorch's conv_transposeNd signature, "
            + ("torch tensors in and out" if tensors else "NumPy arrays in and out")
            + ", checked as the ∂L/∂X of the convolution it transposes"
        )

    def limits(self, kernel: str, function: UserFunction) -> Limits:
        if kernel != "grad_input":
            raise ValueError(
                f"--convention {self.name} checks a transposed convolution as a convolution's "
                "∂L/∂X: give it as --transposed (grad_input=), not as the forward or ∂L/∂F"
            )
        return _torch_limits(function, 8, _TRANSPOSE_CALL, self.tensors)

    def arguments(
        self, kernel: str, function: UserFunction, spec: ConvSpec, arrays: dict[str, np.ndarray]
    ) -> Call:
        wrap = _tensor if self.tensors else np.array
        given = {name: wrap(arrays[name]) for name in ("gy", "w")}
        hyper = (
            spec.stride,
            tuple(lo for lo, _ in spec.padding),
            spec.leftover,  # output_padding: the rows past the convolution's last window
            spec.groups,
            spec.dilation,
        )
        return Call((given["gy"], given["w"], None, *hyper), {}, given)

    @staticmethod
    def as_layer(spec: ConvSpec) -> ConvTransposeSpec:
        """The transposed layer the user's function computed on `spec`: the convolution
        turned round (its output is the input, its leftover the output_padding)."""
        return ConvTransposeSpec(
            input_size=spec.output_size, kernel_size=spec.kernel_size,
            in_channels=spec.out_channels, out_channels=spec.in_channels, batch=spec.batch,
            stride=spec.stride, padding=tuple(lo for lo, _ in spec.padding),
            output_padding=spec.leftover, dilation=spec.dilation, groups=spec.groups,
            dtype=spec.dtype,
        )  # fmt: skip


def qualified_name(function: UserFunction) -> str:
    module = getattr(function, "__module__", None) or "?"
    return f"{module}:{getattr(function, '__qualname__', repr(function))}"


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        TorchConvention(True),
        TorchConvention(False),
        NumpyConvention(),
        TransposeConvention(True),
        TransposeConvention(False),
    )
}


def convention(name: str) -> Convention:
    if name not in CONVENTIONS:
        raise ValueError(f"convention={name!r} must be one of {', '.join(CONVENTIONS)}")
    return CONVENTIONS[name]
