"""Tests for symconv.layers: a ``kind`` key marks a pooling layer, everything else is a conv."""

from __future__ import annotations

import pytest

from symconv.layers import layer_formulas, spec_from_dict, spec_from_json
from symconv.pool_spec import PoolSpec
from symconv.spec import ConvSpec
from symconv.symbolic.indices import IndexLevel
from symconv.symbolic.pool_formulas import PoolLevel


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


def test_layer_formulas_dispatch_on_the_spec_type():
    assert isinstance(layer_formulas(ConvSpec((3, 3), 2)), IndexLevel)
    assert isinstance(layer_formulas(PoolSpec("max", (4, 4), 2)), PoolLevel)
    with pytest.raises(TypeError, match="expected a ConvSpec or a PoolSpec"):
        layer_formulas("conv")
