"""`derive(spec)`: the derivation of any layer, one function per kind behind one name.

A `ConvSpec` gives a `ConvDerivation`, a `PoolSpec` a `PoolDerivation`, and a
`ConvSpec` followed by ``pool=PoolSpec(...)`` a `ChainDerivation` (the gradient through
both layers); all three are `Derivation`s and print the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from symconv.kinds import CONVOLUTION, POOLING, TRANSPOSED, LayerSpec, PoolSpec, kind_of, require
from symconv.symbolic.base import Derivation
from symconv.symbolic.chain import derive_chain
from symconv.symbolic.convolution import derive_conv
from symconv.symbolic.pooling import derive_pool
from symconv.symbolic.transposed import derive_transposed


def _conv(
    spec: Any, element_level: bool | None, values: object, winograd: int | None
) -> Derivation:
    if values is not None:
        raise ValueError(
            "values= and filter_values= need a pooling layer after the convolution (pool=)"
        )
    return derive_conv(spec, element_level=element_level, winograd=winograd)


def _pool(
    spec: Any, element_level: bool | None, values: object, winograd: int | None
) -> Derivation:
    if winograd is not None:
        raise ValueError("winograd= belongs to a convolution (a ConvSpec), not to pooling")
    return derive_pool(spec, values=values, element_level=element_level)


def _transposed(
    spec: Any, element_level: bool | None, values: object, winograd: int | None
) -> Derivation:
    if values is not None or winograd is not None:
        raise ValueError("values= and winograd= are not for a transposed convolution")
    return derive_transposed(spec, element_level=element_level)


#: The derivation of each layer kind, by the kind's name.
DERIVERS: dict[str, Callable[..., Derivation]] = {
    CONVOLUTION.name: _conv,
    TRANSPOSED.name: _transposed,
    POOLING.name: _pool,
}


def derive(
    spec: LayerSpec,
    *,
    element_level: bool | None = None,
    pool: PoolSpec | None = None,
    values: object = None,
    filter_values: object = None,
    winograd: int | None = None,
) -> Derivation:
    """Derive forward and every gradient of `spec`, and prove the lecture's patterns.

    `element_level=None` builds element equations when the layer is small enough to
    read; True forces them (slow for big layers), False keeps only the index level.
    `values` are numbers for the input of a pooling layer (or of the convolution in
    a chain), `filter_values` numbers for the chain's filter.  `winograd=m` adds
    Winograd's F(m, r) for a stride-1 convolution: derived, proved and tiled.
    """
    kind = kind_of(spec)
    if pool is not None:
        require(spec, CONVOLUTION, "the first layer of a chain")
        if element_level is not None or winograd is not None:
            raise ValueError("element_level= and winograd= are not supported for a chain")
        return derive_chain(spec, pool, values=values, filter_values=filter_values)
    if filter_values is not None:
        what = "a ConvSpec followed by pool=" if kind is CONVOLUTION else "a ConvSpec"
        raise ValueError(f"filter_values= belongs to {what}")
    return DERIVERS[kind.name](spec, element_level, values, winograd)
