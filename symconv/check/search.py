"""Random layers within a convention's limits, and the smallest one that fails.

Hypothesis draws the layers and, once one fails, shrinks it: every size toward its
smallest value, the rank toward 1-D, channels and batch toward 1, a stride, padding
or dilation toward none, float64 before float32, correlation before convolution.
What is left is a layer no bigger than the bug needs.  Layers are built from the
output side (kernel, dilation, stride, outputs and leftover fix the padded length),
so every draw is valid and leftover rows come up as often as none.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from symconv.check.conventions import Limits
from symconv.kinds import ConvSpec

#: Outputs per dimension at most, by rank: keeps every layer tiny and every call fast.
MAX_OUTPUTS = {1: 4, 2: 3, 3: 2}


def _hypothesis() -> Any:
    try:
        import hypothesis
    except ImportError:
        raise ValueError(
            "the random search needs hypothesis: pip install hypothesis "
            "(or pass examples=0 / --examples 0 to run the named cases only)"
        ) from None
    return hypothesis


def dimension(
    max_kernel: int,
    max_stride: int,
    max_dilation: int,
    max_padding: int,
    max_output: int,
    symmetric: bool = False,
) -> Any:
    """A strategy of one spatial dimension: (input, kernel, stride, dilation, (lo, hi)).

    Drawn from the output side, so every draw is valid: padding may be anything that
    leaves at least one real input element (the same on both sides if `symmetric`).
    The tests' layer strategies draw their dimensions here too.
    """
    st = _hypothesis().strategies

    @st.composite
    def draw_dimension(draw: Any) -> tuple[int, int, int, int, tuple[int, int]]:
        kernel = draw(st.integers(1, max_kernel))
        stride = draw(st.integers(1, max_stride))
        dilation = draw(st.integers(1, max_dilation)) if kernel > 1 else 1
        outputs = draw(st.integers(1, max_output))
        leftover = draw(st.integers(0, stride - 1))
        padded = dilation * (kernel - 1) + 1 + (outputs - 1) * stride + leftover
        if symmetric:
            lo = hi = draw(st.integers(0, min(max_padding, (padded - 1) // 2)))
        else:
            lo = draw(st.integers(0, min(max_padding, padded - 1)))
            hi = draw(st.integers(0, min(max_padding, padded - 1 - lo)))
        return padded - lo - hi, kernel, stride, dilation, (lo, hi)

    return draw_dimension()


def layers(limits: Limits, dtypes: tuple[str, ...] = ("float64", "float32")) -> Any:
    """A Hypothesis strategy of ConvSpecs every checked function can be called on."""
    st = _hypothesis().strategies

    def layer_dimension(rank: int) -> Any:
        return dimension(
            max_kernel=3,
            max_stride=3 if limits.stride else 1,
            max_dilation=2 if limits.dilation else 1,
            max_padding=2 if limits.padding else 0,
            max_output=MAX_OUTPUTS[rank],
            symmetric=not limits.asymmetric_padding,
        )

    @st.composite
    def layer(draw: Any) -> ConvSpec:
        rank = draw(st.sampled_from(sorted(limits.ranks)))
        dims = [draw(layer_dimension(rank)) for _ in range(rank)]
        groups = draw(st.integers(1, 3)) if limits.groups else 1
        in_per_group, out_per_group = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        return ConvSpec(
            input_size=tuple(d[0] for d in dims),
            kernel_size=tuple(d[1] for d in dims),
            stride=tuple(d[2] for d in dims),
            dilation=tuple(d[3] for d in dims),
            padding=tuple(d[4] for d in dims),
            in_channels=groups * in_per_group,
            out_channels=groups * out_per_group,
            groups=groups,
            batch=draw(st.integers(1, 2)) if limits.batch else 1,
            bias=draw(st.booleans()) if limits.bias else False,
            mode=draw(
                st.sampled_from(
                    ("cross-correlation", "convolution")
                    if limits.convolution_mode
                    else ("cross-correlation",)
                )
            ),
            dtype=draw(st.sampled_from(dtypes)),
        )

    return layer()


def smallest_failing(
    limits: Limits, fails: Callable[[ConvSpec], bool], examples: int, seed: int
) -> tuple[ConvSpec | None, int]:
    """(the smallest layer on which `fails` holds, or None; how many layers were tried)."""
    hypothesis = _hypothesis()
    tried = 0

    def counted(spec: ConvSpec) -> bool:
        nonlocal tried
        tried += 1
        return fails(spec)

    settings = hypothesis.settings(
        max_examples=examples,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    try:
        found = hypothesis.find(
            layers(limits), counted, settings=settings, random=random.Random(seed)
        )
    except hypothesis.errors.NoSuchExample:
        return None, tried
    return found, tried
