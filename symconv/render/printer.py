"""The lecture-aware SymPy printer, one implementation for every format.

SymPy prints ``X11*F11`` as ``F11*X11`` and names symbols by their strings.  The
lecture writes the upstream gradient first, then the input, then the filter, names
each element from its tensor and index (1- or 0-based), writes max pooling's
indicator as Iverson's bracket and a max's arguments in window order.  All of that is
decided once, in `LectureMixin`; a `Notation` says how each piece looks in a format
(``·`` or a space between factors, ``≥`` or ``\\geq``), and the format's own SymPy
printer (`StrPrinter`, `LatexPrinter`) prints what is not the lecture's (a rational
coefficient, an index expression).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

import symconv.render.relations as relations
from symconv.render.indexform import IndexedAccess, IndexPart, Quotient
from symconv.render.names import LETTERS, Names, Partial, Ref, is_gradient
from symconv.render.ordering import involves_tensors, ordered_factors, ordered_terms

#: Joins the two sides of a comparison in text: a line is never broken inside X12 ≥ X21.
TIGHT = "\xa0"


@dataclass(frozen=True)
class Notation:
    """How the pieces of the lecture's expressions look in one format."""

    times: str  # between the factors of a product
    chain_times: str  # between ∂L/∂O_k and ∂O_k/∂v in a chain-rule term
    minus: str  # joins a term printed with a leading minus
    relations: dict[str, str]  # ">" and ">=" as printed
    wedge: str
    bracket: tuple[str, str]  # Iverson's bracket
    max_call: str  # with {} for the arguments
    theta_call: str
    index_separator: str  # between the indices of an indexed access
    space: str  # around a relation


TEXT = Notation(
    times="·",
    chain_times=" · ",
    minus=" − ",
    relations={">": ">", ">=": "≥"},
    wedge=" ∧ ",
    bracket=("[", "]"),
    max_call="max({})",
    theta_call="θ({})",
    index_separator=", ",
    space=TIGHT,
)
LATEX = Notation(
    times=" ",
    chain_times=r" \cdot ",
    minus=" - ",
    relations={">": ">", ">=": r"\geq"},
    wedge=r" \wedge ",
    bracket=(r"\left[", r"\right]"),
    max_call=r"\max\left({}\right)",
    theta_call=r"\theta\left({}\right)",
    index_separator=r",\, ",
    space=" ",
)


#: Index variables named by a Greek letter: (Unicode, LaTeX).  A tiled layer's tile is τ.
GREEK = {"tau": ("τ", r"\tau")}


def split_index(name: str) -> tuple[str, str]:
    """An index variable's name as (letter, dimension): ``jh`` -> (j, h), ``tauw`` -> (tau, w)."""
    for greek in GREEK:
        if name.startswith(greek):
            return greek, name[len(greek) :]
    return name[0], name[1:]


def floor_parts(expr: sp.floor) -> tuple[sp.Expr, int]:
    """The argument of floor(...) as (integer numerator, positive integer denominator)."""
    numerator, denominator = sp.fraction(sp.together(expr.args[0]))
    return sp.expand(numerator), int(denominator)


def join_terms(terms: list[str], minus: str) -> str:
    """t1 + t2 − t3: a term printed with a leading minus joins with a minus."""
    if not terms:
        return "0"
    out = terms[0]
    for term in terms[1:]:
        out += f"{minus}{term[1:]}" if term.startswith("-") else f" + {term}"
    return out


