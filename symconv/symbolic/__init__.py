"""Symbolic stage: element equations, index-level closed forms and pattern proofs.

Import the modules themselves (`symconv.symbolic.derivation`, ...): this package file
imports nothing, so the layer kinds can build their formulas on
`symconv.symbolic.indices` without a cycle.
"""
