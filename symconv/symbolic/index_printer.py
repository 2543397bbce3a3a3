"""Print integer index expressions as exact Python integer arithmetic.

SymPy's own printers aim at real-valued math: ``floor(r/2)`` would come out as
``math.floor(r/2)``, a float division, and SymPy keeps ``floor((r + 1 - t)/3)`` as
``floor(r/3 - t/3 + 1/3)``, which evaluates to 1.9999… for r = 5, t = 0.  Here every
expression is an integer index, so `floor(p/q)` prints as ``(p) // q``, `Mod` as ``%``,
`Max` as ``max(...)``, and sums read like hand-written offsets: ``2 * jh + th - 1``.  A
fraction or float reaching an index is a bug upstream and raises instead of printing.

The symbolic stage evaluates its closed forms with it; the code generator extends it
with the loop-nest objects (`symconv.codegen.printer`).
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.str import StrPrinter


class IntegerIndexPrinter(StrPrinter):
    """StrPrinter with integer-only rules: exact Python for integer index expressions."""

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


def python_index(expr: sp.Expr) -> str:
    """One index expression as Python source over integer variables."""
    return IntegerIndexPrinter().doprint(sp.sympify(expr))
