"""A transposed convolution derived from its own scatter: the chain rule's gradients, and
the three identities with the convolution it transposes, proved and able to fail."""

from __future__ import annotations

import numpy as np
import sympy as sp
from hypothesis import given, settings

from symconv.kinds import TRANSPOSED, ConvTransposeSpec
from symconv.symbolic.derive import derive
from symconv.symbolic.transposed import prove_identities
from tests.strategies import transposed_specs


@settings(max_examples=30, deadline=None)
@given(transposed_specs(max_rank=3, max_size=3))
def test_every_identity_holds_on_random_transposed_layers(spec) -> None:
    d = derive(spec)
    assert d.element_level and d.all_patterns_hold, {n: p.holds for n, p in d.patterns.items()}
    assert len(d.patterns) == (4 if spec.bias else 3)


@settings(max_examples=15, deadline=None)
@given(transposed_specs(max_rank=2, max_size=3))
def test_the_equations_evaluate_to_the_numpy_oracle(spec) -> None:
    """Numbers in, the derivation's sums against the oracle written from the definition."""
    d = derive(spec)
    a = TRANSPOSED.random_inputs(spec, np.random.default_rng(4))
    values = {s: float(v) for key in d.symbols for s, v in zip(d.symbols[key].flat, a[key].flat)}
    want = TRANSPOSED.reference(spec, a)
    for name, exprs in (("forward", d.output), ("grad_input", d.grad_input),
                        ("grad_weight", d.grad_weight)):  # fmt: skip
        got = np.array([float(sp.sympify(e).xreplace(values)) for e in exprs.flat])
        assert np.allclose(got, want[name].ravel(), rtol=1e-4, atol=1e-4), name


def test_a_wrong_forward_fails_its_proof() -> None:
    """Rotating the filter in the forward equations must break the first identity only."""
    spec = ConvTransposeSpec((2, 2), 3, stride=2, padding=1, output_padding=1)
    d = derive(spec)
    w = d.symbols["w"]
    rotated = dict(zip(w.flat, w[:, :, ::-1, ::-1].flat))
    d.output = np.vectorize(lambda e: e.xreplace(rotated), otypes=[object])(d.output)
    verdicts = {p.name: p.holds for p in prove_identities(d)}
    assert verdicts == {
        "transposed_forward": False,
        "transposed_grad_input": True,
        "transposed_grad_weight": True,
    }


def test_the_lecture_sized_decoder_equations() -> None:
    """2×2 → 4×4, kernel 3, stride 2, padding 1, output_padding 1: by hand, O22 (1-based)
    receives X11 through tap (3, 3), X12 through (3, 1), X21 through (1, 3), X22 through (1, 1)."""
    d = derive(ConvTransposeSpec((2, 2), 3, stride=2, padding=1, output_padding=1))
    x, w = d.symbols["x"][0, 0], d.symbols["w"][0, 0]
    expected = x[0, 0] * w[2, 2] + x[0, 1] * w[2, 0] + x[1, 0] * w[0, 2] + x[1, 1] * w[0, 0]
    assert sp.expand(d.output[0, 0, 1, 1] - expected) == 0
    assert d.output[0, 0, 3, 3] == x[1, 1] * w[2, 2]  # the output_padding row: one product
