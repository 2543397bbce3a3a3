"""Run a loop nest in plain Python: the executable meaning of the IR, for small layers.

Every lowering pass must keep a nest's meaning.  This interpreter makes that
checkable without Numba or templates: lower a formula, run the nest here on random
arrays and compare with `symconv.reference`.  It mirrors `IndexFormula.evaluate` one
stage later and is as slow as it is simple.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import sympy as sp

from symconv.lower.ir import (
    IDENTITIES,
    Accumulate,
    AddBias,
    Combine,
    Const,
    Factor,
    For,
    Gemm,
    If,
    Init,
    Let,
    LoopNest,
    Matrix,
    Maximize,
    Read,
    ScatterAdd,
    Staged,
    Stmt,
    Store,
)
from symconv.symbolic.index_printer import python_index
from symconv.symbolic.indices import Guard, InRange


def run(nest: LoopNest, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Execute `nest` on `inputs` (by parameter name) and return its result array.

    The result starts as NaN, so an element the nest forgets to store is visible;
    a nest that adds into its result (`LoopNest.zeroed`) starts from zeros instead.
    """
    buffers: dict[str, np.ndarray] = {p.name: np.asarray(inputs[p.name]) for p in nest.params}
    for staged in nest.staged:
        buffers[staged.name] = materialize(staged, buffers[staged.source.name])
    for scratch in nest.scratch:
        starts_at_zero = scratch.zeroed or scratch.accumulated
        buffers[scratch.name] = np.full(scratch.shape, 0.0 if starts_at_zero else np.nan)
    buffers[nest.result.name] = np.full(nest.result.shape, 0.0 if nest.zeroed else np.nan)
    _execute(nest.body, {}, {}, buffers)
    return buffers[nest.result.name]


def materialize(staged: Staged, source: np.ndarray) -> np.ndarray:
    """The padded / dilated copy a kernel would set up, filled with `staged.fill`."""
    out = np.full(staged.shape, staged.fill, dtype=source.dtype)
    if not staged.empty:
        landing, kept = staged.copy_slices()
        out[tuple(slice(r.start, r.stop, r.step) for r in landing)] = source[
            tuple(slice(r.start, r.stop, r.step) for r in kept)
        ]
    return out


def _execute(body: tuple[Stmt, ...], env: dict, accs: dict, buffers: dict) -> None:
    for stmt in body:
        if isinstance(stmt, For):
            for value in range(stmt.extent):
                env[stmt.var] = value
                _execute(stmt.body, env, accs, buffers)
        elif isinstance(stmt, Let):
            env[stmt.var] = _evaluator((stmt.expr,))(env)[0]
        elif isinstance(stmt, Init):
            start = IDENTITIES[stmt.reduction]
            accs[stmt.acc] = start if stmt.value is None else _load(stmt.value, env, buffers, accs)
        elif isinstance(stmt, Accumulate):
            accs[stmt.acc] += _product(stmt.factors, env, buffers, accs)
        elif isinstance(stmt, Combine):
            accs[stmt.acc] = sum(
                float(c) * _load(f, env, buffers, accs) for c, f in stmt.terms
            )
        elif isinstance(stmt, Maximize):
            value = _load(stmt.value, env, buffers, accs)
            if value > accs[stmt.acc] or value != value:
                accs[stmt.acc] = value
                for var, expr in stmt.track:
                    env[var] = _evaluator((expr,))(env)[0]
        elif isinstance(stmt, ScatterAdd):
            target = buffers[stmt.target.buffer]
            target[_index(stmt.target, env)] += _product(stmt.factors, env, buffers, accs)
        elif isinstance(stmt, Store):
            value = accs[stmt.acc] * float(stmt.scale)
            buffers[stmt.target.buffer][_index(stmt.target, env)] = value
        elif isinstance(stmt, If):
            if all(_holds(g, env) for g in stmt.guards):
                _execute(stmt.body, env, accs, buffers)
        elif isinstance(stmt, Gemm):
            product = _matrix(stmt.a, env, buffers) @ _matrix(stmt.b, env, buffers)
            out = _matrix(stmt.out, env, buffers)
            out[...] = out + product if stmt.accumulate else product
        elif isinstance(stmt, AddBias):
            out = _matrix(stmt.target, env, buffers)
            out += buffers[stmt.bias][_rows(stmt.target, env)][:, None]
        else:  # pragma: no cover - the IR has no other statements
            raise TypeError(f"unknown statement {stmt!r}")


def _rows(matrix: Matrix, env: dict) -> slice:
    first = _evaluator((matrix.first_row,))(env)[0]
    rows = matrix.height if matrix.rows is None else matrix.rows
    return slice(first, first + rows)


def _matrix(matrix: Matrix, env: dict, buffers: dict) -> np.ndarray:
    """The 2-D view a `Gemm` names (a view: writing it writes the buffer)."""
    prefix = _evaluator(tuple(matrix.prefix))(env) if matrix.prefix else ()
    view = buffers[matrix.buffer][prefix].reshape(matrix.height, matrix.cols)[_rows(matrix, env)]
    return view.T if matrix.transposed else view


def _product(factors: tuple[Factor, ...], env: dict, buffers: dict, accs: dict) -> float:
    product = 1.0
    for factor in factors:
        product *= _load(factor, env, buffers, accs)
    return product


def _index(read: Read, env: dict) -> tuple[int, ...]:
    """The element a read touches; a negative index (NumPy would wrap it) is an error."""
    index = _evaluator(tuple(read.index))(env)
    if any(i < 0 for i in index):
        raise IndexError(f"negative index {index} reading {read.buffer}")
    return index


def _load(read: Factor, env: dict, buffers: dict, accs: dict) -> float:
    if isinstance(read, Const):
        return float(read.value)
    if isinstance(read, Read):
        return float(buffers[read.buffer][_index(read, env)])
    return accs[read.name]


def _holds(guard: Guard, env: dict) -> bool:
    (value,) = _evaluator((guard.expr,))(env)
    if isinstance(guard, InRange):
        return 0 <= value < guard.bound
    return value % guard.divisor == 0


@cache
def _evaluator(exprs: tuple[sp.Expr, ...]) -> Callable[[dict], tuple[int, ...]]:
    """Compile integer index expressions once; evaluate them from the loop environment.

    Exact integer arithmetic (`python_index` prints floor(a/b) as ``a // b``): floats
    would turn floor(7/3 − 1/3) into floor(1.9999…) = 1.
    """
    exprs = tuple(sp.sympify(e) for e in exprs)
    symbols = sorted(set().union(*(e.free_symbols for e in exprs)), key=lambda s: s.name)
    body = ", ".join(python_index(e) for e in exprs)
    func = eval(f"lambda {', '.join(s.name for s in symbols)}: ({body},)")  # noqa: S307
    return lambda env: func(*(env[s] for s in symbols))
