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

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symconv.kinds import TOLERANCES, LayerSpec, kind_of, relative_error
from symconv.pipeline import generate
from symconv.runtime.memory import check_fits

#: Float64 copies of a layer's tensors a verification holds at its peak: the inputs,
#: the kernels' results, the NumPy oracle's padded and windowed intermediates and
#: PyTorch's copies.
MEMORY_COPIES = 8


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
    """Arguments for every kernel of `spec`, drawn by its kind (seeded)."""
    return kind_of(spec).random_inputs(spec, np.random.default_rng(seed))


def compare(kernel: str, oracle: str, got: np.ndarray, want: np.ndarray, tol: float) -> Comparison:
    """Largest absolute error, and the same relative to the oracle's largest magnitude."""
    max_abs, max_rel = relative_error(got, want)
    return Comparison(kernel, oracle, max_abs, max_rel, tol)


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
    kind = kind_of(spec)
    check_fits(spec, "verify", MEMORY_COPIES)
    kernels = generate(spec, out, progress)
    arrays = random_inputs(spec, seed)
    got = kind.run(spec, kernels, arrays)
    oracles = {"reference": kind.reference(spec, arrays)}
    if use_torch:
        if progress is not None:
            progress(f"{spec.label}: comparing with PyTorch")
        oracles["torch"] = kind.torch_reference(spec, arrays)
        note = "PyTorch compared"
    else:
        note = "PyTorch skipped" if torch is False else "PyTorch not installed"
    tol = TOLERANCES[spec.dtype]
    comparisons = tuple(
        compare(name, oracle, got[name], results[name], tol)
        for name in got
        for oracle, results in oracles.items()
    )
    return VerifyReport(spec, seed, kernels.path, comparisons, note)
