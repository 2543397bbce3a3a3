"""Tests for the blocked algorithm: dL/dF with a register tile of channels × taps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv.kinds import CONVOLUTION, ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower import lower
from symconv.lower.interpret import run
from symconv.lower.ir import Init, walk
from tests.strategies import conv_specs, divisors


@settings(max_examples=60, deadline=None)
@given(spec=conv_specs(max_channels_per_group=4), seed=st.integers(0, 2**16))
def test_blocked_grad_weight_computes_the_reference(spec, seed):
    arrays = CONVOLUTION.random_inputs(spec, np.random.default_rng(seed))
    arrays = {name: a.astype(np.float64) for name, a in arrays.items()}
    nest = lower(index_level(spec).grad_weight, spec, schedule="blocked")
    want = CONVOLUTION.reference(spec, arrays)["grad_weight"]
    np.testing.assert_allclose(run(nest, arrays), want, rtol=1e-12, atol=1e-12)


def test_a_tile_of_two_output_channels_by_nine_taps_shares_one_reduction():
    spec = ConvSpec((10, 10), 3, in_channels=4, out_channels=4)
    nest = lower(index_level(spec).grad_weight, spec, schedule="blocked")
    accumulators = [s.acc for s, _ in walk(nest.body) if isinstance(s, Init)]
    assert len(accumulators) == 2 * 9  # a 2 × 1 × 9 tile, 18 of the 24 registers


@settings(max_examples=40, deadline=None)
@given(spec=conv_specs(max_channels_per_group=4), data=st.data(), seed=st.integers(0, 2**16))
def test_every_channel_tile_computes_the_reference(spec, data, seed):
    """ "blocked:BmxBc" with any tile dividing the channels: the same dL/dF."""
    b_m = data.draw(st.sampled_from(divisors(spec.out_channels_per_group)), label="B_m")
    b_c = data.draw(st.sampled_from(divisors(spec.in_channels_per_group)), label="B_c")
    arrays = CONVOLUTION.random_inputs(spec, np.random.default_rng(seed))
    arrays = {name: a.astype(np.float64) for name, a in arrays.items()}
    nest = lower(index_level(spec).grad_weight, spec, schedule=f"blocked:{b_m}x{b_c}")
    want = CONVOLUTION.reference(spec, arrays)["grad_weight"]
    np.testing.assert_allclose(run(nest, arrays), want, rtol=1e-12, atol=1e-12)


def test_a_named_tile_sets_the_accumulators_and_must_divide_the_channels():
    spec = ConvSpec((10, 10), 3, in_channels=4, out_channels=4)
    for name, count in (("blocked:4x1", 4 * 9), ("blocked:2x2", 4 * 9), ("blocked:1x1", 9)):
        nest = lower(index_level(spec).grad_weight, spec, schedule=name)
        accumulators = {s.acc for s, _ in walk(nest.body) if isinstance(s, Init)}
        assert len(accumulators) == count, name
    with pytest.raises(ValueError, match="schedule='blocked:3x1' cannot lower grad_weight"):
        lower(index_level(spec).grad_weight, spec, schedule="blocked:3x1")


def test_the_tuner_tries_the_next_largest_tiles_that_divide_the_channels():
    from symconv.lower.algorithms.blocked import tiles
    from symconv.machine import HOST

    spec = ConvSpec((10, 10), 3, in_channels=6, out_channels=8)
    found = tiles(spec, HOST)
    assert found and all(8 % b_m == 0 and 6 % b_c == 0 for b_m, b_c in found)
    assert all(b_m * b_c * 9 <= 2 * HOST.accumulators for b_m, b_c in found)
    assert [b_m * b_c for b_m, b_c in found] == sorted((b_m * b_c for b_m, b_c in found),
                                                        reverse=True)  # fmt: skip
