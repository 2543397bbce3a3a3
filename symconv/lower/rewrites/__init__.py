"""Rewrites of index formulas before any loop exists: stride phases, chunks, channel blocks."""
