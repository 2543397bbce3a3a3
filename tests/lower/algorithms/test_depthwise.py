"""Tests for the depthwise algorithm: plane by plane, borders split off, no padded copy."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv.kinds import CONVOLUTION, ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower import lower
from symconv.lower.driver import schedules_for
from symconv.lower.interpret import run
from symconv.lower.ir import For, If, walk
from tests.strategies import conv_specs


def depthwise_specs() -> st.SearchStrategy[ConvSpec]:
    specs = conv_specs(groups=(2, 3), max_channels_per_group=2)
    return specs.filter(lambda s: s.in_channels_per_group == 1)


@settings(max_examples=40, deadline=None)
@given(spec=depthwise_specs(), seed=st.integers(0, 2**16))
def test_depthwise_nests_compute_the_reference(spec, seed):
    """Ranks 1-3, stride with leftover rows (dL/dX by phases), padding, dilation, multipliers."""
    arrays = {
        k: a.astype(np.float64)
        for k, a in CONVOLUTION.random_inputs(spec, np.random.default_rng(seed)).items()
    }
    expected = CONVOLUTION.reference(spec, arrays)
    for formula in index_level(spec).formulas():
        if formula.name not in ("forward", "grad_input"):
            continue
        nest = lower(formula, spec, schedule="depthwise")
        assert not nest.staged  # no padded copy
        np.testing.assert_allclose(
            run(nest, arrays), expected[formula.name], rtol=1e-11, atol=1e-11
        )


def test_the_interior_runs_without_guards_and_is_the_vector_loop():
    spec = ConvSpec((20, 20), 3, padding=1, in_channels=4, out_channels=4, groups=4, batch=2)
    nest = lower(index_level(spec).forward, spec, schedule="depthwise")
    assert not any(isinstance(s, If) for s, _ in walk(nest.body))
    vector = [s for s, _ in walk(nest.body) if isinstance(s, For) and s.vector]
    # rows 0 and 19 each get their own columns; the 18 interior rows share one loop
    assert [loop.extent for loop in vector] == [18, 18, 18]


@settings(max_examples=40, deadline=None)
@given(spec=conv_specs())
def test_depthwise_is_offered_for_one_input_channel_per_group(spec):
    offered = {
        f.name for f in index_level(spec).formulas() if "depthwise" in schedules_for(f, spec)
    }
    eligible = spec.groups > 1 and spec.in_channels_per_group == 1
    assert offered == ({"forward", "grad_input"} if eligible else set())
