"""Print IR index expressions as Python integer arithmetic for the generated kernels.

SymPy's own printers aim at real-valued math: ``floor(r/2)`` would come out as
``math.floor(r/2)``, a float division.  Here every expression is an integer index,
so `floor(p/q)` prints as ``(p) // q``, `Mod` as ``%``, `Max` as ``max(...)``, and
sums read like hand-written offsets: ``2 * jh + th - 1``.  A fraction or float reaching
an index is a bug upstream and raises instead of printing.
"""

from __future__ import annotations

import sympy as sp

from symconv.lower.ir import Read, Scalar
from symconv.symbolic.index_printer import IntegerIndexPrinter
from symconv.symbolic.indices import Divisible, InRange


class IndexPrinter(IntegerIndexPrinter):
    """The integer index printer, extended to IR reads and guards (`_print_<Class>`).

    Terms are printed largest coefficient first, so a flat index reads outer strides
    first and the innermost (unit-stride) loop counter last: ``3136 * g + 200704 * n
    + jw``.  The order is not cosmetic: Numba adds left to right without no-wrap
    flags, and with the loop counter added before the invariant part LLVM could not
    prove the index non-negative, kept Numba's negative-index wraparound per lane and
    vectorized a depthwise row with 252 gathers (3.4 ms; 0 gathers and 6× faster with
    the counter last).
    """

    def _term_key(self, term: sp.Expr) -> tuple:
        coeff, rest = term.as_coeff_Mul()
        return (-abs(coeff), *super()._term_key(term))

    # ----- IR objects --------------------------------------------------------------
    def _print_Read(self, read: Read) -> str:
        return f"{read.buffer}[{', '.join(self._print(sp.sympify(e)) for e in read.index)}]"

    def _print_Scalar(self, scalar: Scalar) -> str:
        return scalar.name

    def _print_InRange(self, guard: InRange) -> str:
        return f"0 <= {self._print(guard.expr)} < {guard.bound}"

    def _print_Divisible(self, guard: Divisible) -> str:
        return f"{self._operand(guard.expr)} % {guard.divisor} == 0"


_PRINTER = IndexPrinter()


def print_index(expr: object) -> str:
    """Python source for an index expression, a `Read` or a guard."""
    return _PRINTER.doprint(sp.sympify(expr) if isinstance(expr, int) else expr)


def print_slices(ranges: tuple[range, ...], shape: tuple[int, ...]) -> str:
    """``1:4, ::2`` style subscripts; a range covering a whole axis prints as ``:``."""
    parts = []
    for r, size in zip(ranges, shape):
        if r.step == 1 and r.start == 0 and r.stop == size:
            parts.append(":")
            continue
        start = "" if r.start == 0 else str(r.start)
        stop = "" if r.stop >= size and r.step == 1 else str(r.stop)
        step = "" if r.step == 1 else f":{r.step}"
        parts.append(f"{start}:{stop}{step}")
    return ", ".join(parts)
