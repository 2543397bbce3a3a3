"""Tests for the CPU target's view of the IR: rendered modules, their flags, and their meaning.

Rendered modules are checked without compiling: executed with a stand-in `numba`
whose `njit` returns the plain Python function, they must compute what
`symconv.reference` computes.  That proves the view and the templates for many specs
in a fraction of a second each; tests/test_pipeline.py compiles the real thing.
"""

from __future__ import annotations

import ast
import ctypes
import sys
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv.kinds import CONVOLUTION, ConvSpec
from symconv.lower.driver import variants_for, with_threads
from symconv.pipeline import render
from tests.strategies import coinciding_specs, conv_specs, long_row_specs, random_arrays

LECTURE = ConvSpec((3, 3), 2)


def test_rendered_module_header_names_spec_and_regeneration_command():
    source = render(LECTURE)
    lines = source.splitlines()
    assert lines[2] == f"# Spec: {LECTURE.to_json()}"
    assert lines[3] == f"# Regenerate: python -m symconv.pipeline '{LECTURE.to_json()}'"
    assert f'SPEC_KEY = "{LECTURE.key}"' in source


def test_rendered_module_declares_c_contiguous_signatures_and_flags():
    source = render(ConvSpec((5, 5, 5), 2, bias=True, dtype="float64"))
    assert "INPUT = numba.float64[:, :, :, :, ::1]" in source
    assert "BIAS = numba.float64[::1]" in source
    assert "OUTPUT(INPUT_ARG, WEIGHT_ARG, BIAS_ARG, OUTPUT)," in source
    assert 'FASTMATH = {"contract", "reassoc"}' in source
    # four kernels and two helpers (a GEMM accumulation, a row sum) the kernels call, and
    # the compiler of tasks (which takes each task's own fastmath flags)
    assert source.count("fastmath=FASTMATH") == 6
    for flag in ("boundscheck=False", "cache=True"):
        assert source.count(flag) == 7
    assert source.count("parallel=False") == 4
    tree = ast.parse(source)
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert functions == [
        "in_written_order",
        "gemm_accumulate",
        "add_rows",
        "compile_task",
        "forward",
        "grad_input",
        "grad_weight",
        "grad_bias",
    ]


SCHEDULES = st.sampled_from([None, "direct", "rows", "unfold", "winograd:2", "blocked"])


@settings(max_examples=30, deadline=None)
@given(spec=coinciding_specs(), schedule=SCHEDULES)
def test_threaded_kernels_are_compiled_without_loop_fusion_and_say_how_they_run(spec, schedule):
    """Every threaded kernel: parallel=in_written_order(), whose options turn Numba's loop
    fusion off, and a docstring that lists its steps in order with the parallel loops."""
    schedules = {}
    for formula in CONVOLUTION.index_level(spec).formulas():
        names = variants_for(formula, spec)
        chosen = schedule if schedule in names else names[0]
        schedules[formula.name] = with_threads(chosen, 2)
    source = render(spec, schedules)
    tree = ast.parse(source)
    (options,) = [n for n in tree.body if isinstance(n, ast.FunctionDef)
                  and n.name == "in_written_order"]  # fmt: skip
    namespace: dict = {}
    exec(compile(ast.Module([options], []), "<options>", "exec"), namespace)
    assert namespace["in_written_order"]() == {"fusion": False}
    assert namespace["in_written_order"]() is not namespace["in_written_order"]()
    for kernel in CONVOLUTION.kernel_names(spec):
        (function,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == kernel]
        (decorator,) = function.decorator_list
        parallel = {k.arg: ast.unparse(k.value) for k in decorator.keywords}["parallel"]
        prange_loops = ast.unparse(function).count("numba.prange(")
        docstring = ast.get_docstring(function)
        assert "parallel=True" not in source
        if parallel == "False":
            assert prange_loops == 0 and "threads:" not in docstring
            continue
        assert parallel == "in_written_order()"
        assert "(Numba's loop fusion is off)" in docstring
        steps = [line for line in docstring.splitlines() if line[:4].strip()[:-1].isdigit()]
        assert sum("parallel over" in step for step in steps) == prange_loops


