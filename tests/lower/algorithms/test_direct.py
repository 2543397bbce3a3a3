"""Tests for the direct algorithm: every formula of every kind, one element at a time."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv.kinds import kind_of
from symconv.lower import lower
from symconv.lower.driver import schedules_for
from symconv.lower.interpret import run
from tests.pool_strategies import pool_specs
from tests.strategies import conv_specs


@settings(max_examples=60, deadline=None)
@given(spec=st.one_of(conv_specs(), pool_specs()), seed=st.integers(0, 2**16))
def test_direct_applies_to_everything_and_computes_the_reference(spec, seed):
    kind = kind_of(spec)
    arrays = kind.random_inputs(spec, np.random.default_rng(seed))
    arrays = {name: a.astype(np.float64) for name, a in arrays.items()}
    expected = kind.reference(spec, arrays)
    for formula in kind.index_level(spec).formulas():
        assert schedules_for(formula, spec)[0] == "direct"
        got = run(lower(formula, spec, schedule="direct"), arrays)
        np.testing.assert_allclose(got, expected[formula.name], rtol=1e-12, atol=1e-12)
