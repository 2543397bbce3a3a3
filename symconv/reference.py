"""NumPy reference convolution and pooling: the oracle every generated kernel is checked against.

The oracles live with their layer kinds (`symconv.kinds.convolution.oracles`,
`symconv.kinds.pooling.oracles`); this module is their public face, and refuses a
spec of the wrong kind with one line before any array is touched.
"""

from __future__ import annotations

import numpy as np

import symconv.kinds.convolution.oracles as conv
import symconv.kinds.pooling.oracles as pool
from symconv.kinds import CONVOLUTION, POOLING, ConvSpec, PoolSpec, require

__all__ = ["forward", "grad_input", "grad_weight", "grad_bias", "pool_forward", "pool_grad_input"]


def forward(
    spec: ConvSpec, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None
) -> np.ndarray:
    """Output y of shape spec.output_shape; `b` None adds no bias (whatever spec.bias says)."""
    require(spec, CONVOLUTION)
    return conv.forward(spec, x, w, b)


def grad_input(spec: ConvSpec, gy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """dL/dx from gy = dL/dy: every tap scatters gy·w back to the inputs it read."""
    require(spec, CONVOLUTION)
    return conv.grad_input(spec, gy, w)


def grad_weight(spec: ConvSpec, x: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """dL/dw: windows of padded x contracted with gy over batch and output positions."""
    require(spec, CONVOLUTION)
    return conv.grad_weight(spec, x, gy)


def grad_bias(spec: ConvSpec, gy: np.ndarray) -> np.ndarray:
    """dL/db: gy summed over the batch and every output position of its channel."""
    require(spec, CONVOLUTION)
    return conv.grad_bias(spec, gy)


def pool_forward(spec: PoolSpec, x: np.ndarray) -> np.ndarray:
    """y of shape spec.output_shape: the max or the mean (padding counted) of each window."""
    require(spec, POOLING)
    return pool.pool_forward(spec, x)


def pool_grad_input(spec: PoolSpec, gy: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dL/dx from gy = dL/dy, scattered back to the elements each window used."""
    require(spec, POOLING)
    return pool.pool_grad_input(spec, gy, x)