def test_grad_bias_only_when_the_layer_has_a_bias():
    assert "def grad_bias(" not in render(LECTURE)
    assert "def grad_bias(" in render(ConvSpec((3, 3), 2, bias=True))


# ----- rendered modules compute the reference (pure Python, no compile) -------------------
class _AnyType:
    """Stands for numba.float32[:, ::1] and for signatures built from it."""

    def __getitem__(self, item):
        return self

    def __call__(self, *args, **kwargs):
        return self


def _dispatcher(function):
    """A plain function standing for Numba's dispatcher: compiling it does nothing."""
    function.compile = lambda signature: None
    function.disable_compile = lambda: None
    return function


def _carray(pointer, shape: tuple[int, ...], dtype) -> np.ndarray:
    """numba.carray in pure Python: the array behind a NumPy array's ``.ctypes`` again."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    memory = (ctypes.c_char * size).from_address(pointer.data)
    return np.frombuffer(memory, dtype).reshape(shape)


class _Callback:
    """numba.cfunc's result in pure Python: its "address" is the function itself."""

    def __init__(self, function):
        self.address = function


class _ExternalFunction:
    """numba.types.ExternalFunction in pure Python: calls whatever got its symbol."""

    def __init__(self, symbol: str, sig, symbols: dict):
        self.symbol, self.sig, self._symbols = symbol, sig, symbols

    def __call__(self, *args):
        return self._symbols[self.symbol](*args)


def fake_numba() -> tuple[types.ModuleType, types.ModuleType]:
    """Stand-ins for numba and llvmlite that run a rendered module as plain Python."""
    symbols: dict = {}
    module = types.ModuleType("numba")
    module.njit = lambda *args, **kwargs: _dispatcher
    module.cfunc = lambda *args, **kwargs: _Callback
    module.carray = _carray
    module.prange = range
    module.float32 = module.float64 = module.int64 = module.void = _AnyType()
    module.types = types.SimpleNamespace(
        Array=_AnyType(),
        CPointer=_AnyType(),
        ExternalFunction=lambda symbol, sig: _ExternalFunction(symbol, sig, symbols),
    )
    llvmlite = types.ModuleType("llvmlite")
    llvmlite.binding = types.SimpleNamespace(add_symbol=symbols.__setitem__)
    return module, llvmlite


