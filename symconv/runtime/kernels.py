"""`Kernels` and `PoolKernels`: the compiled functions of one layer, behind argument checks.

Numba dispatches on argument types: a float64 array passed to a float32 kernel, a
transposed view or an array of the wrong shape would either fail with a typing error
that names no argument or, with bounds checks off, read out of bounds.  Every call
therefore checks shape, dtype, C-contiguity, alignment and writeability first and
raises a `ValueError` that names the argument, what was expected and what was given.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np

from symconv.pool_spec import PoolSpec
from symconv.spec import ConvSpec, fmt_shape


def check_array(name: str, value: object, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Return `value` if a compiled kernel accepts it as `name`, else raise ValueError."""
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name} is a {type(value).__name__}, expected a numpy.ndarray")
    if value.shape != shape:
        raise ValueError(f"{name} has shape {value.shape}, expected {shape}")
    if value.dtype != np.dtype(dtype):
        raise ValueError(f"{name} has dtype {value.dtype}, expected {dtype}")
    if not value.flags.c_contiguous:
        raise ValueError(
            f"{name} is not C-contiguous (strides {value.strides}), expected a C-contiguous "
            f"array: pass np.ascontiguousarray({name})"
        )
    if not value.flags.aligned:
        raise ValueError(f"{name} is not aligned, expected an aligned array: pass {name}.copy()")
    if not value.flags.writeable:
        raise ValueError(f"{name} is read-only, expected a writeable array: pass {name}.copy()")
    return value


class _CompiledLayer:
    """A generated module for one spec: where it came from, and the argument check."""

    def __init__(self, spec: ConvSpec | PoolSpec, module: ModuleType, path: Path) -> None:
        if getattr(module, "SPEC_KEY", None) != spec.key:
            raise ValueError(
                f"{path} was generated for spec key {getattr(module, 'SPEC_KEY', None)}, "
                f"expected {spec.key} ({spec.label})"
            )
        self._spec = spec
        self._module = module
        self._path = Path(path)

    @property
    def path(self) -> Path:
        """The generated source file the kernels were compiled from."""
        return self._path

    @property
    def module(self) -> ModuleType:
        return self._module

    def _check(self, name: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
        return check_array(name, value, shape, self._spec.dtype)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self._spec.label}, {self._spec.dtype}, "
            f"{fmt_shape(self._spec.input_shape)} -> {fmt_shape(self._spec.output_shape)}, "
            f"path={str(self._path)!r})"
        )


class Kernels(_CompiledLayer):
    """forward / grad_input / grad_weight / grad_bias of one layer, compiled for its shapes."""

    _spec: ConvSpec

    def __init__(self, spec: ConvSpec, module: ModuleType, path: Path) -> None:
        super().__init__(spec, module, path)

    @property
    def spec(self) -> ConvSpec:
        return self._spec

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        """y of shape spec.output_shape; `b` is required exactly when the spec has a bias."""
        spec = self._spec
        x = self._check("x", x, spec.input_shape)
        w = self._check("w", w, spec.weight_shape)
        if spec.bias:
            if b is None:
                raise ValueError("b is required: the spec has bias=True")
            return self._module.forward(x, w, self._check("b", b, spec.bias_shape))
        if b is not None:
            raise ValueError("b was given, but the spec has bias=False")
        return self._module.forward(x, w)

    def grad_input(self, gy: np.ndarray, w: np.ndarray) -> np.ndarray:
        """dL/dx of shape spec.input_shape from dL/dy."""
        spec = self._spec
        gy = self._check("gy", gy, spec.output_shape)
        return self._module.grad_input(gy, self._check("w", w, spec.weight_shape))

    def grad_weight(self, x: np.ndarray, gy: np.ndarray) -> np.ndarray:
        """dL/dw of shape spec.weight_shape."""
        spec = self._spec
        x = self._check("x", x, spec.input_shape)
        return self._module.grad_weight(x, self._check("gy", gy, spec.output_shape))

    def grad_bias(self, gy: np.ndarray) -> np.ndarray:
        """dL/db of shape spec.bias_shape; only layers with a bias have it."""
        if not self._spec.bias:
            raise ValueError("grad_bias needs a bias, but the spec has bias=False")
        return self._module.grad_bias(self._check("gy", gy, self._spec.output_shape))


class PoolKernels(_CompiledLayer):
    """forward / grad_input of one pooling layer, compiled for its shapes."""

    _spec: PoolSpec

    def __init__(self, spec: PoolSpec, module: ModuleType, path: Path) -> None:
        super().__init__(spec, module, path)

    @property
    def spec(self) -> PoolSpec:
        return self._spec

    def forward(self, x: np.ndarray) -> np.ndarray:
        """y of shape spec.output_shape: each window's max or mean."""
        return self._module.forward(self._check("x", x, self._spec.input_shape))

    def grad_input(self, gy: np.ndarray, x: np.ndarray) -> np.ndarray:
        """dL/dx of shape spec.input_shape from dL/dy and the forward pass's input x.

        x is checked for both kinds, so one call fits either; only max pooling reads
        it (the maxima decide where the gradient goes), average pooling's kernel
        takes gy alone.
        """
        spec = self._spec
        gy = self._check("gy", gy, spec.output_shape)
        x = self._check("x", x, spec.input_shape)
        if spec.kind == "max":
            return self._module.grad_input(gy, x)
        return self._module.grad_input(gy)
