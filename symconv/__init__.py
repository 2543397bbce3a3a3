"""symconv: derive, print and generate one convolution layer exactly.

The pipeline flows one way: spec -> symbolic -> render / lower -> templates ->
generated module -> runtime.
"""

from symconv.spec import ConvSpec

__version__ = "0.1.0"

__all__ = ["ConvSpec", "__version__"]
