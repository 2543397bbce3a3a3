"""symconv: derive, print and generate one convolution layer exactly.

The pipeline flows one way: spec -> symbolic -> render / lower -> target ->
generated module -> runtime.  `generate` and `verify` import Numba, so they load on
first use and `import symconv` stays quick.
"""

from __future__ import annotations

from typing import Any

from symconv import reference
from symconv.kinds import ConvSpec, PoolSpec
from symconv.symbolic.base import Derivation
from symconv.symbolic.derive import derive
from symconv.symbolic.winograd import Winograd, winograd
from symconv.version import __version__

__all__ = [
    "ConvSpec",
    "Derivation",
    "PoolSpec",
    "__version__",
    "derive",
    "generate",
    "reference",
    "render",
    "verify",
    "winograd",
    "Winograd",
    "check",
]

#: Names `import symconv` makes available on first use: (module, attribute).
_LAZY = {
    "generate": ("symconv.pipeline", "generate"),
    "verify": ("symconv.verify", "verify"),
    "render": ("symconv.render", "render"),
    "check": ("symconv.check", "check"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'symconv' has no attribute {name!r}")
