"""The CPU target's view of the IR: every statement as strings for its Jinja2 templates.

This is the only place that turns loop nests into text for ``templates/numba_cpu``.
Loops marked parallel become ``numba.prange`` in a kernel compiled with threads, a
`Gemm` becomes ``np.dot`` on contiguous 2-D views (Numba hands it to SciPy's BLAS),
constants become exact quotients in the layer's float type.  The view holds strings
only, checked by `symconv.codegen.check.check_view` before rendering.
"""

from __future__ import annotations

import hashlib
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
    VecBroadcast,
    VecFma,
    VecLoad,
    VecStore,
    VecStoreInterleaved,
    VecStoreRows,
    VecTotal,
    VecZero,
    accessed_buffers,
    buffer_effects,
    flatten_reads,
    free_indices,
    has_parallel_loop,
    walk,
)
from symconv.lower.passes.offsets import share_offset_bases
from symconv.targets.numba_cpu import vector_names

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
#: A task's parameters: a pointer to each array it touches (<array>_ptr), int64 indices.
#: Tasks are compiled as C callbacks (``numba.cfunc``) under a symbol of their own, and
#: the kernel calls that symbol as an external function.  Called as a Numba function
#: instead, each threaded function of the kernel would link the task's code and
#: optimize it again: the 8×64×56×56 → 64 layer's Winograd forward compiled in 7.1 s
#: that way, in 4.8 s through the symbol, at the same speed.  (Passed as a function
#: argument, a task cost 10 µs per call to unbox.)
TASK_POINTER = "POINTER"
TASK_INDEX = "numba.int64"
POINTER_SUFFIX = "_ptr"
#: A task's symbol: this prefix and a digest of the task's view, so one symbol always
#: names one code (two modules with the same task may share it).
TASK_SYMBOL = "symconv_task_"
#: The plain Python function a task is compiled from is named <task>_body.
BODY_SUFFIX = "_body"
#: The parallel option of a threaded kernel: its prange loops run in the order written,
#: never fused (see the module template's `in_written_order`).
THREADED = "in_written_order()"
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
    intrinsics = sorted({name for kernel in kernels for name in kernel.pop("intrinsics")})
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
        "buffer_types": [
            {"name": buffer_type(n), "ndim": str(n), "dims": ", ".join([":"] * (n - 1) + ["::1"])}
            for n in sorted({len(w.shape) for nest in nests.values() for w in _workspaces(nest)})
        ],
        "blas_in_threads": [n for n, nest in nests.items() if nest.blas_in_threads],
        "algorithms": [{"kernel": n, "name": nest.algorithm} for n, nest in nests.items()],
        "threads": [
            {"kernel": n, "count": str(nest.threads if nest.parallel else 1)}
            for n, nest in nests.items()
        ],
        "kernels": kernels,
        "numbers": [{"name": n, "value": v} for n, v in sorted(numbers.items())],
        "intrinsics": intrinsics,
    }
    check_view(view)
    return view


def _workspaces(nest: LoopNest) -> tuple[Staged | Operand, ...]:
    """The buffers a kernel works in besides its result: staged copies, then scratch."""
    return (*nest.staged, *nest.scratch)


