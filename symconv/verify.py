"""`verify(spec)`: generate the kernels of a layer and prove them against the oracles.

Every kernel runs on random standard-normal data and is compared element-wise with
`symconv.reference` (NumPy, accumulating in float64) and, when PyTorch can be
imported, with ``torch.nn.functional.conv{1,2,3}d`` and its autograd.  The error is
measured relative to the largest magnitude of the oracle's result, because entries
near zero carry only the cancellation noise of their sum:

    rel = max|kernel − oracle| / max|oracle|

and a kernel passes when rel ≤ `TOLERANCES[dtype]`: 1e-4 for float32 (a few hundred
float32 roundings of the accumulated products, with room to spare) and 1e-10 for
float64.

A pooling layer (`PoolSpec`) is verified the same way against
`reference.pool_forward` / `pool_grad_input` and ``torch.nn.functional.max_pool*d`` /
``avg_pool*d(count_include_pad=True)``.  Max pooling's x is drawn from the integers
−3..3, so most windows hold their maximum more than once and the tie rule (the
first maximum in row-major order gets the gradient) is checked on every run.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symconv import reference
from symconv.layers import LayerSpec
from symconv.pipeline import generate
from symconv.pool_spec import PoolSpec

TOLERANCES = {"float32": 1e-4, "float64": 1e-10}
KERNELS = ("forward", "grad_input", "grad_weight", "grad_bias")


@dataclass(frozen=True)
class Comparison:
    """One kernel against one oracle."""

    kernel: str
    oracle: str
    max_abs: float
    max_rel: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.max_rel)) and self.max_rel <= self.tolerance


@dataclass(frozen=True)
class VerifyReport:
    """The comparisons of one layer's kernels, and where the kernels came from."""

    spec: LayerSpec
    seed: int
    path: Path
    comparisons: tuple[Comparison, ...]
    torch_note: str

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons)

    def worst(self) -> dict[str, float]:
        """Largest relative error of each kernel over all oracles."""
        worst: dict[str, float] = {}
        for c in self.comparisons:
            worst[c.kernel] = max(worst.get(c.kernel, 0.0), c.max_rel)
        return worst

    def format(self) -> str:
        """A plain-text table a person reads in a terminal."""
        verdict = "OK" if self.ok else "FAILED"
        lines = [
            f"verify {self.spec.label} ({self.spec.dtype}, seed {self.seed}): {verdict}",
            f"  {self.spec.describe()}",
            f"  kernels: {self.path}",
            f"  error = max|kernel - oracle| / max|oracle|; {self.torch_note}",
            "",
            f"  {'kernel':<12} {'oracle':<10} {'max abs':>10} {'max rel':>10} "
            f"{'tolerance':>10}  ok",
        ]
        for c in self.comparisons:
            lines.append(
                f"  {c.kernel:<12} {c.oracle:<10} {c.max_abs:>10.2e} {c.max_rel:>10.2e} "
                f"{c.tolerance:>10.0e}  {'yes' if c.ok else 'NO'}"
            )
        return "\n".join(lines)


