"""A layer symconv generates kernels for: a convolution (`ConvSpec`) or a pooling layer.

Everything that takes a layer from text (the ``python -m symconv.pipeline`` command
in every generated module's header, manifests) tells the two apart by one key: a
pooling layer has a ``kind`` ("max" or "avg"), a convolution has none.  The stages
after that dispatch on the spec's type.
"""

from __future__ import annotations

import json
from typing import Any

from symconv.pool_spec import PoolSpec
from symconv.spec import ConvSpec
from symconv.symbolic.indices import IndexLevel, index_level
from symconv.symbolic.pool_formulas import PoolLevel, pool_level

LayerSpec = ConvSpec | PoolSpec

#: The key that marks a pooling layer in JSON and TOML.
POOL_MARKER = "kind"


def spec_class(data: dict[str, Any]) -> type[ConvSpec] | type[PoolSpec]:
    """PoolSpec when `data` has a ``kind`` key, else ConvSpec."""
    return PoolSpec if POOL_MARKER in data else ConvSpec


def spec_from_dict(data: dict[str, Any]) -> LayerSpec:
    """Validate the fields of either spec (lists become tuples), chosen by `spec_class`."""
    if not isinstance(data, dict):
        raise ValueError(f"a layer spec is a JSON object of fields, not {data!r}")
    return spec_class(data).from_dict(data)


def spec_from_json(text: str) -> LayerSpec:
    """A spec from its canonical JSON (``spec.to_json()``), conv or pooling."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON: {error}") from None
    return spec_from_dict(data)


def layer_formulas(spec: LayerSpec) -> IndexLevel | PoolLevel:
    """The index-level formulas the kernels are lowered from."""
    if isinstance(spec, PoolSpec):
        return pool_level(spec)
    if isinstance(spec, ConvSpec):
        return index_level(spec)
    raise TypeError(f"expected a ConvSpec or a PoolSpec, not {type(spec).__name__}")