def kernel_view(nest: LoopNest, dtype: str, summary: str, roles: dict[str, str]) -> dict[str, Any]:
    notes = [f"{s.name}: {describe_staged(s)}" for s in nest.staged] + list(nest.notes)
    notes += threading_notes(nest)
    buffers = nest.buffers()
    flat = {name: buffers[name] for name in nest.flat}
    workspaces = _workspaces(nest)
    arguments = [p.name for p in (*nest.params, nest.result, *workspaces)]
    arrays = {name: buffers[name] for name in arguments}
    arrays.update({f"{name}{FLAT_SUFFIX}": (math.prod(shape),) for name, shape in flat.items()})
    tasks = nest.parallel and (_has_vector_loop(nest.body) or _all_flat(nest))
    fastmath = "False" if nest.strict_float else "FASTMATH"
    printer = StatementView(
        nest.parallel, dtype, nest.name if tasks else "", arrays, fastmath, nest.lanes
    )
    body = share_offset_bases(flatten_reads(nest.body, flat, FLAT_SUFFIX)) if flat else nest.body
    statements = [printer.view(s) for s in body]
    zeroed = [s.name for s in nest.scratch if s.accumulated] + (
        [nest.result.name] if nest.zeroed else []
    )
    return {
        "name": nest.name,
        "summary": summary,
        "notes": notes,
        "result_type": roles[nest.result.name],
        "arguments": arguments,
        "argument_types": [f"{roles[p.name]}_ARG" for p in nest.params]
        + [roles[nest.result.name]]
        + [buffer_type(len(w.shape)) for w in workspaces],
        "parallel": THREADED if nest.parallel else "False",
        "fastmath": fastmath,
        "staged": [_staged_view(s, nest.parallel) for s in nest.staged],
        "workspace_specs": [_workspace_view(w) for w in workspaces],
        "zeroed": zeroed,
        "result": {**_buffer_view(nest.result), "zeroed": str(nest.zeroed)},
        "runtime_zero": _runtime_zero(nest),
        "flat": [{"name": name, "view": f"{name}{FLAT_SUFFIX}"} for name in flat],
        "body": statements,
        "tasks": printer.tasks,
        "numbers": printer.constants,
        "intrinsics": sorted(printer.intrinsics),
    }


def threading_notes(nest: LoopNest) -> list[str]:
    """How a threaded kernel runs, for its docstring: its steps in order, the parallel ones
    with their loop and the buffers they write and read."""
    if not nest.parallel:
        return []
    steps = [
        f"parallel over copy_plane ({view['planes']} iterations): writes {view['name']} "
        f"from {view['source_name']}, one image's channel each"
        for view in (_staged_view(s, True) for s in nest.staged)
        if view["copy"] and view["planes"]
    ]
    steps += _steps(nest.body, ())
    return [
        f"threads: {len(steps)} steps in this order, each finishing before the next starts",
        "(Numba's loop fusion is off); a parallel loop's iterations write disjoint elements:",
        *(f"  {number}. {step}" for number, step in enumerate(steps, 1)),
    ]


def _steps(body: tuple[Stmt, ...], around: tuple[For, ...]) -> list[str]:
    """One line per parallel loop of `body`, and per run of serial statements between them."""
    steps: list[str] = []
    serial: list[Stmt] = []

    def flush() -> None:
        if serial:
            steps.append(_step_text("one thread", tuple(serial), around))
            serial.clear()

    for stmt in body:
        if isinstance(stmt, For) and stmt.parallel:
            flush()
            where = f"parallel over {stmt.var.name} ({stmt.extent} iterations)"
            steps.append(_step_text(where, stmt.body, around))
        elif isinstance(stmt, For) and has_parallel_loop(stmt.body):
            flush()
            steps += _steps(stmt.body, (*around, stmt))
        else:
            serial.append(stmt)
    flush()
    return steps


def _step_text(where: str, body: tuple[Stmt, ...], around: tuple[For, ...]) -> str:
    reads, writes = buffer_effects(body)
    text = where
    if around:
        text += " in each iteration of " + ", ".join(
            f"{loop.var.name} ({loop.extent})" for loop in around
        )
    text += f": writes {', '.join(sorted(writes)) or 'nothing'}"
    if reads:
        text += f" from {', '.join(sorted(reads))}"
    return text


def _has_vector_loop(body: tuple[Stmt, ...]) -> bool:
    """True when a loop runs to the runtime zero: a vector loop, or one kept from unrolling."""
    return any(isinstance(s, For) and (s.vector or s.opaque) for s, _ in walk(body))


def _matrix_buffers(body: tuple[Stmt, ...]) -> set[str]:
    """Buffers `body` hands whole to a matrix product or a bias update."""
    found: set[str] = set()
    for stmt, _ in walk(body):
        if isinstance(stmt, Gemm):
            found.update(m.buffer for m in (stmt.out, stmt.a, stmt.b))
        elif isinstance(stmt, AddBias):
            found.update((stmt.target.buffer, stmt.bias))
    return found


def _all_flat(nest: LoopNest) -> bool:
    """True when every element the nest reads or writes goes through a flat 1-D view."""
    buffers = accessed_buffers(nest.body)
    return bool(buffers) and buffers <= set(nest.flat)


