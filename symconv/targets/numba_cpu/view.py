"""The CPU target's view of the IR: every statement as strings for its Jinja2 templates.

This is the only place that turns loop nests into text for ``templates/numba_cpu``.
Loops marked parallel become ``numba.prange`` in a kernel compiled with threads, a
`Gemm` becomes ``np.dot`` on contiguous 2-D views (Numba hands it to SciPy's BLAS),
constants become exact quotients in the layer's float type.  The view holds strings
only, checked by `symconv.codegen.check.check_view` before rendering.
"""

from __future__ import annotations

import math
from typing import Any

import sympy as sp

from symconv.codegen.check import check_view
from symconv.codegen.printer import print_index, print_slices
from symconv.codegen.templates import MODULE_TEMPLATE, environment, module_header
from symconv.kinds import kind_of
from symconv.lower.ir import (
    IDENTITIES,
    Accumulate,
    AddBias,
    Combine,
    Const,
    For,
    Gemm,
    If,
    Init,
    Let,
    LoopNest,
    Matrix,
    Maximize,
    Operand,
    Read,
    ScatterAdd,
    Staged,
    Stmt,
    Store,
    flatten_reads,
    walk,
)

#: The folder under templates/ that holds this target's templates.
TEMPLATES = "numba_cpu"
#: A zero LLVM cannot see through (an argument's extent less its known value), added to
#: the bound of a `For.vector` loop so the loop is vectorized instead of fully unrolled.
RUNTIME_ZERO = "runtime_zero"
#: A prange loop counts in <var>_p and binds var = <var>_p % extent: Numba hands a
#: thread its share of the range as plain integers, so LLVM cannot tell the counter is
#: never negative, keeps Numba's negative-index wraparound on every read and leaves the
#: loops inside scalar; the modulo proves 0 <= var < extent (measured: an unrolled
#: transform went from scalar FMAs to zmm ones, 15.6 µs to 4.4 µs).
PRANGE_SUFFIX = "_p"
#: Flat 1-D views of a nest's `flat` buffers are named <buffer>_flat.
FLAT_SUFFIX = "_flat"
#: The command in each module header that writes it again (the spec is its only input).
REGENERATE = "python -m symconv.pipeline '{spec_json}'"


def render_module(spec: Any, nests: dict[str, LoopNest]) -> str:
    """Python source of the module: forward, grad_input (, grad_weight, grad_bias)."""
    view = module_view(spec, nests)
    return environment(TEMPLATES).get_template(MODULE_TEMPLATE).render(**view)


def module_view(spec: Any, nests: dict[str, LoopNest]) -> dict[str, Any]:
    """Everything the module template shows, as checked strings."""
    kind = kind_of(spec)
    names = ", ".join(nests)
    roles = kind.role_shapes(spec)
    summaries = {s.name: s.summary for s in kind.signatures(spec)}
    kernels = [
        kernel_view(nest, spec.dtype, summaries[name], kind.roles) for name, nest in nests.items()
    ]
    numbers = {n: v for kernel in kernels for n, v in kernel.pop("numbers").items()}
    view = {
        **module_header(spec, TEMPLATES, REGENERATE, f"Numba kernels of {spec.label}: {names}."),
        "constants": [{"name": f"{role}_SHAPE", "value": repr(v)} for role, v in roles.items()],
        "types": [
            {
                "name": role,
                "dims": ", ".join([":"] * (len(shape) - 1) + ["::1"]),
                "ndim": str(len(shape)),
            }
            for role, shape in roles.items()
            if shape is not None
        ],
        "blas_in_threads": [n for n, nest in nests.items() if nest.blas_in_threads],
        "algorithms": [{"kernel": n, "name": nest.algorithm} for n, nest in nests.items()],
        "kernels": kernels,
        "numbers": [{"name": n, "value": v} for n, v in sorted(numbers.items())],
    }
    check_view(view)
    return view


