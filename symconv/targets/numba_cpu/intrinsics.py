"""Explicit vector registers for generated kernels: a Numba type per (float type, lanes),
and the few operations a register-blocked convolution needs, as LLVM vector IR.

LLVM's auto-vectorizer leaves a loop over output channels scalar as soon as it cannot
prove its pointers apart ("cannot identify array bounds"); these intrinsics say what to
do instead.  A value of `Vector` is an LLVM ``<lanes x float>`` (or double) held in an
ordinary local variable, which LLVM keeps in a register:

- ``load(a, i)``: a[i : i + lanes] of a 1-D C-contiguous array, one unaligned vector load;
  ``load_masked(a, i, first, stop)``: lanes first ≤ l < stop from a[i + l], the others 0
  (``llvm.masked.load``: the lanes left out are never read, even past the array's end);
- ``load_strided(a, i, step, first, stop)``: lanes first ≤ l < stop from a[i + l·step], the
  others 0 (one stride phase of a row): contiguous loads of the stretch the lanes span, the
  last one masked at its end, and a shuffle keeping every step-th element;
- ``store(a, i, v, stride, count)``: lane l to a[i + l·stride] for l < count, as one vector
  store when stride is 1 (``llvm.masked.store`` when count stops short), else lane by
  lane (an output tile written straight into NCHW, where neighbouring channels lie a
  plane apart); ``store_rows(a, i, (v0, …, vk), stride, step, count)``: v_j's lane l to
  a[i + l·stride + j·step] for l < count, lane by lane, each lane's row of j together (so
  each cache line of an NCHW output is written in one go); when step is 1 each row is
  contiguous, and k vectors of k lanes are transposed in registers (log2(k) rounds of
  shuffles), each row written as one vector store;
  ``store_interleaved(a, i, (v0, …, vk-1), count)``: element e < count of the weave
  v0[0], v1[0], …, vk-1[0], v0[1], … to a[i + e] (the stride phases of a row of dL/dX):
  shuffles and whole vector stores, the last one masked;
- ``broadcast(x)``: every lane x (insertelement and a zero shufflevector: vbroadcastss, or
  an embedded {1to16} operand), and ``splat(a, i)``: every lane a[i], read without
  Numba's negative-index test;
- ``fma(a, b, c)``: a·b + c per lane, as ``llvm.fmuladd``: one vfmadd where the CPU has
  FMA, a multiply and an add where it has not (``llvm.fma`` would become a call to the
  scalar fmaf there, about 90 times slower);
- ``zero()`` and ``total(v)`` (the sum of the lanes).

`first`, `stop`, `stride` and `count` must be integer constants at the call (generated
code writes them as literals): the lanes are unrolled at compile time.  The functions exist for
every (float type, lanes) pair a kernel may use, named ``f32x16_load`` and so on
(`vector_names.names`).  Generated modules' names include this file's digest
(`vector_names.digest`), so a change here gives them new file names, and Numba's cache
of code built with the old intrinsics is never reused.
"""

from __future__ import annotations

from typing import Any

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

from symconv.targets.numba_cpu.vector_names import names

#: The float types and lane counts with functions here.
FLOATS = {"float32": (types.float32, ir.FloatType()), "float64": (types.float64, ir.DoubleType())}
LANES = (2, 4, 8, 16)
#: Bytes per element, the alignment every load and store may assume.
ALIGN = {"float32": 4, "float64": 8}


class Vector(types.Type):
    """`lanes` values of `dtype` in one register."""

    def __init__(self, dtype: str, lanes: int) -> None:
        self.dtype, self.lanes = dtype, lanes
        super().__init__(name=f"Vector({dtype}, {lanes})")


@register_model(Vector)
class VectorModel(models.PrimitiveModel):
    def __init__(self, dmm: Any, fe_type: Vector) -> None:
        super().__init__(dmm, fe_type, ir.VectorType(FLOATS[fe_type.dtype][1], fe_type.lanes))


