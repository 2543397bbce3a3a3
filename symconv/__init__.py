"""symconv: derive, print and generate one convolution layer exactly.

The pipeline flows one way: spec -> symbolic -> render / lower -> target ->
generated module -> runtime.  Every name here loads on first use, so ``import
symconv`` is quick and the command line can answer Ctrl-C from its first moment.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from symconv.version import __version__

if TYPE_CHECKING:  # what the names below are, for type checkers and editors
    from symconv import reference
    from symconv.check import check
    from symconv.kinds import ConvSpec, ConvTransposeSpec, PoolSpec
    from symconv.pipeline import generate
    from symconv.render import render
    from symconv.symbolic.base import Derivation
    from symconv.symbolic.derive import derive
    from symconv.symbolic.winograd import Winograd, winograd
    from symconv.verify import verify

__all__ = [
    "ConvSpec",
    "ConvTransposeSpec",
    "Derivation",
    "PoolSpec",
    "__version__",
    "check",
    "derive",
    "draw",
    "generate",
    "reference",
    "render",
    "verify",
    "winograd",
    "Winograd",
]

#: Names `import symconv` makes available on first use: (module, attribute or None for
#: the module itself).
_LAZY = {
    "ConvSpec": ("symconv.kinds", "ConvSpec"),
    "ConvTransposeSpec": ("symconv.kinds", "ConvTransposeSpec"),
    "PoolSpec": ("symconv.kinds", "PoolSpec"),
    "Derivation": ("symconv.symbolic.base", "Derivation"),
    "derive": ("symconv.symbolic.derive", "derive"),
    "draw": ("symconv.draw", None),  # the package, callable: symconv.draw(spec)
    "winograd": ("symconv.symbolic.winograd", "winograd"),
    "Winograd": ("symconv.symbolic.winograd", "Winograd"),
    "reference": ("symconv.reference", None),
    "generate": ("symconv.pipeline", "generate"),
    "verify": ("symconv.verify", "verify"),
    "render": ("symconv.render", "render"),
    "check": ("symconv.check", "check"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        loaded = importlib.import_module(module)
        return loaded if attribute is None else getattr(loaded, attribute)
    raise AttributeError(f"module 'symconv' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
