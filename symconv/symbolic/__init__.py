"""Symbolic stage: element equations, index-level closed forms and pattern proofs."""

from symconv.symbolic.derivation import MAX_ELEMENT_PRODUCTS, Derivation, derive

__all__ = ["MAX_ELEMENT_PRODUCTS", "Derivation", "derive"]
