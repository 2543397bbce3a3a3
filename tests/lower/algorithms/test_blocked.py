"""Tests for the blocked algorithm: dL/dF with a register tile of channels × taps."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv.kinds import CONVOLUTION, ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower import lower
from symconv.lower.interpret import run
from symconv.lower.ir import Init, walk
from tests.strategies import conv_specs


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
