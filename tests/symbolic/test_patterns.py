"""The lecture's patterns: proved over random layers, and able to fail when wrong."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import sympy as sp
from hypothesis import HealthCheck, given, settings

from symconv import ConvSpec, derive
from symconv.symbolic import patterns
from symconv.symbolic.identities import Dilate, Operand, Pad, Rotate, SwapChannels
from tests.strategies import conv_specs, tiled_specs


@settings(max_examples=40, deadline=None)
@given(spec=conv_specs(max_batch=2, groups=(1, 2), max_channels_per_group=2))
def test_every_pattern_holds_on_random_layers(spec):
    d = derive(spec)
    failed = [name for name, p in d.patterns.items() if not p.holds]
    assert not failed, f"{failed} fail for {spec}"


@settings(max_examples=60, deadline=None)
@given(spec=conv_specs(max_batch=2, groups=(1, 2, 3), max_channels_per_group=2))
def test_every_displayed_equation_is_literally_true(spec):
    """Each identity, evaluated in SymPy from its operands as displayed (rotated, dilated,
    padded, cropped) and its operation, equals the chain-rule result entry by entry."""
    d = derive(spec)
    expected = {"gx": d.grad_input, "gw": d.grad_weight}
    for name, pattern in d.patterns.items():
        if pattern.identity is not None:
            shown = pattern.identity.evaluate(d.symbols)
            assert patterns.same_expressions(shown, expected[pattern.identity.lhs]), name


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=tiled_specs(max_rank=2, max_batch=2, max_channels_per_group=2, groups=(1, 2)))
def test_every_displayed_equation_of_a_tiled_layer_is_literally_true(spec):
    """Tiled and locally connected layers with several channels and groups: each printed
    identity (per tile, summed over the tiles) equals the chain-rule result."""
    d = derive(spec)
    expected = {"gx": d.grad_input, "gw": d.grad_weight}
    checked = 0
    for name, pattern in d.patterns.items():
        assert pattern.holds, name
        if pattern.identity is not None:
            shown = pattern.identity.evaluate(d.symbols)
            lhs = expected[pattern.identity.lhs]
            if pattern.identity.lhs_tile:  # one tile's filter: that part of ∂L/∂F
                lhs = lhs[(slice(None), slice(None), *pattern.identity.lhs_tile)]
            assert patterns.same_expressions(shown, lhs), name
            checked += 1
    assert checked >= 1


def test_stride_two_dilates_the_upstream_gradient_like_the_recitation():
    """For stride 2, dL/dO gets one zero between neighbours before the full correlation."""
    d = derive(ConvSpec((5, 5), 3, stride=2))
    dilated = d.patterns["dilation"].evidence["dilated"][0, 0]
    names = [[str(e) for e in row] for row in dilated]
    assert names == [["dL/dO11", "0", "dL/dO12"], ["0", "0", "0"], ["dL/dO21", "0", "dL/dO22"]]
    # k_eff - 1 - lo = 2 zeros before, k_eff - 1 - hi + a = 2 after: the full correlation
    assert d.patterns["padding"].evidence["amounts"] == ((2, 2), (2, 2))
    identity = d.patterns["rotation"].identity
    assert identity.operation.full and identity.grid.steps == (Dilate((2, 2)),)


def test_asymmetric_padding_is_not_called_full_and_pads_the_operand():
    d = derive(ConvSpec((5, 5), 3, padding=((0, 1), (1, 0))))
    identity = d.patterns["rotation"].identity
    assert not identity.operation.full and identity.operation.name == "cross-correlation"
    assert identity.grid.steps == (Pad(((2, 1), (1, 2))),)
    assert "full" not in d.patterns["rotation"].title and d.patterns["rotation"].holds


def test_lecture_rotated_filter():
    d = derive(ConvSpec((3, 3), 2))
    rotated = d.patterns["rotation"].identity.kernel.value(d.symbols)[0, 0]
    assert [[str(e) for e in row] for row in rotated] == [["F22", "F21"], ["F12", "F11"]]


def test_convolution_mode_shows_the_filter_unrotated_and_rotates_dl_df_back():
    d = derive(ConvSpec((4, 4), 2, mode="convolution"))
    rotation, grad_weight = d.patterns["rotation"], d.patterns["grad_weight"]
    assert "filter itself" in rotation.title and "rotated filter" not in rotation.title
    assert not any(isinstance(step, Rotate) for step in rotation.identity.kernel.steps)
    assert (
        grad_weight.identity.result_steps == (Rotate(),) and "rotated by 180°" in grad_weight.title
    )
    assert rotation.holds and grad_weight.holds


def test_strided_dl_df_crops_x_to_the_rows_the_windows_reach():
    """6×6, k3, s2: the windows reach rows 0..4; the sixth row is cropped, so the correlation
    is exactly 3×3 (the whole X would give 4×4)."""
    d = derive(ConvSpec((6, 6), 3, stride=2))
    identity = d.patterns["grad_weight"].identity
    assert identity.grid.steps == (Pad(((0, -1), (0, -1))),)
    assert identity.grid.value(d.symbols).shape == (1, 1, 5, 5)
    assert identity.evaluate(d.symbols).shape == (1, 1, 3, 3)


def test_rotation_check_fails_without_the_rotation():
    """The proof is not vacuous: the unrotated filter does not give dL/dX."""
    d = derive(ConvSpec((3, 3), 2))
    identity = d.patterns["rotation"].identity
    wrong = replace(identity, kernel=Operand("w", (SwapChannels(1),)))
    assert not patterns.same_expressions(wrong.evaluate(d.symbols), d.grad_input)
    assert patterns.same_expressions(identity.evaluate(d.symbols), d.grad_input)


def test_same_expressions_expands_before_deciding():
    a, b, c = sp.symbols("a b c")
    left = np.array([a * (b + c)], dtype=object)
    assert patterns.same_expressions(left, np.array([a * b + a * c], dtype=object))
    assert not patterns.same_expressions(left, np.array([a * b], dtype=object))


def test_unreached_rows_get_zero_gradient():
    # i=8, k=3, s=3, hi=0: windows start at 0 and 3 and read rows 0..5; rows 6 and 7 are left
    spec = ConvSpec((8,), 3, stride=3)
    assert spec.leftover == (2,)
    assert patterns.unreached_positions(spec) == ((6, 7),)
    d = derive(spec)
    assert d.grad_input[0, 0, 6] == 0 and d.grad_input[0, 0, 7] == 0
    assert d.grad_input[0, 0, 5] != 0
    assert d.patterns["leftover"].holds


def test_dilation_holes_are_unreached_too():
    # k=2, d=2, s=2 over 6 inputs: taps read rows 0,2 and 2,4 -> rows 1, 3, 5 unread
    spec = ConvSpec((6,), 2, stride=2, dilation=2)
    assert patterns.unreached_positions(spec) == ((1, 3, 5),)


def test_padding_swallowing_the_leftover_leaves_no_unreached_row():
    spec = ConvSpec((8,), 3, stride=3, padding=((0, 1),))
    assert spec.leftover == (0,) and spec.output_size == (3,)  # the third window reads 6, 7, pad
    assert patterns.unreached_positions(spec) == ((),)


def test_large_padding_crops_the_full_correlation_grid():
    # lo = 3 > k_eff - 1 = 1: the full correlation crops one row instead of padding
    spec = ConvSpec((4,), 2, padding=3)
    d = derive(spec)
    assert d.patterns["padding"].evidence["amounts"] == ((-2, -2),)
    assert d.patterns["rotation"].holds and d.patterns["padding"].holds


def test_grad_weight_pattern_trades_stride_and_dilation():
    spec = ConvSpec((9,), 3, stride=2, dilation=3)
    d = derive(spec)
    identity = d.patterns["grad_weight"].identity
    assert d.patterns["grad_weight"].holds and identity.operation.stride == (3,)
    kernel = identity.kernel.value(d.symbols)[0, 0]
    assert [str(e) for e in kernel] == ["dL/dO1", "0", "dL/dO2"]