def random_inputs(spec: LayerSpec, seed: int) -> dict[str, np.ndarray]:
    """Standard-normal x, w, gy (and b) in the spec's dtype; pooling: x and gy only."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(spec.dtype)
    if isinstance(spec, PoolSpec):
        gy = rng.standard_normal(spec.output_shape).astype(dtype)
        if spec.kind == "max":  # small integers: ties in most windows
            return {"x": rng.integers(-3, 4, spec.input_shape).astype(dtype), "gy": gy}
        return {"x": rng.standard_normal(spec.input_shape).astype(dtype), "gy": gy}
    shapes = {"x": spec.input_shape, "w": spec.weight_shape, "gy": spec.output_shape}
    if spec.bias:
        shapes["b"] = spec.bias_shape
    return {name: rng.standard_normal(shape).astype(dtype) for name, shape in shapes.items()}


def reference_results(spec: LayerSpec, a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if isinstance(spec, PoolSpec):
        return {
            "forward": reference.pool_forward(spec, a["x"]),
            "grad_input": reference.pool_grad_input(spec, a["gy"], a["x"]),
        }
    results = {
        "forward": reference.forward(spec, a["x"], a["w"], a.get("b")),
        "grad_input": reference.grad_input(spec, a["gy"], a["w"]),
        "grad_weight": reference.grad_weight(spec, a["x"], a["gy"]),
    }
    if spec.bias:
        results["grad_bias"] = reference.grad_bias(spec, a["gy"])
    return results


def _pads_explicitly(spec: PoolSpec) -> bool:
    """avg_pool3d refuses an input smaller than the kernel, however much padding there is."""
    small = any(i < k for i, k in zip(spec.input_size, spec.kernel_size))
    return spec.kind == "avg" and spec.rank == 3 and small


def torch_pool_results(spec: PoolSpec, a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """y and dL/dx from max_pool*d / avg_pool*d(count_include_pad=True) and autograd.

    avg_pool3d refuses an input smaller than the kernel even when the padding makes
    room, so average pooling then pads the zeros explicitly: with count_include_pad
    they count in the divisor either way, the numbers are the same.
    """
    torch = importlib.import_module("torch")
    functional = torch.nn.functional
    pool = getattr(functional, f"{spec.kind}_pool{spec.rank}d")
    options = {"count_include_pad": True} if spec.kind == "avg" else {}
    x = torch.tensor(a["x"], requires_grad=True)
    source, padding = x, spec.padding
    if _pads_explicitly(spec):
        source = functional.pad(x, [p for p in reversed(spec.padding) for _ in range(2)])
        padding = 0
    y = pool(source, spec.kernel_size, spec.stride, padding, **options)
    y.backward(torch.tensor(a["gy"]))
    return {"forward": y.detach().numpy(), "grad_input": x.grad.numpy()}


def torch_results(spec: LayerSpec, a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same results from PyTorch: explicit (lo, hi) padding, then autograd."""
    if isinstance(spec, PoolSpec):
        return torch_pool_results(spec, a)
    torch = importlib.import_module("torch")
    functional = torch.nn.functional
    conv = {1: functional.conv1d, 2: functional.conv2d, 3: functional.conv3d}[spec.rank]
    x = torch.tensor(a["x"], requires_grad=True)
    w = torch.tensor(a["w"], requires_grad=True)
    b = torch.tensor(a["b"], requires_grad=True) if spec.bias else None
    spatial = tuple(range(2, 2 + spec.rank))
    kernel = torch.flip(w, spatial) if spec.flips_kernel else w
    pads = [amount for pair in reversed(spec.padding) for amount in pair]  # last axis first
    y = conv(
        functional.pad(x, pads),
        kernel,
        b,
        stride=spec.stride,
        dilation=spec.dilation,
        groups=spec.groups,
    )
    y.backward(torch.tensor(a["gy"]))
    results = {
        "forward": y.detach().numpy(),
        "grad_input": x.grad.numpy(),
        "grad_weight": w.grad.numpy(),
    }
    if b is not None:
        results["grad_bias"] = b.grad.numpy()
    return results


def kernel_results(kernels, a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if isinstance(kernels.spec, PoolSpec):
        return {
            "forward": kernels.forward(a["x"]),
            "grad_input": kernels.grad_input(a["gy"], a["x"]),
        }
    results = {
        "forward": kernels.forward(a["x"], a["w"], a.get("b")),
        "grad_input": kernels.grad_input(a["gy"], a["w"]),
        "grad_weight": kernels.grad_weight(a["x"], a["gy"]),
    }
    if kernels.spec.bias:
        results["grad_bias"] = kernels.grad_bias(a["gy"])
    return results


def compare(kernel: str, oracle: str, got: np.ndarray, want: np.ndarray, tol: float) -> Comparison:
    """Largest absolute error, and the same relative to the oracle's largest magnitude."""
    got64, want64 = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got64.shape != want64.shape:
        return Comparison(kernel, oracle, np.inf, np.inf, tol)
    error = float(np.max(np.abs(got64 - want64), initial=0.0))
    if np.isnan(got64).any():
        error = np.inf
    scale = float(np.max(np.abs(want64), initial=0.0))
    return Comparison(kernel, oracle, error, error / scale if scale > 0 else error, tol)


def _torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def verify(
    spec: LayerSpec,
    seed: int = 0,
    torch: bool | None = None,
    out: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
) -> VerifyReport:
    """Generate, run and compare every kernel of `spec` (a ConvSpec or a PoolSpec).

    torch=None compares with PyTorch when it can be imported, True requires it (an
    ImportError otherwise), False skips it.
    """
    use_torch = _torch_available() if torch is None else torch
    if use_torch and not _torch_available():
        raise ImportError("verify(torch=True) needs PyTorch, which is not installed")
    kernels = generate(spec, out, progress)
    arrays = random_inputs(spec, seed)
    got = kernel_results(kernels, arrays)
    oracles = {"reference": reference_results(spec, arrays)}
    if use_torch:
        if progress is not None:
            progress(f"{spec.label}: comparing with PyTorch")
        oracles["torch"] = torch_results(spec, arrays)
        note = "PyTorch compared"
    else:
        note = "PyTorch skipped" if torch is False else "PyTorch not installed"
    tol = TOLERANCES[spec.dtype]
    comparisons = tuple(
        compare(name, oracle, got[name], results[name], tol)
        for name in KERNELS
        if name in got
        for oracle, results in oracles.items()
    )
    return VerifyReport(spec, seed, kernels.path, comparisons, note)
