"""Tests for the rendered pooling modules, without compiling.

As in tests/targets/numba_cpu/test_view.py, a module runs with a stand-in `numba` whose `njit`
returns the plain function: it must compute what symconv.reference computes, for
many random specs in a fraction of a second each.  tests/test_pipeline_pooling.py
compiles the real thing.
"""

from __future__ import annotations

import ast

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv import reference
from symconv.codegen.printer import print_index
from symconv.kinds import PoolSpec
from symconv.pipeline import render as render_module
from symconv.symbolic.indices import index_symbol
from tests.pool_strategies import pool_arrays, pool_specs
from tests.targets.numba_cpu.test_view import call, execute

LENET_POOL = PoolSpec("max", (24, 24), 2, channels=6)
TOLERANCES = {"float32": 1e-5, "float64": 1e-12}


@settings(max_examples=60, deadline=None)
@given(spec=pool_specs(), seed=st.integers(0, 2**16))
def test_rendered_pooling_module_computes_the_reference_in_pure_python(spec, seed):
    with pytest.MonkeyPatch.context() as monkeypatch:
        module = execute(render_module(spec), monkeypatch)
    x, gy = pool_arrays(spec, np.random.default_rng(seed))
    got_y = call(module, "forward", x)
    got_gx = (
        call(module, "grad_input", gy, x) if spec.kind == "max" else call(module, "grad_input", gy)
    )
    for got, want in (
        (got_y, reference.pool_forward(spec, x)),
        (got_gx, reference.pool_grad_input(spec, gy, x)),
    ):
        assert got.dtype == np.dtype(spec.dtype) and got.shape == want.shape
        scale = max(float(np.max(np.abs(want), initial=0.0)), 1.0)
        tol = TOLERANCES[spec.dtype] * scale
        np.testing.assert_allclose(got, want, rtol=0, atol=tol)


def test_signatures_follow_the_kind():
    """Max pooling's gradient reads x (the maxima decide where gy goes); a mean's does not."""
    functions = {}
    for kind in ("max", "avg"):
        tree = ast.parse(render_module(PoolSpec(kind, (4, 4), 2)))
        functions[kind] = {
            node.name: [a.arg for a in node.args.args]
            for node in tree.body
            if isinstance(node, ast.FunctionDef)
        }
    helpers = {
        "in_written_order": [],
        "gemm_accumulate": ["out", "a", "b"],
        "add_rows": ["out", "values"],
        "compile_task": ["task", "function", "fastmath"],
    }
    # each kernel's arguments, then its result (the caller passes it: see RESULTS)
    assert functions["max"] == {**helpers, "forward": ["x", "y"], "grad_input": ["gy", "x", "gx"]}
    assert functions["avg"] == {
        **helpers,
        "forward": ["x", "y"],
        "grad_input": ["gy", "gx", "gy_dilated"],
    }


def test_module_declares_only_input_and_output_types():
    source = render_module(PoolSpec("avg", (4, 5, 6), 2, dtype="float64"))
    assert "INPUT = numba.float64[:, :, :, :, ::1]" in source
    assert "OUTPUT = numba.float64[:, :, :, :, ::1]" in source
    assert "WEIGHT" not in source and "BIAS" not in source
    assert "INPUT_SHAPE = (1, 1, 4, 5, 6)" in source and "OUTPUT_SHAPE = (1, 1, 2, 2, 3)" in source
    # arguments read-only, then the result, then the dilated dL/dy workspace
    assert (
        "OUTPUT(INPUT_ARG, OUTPUT)," in source and "INPUT(OUTPUT_ARG, INPUT, BUFFER_5D)," in source
    )


def test_max_kernels_have_no_fastmath_and_mean_kernels_do():
    # the two helpers (a GEMM accumulation, a row sum) always take FASTMATH
    assert render_module(PoolSpec("max", (4, 4), 2)).count("fastmath=False") == 2
    assert render_module(PoolSpec("avg", (4, 4), 2)).count("fastmath=FASTMATH") == 2 + 2


def test_max_pooling_pads_with_minus_infinity_and_its_gradient_starts_at_zero():
    source = render_module(PoolSpec("max", (5, 5), 3, stride=2, padding=1))
    # the padded copy is allocated once, filled with -inf; each call copies x into it
    assert '"forward": (("x_padded", (1, 1, 7, 7), -np.inf), ),' in source
    assert "x_padded[:, :, 1:6, 1:6] = x" in source
    assert "MINUS_INF = np.float32(-np.inf)" in source and "acc = MINUS_INF" in source
    # the gradient adds into its result, so the kernel zeroes it first
    assert '"grad_input": ("gx", (1, 1, 5, 5), True),' in source
    assert "gx.reshape(-1)[:] = 0" in source
    assert "th_best = max(0, 1 - 2 * jh)" in source
    assert "gx[0, 0, 2 * jh + th_best - 1, 2 * jw + tw_best - 1] += gy[0, 0, jh, jw]" in source


def test_average_pooling_divides_once_at_the_store():
    source = render_module(PoolSpec("avg", (5,), 3, stride=2, padding=1, dtype="float64"))
    assert '"forward": (("x_padded", (1, 1, 7), 0.0), ),' in source
    assert "K_3 = np.float64(3)" in source
    assert "y[0, 0, j] = acc / K_3" in source
    assert "gx[0, 0, r] = acc / K_3" in source


def test_lenet_pool_forward_reads_like_hand_written_code():
    """The first LeNet max pool: four literal taps per window, strict > so ties keep the
    first, and a NaN takes over (PyTorch's rule) so it reaches the output."""
    source = render_module(LENET_POOL)
    start = source.index("def forward(x, y):")
    forward = source[start : source.index("@numba.njit", start)]
    body = [line.strip() for line in forward.splitlines()]
    first = body.index("acc = MINUS_INF")
    taps = ("2 * jh, 2 * jw", "2 * jh, 2 * jw + 1", "2 * jh + 1, 2 * jw", "2 * jh + 1, 2 * jw + 1")
    expected = ["acc = MINUS_INF"]
    for tap in taps:
        expected += [
            f"candidate = x[0, c, {tap}]",
            "if candidate > acc or candidate != candidate:",
            "acc = candidate",
        ]
    assert body[first : first + 14] == [*expected, "y[0, c, jh, jw] = acc"]


def test_header_names_the_pool_spec_and_its_regeneration_command():
    lines = render_module(LENET_POOL).splitlines()
    assert lines[1].startswith("# Layer maxpool2d_1x6x24x24_k2x2_s2: max pooling, input 1×6×24×24")
    assert lines[2] == f"# Spec: {LENET_POOL.to_json()}"
    assert lines[3] == f"# Regenerate: python -m symconv.pipeline '{LENET_POOL.to_json()}'"


def test_printer_prints_max_and_min_as_builtins():
    j = index_symbol("jh")
    assert print_index(sp.Max(0, 1 - 2 * j)) == "max(0, 1 - 2 * jh)"
    assert print_index(sp.Min(3, j + 1)) == "min(3, jh + 1)"
    assert eval(print_index(sp.Max(0, 1 - 2 * j)), {"jh": 0}) == 1  # noqa: S307