def _is_float_array(value: Any, element: types.Type) -> bool:
    return isinstance(value, types.Array) and value.ndim == 1 and value.dtype == element


def _integer(value: Any) -> bool:
    return isinstance(value, types.Integer)


def _literal(value: Any) -> int | None:
    return value.literal_value if isinstance(value, types.IntegerLiteral) else None


def _make(dtype: str, lanes: int) -> dict[str, Any]:
    """The intrinsics of one vector type."""
    element, llvm_element = FLOATS[dtype]
    vector = Vector(dtype, lanes)
    llvm_vector = ir.VectorType(llvm_element, lanes)
    align = ALIGN[dtype]

    def pointer(context: Any, builder: Any, array_type: Any, array: Any, index: Any) -> Any:
        data = context.make_array(array_type)(context, builder, array).data
        return builder.gep(data, [index])

    def lane_mask(first: int, stop: int) -> Any:
        return ir.Constant(
            ir.VectorType(ir.IntType(1), lanes),
            [int(first <= lane < stop) for lane in range(lanes)],
        )

    kind = "f32" if dtype == "float32" else "f64"
    alignment = ir.Constant(ir.IntType(32), align)
    index_vector = ir.VectorType(ir.IntType(32), lanes)

    def masked_load(builder: Any, at: Any, first: int, stop: int) -> Any:
        """Lanes first ≤ l < stop from the vector pointer `at`, 0 in the others, as
        ``llvm.masked.load``: the lanes left out are never read."""
        mask = lane_mask(first, stop)
        function_type = ir.FunctionType(
            llvm_vector, [at.type, alignment.type, mask.type, llvm_vector]
        )
        name = f"llvm.masked.load.v{lanes}{kind}.p0"
        function = cgutils.get_or_insert_function(builder.module, function_type, name)
        return builder.call(function, [at, alignment, mask, ir.Constant(llvm_vector, None)])

    def masked_store(builder: Any, value: Any, at: Any, count: int) -> None:
        """value's lanes l < count to the vector pointer `at`, as ``llvm.masked.store``."""
        mask = lane_mask(0, count)
        function_type = ir.FunctionType(
            ir.VoidType(), [llvm_vector, at.type, alignment.type, mask.type]
        )
        name = f"llvm.masked.store.v{lanes}{kind}.p0"
        function = cgutils.get_or_insert_function(builder.module, function_type, name)
        builder.call(function, [value, at, alignment, mask])

    def storing_function(module: ir.Module, name: str, pointer_type: Any, vectors: int) -> Any:
        """A new internal ``noinline`` function (pointer, `vectors` vectors) -> void, and a
        builder at its start."""
        function_type = ir.FunctionType(ir.VoidType(), [pointer_type] + [llvm_vector] * vectors)
        function = ir.Function(module, function_type, name)
        function.linkage = "internal"
        function.attributes.add("noinline")
        return function, ir.IRBuilder(function.append_basic_block())

    def rows_writer(module: ir.Module, pointer_type: Any, shape: tuple[int, ...]) -> Any:
        """A function of its own that writes `rows` vectors lane by lane, each lane's row
        together (transposed in registers when a row is contiguous): ``noinline``, so the
        shuffles (and their index vectors) stay in it, out of the registers of the loop
        around the call."""
        rows, distance, spacing, lanes_used = shape
        name = f"symconv_store_rows_{kind}x{lanes}_" + "_".join(str(n) for n in shape)
        if name in module.globals:
            return module.globals[name]
        function, builder = storing_function(module, name, pointer_type, rows)
        base, *vectors = function.args
        offset_type = ir.IntType(64)
        if spacing == 1 and rows == lanes <= distance:
            # a square of lanes × lanes, each lane's row contiguous: transposed in registers,
            # one vector store per row.  (A tile of fewer positions than lanes, padded with
            # zero vectors and stored masked, ran 3-6 % slower than what LLVM makes of the
            # lane-by-lane stores below: simd's forward on LeNet conv2 and ResNet s2.)
            columns = transposed(builder, list(vectors))
            for lane in range(lanes_used):
                at = builder.gep(base, [ir.Constant(offset_type, lane * distance)])
                builder.store(columns[lane], builder.bitcast(at, llvm_vector.as_pointer()),
                              align=align)  # fmt: skip
            builder.ret_void()
            return function
        for lane in range(lanes_used):
            at_lane = ir.Constant(ir.IntType(32), lane)
            for j, value in enumerate(vectors):
                at = builder.gep(base, [ir.Constant(offset_type, lane * distance + j * spacing)])
                builder.store(builder.extract_element(value, at_lane), at, align=align)
        builder.ret_void()
        return function

    def transposed(builder: Any, rows: list[Any]) -> list[Any]:
        """The columns of `lanes` vectors (column l = lane l of each, in order): log2(lanes)
        rounds of two-source shuffles, each swapping the off-diagonal blocks of a size."""
        rows = list(rows)
        half = lanes // 2
        while half >= 1:
            low = [p if not p & half else lanes + p - half for p in range(lanes)]
            high = [p + half if not p & half else lanes + p for p in range(lanes)]
            for i in range(lanes):
                if i & half:
                    continue
                a, b = rows[i], rows[i + half]
                rows[i] = builder.shuffle_vector(a, b, ir.Constant(index_vector, low))
                rows[i + half] = builder.shuffle_vector(a, b, ir.Constant(index_vector, high))
            half //= 2
        return rows

    def weaver(module: ir.Module, pointer_type: Any, shape: tuple[int, int]) -> Any:
        """A ``noinline`` function of its own that weaves `k` vectors and stores the first
        `count` elements: the shuffles' index vectors stay out of the caller's registers
        (inlined, LLVM hoists such constants out of the tile loop and spills its FMAs')."""
        k, count = shape
        name = f"symconv_store_interleaved_{kind}x{lanes}_{k}_{count}"
        if name in module.globals:
            return module.globals[name]
        function, builder = storing_function(module, name, pointer_type, k)
        base, *vectors = function.args
        whole = concatenated(builder, list(vectors))
        for first in range(0, count, lanes):  # count ≤ k·lanes: every index is a lane
            chosen = [(e % k) * lanes + e // k for e in range(first, first + lanes)]
            mask = ir.Constant(ir.VectorType(ir.IntType(32), lanes), chosen)
            chunk = builder.shuffle_vector(whole, ir.Constant(whole.type, None), mask)
            at = builder.bitcast(
                builder.gep(base, [ir.Constant(ir.IntType(64), first)]), llvm_vector.as_pointer()
            )
            used = min(lanes, count - first)
            if used == lanes:
                builder.store(chunk, at, align=align)
                continue
            masked_store(builder, chunk, at, used)
        builder.ret_void()
        return function

    @intrinsic
    def load(typingctx: Any, array: Any, index: Any) -> Any:
        if not (_is_float_array(array, element) and _integer(index)):
            return None

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            at = pointer(context, builder, signature.args[0], args[0], args[1])
            return builder.load(builder.bitcast(at, llvm_vector.as_pointer()), align=align)

        return vector(array, index), codegen

    @intrinsic(prefer_literal=True)
    def load_masked(typingctx: Any, array: Any, index: Any, first: Any, stop: Any) -> Any:
        start, end = _literal(first), _literal(stop)
        if not (
            _is_float_array(array, element)
            and _integer(index)
            and start is not None
            and end is not None
            and 0 <= start < end <= lanes
        ):
            return None

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            at = pointer(context, builder, signature.args[0], args[0], args[1])
            return masked_load(builder, builder.bitcast(at, llvm_vector.as_pointer()), start, end)

        return vector(array, index, first, stop), codegen

    def concatenated(builder: Any, parts: list[Any]) -> Any:
        """One vector of the parts side by side (padded with zero vectors to a power of 2)."""
        while len(parts) > 1:
            if len(parts) % 2:
                parts.append(ir.Constant(parts[0].type, None))
            size = parts[0].type.count
            both = ir.Constant(ir.VectorType(ir.IntType(32), 2 * size), list(range(2 * size)))
            parts = [builder.shuffle_vector(a, b, both) for a, b in zip(parts[::2], parts[1::2])]
        return parts[0]

    @intrinsic(prefer_literal=True)
    def load_strided(
        typingctx: Any, array: Any, index: Any, step: Any, first: Any, stop: Any
    ) -> Any:
        spacing, start, end = _literal(step), _literal(first), _literal(stop)
        if not (
            _is_float_array(array, element)
            and _integer(index)
            and spacing is not None
            and start is not None
            and end is not None
            and spacing >= 1
            and 0 <= start < end <= lanes
        ):
            return None
        span = spacing * (end - 1 - start) + 1  # elements from the first lane's to the last's

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            at = pointer(context, builder, signature.args[0], args[0], args[1])
            at = builder.gep(at, [ir.Constant(ir.IntType(64), spacing * start)])
            parts = []
            for offset in range(0, span, lanes):
                where = builder.bitcast(
                    builder.gep(at, [ir.Constant(ir.IntType(64), offset)]),
                    llvm_vector.as_pointer(),
                )
                used = min(lanes, span - offset)
                if used == lanes:
                    parts.append(builder.load(where, align=align))
                    continue
                parts.append(masked_load(builder, where, 0, used))
            whole = concatenated(builder, parts)
            zero_lane = whole.type.count  # the first lane of the zero vector
            chosen = [
                spacing * (lane - start) if start <= lane < end else zero_lane
                for lane in range(lanes)
            ]
            mask = ir.Constant(ir.VectorType(ir.IntType(32), lanes), chosen)
            return builder.shuffle_vector(whole, ir.Constant(whole.type, None), mask)

        return vector(array, index, step, first, stop), codegen

    @intrinsic(prefer_literal=True)
    def store(typingctx: Any, array: Any, index: Any, value: Any, stride: Any, count: Any) -> Any:
        step, lanes_used = _literal(stride), _literal(count)
        if not (
            _is_float_array(array, element)
            and _integer(index)
            and value == vector
            and step is not None
            and lanes_used is not None
            and 1 <= lanes_used <= lanes
        ):
            return None

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            array_type = signature.args[0]
            base = pointer(context, builder, array_type, args[0], args[1])
            if step == 1:
                at = builder.bitcast(base, llvm_vector.as_pointer())
                if lanes_used == lanes:
                    builder.store(args[2], at, align=align)
                    return context.get_dummy_value()
                masked_store(builder, args[2], at, lanes_used)
                return context.get_dummy_value()
            offset_type = ir.IntType(64)
            for lane in range(lanes_used):
                scalar = builder.extract_element(args[2], ir.Constant(ir.IntType(32), lane))
                at = builder.gep(base, [ir.Constant(offset_type, lane * step)])
                builder.store(scalar, at, align=align)
            return context.get_dummy_value()

        return types.void(array, index, value, stride, count), codegen

    @intrinsic(prefer_literal=True)
    def store_rows(
        typingctx: Any, array: Any, index: Any, values: Any, stride: Any, step: Any, count: Any
    ) -> Any:
        distance, spacing, lanes_used = _literal(stride), _literal(step), _literal(count)
        if not (
            _is_float_array(array, element)
            and _integer(index)
            and isinstance(values, types.UniTuple)
            and values.dtype == vector
            and distance is not None
            and spacing is not None
            and lanes_used is not None
            and 1 <= lanes_used <= lanes
        ):
            return None
        rows = values.count

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            base = pointer(context, builder, signature.args[0], args[0], args[1])
            vectors = [builder.extract_value(args[2], j) for j in range(rows)]
            shape = (rows, distance, spacing, lanes_used)
            builder.call(rows_writer(builder.module, base.type, shape), [base, *vectors])
            return context.get_dummy_value()

        return types.void(array, index, values, stride, step, count), codegen

    @intrinsic(prefer_literal=True)
    def store_interleaved(typingctx: Any, array: Any, index: Any, values: Any, count: Any) -> Any:
        total = _literal(count)
        if not (
            _is_float_array(array, element)
            and _integer(index)
            and isinstance(values, types.UniTuple)
            and values.dtype == vector
            and total is not None
            and 1 <= total <= values.count * lanes
        ):
            return None
        k = values.count

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            base = pointer(context, builder, signature.args[0], args[0], args[1])
            vectors = [builder.extract_value(args[2], j) for j in range(k)]
            builder.call(weaver(builder.module, base.type, (k, total)), [base, *vectors])
            return context.get_dummy_value()

        return types.void(array, index, values, count), codegen

    @intrinsic
    def broadcast(typingctx: Any, scalar: Any) -> Any:
        if not isinstance(scalar, (types.Float, types.Integer)):
            return None

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            value = context.cast(builder, args[0], signature.args[0], element)
            one = builder.insert_element(
                ir.Constant(llvm_vector, ir.Undefined), value, ir.Constant(ir.IntType(32), 0)
            )
            mask = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
            return builder.shuffle_vector(one, ir.Constant(llvm_vector, ir.Undefined), mask)

        return vector(scalar), codegen

    @intrinsic
    def splat(typingctx: Any, array: Any, index: Any) -> Any:
        """broadcast(a[i]) without Numba's negative-index test (the index is never negative:
        an unproved test per load kept LLVM from folding the load into the FMA)."""
        if not (_is_float_array(array, element) and _integer(index)):
            return None

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            at = pointer(context, builder, signature.args[0], args[0], args[1])
            value = builder.load(at, align=align)
            one = builder.insert_element(
                ir.Constant(llvm_vector, ir.Undefined), value, ir.Constant(ir.IntType(32), 0)
            )
            mask = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
            return builder.shuffle_vector(one, ir.Constant(llvm_vector, ir.Undefined), mask)

        return vector(array, index), codegen

    @intrinsic
    def fma(typingctx: Any, a: Any, b: Any, c: Any) -> Any:
        if not (a == vector and b == vector and c == vector):
            return None

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            name = f"llvm.fmuladd.v{lanes}{kind}"
            function_type = ir.FunctionType(llvm_vector, [llvm_vector] * 3)
            function = cgutils.get_or_insert_function(builder.module, function_type, name)
            return builder.call(function, list(args))

        return vector(a, b, c), codegen

    @intrinsic
    def zero(typingctx: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return ir.Constant(llvm_vector, None)

        return vector(), codegen

    @intrinsic
    def total(typingctx: Any, value: Any) -> Any:
        if value != vector:
            return None

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            parts = [
                builder.extract_element(args[0], ir.Constant(ir.IntType(32), lane))
                for lane in range(lanes)
            ]
            while len(parts) > 1:  # a tree of additions, as a horizontal sum does
                parts = [builder.fadd(a, b) for a, b in zip(parts[::2], parts[1::2])]
            return parts[0]

        return element(value), codegen

    made = {
        "load": load,
        "load_masked": load_masked,
        "load_strided": load_strided,
        "store": store,
        "store_rows": store_rows,
        "store_interleaved": store_interleaved,
        "broadcast": broadcast,
        "splat": splat,
        "fma": fma,
    }
    made.update(zero=zero, total=total)
    return {names(dtype, lanes)[op]: function for op, function in made.items()}


for _dtype in FLOATS:
    for _lanes in LANES:
        globals().update(_make(_dtype, _lanes))
