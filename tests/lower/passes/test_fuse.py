"""Tests for the fuse pass: independent outer loops become one parallel loop."""

from __future__ import annotations

from symconv.kinds import ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower import lower
from symconv.machine import HOST

LECTURE = ConvSpec((3, 3), 2)


def test_lenet_forward_is_a_prange_over_batch_times_output_channels():
    spec = ConvSpec((28, 28), 5, out_channels=6, batch=2)
    nest = lower(index_level(spec).forward, spec, schedule="direct")
    assert nest.parallel and spec.multiply_adds >= HOST.parallel_min_work
    (outer,) = nest.body
    assert outer.parallel and outer.var.name == "n_m" and outer.extent == 12
    assert [s.var.name for s in outer.body[:2]] == ["n", "m"]


def test_grad_input_is_a_gather_parallel_over_input_channels():
    spec = ConvSpec((28, 28), 5, in_channels=3, out_channels=6, batch=2)
    nest = lower(index_level(spec).grad_input, spec, schedule="direct")
    (outer,) = nest.body
    assert nest.parallel and outer.var.name == "n_c" and outer.extent == 6
    assert nest.scratch == ()  # each thread writes its own gx elements: no partial sums


def test_without_batch_or_channel_loops_the_outer_position_loop_is_parallel():
    spec = ConvSpec((28, 28), 5, out_channels=6)  # batch 1, one input channel
    nest = lower(index_level(spec).grad_input, spec, schedule="direct")
    (outer,) = nest.body
    assert nest.parallel and outer.parallel and outer.var.name == "rh"
