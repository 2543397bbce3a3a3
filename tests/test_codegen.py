"""Tests for symconv.codegen: the index printer, the templates and the rendered modules.

Rendered modules are checked without compiling: executed with a stand-in `numba`
whose `njit` returns the plain Python function, they must compute what
`symconv.reference` computes.  That proves the templates and the printer for many
specs in a fraction of a second each; tests/test_pipeline.py compiles the real thing.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
import types
from pathlib import Path

import jinja2
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings

from symconv.codegen import print_index, render_module
from symconv.codegen.printer import print_slices
from symconv.codegen.render import check_view
from symconv.codegen.templates import environment, template_digest, template_sources
from symconv.lower.ir import Read
from symconv.spec import ConvSpec
from symconv.symbolic.indices import Divisible, InRange, index_symbol
from tests.strategies import conv_specs, random_arrays

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
LECTURE = ConvSpec((3, 3), 2)

jh, jw, th, r, t, f = (index_symbol(n) for n in ("jh", "jw", "th", "r", "t", "n_m"))


# ----- the printer ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "expr,text",
    [
        (2 * jh + th - 1, "2 * jh + th - 1"),
        (2 - th, "2 - th"),
        (-th, "-th"),
        (jh + 0, "jh"),
        (sp.Integer(7), "7"),
        (3 * r - 2 * t, "3 * r - 2 * t"),
        (sp.floor((r + 1 - 2 * t) / 3), "(r - 2 * t + 1) // 3"),
        (sp.floor(f / 6), "n_m // 6"),
        (sp.Mod(sp.floor(f / 3), 2), "(n_m // 3) % 2"),
        (sp.Mod(f, 6), "n_m % 6"),
    ],
)
def test_print_index(expr, text):
    assert print_index(expr) == text


def test_printed_floor_is_exact_integer_division():
    """floor(7/3 − 1/3) is 2; in floating point it would be floor(1.999…) = 1."""
    expr = sp.floor((r - t) / 3)
    code = print_index(expr)
    assert eval(code, {"r": 7, "t": 1}) == 2  # noqa: S307


def test_printer_refuses_fractions_and_floats():
    with pytest.raises(ValueError, match="fraction"):
        print_index(r / 2)
    with pytest.raises(ValueError, match="float"):
        print_index(sp.Float(0.5) + r)


def test_printer_dispatches_on_ir_classes():
    assert print_index(Read("x_padded", (sp.Integer(0), jh + 1))) == "x_padded[0, jh + 1]"
    assert print_index(InRange(jh - 1, 4)) == "0 <= jh - 1 < 4"
    assert print_index(Divisible(r - t, 2)) == "(r - t) % 2 == 0"


def test_print_slices():
    shape = (2, 3, 9)
    assert print_slices((range(0, 2), range(0, 3), range(1, 8, 3)), shape) == ":, :, 1:8:3"
    assert print_slices((range(0, 2), range(1, 3), range(0, 5)), shape) == ":, 1:, :5"


# ----- the golden module ------------------------------------------------------------------
def test_lecture_module_matches_golden_file(update_golden):
    """The whole rendered module of the lecture example, byte for byte.

    Update after an intended change with ``pytest --update-golden`` (or
    SYMCONV_UPDATE_GOLDEN=1) and review the diff.
    """
    golden = GOLDEN / "lecture.py"
    source = render_module(LECTURE)
    if update_golden:
        golden.write_text(source, encoding="utf-8")
    assert golden.exists(), "run pytest --update-golden once to create tests/golden/lecture.py"
    assert source == golden.read_text(encoding="utf-8")


def test_rendered_module_header_names_spec_and_regeneration_command():
    source = render_module(LECTURE)
    lines = source.splitlines()
    assert lines[2] == f"# Spec: {LECTURE.to_json()}"
    assert lines[3] == f"# Regenerate: python -m symconv.pipeline '{LECTURE.to_json()}'"
    assert f'SPEC_KEY = "{LECTURE.key}"' in source


def test_rendered_module_declares_c_contiguous_signatures_and_flags():
    source = render_module(ConvSpec((5, 5, 5), 2, bias=True, dtype="float64"))
    assert "INPUT = numba.float64[:, :, :, :, ::1]" in source
    assert "BIAS = numba.float64[::1]" in source
    assert "OUTPUT(INPUT, WEIGHT, BIAS)," in source
    for flag in ("fastmath=True", "boundscheck=False", "cache=True", "parallel=False"):
        assert source.count(flag) == 4
    tree = ast.parse(source)
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert functions == ["forward", "grad_input", "grad_weight", "grad_bias"]


def test_grad_bias_only_when_the_layer_has_a_bias():
    assert "def grad_bias(" not in render_module(LECTURE)
    assert "def grad_bias(" in render_module(ConvSpec((3, 3), 2, bias=True))


# ----- rendered modules compute the reference (pure Python, no compile) -------------------
class _AnyType:
    """Stands for numba.float32[:, ::1] and for signatures built from it."""

    def __getitem__(self, item):
        return self

    def __call__(self, *args):
        return self


def fake_numba() -> types.ModuleType:
    module = types.ModuleType("numba")
    module.njit = lambda *args, **kwargs: lambda function: function
    module.prange = range
    module.float32 = module.float64 = _AnyType()
    return module


def execute(source: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setitem(sys.modules, "numba", fake_numba())
    namespace: dict = {}
    exec(compile(source, "<generated>", "exec"), namespace)  # noqa: S102
    return namespace


@settings(max_examples=60, deadline=None)
@given(spec=conv_specs(max_batch=2))
def test_rendered_module_computes_the_reference_in_pure_python(spec):
    from symconv import reference

    with pytest.MonkeyPatch.context() as monkeypatch:
        module = execute(render_module(spec), monkeypatch)
    x, w, b, gy = random_arrays(spec, np.random.default_rng(0))
    tol = {"float32": 1e-4, "float64": 1e-10}[spec.dtype]
    got = {
        "forward": module["forward"](x, w, *([b] if spec.bias else [])),
        "grad_input": module["grad_input"](gy, w),
        "grad_weight": module["grad_weight"](x, gy),
    }
    want = {
        "forward": reference.forward(spec, x, w, b),
        "grad_input": reference.grad_input(spec, gy, w),
        "grad_weight": reference.grad_weight(spec, x, gy),
    }
    if spec.bias:
        got["grad_bias"] = module["grad_bias"](gy)
        want["grad_bias"] = reference.grad_bias(spec, gy)
    for name, value in got.items():
        assert value.dtype == np.dtype(spec.dtype) and value.shape == want[name].shape, name
        scale = max(float(np.max(np.abs(want[name]), initial=0.0)), 1.0)
        np.testing.assert_allclose(value, want[name], rtol=0, atol=tol * scale, err_msg=name)


def test_parallel_module_runs_in_pure_python(monkeypatch):
    """Fused prange loop, Lets and per-chunk partial sums, checked without compiling."""
    from symconv import reference

    spec = ConvSpec((10, 10), 3, in_channels=4, out_channels=4, batch=8)
    source = render_module(spec)
    assert "numba.prange(" in source and "partial = np.empty((4, 4, 4, 3, 3)" in source
    module = execute(source, monkeypatch)
    x, w, _, gy = random_arrays(spec, np.random.default_rng(1))
    np.testing.assert_allclose(
        module["grad_weight"](x, gy), reference.grad_weight(spec, x, gy), rtol=1e-4, atol=1e-4
    )


# ----- templates: layout only, strict, shipped ------------------------------------------
def test_templates_hold_no_arithmetic():
    """Every expression a template prints arrives as text: no + - * / // % in any tag."""
    for name, text in template_sources().items():
        for tag in re.findall(r"\{\{-?(.*?)-?\}\}|\{%-?(.*?)-?%\}", text, flags=re.S):
            inner = "".join(tag)
            stripped = re.sub(r'"[^"]*"', "", inner)  # string literals may hold spaces
            assert not re.search(r"[+*/%]|\s-\s", stripped), f"{name}: {inner!r}"


def test_environment_is_strict():
    env = environment()
    assert env.undefined is jinja2.StrictUndefined
    assert env.trim_blocks and env.lstrip_blocks
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("module.py.j2").render()


@pytest.mark.parametrize(
    "view",
    [
        {"params": ["x); import os; os.system('x')#"]},
        {"extent": "3\nimport os"},
        {"summary": 'ends the docstring """'},
        {"description": "two\nlines"},
        {"shape": 3.5},
    ],
)
def test_check_view_refuses_strings_that_could_escape(view):
    with pytest.raises((ValueError, TypeError)):
        check_view(view)


def test_template_digest_covers_every_template():
    assert set(template_sources()) == {"module.py.j2", "kernel.py.j2", "loops.py.j2"}
    assert re.fullmatch(r"[0-9a-f]{64}", template_digest())


def test_pyproject_ships_every_package_and_the_templates():
    """The package list is explicit (templates/ is mapped to symconv.templates)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "symconv").rglob("__init__.py")
    }
    assert set(config["packages"]) == found | {"symconv.templates"}
    assert config["package-dir"]["symconv.templates"] == "templates"
    assert config["package-data"]["symconv.templates"] == ["*.j2"]
