"""Lowering stage: index formulas -> loop nests, by an algorithm and its named passes."""

from symconv.lower.driver import lower, lower_all
from symconv.lower.ir import LoopNest

__all__ = ["LoopNest", "lower", "lower_all"]
