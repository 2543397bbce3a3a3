"""Tests for symconv.kinds: the one place that tells layer kinds apart.

A ``kind`` key marks a pooling layer in text, everything else is a convolution; every
later stage asks `kind_of(spec)` for the kernels, tensors and oracles of a layer.
"""

from __future__ import annotations

import numpy as np
import pytest

from symconv.kinds import (
    CONVOLUTION,
    POOLING,
    TRANSPOSED,
    ConvSpec,
    ConvTransposeSpec,
    PoolSpec,
    kind_of,
    relative_error,
    require,
    spec_from_dict,
    spec_from_json,
)


@pytest.mark.parametrize(
    "spec", [ConvSpec((5, 5), 3, stride=2, padding=1), PoolSpec("avg", (5, 5), 3, padding=1)]
)
def test_canonical_json_round_trips_to_the_same_class(spec):
    again = spec_from_json(spec.to_json())
    assert type(again) is type(spec) and again == spec


def test_the_kind_key_decides():
    assert spec_from_dict({"input_size": [4], "kernel_size": 2}) == ConvSpec((4,), 2)
    assert spec_from_dict({"kind": "max", "input_size": [4], "kernel_size": 2}) == PoolSpec(
        "max", (4,), 2
    )
    with pytest.raises(ValueError, match="unknown ConvSpec field 'channels'"):
        spec_from_dict({"input_size": [4], "kernel_size": 2, "channels": 3})


def test_kind_of_names_the_kind_and_refuses_anything_else():
    assert kind_of(ConvSpec((3, 3), 2)) is CONVOLUTION
    assert kind_of(PoolSpec("max", (4, 4), 2)) is POOLING
    assert kind_of(ConvTransposeSpec((3, 3), 2)) is TRANSPOSED
    expected = "expected a ConvSpec, a PoolSpec or a ConvTransposeSpec, not str"
    with pytest.raises(TypeError, match=expected):
        kind_of("conv")
    with pytest.raises(TypeError, match="spec must be a PoolSpec, not ConvSpec"):
        require(ConvSpec((3, 3), 2), POOLING)


def test_signatures_follow_the_layer():
    assert CONVOLUTION.kernel_names(ConvSpec((3, 3), 2)) == ("forward", "grad_input", "grad_weight")
    with_bias = CONVOLUTION.signatures(ConvSpec((3, 3), 2, bias=True))
    assert [s.name for s in with_bias][-1] == "grad_bias"
    assert with_bias[0].passed == ("x", "w", "b")
    assert CONVOLUTION.signature(ConvSpec((3, 3), 2), "forward").passed == ("x", "w")
    assert POOLING.kernel_names(PoolSpec("avg", (4, 4), 2)) == ("forward", "grad_input")


@pytest.mark.parametrize(
    "spec", [ConvSpec((5, 4), 3, stride=2, bias=True), PoolSpec("max", (5, 5), 3, 2, padding=1)]
)
def test_every_formula_has_a_signature_and_every_tensor_a_shape(spec):
    kind = kind_of(spec)
    level, shapes = kind.index_level(spec), kind.tensor_shapes(spec)
    assert tuple(f.name for f in level.formulas()) == kind.kernel_names(spec)
    for formula in level.formulas():
        for access in (formula.target, *formula.factors):
            assert len(access.index) == len(shapes[access.tensor])


def test_relative_error_wants_specials_where_the_oracle_has_them():
    want = np.array([1.0, np.nan, np.inf, -2.0])
    assert relative_error(want.copy(), want) == (0.0, 0.0)
    assert relative_error(np.array([1.0, 0.0, np.inf, -2.0]), want)[1] == np.inf
    assert relative_error(np.array([1.0, np.nan, -np.inf, -2.0]), want)[1] == np.inf
    assert relative_error(np.array([1.5, np.nan, np.inf, -2.0]), want) == (0.5, 0.25)
    assert relative_error(np.zeros(3), np.zeros(4))[1] == np.inf
