"""Tests for symconv.lower.rewrites.blocking: channel tiles sized by the machine's registers."""

from __future__ import annotations

from dataclasses import replace

from symconv.kinds import ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower.rewrites.blocking import block_channels, largest_divisor, tile
from symconv.machine import HOST
from symconv.symbolic.indices import make_indices


def test_the_tile_fits_the_accumulators():
    assert tile(64, 64, 9, HOST) == (2, 1)  # 24 registers, 9 taps: 2 × 1 × 9 = 18
    assert tile(64, 64, 1, HOST) == (4, 4)  # a 1×1 layer: the largest tile
    assert tile(6, 1, 25, HOST) == (1, 1)
    small = replace(HOST, accumulators=8)
    assert tile(64, 64, 1, small) == (4, 2)


def test_largest_divisor_tiles_exactly():
    assert [largest_divisor(12, k) for k in (1, 5, 8, 100)] == [1, 4, 6, 12]


def test_blocked_grad_weight_splits_both_channels():
    spec = ConvSpec((8, 8), 1, in_channels=8, out_channels=8)
    formula = index_level(spec).grad_weight
    blocked, blocks = block_channels(formula, make_indices(2), HOST)
    assert {v.name for v in blocks} == {"mb", "cb"}
    assert [loop.var.name for loop in blocked.loops][:4] == ["mo", "co", "mb", "cb"]
