"""Symbolic stage: element equations, index-level closed forms and pattern proofs."""

from symconv.symbolic.chain import ChainDerivation, derive_chain
from symconv.symbolic.derivation import MAX_ELEMENT_PRODUCTS, Derivation, derive
from symconv.symbolic.pooling import MAX_POOL_TERMS, PoolDerivation, derive_pool

__all__ = [
    "MAX_ELEMENT_PRODUCTS",
    "MAX_POOL_TERMS",
    "ChainDerivation",
    "Derivation",
    "PoolDerivation",
    "derive",
    "derive_chain",
    "derive_pool",
]