class LectureMixin:
    """The lecture's rules for a SymPy printer; the format comes from `notation` and the
    four name methods (`ref`, `partial`, `index_variable`, `plain_mul`)."""

    notation: Notation

    def __init__(self, names: Names) -> None:
        super().__init__()
        self.names = names

    # ----- names, per format --------------------------------------------------------------
    def ref(self, ref: Ref, matrix_cell: bool = False) -> str:
        raise NotImplementedError

    def partial(self, partial: Partial) -> str:
        raise NotImplementedError

    def index_variable(self, name: str) -> str:
        raise NotImplementedError

    def group(self, expr: sp.Expr) -> str:
        """A sum as a factor: in parentheses."""
        raise NotImplementedError

    # ----- SymPy's dispatch ---------------------------------------------------------------
    def _print_Symbol(self, expr: sp.Symbol, *args: object) -> str:
        ref = self.names.ref(expr)
        return self.index_variable(expr.name) if ref is None else self.ref(ref)

    def _print_Mul(self, expr: sp.Mul, *args: object) -> str:
        where = self.names.table.where
        if not involves_tensors(expr, where):
            return self.plain_mul(expr)
        factors = ordered_factors(expr, where)
        sign = ""
        if factors[0] == -1:
            sign, factors = "-", factors[1:]
        return sign + self.notation.times.join(self.mul_factor(f) for f in factors)

    def mul_factor(self, factor: sp.Expr) -> str:
        """One factor of a product of tensor elements (a sum goes in parentheses)."""
        return self.group(factor) if factor.is_Add else self._print(factor)

    def plain_mul(self, expr: sp.Mul) -> str:
        return super()._print_Mul(expr)

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        where = self.names.table.where
        if not involves_tensors(expr, where):
            return self.plain_add(expr, order)
        return join_terms([self._print(t) for t in ordered_terms(expr, where)], self.notation.minus)

    def plain_add(self, expr: sp.Add, order: str | None) -> str:
        return super()._print_Add(expr, order)

    def _print_Float(self, expr: sp.Float, *args: object) -> str:
        """The user's numbers as they typed them: 2.5, not 2.50000000000000."""
        return repr(float(expr))

    def _print_Max(self, expr: sp.Max, *args: object) -> str:
        listed = ", ".join(self._print(a) for a in relations.max_arguments(expr, self.names))
        return self.notation.max_call.format(listed)

    def _print_Heaviside(self, expr: sp.Heaviside, *args: object) -> str:
        return self.notation.theta_call.format(self._print(expr.args[0]))

    def _print_Relational(self, expr: sp.Basic, *args: object) -> str:
        big, op, small = relations.relation(expr)
        return self.compare(self._print(big), op, self._print(small))

    def compare(self, big: str, op: str, small: str) -> str:
        space = self.notation.space
        return f"{big}{space}{self.notation.relations[op]}{space}{small}"

    def _print_And(self, expr: sp.And, *args: object) -> str:
        return self.notation.wedge.join(self.condition(expr))

    def condition(self, expr: sp.Basic) -> list[str]:
        """An indicator's comparisons, row-major; many as x > max(...) ∧ x ≥ max(...)."""
        parts = relations.split(expr, self.names)
        if parts is None:
            return [self._print(expr)]
        subject, strict, loose = parts
        groups = ((">", strict), (">=", loose))
        if len(strict) + len(loose) <= relations.SPELLED_OUT:
            return [
                self.compare(self._print(subject), op, self._print(other))
                for op, group in groups
                for other in group
            ]
        out = []
        for op, group in groups:
            if group:
                listed = ", ".join(self._print(o) for o in group)
                other = (
                    self._print(group[0])
                    if len(group) == 1
                    else self.notation.max_call.format(listed)
                )
                out.append(self.compare(self._print(subject), op, other))
        return out

    def _print_Piecewise(self, expr: sp.Piecewise, *args: object) -> str:
        """An indicator Piecewise((1, cond), (0, True)) in Iverson's bracket: [cond]."""
        value, condition = relations.indicator(expr)
        if condition is None:
            return super()._print_Piecewise(expr)
        left, right = self.notation.bracket
        bracket = left + self.notation.wedge.join(self.condition(condition)) + right
        return bracket if value == 1 else f"{self._print(value)}{self.notation.times}{bracket}"

    # ----- the outline's own atoms --------------------------------------------------------
    def factor(self, factor: Ref | Partial | sp.Expr) -> str:
        if isinstance(factor, Ref):
            return self.ref(factor)
        if isinstance(factor, Partial):
            return self.partial(factor)
        return self.group(factor) if factor.is_Add else self._print(factor)

    def term(self, term: tuple) -> str:
        """X11·F11; a chain-rule term sets its local gradient apart: ∂L/∂O11 · ∂O11/∂F11."""
        chain = any(isinstance(f, Partial) for f in term)
        separator = self.notation.chain_times if chain else self.notation.times
        return separator.join(self.factor(f) for f in term)

    def index_part(self, part: IndexPart) -> str:
        if isinstance(part, Quotient):
            return f"({self.doprint(part.numerator)})/{part.divisor}"
        return self.doprint(part)

    def access(self, access: IndexedAccess) -> str:
        """X[j_h + t_h, j_w + t_w] or X_{j_h + t_h,\\, j_w + t_w}; ∂L/∂O likewise."""
        parts = self.notation.index_separator.join(self.index_part(p) for p in access.parts)
        return self.indexed(LETTERS[access.key], parts, is_gradient(access.key))

    def indexed(self, letter: str, parts: str, gradient: bool) -> str:
        raise NotImplementedError


