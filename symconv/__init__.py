"""symconv: derive, print and generate one convolution layer exactly.

The pipeline flows one way: spec -> symbolic -> render / lower -> templates ->
generated module -> runtime.  `generate` and `verify` import Numba, so they load on
first use and `import symconv` stays quick.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from symconv import reference  # noqa: E402
from symconv.pool_spec import PoolSpec  # noqa: E402
from symconv.spec import ConvSpec  # noqa: E402
from symconv.symbolic import Derivation, derive  # noqa: E402

__all__ = [
    "ConvSpec",
    "Derivation",
    "PoolSpec",
    "__version__",
    "derive",
    "generate",
    "reference",
    "verify",
]


def __getattr__(name: str) -> Any:
    if name == "generate":
        from symconv.pipeline import generate

        return generate
    if name == "verify":
        from symconv.verify import verify

        return verify
    raise AttributeError(f"module 'symconv' has no attribute {name!r}")
