"""Stand-ins for compiled modules: kernels whose compiled functions must never be reached.

The argument checks of `symconv.runtime.Kernels` run before any compiled code, so a
module whose functions raise shows that a bad call was refused before it got there.
"""

from __future__ import annotations

import types
from pathlib import Path

from symconv.kinds import kind_of
from symconv.runtime import Kernels
from symconv.targets.numba_cpu.runtime import check_array


def stand_in_module(spec: object) -> types.ModuleType:
    """A module with the layer's kernels, each taking the compiled function's parameters."""
    module = types.ModuleType("stand_in")
    module.SPEC_KEY = spec.key
    for signature in kind_of(spec).signatures(spec):
        namespace: dict = {}
        exec(  # noqa: S102 - builds a function with exactly these parameter names
            f"def {signature.name}({', '.join(signature.passed)}):\n"
            "    raise AssertionError('compiled code was called with unchecked arguments')\n",
            namespace,
        )
        setattr(module, signature.name, namespace[signature.name])
    return module


def stand_in(spec: object, module: types.ModuleType | None = None) -> Kernels:
    """Checked kernels over `module` (default: `stand_in_module(spec)`)."""
    return Kernels(spec, module or stand_in_module(spec), Path("stand-in.py"), check_array)
