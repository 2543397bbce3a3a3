"""`Kernels`: the compiled functions of one layer, behind argument checks.

Numba dispatches on argument types: a float64 array passed to a float32 kernel, a
transposed view or an array of the wrong shape would either fail with a typing error
that names no argument or, with bounds checks off, read out of bounds.  Every call
therefore checks each argument first (the target's `check`: shape, dtype, layout)
and raises a `ValueError` that names the argument, what was expected and what was
given.  Which kernels a layer has, and what each takes, comes from its kind's
signatures (`symconv.kinds`), so one class serves every kind.  ``out=`` hands the
target an array to write the result into; the target checks it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from symconv.formatting import fmt_shape
from symconv.kinds import KernelSignature, kind_of

#: (name, value, shape, dtype) -> the value the compiled function accepts, or ValueError.
Check = Callable[[str, object, tuple[int, ...], str], Any]


class Kernel:
    """One compiled kernel: checks its arguments, then calls the compiled function."""

    def __init__(
        self, layer: Kernels, signature: KernelSignature, function: Callable, check: Check
    ) -> None:
        self._layer = layer
        self.signature = signature
        self._function = function
        self._check = check
        compiled = getattr(function, "py_func", function)
        self._takes = tuple(inspect.signature(compiled).parameters)
        self._positional = self._positional_plan()
        self.__doc__ = signature.summary
        self.__name__ = signature.name

    def _positional_plan(self) -> tuple[tuple[int, str, tuple[int, ...]], ...] | None:
        """For the common call, every tensor given by position and every absent one left
        off the end: (argument index, name, shape) in the compiled function's order.  None
        when the absent tensors are not all last (each call then takes the general path)."""
        params, passed = self.signature.params, self.signature.passed
        if params[: len(passed)] != passed or set(self._takes) != set(passed):
            return None
        shapes = self._layer.shapes
        return tuple((params.index(name), name, shapes[name]) for name in self._takes)

    def __call__(self, *args: object, out: object = None) -> Any:
        """The kernel's result for `args`, written into `out` when given (and returned)."""
        plan = self._positional
        if plan is not None and len(args) == len(plan):
            # the lecture's layer: the general path's bookkeeping took 1.5 of its 3.4 µs
            dtype, check = self._layer.spec.dtype, self._check
            try:
                arguments = [check(name, args[index], shape, dtype) for index, name, shape in plan]
            except ValueError:  # a None is a missing tensor: the general path's message says so
                arguments = self._checked_by_name(args)
        else:
            arguments = self._checked_by_name(args)
        if out is None:
            return self._function(*arguments)
        return self._function(*arguments, out=out)

    def _checked_by_name(self, args: tuple[object, ...]) -> list[Any]:
        """Every argument checked, an absent tensor given or a required one missing refused."""
        spec, signature = self._layer.spec, self.signature
        if len(args) > len(signature.params):
            raise ValueError(
                f"{signature.name} takes {len(signature.params)} arguments "
                f"({', '.join(signature.params)}), {len(args)} were given"
            )
        shapes = self._layer.shapes
        given = dict(zip(signature.params, args))
        checked = {}
        for name in signature.params:
            value = given.get(name)
            if name in signature.absent:
                if value is not None:
                    why = signature.absent_because or f"{spec.label} has no {name}"
                    raise ValueError(f"{name} was given, but {why}")
                continue
            if value is None:
                raise ValueError(
                    f"{name} is required: {signature.name} takes ({', '.join(signature.passed)})"
                )
            checked[name] = self._check(name, value, shapes[name], spec.dtype)
        return [checked[name] for name in self._takes]

    def check(self, name: str, value: object, shape: tuple[int, ...]) -> Any:
        """`value` as this kernel's target accepts an argument called `name` of `shape`
        (in the layer's dtype), or a ValueError naming it: for wrappers that rename."""
        return self._check(name, value, shape, self._layer.spec.dtype)

    def call_checked(self, arguments: dict[str, Any], out: object = None) -> Any:
        """The compiled function on arguments `check` already returned, by this kernel's
        parameter names: a wrapper that checked them under its own names calls this, so
        nothing is checked (or copied to a device) twice."""
        ordered = (arguments[name] for name in self._takes)
        if out is None:
            return self._function(*ordered)
        return self._function(*ordered, out=out)

    def __repr__(self) -> str:
        return f"<kernel {self.signature.name}({', '.join(self.signature.params)})>"


class Kernels:
    """The kernels of one layer, compiled for its shapes: ``kernels.forward(x, w, b)``, ...

    Attributes are the layer's kernels (`kernel_names`): forward, grad_input,
    grad_weight, grad_bias for a convolution with a bias; forward, grad_input for
    pooling.
    """

    def __init__(
        self,
        spec: Any,
        module: ModuleType,
        path: Path,
        check: Check,
        functions: dict[str, Callable] | None = None,
        channels: Any = None,
    ) -> None:
        """`functions` replaces a module's function by name (a target's call wrapper);
        `channels` is the target's per-channel arithmetic (`HostChannels`,
        `DeviceChannels`), for kinds whose bias is not in the generated module."""
        if getattr(module, "SPEC_KEY", None) != spec.key:
            raise ValueError(
                f"{path} was generated for spec key {getattr(module, 'SPEC_KEY', None)}, "
                f"expected {spec.key} ({spec.label})"
            )
        self._spec = spec
        self._shapes = kind_of(spec).tensor_shapes(spec)  # once: a call only looks them up
        self._module = module
        self._path = Path(path)
        self._channels = channels
        replaced = functions or {}
        self._kernels = {
            s.name: Kernel(self, s, replaced.get(s.name) or getattr(module, s.name), check)
            for s in kind_of(spec).signatures(spec)
        }

    @property
    def spec(self) -> Any:
        return self._spec

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor's shape by name (x, w, b, y, gy, ...), for the argument checks."""
        return self._shapes

    @property
    def path(self) -> Path:
        """The generated source file the kernels were compiled from."""
        return self._path

    @property
    def module(self) -> ModuleType:
        return self._module

    @property
    def channels(self) -> Any:
        """The target's per-channel arithmetic on its own arrays (add a bias, sum per channel)."""
        if self._channels is None:
            raise ValueError(f"the target of {self._path} has no per-channel arithmetic")
        return self._channels

    @property
    def algorithms(self) -> dict[str, str]:
        """The algorithm each kernel was lowered with, by kernel name."""
        return dict(getattr(self._module, "ALGORITHMS", {}))

    @property
    def threads(self) -> dict[str, int]:
        """The threads each kernel runs on: 1 without threads, 0 as many as there are, or N."""
        return dict(getattr(self._module, "THREADS", {}))

    @property
    def kernel_names(self) -> tuple[str, ...]:
        return tuple(self._kernels)

    def __getattr__(self, name: str) -> Kernel:
        kernels = self.__dict__.get("_kernels", {})
        if name in kernels:
            return kernels[name]
        if name.startswith("_") or "_spec" not in self.__dict__:
            raise AttributeError(name)
        raise AttributeError(
            f"{self._spec.label} has no kernel {name!r}; it has {', '.join(kernels)}"
        )

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._kernels))

    def __repr__(self) -> str:
        return (
            f"Kernels({self._spec.label}, {self._spec.dtype}, "
            f"{fmt_shape(self._spec.input_shape)} -> {fmt_shape(self._spec.output_shape)}, "
            f"path={str(self._path)!r})"
        )
