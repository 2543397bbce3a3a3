"""The pooling layer kind: `PoolSpec` (max or average), its closed forms, kernels and oracles."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from symconv.kinds.base import KernelSignature, LayerKind
from symconv.kinds.pooling import oracles
from symconv.kinds.pooling.formulas import pool_level
from symconv.kinds.pooling.spec import POOL_KINDS, PoolSpec
from symconv.symbolic.indices import IndexLevel

__all__ = ["POOLING", "POOL_KINDS", "PoolSpec", "Pooling"]

SUMMARIES = {
    ("max", "forward"): "y = the largest x of each window; padding is -inf and never wins.",
    ("max", "grad_input"): (
        "dL/dx: each window adds dL/dy at its first maximum (row-major), overlaps add up."
    ),
    ("avg", "forward"): "y = the mean of each window, padded zeros counted (count_include_pad).",
    ("avg", "grad_input"): "dL/dx: each input gathers dL/dy / |window| from the windows it is in.",
}


class Pooling(LayerKind):
    """forward(x) and grad_input(gy, x); average pooling's gradient reads gy alone."""

    name = "pooling"
    spec_class = PoolSpec
    roles = {"x": "INPUT", "gx": "INPUT", "y": "OUTPUT", "gy": "OUTPUT"}
    work_unit = "window reads"

    def index_level(self, spec: PoolSpec) -> IndexLevel:
        return pool_level(spec)

    def signatures(self, spec: PoolSpec) -> tuple[KernelSignature, ...]:
        return (
            KernelSignature("forward", ("x",), "y", SUMMARIES[spec.kind, "forward"]),
            KernelSignature("grad_input", ("gy", "x"), "gx", SUMMARIES[spec.kind, "grad_input"]),
        )

    def tensor_shapes(self, spec: PoolSpec) -> dict[str, tuple[int, ...]]:
        return {
            "x": spec.input_shape,
            "gx": spec.input_shape,
            "y": spec.output_shape,
            "gy": spec.output_shape,
        }

    def role_shapes(self, spec: PoolSpec) -> dict[str, tuple[int, ...] | None]:
        return {"INPUT": spec.input_shape, "OUTPUT": spec.output_shape}

    def random_inputs(self, spec: PoolSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """x and gy; max pooling's x from the integers −3..3, so most windows hold ties."""
        gy = rng.standard_normal(spec.output_shape).astype(spec.dtype)
        if spec.kind == "max":
            return {"x": rng.integers(-3, 4, spec.input_shape).astype(spec.dtype), "gy": gy}
        return {"x": rng.standard_normal(spec.input_shape).astype(spec.dtype), "gy": gy}

    def reference(self, spec: PoolSpec, a: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            "forward": oracles.pool_forward(spec, a["x"]),
            "grad_input": oracles.pool_grad_input(spec, a["gy"], a["x"]),
        }

    def torch_reference(self, spec: PoolSpec, a: Mapping[str, np.ndarray]) -> dict:
        return oracles.torch_results(spec, a)


POOLING = Pooling()
