"""The CUDA target's view of the IR: each nest as strings for ``templates/numba_cuda``.

A nest's leading free loops become the thread (or block) index, decoded last axis
fastest so that neighbouring threads write, and mostly read, neighbouring addresses;
what is inside them is printed statement by statement as on the CPU, with two
differences: a `PhaseFor` is a strided ``range``, and a scatter-add (max pooling's
gradient, where windows may overlap) is ``cuda.atomic.add``.  Launch sizes, result
shapes and every index expression are computed here from the derivation; the
templates only lay them out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sympy as sp

from symconv.codegen.check import check_view
from symconv.codegen.printer import print_index
from symconv.codegen.templates import MODULE_TEMPLATE, environment
from symconv.kinds import kind_of
from symconv.lower.ir import For, Init, LoopNest, ScatterAdd, Stmt, Store
from symconv.targets.numba_cpu.view import StatementView
from symconv.targets.numba_cuda.lowering import BLOCK_PER_ELEMENT, PhaseFor
from symconv.version import __version__

TEMPLATES = "numba_cuda"
REGENERATE = "python -m symconv.pipeline --target numba_cuda '{spec_json}'"


@dataclass(frozen=True)
class Launch:
    """Thread-block shapes: `threads` per block for one-thread-per-element kernels,
    `reduce_threads` (a power of two, for the shared-memory tree) per block where a
    block sums one element.  128 keeps four warps per block: enough to hide memory
    latency at this size of kernel, small enough for several blocks per SM."""

    threads: int = 128
    reduce_threads: int = 128


LAUNCH = Launch()


def render_module(spec: Any, nests: dict[str, LoopNest]) -> str:
    view = module_view(spec, nests, LAUNCH)
    return environment(TEMPLATES).get_template(MODULE_TEMPLATE).render(**view)


def module_view(spec: Any, nests: dict[str, LoopNest], launch: Launch) -> dict[str, Any]:
    kind = kind_of(spec)
    summaries = {s.name: s.summary for s in kind.signatures(spec)}
    printer = CudaStatementView(spec.dtype)
    kernels = [kernel_view(nest, summaries[name], printer, launch) for name, nest in nests.items()]
    view = {
        "version": __version__,
        "template": f"{TEMPLATES}/{MODULE_TEMPLATE}",
        "label": spec.label,
        "description": spec.describe(),
        "spec_json": spec.to_json(),
        "command": REGENERATE.format(spec_json=spec.to_json()),
        "docstring": f"CUDA kernels (numba-cuda) of {spec.label}: {', '.join(nests)}.",
        "key": spec.key,
        "dtype": spec.dtype,
        "threads": str(launch.threads),
        "reduce_threads": str(launch.reduce_threads),
        "algorithms": [{"kernel": n, "name": nest.algorithm} for n, nest in nests.items()],
        "kernels": kernels,
        "numbers": [{"name": n, "value": v} for n, v in sorted(printer.constants.items())],
    }
    check_view(view)
    return view


def _peel(body: tuple[Stmt, ...]) -> tuple[list[tuple[sp.Symbol, int]], tuple[Stmt, ...]]:
    """The chain of single plain loops at the top of `body`, and what they enclose."""
    loops = []
    while len(body) == 1 and isinstance(body[0], For):
        loops.append((body[0].var, body[0].extent))
        body = body[0].body
    return loops, body


def _decode(loops: list[tuple[sp.Symbol, int]], flat: str) -> list[dict[str, str]]:
    """var = flat // (product of the later extents) % extent, last loop fastest."""
    out = []
    for position, (var, extent) in enumerate(loops):
        if extent == 1:
            out.append({"var": var.name, "expr": "0"})
            continue
        inner = math.prod(e for _, e in loops[position + 1 :])
        text = flat if inner == 1 else f"{flat} // {inner}"
        if position > 0:
            text = f"({text}) % {extent}" if inner != 1 else f"{text} % {extent}"
        out.append({"var": var.name, "expr": text})
    return out


def kernel_view(
    nest: LoopNest, summary: str, printer: CudaStatementView, launch: Launch
) -> dict[str, Any]:
    free, inside = _peel(nest.body)
    total = math.prod(e for _, e in free)
    view: dict[str, Any] = {
        "name": nest.name,
        "summary": summary,
        "notes": list(nest.notes),
        "params": [p.name for p in nest.params],
        "result": nest.result.name,
        "result_shape": repr(nest.result.shape),
        "zeroed": str(nest.zeroed),
        "total": str(total),
        "decode": _decode(free, "element"),
        "block": nest.algorithm == BLOCK_PER_ELEMENT,
    }
    if not view["block"]:
        blocks = -(-total // launch.threads)
        view.update(launch=f"({blocks}, {launch.threads})", body=[printer.view(s) for s in inside])
        return view
    init, loop, store = inside
    assert isinstance(init, Init) and isinstance(store, Store), inside
    reductions, inner = _peel((loop,))
    identity = printer.identity(init.reduction)
    view.update(
        launch=f"({total}, {launch.reduce_threads})",
        acc=init.acc,
        identity=identity,
        start=print_index(init.value) if init.value is not None else identity,
        reduced=str(math.prod(e for _, e in reductions)),
        reduce_decode=_decode(reductions, "step"),
        inner=[printer.view(s) for s in inner],
        store=printer.view(store),
    )
    return view


class CudaStatementView(StatementView):
    """The CPU's statement views, with the two statements a GPU prints differently."""

    def __init__(self, dtype: str) -> None:
        super().__init__(parallel=False, dtype=dtype)

    def _view_PhaseFor(self, stmt: PhaseFor) -> dict[str, Any]:
        return {
            "kind": "for",
            "var": stmt.var.name,
            "counter": "",
            "iterator": "range",
            "extent": f"{print_index(stmt.start)}, {stmt.extent}, {stmt.step}",
            "body": [self.view(s) for s in stmt.body],
        }

    def _view_ScatterAdd(self, stmt: ScatterAdd) -> dict[str, Any]:
        index = ", ".join(print_index(e) for e in stmt.target.index)
        return {
            "kind": "atomic_add",
            "array": stmt.target.buffer,
            "index": f"({index},)",
            "product": self.product(stmt.factors),
        }