def _runtime_zero(nest: LoopNest) -> str:
    """``runtime_zero = x.shape[0] - 8``: emitted only when a loop of the nest is a vector loop."""
    if not _has_vector_loop(nest.body):
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


def _staged_view(staged: Staged, threaded: bool = False) -> dict[str, Any]:
    """How a kernel fills a staged copy: one slice assignment, or in a threaded kernel whose
    copy keeps every image and channel, one plane per parallel iteration (a single thread
    copying a 6 MB input took a tenth of a strided layer's time)."""
    landing, kept = staged.copy_slices()
    source = staged.source
    kept_text = print_slices(kept, source.shape)
    full = all(part == ":" for part in kept_text.split(", "))
    view = {
        "name": staged.name,
        "shape": repr(staged.shape),
        "fill": _literal(staged.fill, None) if staged.fill else "",
        "copy": not staged.empty,
        "landing": print_slices(landing, staged.shape),
        "source": source.name if full else f"{source.name}[{kept_text}]",
        "source_name": source.name,
        "planes": 0,
    }
    whole = all(
        landed == range(size) and part == range(size)
        for landed, part, size in zip(landing[:2], kept[:2], source.shape[:2])
    )
    if threaded and whole and len(source.shape) > 2 and staged.shape[:2] == source.shape[:2]:
        view.update(
            planes=source.shape[0] * source.shape[1],
            channels=source.shape[1],
            landing_plane=print_slices(landing[2:], staged.shape[2:]),
            kept_plane=print_slices(kept[2:], source.shape[2:]),
        )
    return view


def _buffer_view(operand: Operand) -> dict[str, str]:
    return {"name": operand.name, "shape": repr(operand.shape)}


def buffer_type(ndim: int) -> str:
    """The module-level name of a writable C-contiguous array type of `ndim` axes."""
    return f"BUFFER_{ndim}D"


def _workspace_view(buffer: Staged | Operand) -> dict[str, str]:
    """A workspace as (name, shape, the value it is allocated with) for WORKSPACES.

    A staged copy keeps its fill (zeros, −∞) outside the elements each call copies in,
    so it is filled once, when allocated; scratch is written (or zeroed) by every call.
    """
    fill = buffer.fill if isinstance(buffer, Staged) else 0.0
    return {"name": buffer.name, "shape": repr(buffer.shape), "fill": _literal(fill, None)}


