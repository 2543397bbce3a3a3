"""symconv: derive, print and generate one convolution layer exactly.

The pipeline flows one way: spec -> symbolic -> render / lower -> templates ->
generated module -> runtime.
"""

__version__ = "0.1.0"

from symconv import reference  # noqa: E402
from symconv.spec import ConvSpec  # noqa: E402
from symconv.symbolic import Derivation, derive  # noqa: E402

__all__ = ["ConvSpec", "Derivation", "__version__", "derive", "reference"]
