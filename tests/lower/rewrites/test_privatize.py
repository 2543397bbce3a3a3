"""Tests for symconv.lower.rewrites.privatize: a sum over the batch split into chunks."""

from __future__ import annotations

import math

from symconv.kinds import ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower import lower
from symconv.lower.algorithms.base import batch_chunks
from symconv.lower.ir import (
    For,
    LoopNest,
    Operand,
)
from symconv.machine import HOST
from symconv.symbolic.indices import make_indices

LECTURE = ConvSpec((3, 3), 2)


def loop_vars(nest: LoopNest) -> set[str]:
    return {s.var.name for s, _ in nest.statements() if isinstance(s, For)}


def test_grad_weight_splits_the_batch_into_private_partial_sums():
    spec = ConvSpec((28, 28), 5, out_channels=6, batch=64)
    formula = index_level(spec).grad_weight
    chunks = batch_chunks(formula, make_indices(spec.rank), HOST.target_tasks)
    assert chunks == 8  # 6 channel tasks × 8 chunks ≈ 64 tasks, and 8 divides 64
    nest = lower(formula, spec, schedule="blocked")
    assert nest.scratch == (Operand("partial", (8, *spec.weight_shape)),)
    outer = nest.body[0]
    assert outer.parallel and outer.extent == 8 * 6
    assert {"ch", "nn"} <= loop_vars(nest) | {"ch"}


def test_grad_bias_is_a_plain_sum_without_partials():
    spec = ConvSpec((28, 28), 5, out_channels=6, batch=64, bias=True)
    nest = lower(index_level(spec).grad_bias, spec)
    assert nest.scratch == ()
    assert math.prod(spec.output_shape) >= HOST.parallel_min_work and nest.parallel