def execute(source: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    numba, llvmlite = fake_numba()
    monkeypatch.setitem(sys.modules, "numba", numba)
    monkeypatch.setitem(sys.modules, "llvmlite", llvmlite)
    monkeypatch.setitem(sys.modules, "llvmlite.binding", llvmlite.binding)
    monkeypatch.setitem(sys.modules, "symconv.targets.numba_cpu.intrinsics", fake_intrinsics())
    namespace: dict = {}
    exec(compile(source, "<generated>", "exec"), namespace)  # noqa: S102
    return namespace


def call(namespace: dict, name: str, *args: np.ndarray) -> np.ndarray:
    """Kernel `name` of an executed module, given a fresh result and workspaces (as the
    runtime allocates them: RESULTS and WORKSPACES say what they are)."""
    dtype = namespace["DTYPE"]
    _, shape, _ = namespace["RESULTS"][name]
    workspaces = [np.full(s, fill, dtype) for _, s, fill in namespace["WORKSPACES"][name]]
    return namespace[name](*args, np.full(shape, np.nan, dtype), *workspaces)


@settings(max_examples=60, deadline=None)
@given(spec=conv_specs(max_batch=2))
def test_rendered_module_computes_the_reference_in_pure_python(spec):
    from symconv import reference

    with pytest.MonkeyPatch.context() as monkeypatch:
        module = execute(render(spec), monkeypatch)
    x, w, b, gy = random_arrays(spec, np.random.default_rng(0))
    tol = {"float32": 1e-4, "float64": 1e-10}[spec.dtype]
    got = {
        "forward": call(module, "forward", x, w, *([b] if spec.bias else [])),
        "grad_input": call(module, "grad_input", gy, w),
        "grad_weight": call(module, "grad_weight", x, gy),
    }
    want = {
        "forward": reference.forward(spec, x, w, b),
        "grad_input": reference.grad_input(spec, gy, w),
        "grad_weight": reference.grad_weight(spec, x, gy),
    }
    if spec.bias:
        got["grad_bias"] = call(module, "grad_bias", gy)
        want["grad_bias"] = reference.grad_bias(spec, gy)
    for name, value in got.items():
        assert value.dtype == np.dtype(spec.dtype) and value.shape == want[name].shape, name
        scale = max(float(np.max(np.abs(want[name]), initial=0.0)), 1.0)
        np.testing.assert_allclose(value, want[name], rtol=0, atol=tol * scale, err_msg=name)


def test_parallel_module_runs_in_pure_python(monkeypatch):
    """Fused prange loop, Lets and per-chunk partial sums, checked without compiling."""
    from symconv import reference

    spec = ConvSpec((10, 10), 3, in_channels=4, out_channels=4, batch=8)
    source = render(spec, schedules={"grad_weight": "blocked"})
    assert "numba.prange(" in source and '("partial", (4, 4, 4, 3, 3), 0.0)' in source
    module = execute(source, monkeypatch)
    x, w, _, gy = random_arrays(spec, np.random.default_rng(1))
    np.testing.assert_allclose(
        call(module, "grad_weight", x, gy), reference.grad_weight(spec, x, gy), rtol=1e-4, atol=1e-4
    )


def test_threaded_loops_of_flat_nests_call_serial_tasks_and_others_stay_inline():
    """Winograd's and rows' loop bodies (flat views only) are compiled as tasks: faster
    to compile, as fast to run.  A nest indexing 4-D arrays keeps them inside the
    parallel function, the only place it vectorizes."""
    winograd = {"forward": "winograd", "grad_input": "winograd", "grad_weight": "winograd"}
    spec = ConvSpec((14, 13), 3, padding=1, in_channels=8, out_channels=8, batch=3)
    source = render(spec, schedules=winograd)
    assert "def _forward_task_1_body(" in source and "def _grad_weight_task_0_body(" in source
    assert ", np.int64(c_p))" in source  # typed once: int64 in the kernel and its prange
    tree = ast.parse(source)
    tasks = [n for n in tree.body if isinstance(n, ast.FunctionDef) and "_task_" in n.name]
    assert all(not any(isinstance(d, ast.Attribute) and d.attr == "prange" for d in ast.walk(t))
               for t in tasks)  # fmt: skip
    layer = render(ConvSpec((10, 10), 3, in_channels=4, out_channels=4, batch=8),
                   schedules={"forward": "rows", "grad_weight": "blocked"})  # fmt: skip
    assert "def _forward_task_0_body(x_flat_ptr, w_flat_ptr, y_flat_ptr, n_p):" in layer
    blocked = layer[layer.index("def grad_weight(") : layer.index("TASKS = {")]
    assert "numba.prange(" in blocked and "_task_" not in blocked
    assert '"grad_weight": (),' in layer
    assert '"forward": ((_forward_task_0, _forward_task_0_body, FASTMATH), ),' in layer


# ----- explicit vectors: the intrinsics' meaning in NumPy ------------------------------------
def fake_intrinsics() -> types.ModuleType:
    """symconv's vector intrinsics as NumPy: a vector is an array of its lanes."""
    from symconv.targets.numba_cpu.vector_names import names

    module = types.ModuleType("intrinsics")
    for dtype in ("float32", "float64"):
        for lanes in (2, 4, 8, 16):
            kind = np.dtype(dtype).type

            def load(a, i, lanes=lanes):
                return a[i : i + lanes].copy()

            def load_masked(a, i, first, stop, lanes=lanes, kind=kind):
                v = np.zeros(lanes, kind)
                v[first:stop] = a[i + first : i + stop]
                return v

            def load_strided(a, i, step, first, stop, lanes=lanes, kind=kind):
                v = np.zeros(lanes, kind)
                v[first:stop] = a[i + step * first : i + step * (stop - 1) + 1 : step]
                return v

            def store(a, i, v, stride, count, lanes=lanes):
                a[i : i + stride * (count - 1) + 1 : stride] = v[:count]

            def store_rows(a, i, vectors, stride, step, count):
                for j, v in enumerate(vectors):
                    store(a, i + j * step, v, stride, count)

            def store_interleaved(a, i, vectors, count):
                a[i : i + count] = np.stack(vectors, axis=1).reshape(-1)[:count]

            functions = {
                "load": load,
                "load_masked": load_masked,
                "load_strided": load_strided,
                "store": store,
                "store_rows": store_rows,
                "store_interleaved": store_interleaved,
                "broadcast": lambda x, lanes=lanes, kind=kind: np.full(lanes, x, kind),
                "splat": lambda a, i, lanes=lanes: np.full(lanes, a[i], a.dtype),
                "fma": lambda a, b, c: a * b + c,
                "zero": lambda lanes=lanes, kind=kind: np.zeros(lanes, kind),
                "total": lambda v: v.sum(),
            }
            for operation, name in names(dtype, lanes).items():
                setattr(module, name, functions[operation])
    return module


@settings(max_examples=15, deadline=None)
@given(
    spec=st.one_of(
        conv_specs(max_rank=2, max_channels_per_group=20, groups=(1, 2), max_output=3),
        long_row_specs(),
    ),
    algorithm=st.sampled_from(["simd", "positions"]),
)
def test_a_module_with_explicit_vectors_computes_the_reference_in_pure_python(spec, algorithm):
    """The rendered calls of the intrinsics (lanes, strides, counts, masks, flat indices)
    mean what the IR's vector statements mean: every kernel forced to simd or positions,
    run without Numba."""
    from symconv import reference

    schedules = dict.fromkeys(("forward", "grad_input", "grad_weight"), algorithm)
    source = render(spec, schedules)
    assert "from symconv.targets.numba_cpu.intrinsics import (" in source
    with pytest.MonkeyPatch.context() as monkeypatch:
        module = execute(source, monkeypatch)
    x, w, b, gy = random_arrays(spec, np.random.default_rng(0))
    tol = {"float32": 1e-4, "float64": 1e-10}[spec.dtype]
    got = {
        "forward": call(module, "forward", x, w, *([b] if spec.bias else [])),
        "grad_input": call(module, "grad_input", gy, w),
        "grad_weight": call(module, "grad_weight", x, gy),
    }
    want = {
        "forward": reference.forward(spec, x, w, b),
        "grad_input": reference.grad_input(spec, gy, w),
        "grad_weight": reference.grad_weight(spec, x, gy),
    }
    for name, value in got.items():
        scale = max(float(np.max(np.abs(want[name]), initial=0.0)), 1.0)
        np.testing.assert_allclose(value, want[name], rtol=0, atol=tol * scale, err_msg=name)


def test_a_threaded_kernel_copies_its_padded_input_one_plane_per_iteration():
    """The zero-bordered copy of a 6 MB input is work for every thread: a parallel loop over
    (image, channel) planes, each landing inside the border; a kernel without threads
    keeps the one slice assignment."""
    spec = ConvSpec((56, 56), 3, stride=2, padding=1, in_channels=64, out_channels=128, batch=8)
    source = render(spec, schedules={"forward": "simd"})
    forward = source[source.index("def forward(") : source.index("def grad_input(")]
    assert "for copy_plane in numba.prange(512):" in forward
    assert "copy_n, copy_c = copy_plane // 64, copy_plane % 64" in forward
    assert "source[copy_n, copy_c, 1:, 1:] = x[copy_n, copy_c, :, :]" in forward
    assert "parallel over copy_plane (512 iterations): writes source from x" in forward
    small = render(ConvSpec((6,), 3, padding=1), schedules={"forward": "direct"})
    assert "copy_plane" not in small