def kernel_view(nest: LoopNest, dtype: str, summary: str, roles: dict[str, str]) -> dict[str, Any]:
    notes = [f"{s.name}: {describe_staged(s)}" for s in nest.staged] + list(nest.notes)
    printer = StatementView(nest.parallel, dtype)
    buffers = nest.buffers()
    flat = {name: buffers[name] for name in nest.flat}
    body = flatten_reads(nest.body, flat, FLAT_SUFFIX) if flat else nest.body
    return {
        "name": nest.name,
        "summary": summary,
        "notes": notes,
        "params": [p.name for p in nest.params],
        "param_types": [f"{roles[p.name]}_ARG" for p in nest.params],
        "result_type": roles[nest.result.name],
        "parallel": str(nest.parallel),
        "fastmath": "False" if nest.strict_float else "FASTMATH",
        "staged": [_staged_view(s) for s in nest.staged],
        "scratch": [{**_buffer_view(s), "zeroed": s.zeroed} for s in nest.scratch],
        "result": {**_buffer_view(nest.result), "zeroed": nest.zeroed},
        "runtime_zero": _runtime_zero(nest),
        "flat": [{"name": name, "view": f"{name}{FLAT_SUFFIX}"} for name in flat],
        "body": [printer.view(s) for s in body],
        "numbers": printer.constants,
    }


def _runtime_zero(nest: LoopNest) -> str:
    """``runtime_zero = x.shape[0] - 8``: emitted only when a loop of the nest is a vector loop."""
    if not any(isinstance(s, For) and s.vector for s, _ in walk(nest.body)):
        return ""
    first = nest.params[0]
    return f"{RUNTIME_ZERO} = {first.name}.shape[0] - {first.shape[0]}"


def describe_staged(staged: Staged) -> str:
    """One line on how a staged copy is laid out: (before, after) zeros per spatial axis."""
    spatial = staged.axes[2:]
    pads = ", ".join(f"({b}, {a})" for b, a in staged.pads[2:])
    text = f"{staged.source.name}"
    if any(a.step > 1 for a in spatial):
        text += f" dilated by {', '.join(str(a.step) for a in spatial)},"
    text += f" padded {pads}"
    if any(min(p) < 0 for p in staged.pads[2:]):
        text += " (negative: rows never read are cropped)"
    if staged.fill:
        text += f" with {_literal(staged.fill, None)}"
    return text


def _literal(value: float, dtype: str | None) -> str:
    """A float constant as source: -np.inf, or np.<dtype>(value) when typed."""
    if math.isinf(value):
        text = "-np.inf" if value < 0 else "np.inf"
    else:
        text = repr(float(value))
    return text if dtype is None else f"np.{dtype}({text})"


def _staged_view(staged: Staged) -> dict[str, Any]:
    landing, kept = staged.copy_slices()
    source = staged.source
    kept_text = print_slices(kept, source.shape)
    full = all(part == ":" for part in kept_text.split(", "))
    return {
        "name": staged.name,
        "shape": repr(staged.shape),
        "fill": _literal(staged.fill, None) if staged.fill else "",
        "copy": not staged.empty,
        "landing": print_slices(landing, staged.shape),
        "source": source.name if full else f"{source.name}[{kept_text}]",
    }


def _buffer_view(operand: Operand) -> dict[str, str]:
    return {"name": operand.name, "shape": repr(operand.shape)}