class TextPrinter(LectureMixin, StrPrinter):
    """Plain Unicode: X11·F11, ∂L/∂O12, max(X11, X12), [X12 > X11]."""

    notation = TEXT

    def ref(self, ref: Ref, matrix_cell: bool = False) -> str:
        return self.names.plain(ref)

    def partial(self, partial: Partial) -> str:
        return self.names.plain(partial)

    def index_variable(self, name: str) -> str:
        """``jh`` -> ``j_h``, ``tauh`` -> ``τ_h``: the dimension as a subscript, as in the LaTeX."""
        base, dimension = split_index(name)
        return f"{GREEK.get(base, (base,))[0]}_{dimension}" if dimension else base

    def group(self, expr: sp.Expr) -> str:
        return f"({self.doprint(expr)})"

    def plain_mul(self, expr: sp.Mul) -> str:
        return super().plain_mul(expr).replace("*", "")

    def plain_add(self, expr: sp.Add, order: str | None) -> str:
        text = super().plain_add(expr, order).replace(" - ", " − ")
        return "−" + text[1:] if text.startswith("-") else text

    def indexed(self, letter: str, parts: str, gradient: bool) -> str:
        name = f"{letter}[{parts}]" if parts else letter
        return f"∂L/∂{name}" if gradient else name

    def _print_Mod(self, expr: sp.Mod, *args: object) -> str:
        """Mod(a, 2) -> (a mod 2)."""
        value, divisor = expr.args
        return f"({self.doprint(value)} mod {self.doprint(divisor)})"

    def _print_floor(self, expr: sp.floor, *args: object) -> str:
        """floor(r/3 + 1/3) -> ⌊(r + 1)/3⌋: one fraction, as the size rules print it."""
        numerator, denominator = floor_parts(expr)
        if denominator == 1:
            return f"⌊{self.doprint(numerator)}⌋"
        top = self.doprint(numerator)
        top = f"({top})" if numerator.is_Add else top
        return f"⌊{top}/{denominator}⌋"


class LatexLecturePrinter(LectureMixin, LatexPrinter):
    """LaTeX: X_{11} F_{11}, \\frac{\\partial L}{\\partial O_{12}}, \\max\\left(...\\right)."""

    notation = LATEX

    def ref(self, ref: Ref, matrix_cell: bool = False) -> str:
        """X_{11}, b, \\frac{\\partial L}{\\partial O_{11}} (\\dfrac in a matrix cell)."""
        label = self.names.label(ref.index) if ref.index else ""
        letter = self.names.letter(ref.key)
        name = f"{letter}_{{{label}}}" if label else letter
        fraction = "dfrac" if matrix_cell else "frac"
        return rf"\{fraction}{{\partial L}}{{\partial {name}}}" if is_gradient(ref.key) else name

    def partial(self, partial: Partial) -> str:
        """\\frac{\\partial O_{11}}{\\partial F_{11}}: one output by one variable."""
        return rf"\frac{{\partial {self.ref(partial.of)}}}{{\partial {self.ref(partial.by)}}}"

    def index_variable(self, name: str) -> str:
        """``jh`` -> ``j_{h}``, ``tauh`` -> ``\\tau_{h}``: the dimension as a subscript."""
        base, dimension = split_index(name)
        letter = GREEK[base][1] if base in GREEK else base
        return f"{letter}_{{{dimension}}}" if dimension else letter

    def group(self, expr: sp.Expr) -> str:
        return self.parenthesize(expr, PRECEDENCE["Mul"])

    def mul_factor(self, factor: sp.Expr) -> str:
        if factor.is_Rational:
            return self._print(factor)
        return self.parenthesize(factor, PRECEDENCE["Mul"])

    def indexed(self, letter: str, parts: str, gradient: bool) -> str:
        name = f"{letter}_{{{parts}}}" if parts else letter
        return rf"\frac{{\partial L}}{{\partial {name}}}" if gradient else name

    def _print_Mod(self, expr: sp.Mod, *args: object) -> str:
        """Mod(a, 2) -> \\left(a \\bmod 2\\right)."""
        value, divisor = expr.args
        return rf"\left({self.doprint(value)} \bmod {self.doprint(divisor)}\right)"

    def _print_floor(self, expr: sp.floor, *args: object) -> str:
        """floor(r/3 + 1/3) -> \\left\\lfloor \\frac{r + 1}{3} \\right\\rfloor."""
        numerator, denominator = floor_parts(expr)
        inner = self.doprint(numerator)
        if denominator != 1:
            inner = rf"\frac{{{inner}}}{{{denominator}}}"
        return rf"\left\lfloor {inner} \right\rfloor"
