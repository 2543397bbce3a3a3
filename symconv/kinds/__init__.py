"""Layer kinds, and the one place that tells them apart.

`kind_of(spec)` answers which kind a spec is; every stage after the spec asks the
kind (its formulas, kernel signatures, tensor shapes, oracles) instead of testing
the spec's class.  Text input (JSON, TOML manifests) tells the kinds apart by one
key: a pooling layer has a ``kind`` ("max" or "avg"), a convolution has none.
"""

from __future__ import annotations

import json
from typing import Any

from symconv.kinds.base import TOLERANCES, KernelSignature, LayerKind, relative_error
from symconv.kinds.convolution import CONVOLUTION, ConvSpec
from symconv.kinds.pooling import POOLING, PoolSpec

__all__ = [
    "CONVOLUTION",
    "KINDS",
    "POOLING",
    "TOLERANCES",
    "ConvSpec",
    "KernelSignature",
    "LayerKind",
    "LayerSpec",
    "PoolSpec",
    "kind_of",
    "relative_error",
    "require",
    "spec_class",
    "spec_from_dict",
    "spec_from_json",
]

KINDS: tuple[LayerKind, ...] = (CONVOLUTION, POOLING)
LayerSpec = ConvSpec | PoolSpec

#: The key that marks a pooling layer in JSON and TOML.
POOL_MARKER = "kind"


def kind_of(spec: object) -> LayerKind:
    """The kind of `spec`; a TypeError names what was given when it is no layer spec."""
    for kind in KINDS:
        if isinstance(spec, kind.spec_class):
            return kind
    names = " or a ".join(kind.spec_class.__name__ for kind in KINDS)
    raise TypeError(f"expected a {names}, not {type(spec).__name__}")


def require(spec: object, kind: LayerKind, what: str = "spec") -> None:
    """Refuse a spec of another kind with one line naming both."""
    if kind_of(spec) is not kind:
        raise TypeError(f"{what} must be a {kind.spec_class.__name__}, not {type(spec).__name__}")


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
