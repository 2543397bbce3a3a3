"""Lowering stage: index-level formulas -> loop-nest IR, rewritten for fast kernels."""

from symconv.lower.ir import LoopNest
from symconv.lower.lowering import lower, lower_all

__all__ = ["LoopNest", "lower", "lower_all"]