class StatementView:
    """One dict per IR statement for the loops template, dispatched on the statement's class."""

    def __init__(self, parallel: bool, dtype: str) -> None:
        self.parallel = parallel
        self.dtype = dtype
        #: Constants the statements name, by name: emitted once at module level.
        self.constants: dict[str, str] = {}

    def view(self, stmt: Stmt) -> dict[str, Any]:
        method = getattr(self, f"_view_{type(stmt).__name__}", None)
        if method is None:
            raise TypeError(f"no template branch for {type(stmt).__name__}")
        return method(stmt)

    def constant(self, value: sp.Rational) -> str:
        """The module-level name of an exact constant in the layer's float type.

        ``K_3_2 = np.float32(3) / np.float32(2)`` is computed once at import (the same
        correctly rounded quotient as in the kernel), and a global is a compile-time
        constant to Numba: written inline, each ``np.float32(3) / np.float32(2)`` is
        three calls to type, and a Winograd kernel compiled a third slower.
        """
        value = sp.Rational(value)
        p, q = int(value.p), int(value.q)
        name = f"K_{'M' if p < 0 else ''}{abs(p)}" + (f"_{q}" if q != 1 else "")
        text = f"np.{self.dtype}({p})" + (f" / np.{self.dtype}({q})" if q != 1 else "")
        self.constants[name] = text
        return name

    def identity(self, reduction: str) -> str:
        """The start of an accumulator (0, or −∞ for a max) as a module-level constant."""
        value = IDENTITIES[reduction]
        name = "ZERO" if value == 0 else "MINUS_INF"
        self.constants[name] = _literal(value, self.dtype)
        return name

    def factor(self, factor: Read | Const) -> str:
        if isinstance(factor, Const):
            return self.constant(factor.value)
        return print_index(factor)

    def product(self, factors: tuple) -> str:
        return " * ".join(self.factor(f) for f in factors)

    def matrix(self, matrix: Matrix) -> str:
        """buffer[prefix].reshape(height, cols)[rows].T as source."""
        prefix = ", ".join(print_index(e) for e in matrix.prefix)
        text = f"{matrix.buffer}[{prefix}]" if prefix else matrix.buffer
        text += f".reshape({matrix.height}, {matrix.cols})"
        if matrix.rows is not None and matrix.rows != matrix.height:
            first = print_index(matrix.first_row)
            text += f"[{first}:{first} + {matrix.rows}]"
        return text + (".T" if matrix.transposed else "")

    def _view_For(self, stmt: For) -> dict[str, Any]:
        extent = f"{stmt.extent} + {RUNTIME_ZERO}" if stmt.vector else str(stmt.extent)
        threaded = stmt.parallel and self.parallel
        return {
            "kind": "for",
            "var": stmt.var.name,
            "counter": f"{stmt.var.name}{PRANGE_SUFFIX}" if threaded else "",
            "iterator": "numba.prange" if threaded else "range",
            "extent": extent,
            "body": [self.view(s) for s in stmt.body],
        }

    def _view_If(self, stmt: If) -> dict[str, Any]:
        return {
            "kind": "if",
            "condition": " and ".join(print_index(g) for g in stmt.guards),
            "body": [self.view(s) for s in stmt.body],
        }

    def _view_Let(self, stmt: Let) -> dict[str, Any]:
        return {"kind": "let", "var": stmt.var.name, "expr": print_index(stmt.expr)}

    def _view_Init(self, stmt: Init) -> dict[str, Any]:
        value = print_index(stmt.value) if stmt.value is not None else self.identity(stmt.reduction)
        return {"kind": "init", "acc": stmt.acc, "value": value}

    def _view_Accumulate(self, stmt: Accumulate) -> dict[str, Any]:
        return {"kind": "accumulate", "acc": stmt.acc, "product": self.product(stmt.factors)}

    def _view_Combine(self, stmt: Combine) -> dict[str, Any]:
        """acc = f1 - f2 + (np.float32(3) / np.float32(2)) * f3: signs and exact rationals."""
        parts = []
        for coefficient, factor in stmt.terms:
            value = sp.Rational(coefficient)
            sign = "-" if value < 0 else "+"
            magnitude = abs(value)
            term = self.factor(factor)
            if magnitude != 1:
                term = f"{self.factor(Const(magnitude))} * {term}"
            parts.append((sign, term))
        text = ("-" if parts[0][0] == "-" else "") + parts[0][1]
        text += "".join(f" {sign} {term}" for sign, term in parts[1:])
        return {"kind": "store", "target": stmt.acc, "value": text}

    def _view_Maximize(self, stmt: Maximize) -> dict[str, Any]:
        return {
            "kind": "maximize",
            "acc": stmt.acc,
            "value": print_index(stmt.value),
            "track": [{"var": v.name, "expr": print_index(e)} for v, e in stmt.track],
        }

    def _view_ScatterAdd(self, stmt: ScatterAdd) -> dict[str, Any]:
        return {
            "kind": "scatter",
            "target": print_index(stmt.target),
            "product": self.product(stmt.factors),
        }

    def _view_Store(self, stmt: Store) -> dict[str, Any]:
        return {"kind": "store", "target": print_index(stmt.target), "value": self.scaled(stmt)}

    def _view_Gemm(self, stmt: Gemm) -> dict[str, Any]:
        return {
            "kind": "gemm",
            "out": self.matrix(stmt.out),
            "a": self.matrix(stmt.a),
            "b": self.matrix(stmt.b),
            "accumulate": stmt.accumulate,
        }

    def _view_AddBias(self, stmt: AddBias) -> dict[str, Any]:
        rows = stmt.target.height if stmt.target.rows is None else stmt.target.rows
        return {
            "kind": "add_bias",
            "target": self.matrix(stmt.target),
            "bias": stmt.bias,
            "rows": str(rows),
        }

    def scaled(self, store: Store) -> str:
        """acc, acc / np.<dtype>(q) for a scale 1/q, else acc * np.<dtype>(p) / np.<dtype>(q)."""
        scale = sp.Rational(store.scale)
        if scale == 1:
            return store.acc
        p, q = int(scale.p), int(scale.q)
        if p == 1:
            return f"{store.acc} / {self.constant(sp.Integer(q))}"
        return f"{store.acc} * {self.constant(sp.Integer(p))} / {self.constant(sp.Integer(q))}"
