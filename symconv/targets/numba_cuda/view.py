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
from symconv.codegen.templates import MODULE_TEMPLATE, environment, module_header
from symconv.kinds import kind_of
from symconv.lower.ir import Accumulate, For, Init, LoopNest, Read, ScatterAdd, Stmt, Store
from symconv.targets.numba_cpu.view import StatementView
from symconv.targets.numba_cuda.lowering import BLOCK_PER_ELEMENT, PhaseFor

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
    #: Most grid rows (result planes) a launch may have: CUDA's limit on gridDim.y.
    max_planes: int = 65535
    #: Most bytes of a block's staged weights: the 48 KB of shared memory every GPU has.
    shared_bytes: int = 48 * 1024


LAUNCH = Launch()


def render_module(spec: Any, nests: dict[str, LoopNest]) -> str:
    view = module_view(spec, nests, LAUNCH)
    return environment(TEMPLATES).get_template(MODULE_TEMPLATE).render(**view)


def module_view(spec: Any, nests: dict[str, LoopNest], launch: Launch) -> dict[str, Any]:
    kind = kind_of(spec)
    summaries = {s.name: s.summary for s in kind.signatures(spec)}
    printer = CudaStatementView(spec.dtype)
    kernels = [
        kernel_view(nest, summaries[name], printer, launch, spec.rank)
        for name, nest in nests.items()
    ]
    docstring = f"CUDA kernels (numba-cuda) of {spec.label}: {', '.join(nests)}."
    view = {
        **module_header(spec, TEMPLATES, REGENERATE, docstring),
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
    nest: LoopNest, summary: str, printer: CudaStatementView, launch: Launch, rank: int
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
        "planes": False,
        "staged": None,
    }
    if view["block"]:
        return _block_view(view, inside, printer, launch, total)
    plane_loops, spatial = free[: len(free) - rank], free[len(free) - rank :]
    planes = math.prod(e for _, e in plane_loops)
    if planes > launch.max_planes:
        blocks = -(-total // launch.threads)
        view.update(launch=f"({blocks}, {launch.threads})", body=[printer.view(s) for s in inside])
        return view
    # one grid row per result plane (batch × channel): the block's threads share the
    # channel, so they share its weights, which the block stages in shared memory
    size = math.prod(e for _, e in spatial)
    itemsize = 8 if printer.dtype == "float64" else 4
    staged = _weight_stage(nest, inside, plane_loops, launch, itemsize)
    printer.staged = {} if staged is None else {staged["buffer"]: staged}
    view.update(
        planes=True,
        launch=f"(({-(-size // launch.threads)}, {planes}), {launch.threads})",
        plane_decode=_decode(plane_loops, "plane"),
        size=str(size),
        position_decode=_decode(spatial, "position"),
        staged=None if staged is None else {k: v for k, v in staged.items() if k != "strides"},
        notes=view["notes"]
        + ([] if staged is None else ["the block's weights are read from a copy in shared memory"]),
        body=[printer.view(s) for s in inside],
    )
    printer.staged = {}
    return view


def _block_view(
    view: dict[str, Any],
    inside: tuple[Stmt, ...],
    printer: CudaStatementView,
    launch: Launch,
    total: int,
) -> dict[str, Any]:
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


def _reads(body: tuple[Stmt, ...]) -> list[Read]:
    """Every factor read by an accumulation in `body`, at any depth."""
    found: list[Read] = []
    for stmt in body:
        if isinstance(stmt, Accumulate):
            found += [f for f in stmt.factors if isinstance(f, Read)]
        found += _reads(getattr(stmt, "body", ()))
    return found


def _weight_stage(
    nest: LoopNest, inside: tuple[Stmt, ...], plane_loops: list, launch: Launch, itemsize: int
) -> dict[str, Any] | None:
    """The weights one block reads, when they are one slice w[channel, :, ...] of it.

    That holds when the first index of every read of the weight depends only on the
    block's plane (its output channel) and the others are the reduction's own loop
    variables, each over the whole axis: the forward pass.  The block copies that
    slice into shared memory once, and every thread reads it from there.
    """
    weights = [p for p in nest.params if p.name == "w"]
    if not weights:
        return None
    shape = weights[0].shape
    reads = [r for r in _reads(inside) if r.buffer == "w"]
    plane_vars = {var for var, _ in plane_loops}
    extents = _loop_extents(inside)
    if not reads or len({r.index for r in reads}) != 1:
        return None
    index = reads[0].index
    rest = index[1:]
    if not sp.sympify(index[0]).free_symbols <= plane_vars:
        return None
    if len(set(rest)) != len(rest) or any(extents.get(v) != n for v, n in zip(rest, shape[1:])):
        return None
    size = math.prod(shape[1:])
    if size * itemsize > launch.shared_bytes:
        return None
    strides = [math.prod(shape[2 + i :]) for i in range(len(shape) - 1)]
    loads = [(sp.Symbol(f"s{i}", integer=True), n) for i, n in enumerate(shape[1:])]
    return {
        "buffer": "w",
        "name": "w_shared",
        "size": str(size),
        "decode": _decode(loads, "load"),
        "source": f"w[{print_index(index[0])}, {', '.join(v.name for v, _ in loads)}]",
        "strides": dict(zip(rest, strides)),
    }


def _loop_extents(body: tuple[Stmt, ...]) -> dict[sp.Symbol, int]:
    extents: dict[sp.Symbol, int] = {}
    for stmt in body:
        if isinstance(stmt, For):
            extents[stmt.var] = stmt.extent
        extents.update(_loop_extents(getattr(stmt, "body", ())))
    return extents


class CudaStatementView(StatementView):
    """The CPU's statement views, with the two statements a GPU prints differently."""

    def __init__(self, dtype: str) -> None:
        super().__init__(parallel=False, dtype=dtype)
        #: Buffers staged in shared memory by the kernel being printed, by name.
        self.staged: dict[str, dict[str, Any]] = {}

    def factor(self, factor: Any) -> str:
        """A staged weight reads its shared copy, at its flat offset in the slice."""
        if isinstance(factor, Read) and factor.buffer in self.staged:
            staged = self.staged[factor.buffer]
            offset = sum(var * stride for var, stride in staged["strides"].items())
            return f"{staged['name']}[{print_index(sp.sympify(offset))}]"
        return super().factor(factor)

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
