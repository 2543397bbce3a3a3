"""The convolution layer kind: `ConvSpec`, its closed forms, its kernels and its oracles."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from symconv.kinds.base import KernelSignature, LayerKind
from symconv.kinds.convolution import oracles
from symconv.kinds.convolution.formulas import index_level
from symconv.kinds.convolution.spec import DTYPES, MODES, ConvSpec
from symconv.symbolic.indices import IndexLevel

__all__ = ["CONVOLUTION", "DTYPES", "MODES", "ConvSpec", "Convolution"]


class Convolution(LayerKind):
    """forward(x, w, b), grad_input(gy, w), grad_weight(x, gy), grad_bias(gy)."""

    name = "convolution"
    spec_class = ConvSpec
    #: The NumPy and PyTorch oracles (a kind whose tensors are a convolution's gives its own).
    oracles = oracles
    roles = {
        "x": "INPUT",
        "gx": "INPUT",
        "w": "WEIGHT",
        "gw": "WEIGHT",
        "y": "OUTPUT",
        "gy": "OUTPUT",
        "b": "BIAS",
        "gb": "BIAS",
    }

    def index_level(self, spec: ConvSpec) -> IndexLevel:
        return index_level(spec)

    def signatures(self, spec: ConvSpec) -> tuple[KernelSignature, ...]:
        found = [
            KernelSignature(
                "forward",
                ("x", "w", "b"),
                "y",
                "y = x * w (+ b): every output gathers its input channels and taps.",
                absent=() if spec.bias else ("b",),
                absent_because="the spec has bias=False",
            ),
            KernelSignature(
                "grad_input",
                ("gy", "w"),
                "gx",
                "dL/dx: the dilated, padded dL/dy correlated with the rotated filter (a gather).",
            ),
            KernelSignature(
                "grad_weight",
                ("x", "gy"),
                "gw",
                "dL/dw: the padded x correlated with dL/dy, summed over the batch.",
            ),
        ]
        if spec.bias:
            found.append(
                KernelSignature(
                    "grad_bias",
                    ("gy",),
                    "gb",
                    "dL/db: dL/dy summed over the batch and every output position.",
                )
            )
        return tuple(found)

    def tensor_shapes(self, spec: ConvSpec) -> dict[str, tuple[int, ...]]:
        return {
            "x": spec.input_shape,
            "gx": spec.input_shape,
            "y": spec.output_shape,
            "gy": spec.output_shape,
            "w": spec.weight_shape,
            "gw": spec.weight_shape,
            "b": spec.bias_shape,
            "gb": spec.bias_shape,
        }

    def role_shapes(self, spec: ConvSpec) -> dict[str, tuple[int, ...] | None]:
        return {
            "INPUT": spec.input_shape,
            "WEIGHT": spec.weight_shape,
            "OUTPUT": spec.output_shape,
            "BIAS": spec.bias_shape if spec.bias else None,
        }

    def random_inputs(self, spec: ConvSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Standard-normal x, w, gy (and b) in the spec's dtype."""
        shapes = {"x": spec.input_shape, "w": spec.weight_shape, "gy": spec.output_shape}
        if spec.bias:
            shapes["b"] = spec.bias_shape
        return {
            name: rng.standard_normal(shape).astype(spec.dtype) for name, shape in shapes.items()
        }

    def reference(self, spec: ConvSpec, a: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = {
            "forward": self.oracles.forward(spec, a["x"], a["w"], a.get("b")),
            "grad_input": self.oracles.grad_input(spec, a["gy"], a["w"]),
            "grad_weight": self.oracles.grad_weight(spec, a["x"], a["gy"]),
        }
        if spec.bias:
            results["grad_bias"] = self.oracles.grad_bias(spec, a["gy"])
        return results

    def torch_reference(self, spec: ConvSpec, a: Mapping[str, np.ndarray]) -> dict:
        return self.oracles.torch_results(spec, a)

    def torch_function(self, spec: ConvSpec):
        """The layer as a differentiable PyTorch function ``(x, w, b=None) -> y``."""
        return self.oracles.torch_function(spec)


CONVOLUTION = Convolution()
