"""Print IR index expressions as Python integer arithmetic for the generated kernels.

SymPy's own printers aim at real-valued math: ``floor(r/2)`` would come out as
``math.floor(r/2)``, a float division.  Here every expression is an integer index,
so `floor(p/q)` prints as ``(p) // q``, `Mod` as ``%``, `Max` as ``max(...)``, and
sums read like hand-written offsets: ``2 * jh + th - 1``.  A fraction or float reaching
an index is a bug upstream and raises instead of printing.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.str import StrPrinter

from symconv.lower.ir import Read
from symconv.symbolic.indices import Divisible, InRange


class IndexPrinter(StrPrinter):
    """StrPrinter with integer-only rules; `_print_<Class>` covers IR reads and guards too."""

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return expr.name

    def _print_Integer(self, expr: sp.Integer) -> str:
        return str(int(expr))

    def _print_Rational(self, expr: sp.Rational) -> str:
        raise ValueError(f"index expression contains the fraction {expr}")

    def _print_Float(self, expr: sp.Float) -> str:
        raise ValueError(f"index expression contains the float {expr}")

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        constant, terms = expr.as_coeff_Add()
        ordered = sorted(sp.Add.make_args(terms), key=self._term_key)
        parts = [self._signed_term(t) for t in ordered]
        if constant != 0:
            if parts[0][0] == "-" and constant > 0:
                parts.insert(0, ("+", self._print(constant)))  # "2 - th", not "-th + 2"
            else:
                sign = "-" if constant < 0 else "+"
                parts.append((sign, self._print(abs(constant))))
        sign, text = parts[0]
        out = [f"-{text}" if sign == "-" else text]
        out += [f"{sign} {text}" for sign, text in parts[1:]]
        return " ".join(out)

    def _term_key(self, term: sp.Expr) -> tuple[int, str]:
        """Plain index symbols first, alphabetically; floors and mods after them."""
        _, rest = term.as_coeff_Mul()
        return (0 if rest.is_Symbol else 1, self._print(rest))

    def _signed_term(self, term: sp.Expr) -> tuple[str, str]:
        coeff, rest = term.as_coeff_Mul()
        if coeff < 0:
            return "-", self._print(-term)
        return "+", self._print(term)

    def _print_Mul(self, expr: sp.Mul) -> str:
        coeff, rest = expr.as_coeff_Mul()
        if not coeff.is_Integer:
            raise ValueError(f"index expression contains the fraction {coeff} in {expr}")
        factors = [self._operand(f) for f in sp.Mul.make_args(rest)]
        if coeff == -1:
            return "-" + " * ".join(factors)
        if coeff != 1:
            factors.insert(0, self._print(coeff))
        return " * ".join(factors)

    def _print_floor(self, expr: sp.floor) -> str:
        numerator, denominator = sp.fraction(sp.together(expr.args[0]))
        if not denominator.is_Integer:
            raise ValueError(f"floor of a non-integer quotient: {expr}")
        if denominator == 1:
            return self._print(numerator)
        return f"{self._operand(numerator)} // {self._print(denominator)}"

    def _print_Max(self, expr: sp.Max) -> str:
        """Python's built-in max of integers (the first tap a window admits)."""
        return f"max({', '.join(self._print(a) for a in expr.args)})"

    def _print_Min(self, expr: sp.Min) -> str:
        return f"min({', '.join(self._print(a) for a in expr.args)})"

    def _print_Mod(self, expr: sp.Mod) -> str:
        value, modulus = expr.args
        return f"{self._operand(value)} % {self._operand(modulus)}"

    def _operand(self, expr: sp.Expr) -> str:
        """An operand of *, // or %: parenthesized unless it is a symbol or a number."""
        text = self._print(expr)
        atomic = expr.is_Symbol or (expr.is_Integer and expr >= 0)
        return text if atomic else f"({text})"

    # ----- IR objects --------------------------------------------------------------
    def _print_Read(self, read: Read) -> str:
        return f"{read.buffer}[{', '.join(self._print(sp.sympify(e)) for e in read.index)}]"

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
