"""The benchmark's building blocks: timing, FLOP counts, inputs, the agreement check.

No speed is asserted here (timed tests flake); only counts, shapes and bounds.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from symconv.benchmark.contenders import (
    OPERATIONS,
    Inputs,
    check_agreement,
    flops,
    numpy_calls,
    torch_calls,
)
from symconv.kinds import ConvSpec
from symconv.timing import time_call


class Counter:
    def __init__(self, sleep: float = 0.0) -> None:
        self.calls = 0
        self.sleep = sleep

    def __call__(self) -> None:
        self.calls += 1
        if self.sleep:
            time.sleep(self.sleep)


def test_time_call_median_lies_within_the_quartiles():
    call = Counter(sleep=0.001)
    timing = time_call(call, warmup=1, min_runs=4, max_runs=20, budget=0.02)
    assert timing.low <= timing.median <= timing.high
    assert 4 <= timing.runs <= 20
    assert call.calls == timing.runs + 1  # the warm-up call is not a run


def test_time_call_stops_at_min_runs_when_the_budget_is_spent():
    call = Counter()
    timing = time_call(call, warmup=2, min_runs=3, max_runs=50, budget=0.0)
    assert timing.runs == 3
    assert call.calls == 5
    assert timing.low <= timing.median <= timing.high


def test_time_call_stops_at_max_runs():
    call = Counter()
    timing = time_call(call, warmup=0, min_runs=2, max_runs=7, budget=60.0)
    assert timing.runs == call.calls == 7


def test_flops_are_two_per_hand_counted_multiply_add():
    spec = ConvSpec((5, 5), 3, in_channels=2, out_channels=4, batch=3, stride=2)
    # output 2×2; each of 3·4·2·2 outputs sums 2 channels × 3·3 taps
    assert flops(spec) == 2 * (3 * 4 * 2 * 2) * (2 * 9)
    grouped = ConvSpec((6,), 3, in_channels=4, out_channels=2, groups=2)
    # output 4; each of 1·2·4 outputs sums 4/2 channels × 3 taps
    assert flops(grouped) == 2 * (1 * 2 * 4) * (2 * 3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inputs_random_has_the_layer_shapes_and_dtype(dtype):
    spec = ConvSpec((6, 5), 3, in_channels=2, out_channels=4, batch=3, bias=True, dtype=dtype)
    data = Inputs.random(spec)
    assert data.x.shape == spec.input_shape
    assert data.w.shape == spec.weight_shape
    assert data.b is not None and data.b.shape == spec.bias_shape
    assert data.gy.shape == spec.output_shape
    assert {a.dtype for a in (data.x, data.w, data.b, data.gy)} == {np.dtype(dtype)}
    assert Inputs.random(ConvSpec((4, 4), 2)).b is None
    np.testing.assert_array_equal(Inputs.random(spec).x, data.x)  # seeded


def test_check_agreement_accepts_the_answer_and_refuses_a_wrong_one():
    expected = np.arange(6.0).reshape(2, 3)
    check_agreement("right", expected.astype(np.float32), expected, "float32")
    wrong = expected.copy()
    wrong[1, 2] += 0.5
    with pytest.raises(RuntimeError, match="wrong differs"):
        check_agreement("wrong", wrong, expected, "float64")
    with pytest.raises(RuntimeError, match="nan differs"):
        check_agreement("nan", np.full_like(expected, np.nan), expected, "float64")
    with pytest.raises(RuntimeError, match="shape"):
        check_agreement("broadcast", expected[:1], expected, "float64")


@pytest.mark.parametrize(
    "spec",
    [
        ConvSpec(
            (6, 5),
            3,
            in_channels=2,
            out_channels=3,
            batch=2,
            mode="convolution",
            bias=True,
            padding=((0, 1), (1, 0)),
        ),
        ConvSpec(
            (7, 6),
            (3, 2),
            in_channels=2,
            out_channels=4,
            groups=2,
            stride=2,
            dilation=(1, 2),
            dtype="float64",
        ),
    ],
)
def test_torch_contender_agrees_with_the_reference(spec):
    pytest.importorskip("torch", reason="PyTorch not installed: pip install torch")
    data = Inputs.random(spec)
    ours, theirs = numpy_calls(spec, data), torch_calls(spec, data)
    for operation in OPERATIONS:
        expected = np.asarray(ours[operation](), dtype=np.float64)
        check_agreement(operation, theirs[operation]().numpy(), expected, spec.dtype)
