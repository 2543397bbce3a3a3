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
from symconv.kinds.transposed import TRANSPOSED, ConvTransposeSpec

__all__ = [
    "CONVOLUTION",
    "ConvTransposeSpec",
    "KINDS",
    "POOLING",
    "TOLERANCES",
    "ConvSpec",
    "KernelSignature",
    "LayerKind",
    "LayerSpec",
    "PoolSpec",
    "TRANSPOSED",
    "kind_of",
    "relative_error",
    "require",
    "spec_class",
    "spec_from_dict",
    "spec_from_json",
]

KINDS: tuple[LayerKind, ...] = (CONVOLUTION, POOLING, TRANSPOSED)
LayerSpec = ConvSpec | PoolSpec | ConvTransposeSpec

#: The key that marks a pooling layer in JSON and TOML.
POOL_MARKER = "kind"
#: The key that marks a transposed convolution (every one has it, PyTorch's name).
TRANSPOSED_MARKER = "output_padding"


def kind_of(spec: object) -> LayerKind:
    """The kind of `spec`; a TypeError names what was given when it is no layer spec."""
    for kind in KINDS:
        if isinstance(spec, kind.spec_class):
            return kind
    names = [f"a {kind.spec_class.__name__}" for kind in KINDS]
    listed = ", ".join(names[:-1]) + f" or {names[-1]}"
    raise TypeError(f"expected {listed}, not {type(spec).__name__}")


def require(spec: object, kind: LayerKind, what: str = "spec") -> None:
    """Refuse a spec of another kind with one line naming both."""
    if kind_of(spec) is not kind:
        raise TypeError(f"{what} must be a {kind.spec_class.__name__}, not {type(spec).__name__}")


def spec_class(data: dict[str, Any]) -> type:
    """PoolSpec when `data` has a ``kind`` key, ConvTransposeSpec when it has an
    ``output_padding`` key, else ConvSpec."""
    if POOL_MARKER in data:
        return PoolSpec
    return ConvTransposeSpec if TRANSPOSED_MARKER in data else ConvSpec


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