class StatementView:
    """One dict per IR statement for the loops template, dispatched on the statement's class.

    In a nest that reads and writes only through flat views (Winograd, rows), or with
    a vector loop, a threaded loop's body becomes a task: a function of its own,
    compiled without threads as a C callback, that the kernel calls once per iteration
    of a ``prange`` loop (see `TASK_POINTER`).  Numba's parallel compiler analyses
    every statement of the function it threads; handed only the call, it compiled
    LeNet conv1's layer in 5.9 s instead of 11.8, at the same speed.  Called through a
    symbol, a task is not compiled again inside each threaded function: the
    8×64×56×56 → 64 layer's Winograd kernels went from 7.7, 7.2 and 9.1 s to 5.1, 5.1
    and 6.5 s, and a task may hold a BLAS product (MNIST's unfold dL/dX: 7.5 s → 2.4 s;
    called as a Numba function, such a task took 24 s).  Only flat views otherwise: a
    task gets no `noalias` (Numba gives that to its parallel functions alone), and over
    4-D arrays with runtime strides LLVM could not check the rows nest's 7 pointers for
    overlap and left it scalar (LeNet conv1's forward 102 µs → 493 µs); flat views with
    literal strides it checks.
    """

    def __init__(
        self,
        parallel: bool,
        dtype: str,
        kernel: str = "",
        arrays: dict[str, tuple[int, ...]] | None = None,
        fastmath: str = "",
        lanes: int = 0,
    ):
        self.parallel = parallel
        self.dtype = dtype
        self.fastmath = fastmath
        self.kernel = kernel
        #: The vector intrinsics' names for this kernel's float type and lanes, and the
        #: ones its statements call (imported by the module).
        self.lanes = lanes
        self.vector = vector_names.names(dtype, lanes) if lanes else {}
        self.intrinsics: set[str] = set()
        #: The kernel's arrays (arguments, results, workspaces, flat views): their shapes.
        self.arrays = dict(arrays or {})
        #: Constants the statements name, by name: emitted once at module level.
        self.constants: dict[str, str] = {}
        #: The task functions of threaded loops, in the order the kernel calls them.
        self.tasks: list[dict[str, Any]] = []

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
        opaque = stmt.vector or stmt.opaque
        extent = f"{stmt.extent} + {RUNTIME_ZERO}" if opaque else str(stmt.extent)
        threaded = stmt.parallel and self.parallel
        if threaded and self.kernel:
            return self.task(stmt, extent)
        return {
            "kind": "for",
            "var": stmt.var.name,
            "counter": f"{stmt.var.name}{PRANGE_SUFFIX}" if threaded else "",
            "iterator": "numba.prange" if threaded else "range",
            "extent": extent,
            "body": [self.view(s) for s in stmt.body],
        }

    def task(self, stmt: For, extent: str) -> dict[str, Any]:
        """``for v_p in prange(extent): task(x_flat.ctypes, ..., indices, int64(v_p))``, its task.

        The task is a C callback (see `TASK_POINTER`): it gets a pointer to each array
        its body touches and views it as an array of the same shape again, the indices
        of the loops around it that it reads, and the runtime zero when a vector loop
        inside needs it.  The counter is cast to int64 (Numba types it uint64 inside
        its threaded loop); the task binds v = v_p % extent itself (see `PRANGE_SUFFIX`).
        """
        name = f"_{self.kernel}_task_{len(self.tasks)}"
        counter = f"{stmt.var.name}{PRANGE_SUFFIX}"
        indices = sorted(s.name for s in free_indices(stmt.body) if s != stmt.var)
        if _has_vector_loop(stmt.body):
            indices.append(RUNTIME_ZERO)
        touched = accessed_buffers(stmt.body) | _matrix_buffers(stmt.body)
        arrays = [a for a in self.arrays if a in touched]
        inner = StatementView(False, self.dtype, lanes=self.lanes)
        inner.constants = self.constants
        inner.intrinsics = self.intrinsics
        task = {
            "name": name,
            "function": f"{name}{BODY_SUFFIX}",
            "params": [*(f"{a}{POINTER_SUFFIX}" for a in arrays), *indices, counter],
            "types": [TASK_POINTER] * len(arrays) + [TASK_INDEX] * (len(indices) + 1),
            "arrays": [
                {"name": a, "pointer": f"{a}{POINTER_SUFFIX}", "shape": repr(self.arrays[a])}
                for a in arrays
            ],
            "var": stmt.var.name,
            "counter": counter,
            "extent": str(stmt.extent),
            "body": [inner.view(s) for s in stmt.body],
        }
        content = repr((self.dtype, self.fastmath, task))
        task["symbol"] = TASK_SYMBOL + hashlib.sha256(content.encode()).hexdigest()[:24]
        self.tasks.append(task)
        args = [f"{a}.ctypes" for a in arrays] + indices
        return {"kind": "task", "counter": counter, "extent": extent, "call": name, "args": args}

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
        """acc = a - b + K_4 * (c + d - e): terms with one coefficient magnitude share it.

        Grouping by magnitude multiplies once per group instead of once per term (a
        Winograd transform row such as (0, 1, -1, 8, -8, 1) needs one multiplication,
        not two), and the kernel Numba compiles is that much shorter.
        """
        groups: dict[sp.Rational, list[tuple[str, str]]] = {}
        for coefficient, factor in stmt.terms:
            value = sp.Rational(coefficient)
            groups.setdefault(abs(value), []).append(
                ("-" if value < 0 else "+", self.factor(factor))
            )
        parts: list[tuple[str, str]] = []  # (sign, text) per group
        for magnitude, terms in groups.items():
            if magnitude == 1:
                parts += terms
                continue
            constant = self.factor(Const(magnitude))
            if len(terms) == 1:
                parts.append((terms[0][0], f"{constant} * {terms[0][1]}"))
                continue
            text = ("-" if terms[0][0] == "-" else "") + terms[0][1]
            text += "".join(f" {sign} {term}" for sign, term in terms[1:])
            parts.append(("+", f"{constant} * ({text})"))
        value = ("-" if parts[0][0] == "-" else "") + parts[0][1]
        value += "".join(f" {sign} {text}" for sign, text in parts[1:])
        return {"kind": "store", "target": stmt.acc, "value": value}

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

    # ----- vector statements: calls of the target's intrinsics ------------------------------
    def call(self, operation: str, *args: str) -> str:
        name = self.vector[operation]
        self.intrinsics.add(name)
        return f"{name}({', '.join(args)})"

    def flat_read(self, read: Read) -> tuple[str, str]:
        """(flat view, index) of a read of a flat view: a vector's lane 0."""
        (index,) = read.index
        return read.buffer, print_index(index)

    def _view_VecZero(self, stmt: VecZero) -> dict[str, Any]:
        return {"kind": "store", "target": stmt.var, "value": self.call("zero")}

    def _view_VecLoad(self, stmt: VecLoad) -> dict[str, Any]:
        place = self.flat_read(stmt.source)
        if stmt.step != 1:
            stop = stmt.stop or self.lanes
            arguments = (str(stmt.step), str(stmt.first), str(stop))
            value = self.call("load_strided", *place, *arguments)
        elif stmt.first == 0 and stmt.stop in (0, self.lanes):
            value = self.call("load", *place)
        else:
            value = self.call("load_masked", *place, str(stmt.first), str(stmt.stop))
        return {"kind": "store", "target": stmt.var, "value": value}

    def _view_VecBroadcast(self, stmt: VecBroadcast) -> dict[str, Any]:
        if isinstance(stmt.value, Read) and len(stmt.value.index) == 1:  # a flat view's element
            value = self.call("splat", *self.flat_read(stmt.value))
        else:
            value = self.call("broadcast", self.factor(stmt.value))
        return {"kind": "store", "target": stmt.var, "value": value}

    def _view_VecFma(self, stmt: VecFma) -> dict[str, Any]:
        value = self.call("fma", stmt.a, stmt.b, stmt.acc)
        return {"kind": "store", "target": stmt.acc, "value": value}

    def _view_VecStore(self, stmt: VecStore) -> dict[str, Any]:
        buffer, index = self.flat_read(stmt.target)
        count = stmt.count or self.lanes
        text = self.call("store", buffer, index, stmt.var, str(stmt.stride), str(count))
        return {"kind": "call", "text": text}

    def _view_VecStoreRows(self, stmt: VecStoreRows) -> dict[str, Any]:
        buffer, index = self.flat_read(stmt.target)
        count = stmt.count or self.lanes
        vectors = "(" + ", ".join(stmt.vars) + ("," if len(stmt.vars) == 1 else "") + ")"
        arguments = (str(stmt.stride), str(stmt.step), str(count))
        return {"kind": "call", "text": self.call("store_rows", buffer, index, vectors, *arguments)}

    def _view_VecStoreInterleaved(self, stmt: VecStoreInterleaved) -> dict[str, Any]:
        buffer, index = self.flat_read(stmt.target)
        count = stmt.count or self.lanes * len(stmt.vars)
        vectors = "(" + ", ".join(stmt.vars) + ("," if len(stmt.vars) == 1 else "") + ")"
        text = self.call("store_interleaved", buffer, index, vectors, str(count))
        return {"kind": "call", "text": text}

    def _view_VecTotal(self, stmt: VecTotal) -> dict[str, Any]:
        return {"kind": "store", "target": stmt.acc, "value": self.call("total", stmt.var)}

    def scaled(self, store: Store) -> str:
        """acc, acc / np.<dtype>(q) for a scale 1/q, else acc * np.<dtype>(p) / np.<dtype>(q)."""
        scale = sp.Rational(store.scale)
        if scale == 1:
            return store.acc
        p, q = int(scale.p), int(scale.q)
        if p == 1:
            return f"{store.acc} / {self.constant(sp.Integer(q))}"
        return f"{store.acc} * {self.constant(sp.Integer(p))} / {self.constant(sp.Integer(q))}"
