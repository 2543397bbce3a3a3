"""Run someone's functions on one layer and compare each result with the reference.

The data are multiples of 1/4 between -2 and 2 (never 0): every product and every
sum of a small layer is then exact in float32 and float64, so any difference from
the reference is a bug, not rounding, and the numbers in the printed equation stay
short enough to read.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

import numpy as np

from symconv import reference
from symconv.check.conventions import Convention, UserFunction
from symconv.kinds import TOLERANCES, ConvSpec, relative_error


@dataclass(frozen=True)
class Outcome:
    """One function on one layer: its error against the reference, and what it returned."""

    kernel: str
    spec: ConvSpec
    error: float
    arrays: dict[str, np.ndarray]
    want: np.ndarray
    got: np.ndarray | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.error <= TOLERANCES[self.spec.dtype]


def layer_arrays(spec: ConvSpec) -> dict[str, np.ndarray]:
    """x, w, gy (and b) for `spec`: exact quarters, the same for the same layer every time."""
    seed = zlib.crc32(json.dumps(spec.to_dict(), sort_keys=True).encode())
    rng = np.random.default_rng(seed)
    shapes = {"x": spec.input_shape, "w": spec.weight_shape, "gy": spec.output_shape}
    if spec.bias:
        shapes["b"] = spec.bias_shape
    arrays = {}
    for key, shape in shapes.items():
        quarters = rng.integers(1, 9, size=shape) * rng.choice((-1, 1), size=shape)
        arrays[key] = (quarters / 4).astype(spec.dtype)
    return arrays


def expected(kernel: str, spec: ConvSpec, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The reference's answer for `kernel`."""
    if kernel == "forward":
        return reference.forward(spec, arrays["x"], arrays["w"], arrays.get("b"))
    if kernel == "grad_input":
        return reference.grad_input(spec, arrays["gy"], arrays["w"])
    return reference.grad_weight(spec, arrays["x"], arrays["gy"])


def run_one(
    kernel: str,
    function: UserFunction,
    spec: ConvSpec,
    convention: Convention,
    arrays: dict[str, np.ndarray],
) -> Outcome:
    """Call the function on `spec`'s data; an exception or a wrong shape is a failure too."""
    want = np.asarray(expected(kernel, spec, arrays), dtype=np.float64)
    try:
        got = convention.call(kernel, function, spec, arrays)
    except Exception as error:  # the user's code may raise anything; it is a finding
        problem = (
            f"raised {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        )
        return Outcome(kernel, spec, np.inf, arrays, want, problem=problem)
    if got.shape != want.shape:
        problem = f"returned shape {got.shape}, expected {want.shape}"
        return Outcome(kernel, spec, np.inf, arrays, want, got, problem)
    _, relative = relative_error(got, want)
    return Outcome(kernel, spec, relative, arrays, want, got)


def run_layer(
    spec: ConvSpec, functions: dict[str, UserFunction], convention: Convention
) -> list[Outcome]:
    arrays = layer_arrays(spec)
    return [run_one(kernel, f, spec, convention, arrays) for kernel, f in functions.items()]
