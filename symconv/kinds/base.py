"""What every layer kind tells the rest of symconv: its kernels, tensors and oracles.

A layer kind (convolution, pooling) is one package under `symconv.kinds` that owns its
spec class, its index formulas, the signatures of its kernels and its NumPy and
PyTorch oracles.  The stages after the spec (lowering, code generation, the runtime,
`verify`, the benchmark, the tests) never ask which class a spec is: they ask its
kind (`symconv.kinds.kind_of`) for these, so a new kind is one new package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from symconv.symbolic.indices import IndexLevel

#: Largest error a kernel may have against an oracle, relative to the oracle's largest
#: magnitude: a few hundred float32 roundings of accumulated products, with room to
#: spare, and the same for float64.  `verify`, the benchmark and the tests use it.
TOLERANCES: dict[str, float] = {"float32": 1e-4, "float64": 1e-10}


def relative_error(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """(max |got − want|, that over max |want|); NaN or a shape mismatch gives inf.

    NaN and ±inf must sit where the oracle has them (the same positions, the same
    infinities); the error is then measured on the finite entries.
    """
    got64, want64 = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got64.shape != want64.shape:
        return np.inf, np.inf
    finite = np.isfinite(want64)
    same_specials = np.array_equal(np.isnan(got64), np.isnan(want64)) and np.array_equal(
        got64[np.isinf(want64)], want64[np.isinf(want64)]
    )
    if not same_specials or not np.isfinite(got64[finite]).all():
        return np.inf, np.inf
    error = float(np.max(np.abs(got64[finite] - want64[finite]), initial=0.0))
    scale = float(np.max(np.abs(want64[finite]), initial=0.0))
    return error, error / scale if scale > 0 else error


@dataclass(frozen=True)
class KernelSignature:
    """One kernel a layer has: its name, what the caller passes, what it returns.

    `params` are the tensors the caller passes, in order; those in `absent` belong to
    the signature's shape (``forward(x, w, b)``) but not to this layer (no bias): they
    may be left out or given as None, and are never passed to the compiled function.
    `absent_because` says why, for the error when one is given anyway.
    """

    name: str
    params: tuple[str, ...]
    result: str
    summary: str
    absent: tuple[str, ...] = ()
    absent_because: str = ""

    @property
    def passed(self) -> tuple[str, ...]:
        """The tensors the compiled function of this layer takes, in order."""
        return tuple(p for p in self.params if p not in self.absent)


class LayerKind:
    """The questions the stages after the spec ask of a layer; one subclass per kind."""

    #: "convolution", "pooling": the key of the kind in registries and messages.
    name: str = ""
    #: The spec class this kind validates.
    spec_class: type = object
    #: Array type of each tensor in a generated module (shape constants by role).
    roles: Mapping[str, str] = {}
    #: What one unit of a kernel's work is called in its docstring.
    work_unit: str = "multiply-adds"

    def index_level(self, spec: Any) -> IndexLevel:
        """The closed forms the kernels are lowered from."""
        raise NotImplementedError

    def signatures(self, spec: Any) -> tuple[KernelSignature, ...]:
        """Every kernel of `spec`, in the order the generated module defines them."""
        raise NotImplementedError

    def tensor_shapes(self, spec: Any) -> dict[str, tuple[int, ...]]:
        """Shape of every tensor the formulas and signatures name."""
        raise NotImplementedError

    def role_shapes(self, spec: Any) -> dict[str, tuple[int, ...] | None]:
        """Shape of each array role (INPUT, ...), None for a role this layer lacks."""
        raise NotImplementedError

    def random_inputs(self, spec: Any, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Arguments for every kernel, drawn in the spec's dtype."""
        raise NotImplementedError

    def reference(self, spec: Any, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every kernel's result from the NumPy oracle (float64 accumulation)."""
        raise NotImplementedError

    def torch_reference(self, spec: Any, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every kernel's result from PyTorch's own functions and autograd."""
        raise NotImplementedError

    # ----- a kind computed by another kind's kernels ---------------------------------
    def lowered_as(self, spec: Any) -> Any:
        """The spec whose generated module computes this layer's kernels: itself, unless
        the kind is another kind's kernels under other names (a transposed convolution)."""
        return spec

    def schedules_for(self, spec: Any, schedules: dict | None) -> dict | None:
        """Schedules named by this layer's kernels, as the lowered spec's kernels name them."""
        return schedules

    def adapt(self, spec: Any, kernels: Any) -> Any:
        """The lowered spec's compiled kernels as this layer's (as they are, by default)."""
        return kernels

    # ----- derived from the above ----------------------------------------------------
    def signature(self, spec: Any, name: str) -> KernelSignature:
        for signature in self.signatures(spec):
            if signature.name == name:
                return signature
        known = ", ".join(s.name for s in self.signatures(spec))
        raise ValueError(f"{spec.label} has no kernel {name!r}; it has {known}")

    def kernel_names(self, spec: Any) -> tuple[str, ...]:
        return tuple(s.name for s in self.signatures(spec))

    def run(self, spec: Any, kernels: Any, arrays: Mapping[str, np.ndarray]) -> dict:
        """Call every kernel of a compiled layer on `arrays` (named as the signatures)."""
        return {
            s.name: getattr(kernels, s.name)(*(arrays.get(p) for p in s.params))
            for s in self.signatures(spec)
        }
