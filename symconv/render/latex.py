"""LaTeX: a pdflatex document of the derivation, or a fragment for Jupyter (MathJax).

`DerivationLatexPrinter` is SymPy's `LatexPrinter` with the lecture's names and
order: symbols print from the `SymbolTable` (``X_{11}``, ``\\frac{\\partial L}{\\partial
O_{11}}``), products as dL/dO, X, F, and sums by the indices of their factors.
`LatexMath` turns outline blocks into display-math lines; the Markdown printer reuses
it for its ``$$`` blocks.  The document uses amsmath/amssymb only, so it compiles
with texlive-latex-base and texlive-latex-recommended.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

import symconv.render.relations as relations
from symconv.render.elide import Dots, More
from symconv.render.indexform import (
    Bound,
    ClosedForm,
    Divides,
    IndexedAccess,
    IndexPart,
    Quotient,
    Range,
)
from symconv.render.names import LETTERS, Names, Partial, Ref, is_gradient
from symconv.render.ordering import involves_tensors, ordered_factors, ordered_terms
from symconv.render.outline import (
    Apply,
    Block,
    Callout,
    ChainRule,
    Correction,
    Equation,
    Equations,
    Factor,
    MatrixStack,
    MaxRule,
    Outline,
    Paragraph,
    SizeRules,
    Slice,
    Table,
    Term,
    Verdict,
)

#: Rough width of a display line, in characters of the Unicode names (X11 = 3, a
#: fraction ∂L/∂O11 = its wider part, 4): the sums break before they pass it.
LINE_BUDGET = 58
#: Matrix columns an `Apply` may hold in one line before its operands go below it.
INLINE_COLUMNS = 10

PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\usepackage{lmodern}
\usepackage{amsmath}
\usepackage{amssymb}
\usepackage[margin=1.6cm]{geometry}
\allowdisplaybreaks
\setcounter{MaxMatrixCols}{20}
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.6ex}
\setlength{\jot}{1.2ex}
"""


def write(outline: Outline, names: Names, document: bool = True) -> str:
    """Any outline (one layer, pooling, a chain of layers) as a document or a fragment."""
    math = LatexMath(names, pdflatex=document)
    writer = DocumentWriter(math) if document else FragmentWriter(math)
    return writer.write(outline)


# ----- the SymPy printer --------------------------------------------------------------------
def index_variable(name: str) -> str:
    """``jh`` -> ``j_{h}``: index variables carry their dimension as a subscript."""
    return f"{name[0]}_{{{name[1:]}}}" if len(name) > 1 else name


class DerivationLatexPrinter(LatexPrinter):
    """SymPy's LaTeX printer with the lecture's symbol names and factor/term order."""

    def __init__(self, names: Names) -> None:
        super().__init__()
        self.names = names

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        ref = self.names.ref(expr)
        return index_variable(expr.name) if ref is None else self.ref(ref)

    def _print_Mul(self, expr: sp.Mul) -> str:
        where = self.names.table.where
        if not involves_tensors(expr, where):
            return super()._print_Mul(expr)
        factors = ordered_factors(expr, where)
        sign = ""
        if factors[0] == -1:
            sign, factors = "-", factors[1:]
        return sign + " ".join(
            self._print(f) if f.is_Rational else self.parenthesize(f, PRECEDENCE["Mul"])
            for f in factors
        )

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        where = self.names.table.where
        if not involves_tensors(expr, where):
            return super()._print_Add(expr, order)
        return join_terms([self._print(t) for t in ordered_terms(expr, where)])

    def _print_Float(self, expr: sp.Float) -> str:
        """The user's numbers as they typed them: 2.5, not 2.50000000000000."""
        return repr(float(expr))

    def _print_Max(self, expr: sp.Max, exp: str | None = None) -> str:
        args = ", ".join(self._print(a) for a in relations.max_arguments(expr, self.names))
        return rf"\max\left({args}\right)"

    def _print_Heaviside(self, expr: sp.Heaviside, exp: str | None = None) -> str:
        return rf"\theta\left({self._print(expr.args[0])}\right)"

    def _print_Relational(self, expr: sp.Basic) -> str:
        big, op, small = relations.relation(expr)
        return f"{self._print(big)} {RELATIONS[op]} {self._print(small)}"

    def _print_And(self, expr: sp.And) -> str:
        return r" \wedge ".join(self.condition(expr))

    def condition(self, expr: sp.Basic) -> list[str]:
        """An indicator's comparisons, row-major; many as x > max(...) ∧ x ≥ max(...)."""
        parts = relations.split(expr, self.names)
        if parts is None:
            return [self._print(expr)]
        subject, strict, loose = parts
        groups = ((">", strict), (">=", loose))
        if len(strict) + len(loose) <= relations.SPELLED_OUT:
            return [
                f"{self._print(subject)} {RELATIONS[op]} {self._print(other)}"
                for op, group in groups
                for other in group
            ]
        out = []
        for op, group in groups:
            if group:
                listed = ", ".join(self._print(o) for o in group)
                other = self._print(group[0]) if len(group) == 1 else rf"\max({listed})"
                out.append(f"{self._print(subject)} {RELATIONS[op]} {other}")
        return out

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        """An indicator Piecewise((1, cond), (0, True)) in Iverson's bracket: [cond]."""
        value, condition = relations.indicator(expr)
        if condition is None:
            return super()._print_Piecewise(expr)
        bracket = r"\left[" + r" \wedge ".join(self.condition(condition)) + r"\right]"
        return bracket if value == 1 else f"{self._print(value)} {bracket}"

    # ----- the outline's own atoms ----------------------------------------------------------
    def ref(self, ref: Ref, fraction: str = "frac") -> str:
        """X_{11}, F_{12}, b, \\frac{\\partial L}{\\partial O_{11}} (\\dfrac in a matrix cell)."""
        label = self.names.label(ref.index) if ref.index else ""
        letter = self.names.letter(ref.key)
        name = f"{letter}_{{{label}}}" if label else letter
        return rf"\{fraction}{{\partial L}}{{\partial {name}}}" if is_gradient(ref.key) else name

    def partial(self, partial: Partial) -> str:
        """\\frac{\\partial O_{11}}{\\partial F_{11}}: one output by one variable."""
        return rf"\frac{{\partial {self.ref(partial.of)}}}{{\partial {self.ref(partial.by)}}}"

    def factor(self, factor: Factor) -> str:
        if isinstance(factor, Ref):
            return self.ref(factor)
        if isinstance(factor, Partial):
            return self.partial(factor)
        return (
            self.parenthesize(factor, PRECEDENCE["Mul"]) if factor.is_Add else self._print(factor)
        )

    def term(self, term: Term) -> str:
        """Factors side by side; a · where a local gradient ∂O/∂v follows dL/dO, as in the notes."""
        separator = r" \cdot " if any(isinstance(f, Partial) for f in term) else " "
        return separator.join(self.factor(f) for f in term)

    def index_part(self, part: IndexPart) -> str:
        if isinstance(part, Quotient):
            return f"({self.doprint(part.numerator)})/{part.divisor}"
        return self.doprint(part)

    def access(self, access: IndexedAccess) -> str:
        """An element with index expressions: X_{j_h + t_h,\\, j_w + t_w}."""
        letter = LETTERS[access.key]
        parts = r",\, ".join(self.index_part(p) for p in access.parts)
        name = f"{letter}_{{{parts}}}" if parts else letter
        return rf"\frac{{\partial L}}{{\partial {name}}}" if is_gradient(access.key) else name


RELATIONS = {">": ">", ">=": r"\geq"}


def join_terms(terms: list[str]) -> str:
    """t1 + t2 - t3: a term printed with a leading minus joins with a minus."""
    if not terms:
        return "0"
    out = terms[0]
    for t in terms[1:]:
        out += f" - {t[1:]}" if t.startswith("-") else f" + {t}"
    return out


# ----- blocks as display math ---------------------------------------------------------------
@dataclass(frozen=True)
class Display:
    """Lines of display math; `aligned` ones hold an & (align), the others are centred."""

    lines: tuple[str, ...]
    aligned: bool = True


def mathjax(display: Display) -> str:
    """A display for MathJax (Jupyter, GitHub): $$aligned$$, rows a little apart."""
    environment = "aligned" if display.aligned else "gathered"
    body = " \\\\[4pt]\n".join(display.lines)
    return f"$$\n\\begin{{{environment}}}\n{body}\n\\end{{{environment}}}\n$$"


class LatexMath:
    """Outline blocks as display-math lines (shared by the LaTeX and Markdown printers)."""

    def __init__(self, names: Names, pdflatex: bool = True) -> None:
        self.names = names
        self.printer = DerivationLatexPrinter(names)
        #: pdflatex needs taller array struts for fractions; MathJax sizes rows itself.
        self.pdflatex = pdflatex

    # ----- equations --------------------------------------------------------------------
    def equations(self, block: Equations) -> Display:
        if block.per_line > 1:
            return self.side_by_side(block)
        lines: list[str] = []
        for row in block.rows:
            if isinstance(row, More):
                lines.append(rf"\vdots &\quad \text{{({row.words})}}")
                continue
            lhs = self.lhs(row.lhs)
            chunks = self.sum_lines(row)
            lines.append(f"{lhs} &= {chunks[0]}")
            lines.extend(rf"&\quad + {chunk}" for chunk in chunks[1:])
        return Display(tuple(lines))

    def side_by_side(self, block: Equations) -> Display:
        cells = []
        for row in block.rows:
            if isinstance(row, More):
                cells.append(rf"\cdots \text{{ ({row.words})}}")
            else:
                cells.append(f"{self.lhs(row.lhs)} = {self.sum_lines(row)[0]}")
        lines = [
            r" \qquad ".join(cells[i : i + block.per_line])
            for i in range(0, len(cells), block.per_line)
        ]
        return Display(tuple(lines), aligned=False)

    def lhs(self, item: Ref | Partial) -> str:
        return self.printer.partial(item) if isinstance(item, Partial) else self.printer.ref(item)

    def sum_lines(self, row: Equation) -> list[str]:
        """The terms of `row` in lines of at most LINE_BUDGET characters (never empty)."""
        if not row.terms:
            return ["0"]
        lines: list[list[str]] = [[]]
        used = 0
        for term in row.terms:
            if isinstance(term, More):
                text, width = rf"\cdots \text{{ ({term.words})}}", 18
            else:
                text, width = self.printer.term(term), self.width(term)
            if lines[-1] and used + width > LINE_BUDGET:
                lines.append([])
                used = 0
            lines[-1].append(text)
            used += width + 3
        return [join_terms(line) for line in lines]

    def width(self, term: Term) -> int:
        """How wide a term looks: a fraction counts as its wider line."""
        total = 0
        for factor in term:
            if isinstance(factor, Partial):
                total += 1 + max(len(self.names.plain(factor.of)), len(self.names.plain(factor.by)))
            elif isinstance(factor, Ref):
                total += len(self.names.plain(factor).removeprefix("∂L/∂")) + 1
            else:
                for f in sp.Mul.make_args(factor):
                    ref = self.names.ref(f) if f.is_Symbol else None
                    if ref is not None:
                        total += len(self.names.plain(ref).removeprefix("∂L/∂")) + 1
                    elif f.is_Symbol or f.is_Number:
                        total += 2
                    else:  # an indicator [C12 > C11 ∧ ...] or a max: about its names' width
                        total += 4 * len(f.free_symbols) + 4
        return total

    # ----- configuration and closed forms -----------------------------------------------
    def size_rules(self, block: SizeRules) -> Display:
        lines = []
        if block.pooling:
            for r in block.rules:
                numbers = rf"{r.i} + 2 \cdot {r.lo} - {r.k}"
                lines.append(
                    rf"\text{{{r.dimension}:}}\quad o &= \left\lfloor \frac{{i + 2p - k}}{{s}} "
                    rf"\right\rfloor + 1 = \left\lfloor \frac{{{numbers}}}{{{r.s}}} \right\rfloor"
                    rf" + 1 = {r.o}"
                )
            return Display(tuple(lines))
        for r in block.rules:
            k_eff = r"k_{\mathrm{eff}}"
            span = rf"i + \mathrm{{lo}} + \mathrm{{hi}} - {k_eff}"
            numbers = f"{r.i} + {r.lo} + {r.hi} - {r.k_eff}"
            lines += [
                rf"\text{{{r.dimension}:}}\quad {k_eff} &= d(k - 1) + 1 "
                rf"= {r.d} \cdot ({r.k} - 1) + 1 = {r.k_eff}",
                rf"o &= \left\lfloor \frac{{{span}}}{{s}} \right\rfloor + 1 "
                rf"= \left\lfloor \frac{{{numbers}}}{{{r.s}}} \right\rfloor + 1 = {r.o}",
                rf"a &= ({span}) \bmod s = ({numbers}) \bmod {r.s} = {r.a}",
            ]
        return Display(tuple(lines))

    def closed_form(self, form: ClosedForm) -> Display:
        p = self.printer
        product = " ".join(p.access(a) for a in form.factors)
        rhs = product
        if form.summed:
            rhs = rf"\sum_{{{self.sum_subscript(form)}}} {product}"
        if form.addend is not None:
            rhs = f"{p.access(form.addend)} + {rhs}"
        lines = [f"{p.access(form.target)} &= {rhs}"]
        if ranges := self.ranges(form):
            lines.append(rf"&\quad {ranges}")
        return Display(tuple(lines))

    def sum_subscript(self, form: ClosedForm) -> str:
        variables = ", ".join(index_variable(r.var.name) for r in form.summed)
        conditions = [self.condition(c) for c in form.conditions]
        rows = [variables] + [
            r",\ ".join(conditions[i : i + 2]) for i in range(0, len(conditions), 2)
        ]
        stacked = r" \\ ".join(rows)
        return rf"\substack{{{stacked}}}" if len(rows) > 1 else variables

    def condition(self, condition: Bound | Divides) -> str:
        if isinstance(condition, Divides):
            return rf"{condition.divisor} \mid {self.printer.doprint(condition.expr)}"
        return rf"0 \le {self.printer.index_part(condition.part)} < {condition.bound}"

    def ranges(self, form: ClosedForm) -> str:
        """ "for 0 ≤ j_h < 2, ...; summing over 0 ≤ t_h < 2, ...", all in math mode.

        No $...$ inside \\text: MathJax (Jupyter, GitHub) does not always typeset it.
        """

        def listed(ranges: tuple[Range, ...]) -> str:
            return r",\ ".join(rf"0 \le {index_variable(r.var.name)} < {r.extent}" for r in ranges)

        parts = []
        if form.free:
            parts.append(rf"\text{{for }} {listed(form.free)}")
        if form.summed:
            parts.append(rf"\text{{summing over }} {listed(form.summed)}")
        return r";\ ".join(parts)

    def chain_rule(self, block: ChainRule) -> Display:
        letter, out = self.names.letter(block.key), self.names.letter(block.of)
        return Display(
            (
                rf"\frac{{\partial L}}{{\partial {letter}_i}} = \sum_k "
                rf"\frac{{\partial L}}{{\partial {out}_k}} \cdot "
                rf"\frac{{\partial {out}_k}}{{\partial {letter}_i}}",
            ),
            aligned=False,
        )

    def max_rule(self, block: MaxRule) -> Display:
        """Seed 001's lines: ∂L/∂C_i = ∂/∂C_i max(...) · ∂L/∂P_k = ∂L/∂P_k or 0."""
        p = self.printer
        members = ", ".join(p.ref(m) for m in block.members)
        numbers = ", ".join(p.doprint(v) for v in block.values)
        top = p.doprint(block.values[block.winner])
        upstream = p.ref(block.upstream)
        lines = [rf"{p.ref(block.output)} &= \max({members}) = \max({numbers}) = {top}"]
        for i, (member, gradient) in enumerate(zip(block.members, block.gradients)):
            result = upstream if i == block.winner else "0"
            lines.append(
                rf"{p.ref(gradient)} &= \frac{{\partial}}{{\partial {p.ref(member)}}}"
                rf" \max({members}) \cdot {upstream} = {result}"
            )
        return Display(tuple(lines))

    # ----- matrices ---------------------------------------------------------------------
    def matrix(self, grid: Slice) -> str:
        """A bmatrix; rows of full-size fractions get taller struts so they do not touch.

        (``\\\\[1ex]`` would not help: it only deepens a row past its strut, and a
        fraction's denominator is already deeper.)
        """
        rows = [" & ".join(self.cell(c) for c in row) for row in grid.rows]
        body = r"\begin{bmatrix} " + r" \\ ".join(rows) + r" \end{bmatrix}"
        if self.pdflatex and any(r"\dfrac" in row for row in rows):
            return rf"{{\renewcommand{{\arraystretch}}{{2.2}}{body}}}"
        return body

    def cell(self, cell: sp.Expr | Dots) -> str:
        """One matrix entry: a gradient as a full-size \\dfrac, as the notes draw their grids."""
        if isinstance(cell, Dots):
            return {"h": r"\cdots", "v": r"\vdots", "d": r"\ddots"}[cell.direction]
        ref = self.names.ref(cell) if cell.is_Symbol else None
        if ref is not None:
            return self.printer.ref(ref, fraction="dfrac")
        return self.printer.doprint(cell)

    def stack(self, block: MatrixStack) -> Display:
        lines = []
        for item in block.slices:
            if isinstance(item, More):
                lines.append(rf"\vdots \quad \text{{({item.words})}}")
            elif item.label:
                lines.append(rf"\text{{{item.label}:}}\quad {self.matrix(item)}")
            else:
                lines.append(self.matrix(item))
        return Display(tuple(lines), aligned=False)

    def inline(self, block: Apply) -> bool:
        """Operands fit beside each other: single slices with few columns in all."""
        singles = [op.single for op in block.operands]
        if any(s is None for s in singles):
            return False
        return sum(len(s.rows[0]) for s in singles) <= INLINE_COLUMNS

    def apply(self, block: Apply, operands: list[str], text: Callable[[str], str]) -> str:
        """lhs = \\text{operation}(A, B), with the operands as given (matrices or names)."""
        lhs = self.printer.ref(block.lhs)
        listed = r",\ ".join(operands)
        return rf"{lhs} = \text{{{text(block.operation)}}}\left( {listed} \right)"


# ----- documents ----------------------------------------------------------------------------
ENVIRONMENTS = {True: "align*", False: "gather*"}
MATH_TOKEN = re.compile(
    r"∂(?P<of>[A-Za-z](?:\d+|\[[\d,]+\])?)/∂(?P<by>[A-Za-z](?:\d+|\[[\d,]+\])?)"
    r"|(?<![\w∂])(?P<name>[XFO](?:\d+|\[[\d,]+\])?)(?![\w\[\]])"
    r"|(?<!\w)(?P<indexed>[ACEP](?:\d+|\[[\d,]+\]))(?![\w\[\]])"
    r"|(?P<keff>k_eff)"
)
UNICODE = {
    "−": "$-$",
    "×": r"$\times$",
    "·": r"$\cdot$",
    "°": r"$^\circ$",
    "✓": r"$\checkmark$",
    "✗": r"$\times$",
    "⊛": r"$\circledast$",
    "≤": r"$\le$",
    "≥": r"$\ge$",
    "⌊": r"$\lfloor$",
    "⌋": r"$\rfloor$",
    "Σ": r"$\Sigma$",
    "∂": r"$\partial$",
    "→": r"$\to$",
    "…": r"\dots{}",
    "⋯": r"$\cdots$",
    "⋮": r"$\vdots$",
    "“": "``",
    "”": "''",
    "’": "'",
    "—": "---",
    "–": "--",
    "∣": r"$\mid$",
    "∞": r"$\infty$",
    "∧": r"$\wedge$",
    "θ": r"$\theta$",
    "≈": r"$\approx$",
    "≠": r"$\neq$",
    "←": r"$\leftarrow$",
}
SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "-": "-{}",  # so a flag's "--" stays two hyphens, not an en dash
}


def _math_name(name: str) -> str:
    """X11 -> X_{11}, X[1,12] -> X_{1,12}, L -> L."""
    match = re.fullmatch(r"([A-Za-z])(?:(\d+)|\[([\d,]+)\])?", name)
    letter, digits, listed = match.groups()
    index = digits or listed
    return f"{letter}_{{{index}}}" if index else letter


def escape(text: str) -> str:
    """Unicode prose as pdflatex text: names and ∂L/∂X become math, specials are escaped."""
    out, position = [], 0
    for match in MATH_TOKEN.finditer(text):
        out.append(_escape_plain(text[position : match.start()]))
        if match["of"]:
            of, by = _math_name(match["of"]), _math_name(match["by"])
            out.append(rf"$\partial {of}/\partial {by}$")
        elif match["name"] or match["indexed"]:
            out.append(f"${_math_name(match['name'] or match['indexed'])}$")
        else:
            out.append(r"$k_{\mathrm{eff}}$")
        position = match.end()
    out.append(_escape_plain(text[position:]))
    # Neighbouring pieces of math ("∂/∂C01" gives $\partial$$C_{01}$) must not read as $$.
    return re.sub(r"(?<!\\)\$\$", " ", "".join(out))


def _escape_plain(text: str) -> str:
    chars = []
    for char in text:
        if char in SPECIAL:
            chars.append(SPECIAL[char])
        elif char in UNICODE:
            chars.append(UNICODE[char])
        elif ord(char) > 127:
            chars.append("?")  # pdflatex would stop at a character it cannot set
        else:
            chars.append(char)
    return "".join(chars)


class DocumentWriter:
    """A complete article: sections, prose escaped for pdflatex, align*/gather* displays."""

    def __init__(self, math: LatexMath) -> None:
        self.math = math

    def write(self, outline: Outline) -> str:
        parts = [
            PREAMBLE,
            rf"\title{{{escape(outline.title)}\\ \large\texttt{{{escape(outline.subtitle)}}}}}",
            r"\date{}",
            r"\begin{document}",
            r"\maketitle",
        ]
        for section in outline.sections:
            parts.append(rf"\section{{{self.text(section.title)}}}")
            parts.extend(self.block(b) for b in section.blocks)
        parts.append(r"\end{document}")
        return "\n\n".join(parts) + "\n"

    def text(self, text: str) -> str:
        return escape(text)

    def display(self, display: Display) -> str:
        environment = ENVIRONMENTS[display.aligned]
        body = " \\\\\n".join(display.lines)
        return f"\\begin{{{environment}}}\n{body}\n\\end{{{environment}}}"

    def block(self, block: Block) -> str:
        """Dispatch on the block's class, as SymPy's printers do: ``_print_<Class>``."""
        printer = getattr(self, f"_print_{type(block).__name__}", None)
        if printer is None:
            raise TypeError(f"no LaTeX for {type(block).__name__}")
        return printer(block)

    def _print_Table(self, block: Table) -> str:
        spec = "l" + "r" * (len(block.header) - 1)
        header = " & ".join(self.text(cell) for cell in block.header) + r" \\ \hline"
        body = [" & ".join(self.text(cell) for cell in row) + r" \\" for row in block.rows]
        lines = [
            rf"\begin{{tabular}}{{{spec}}}",
            r"\hline",
            header,
            *body,
            r"\hline",
            r"\end{tabular}",
        ]
        return "\\begin{center}\n" + "\n".join(lines) + "\n\\end{center}"

    def _print_Paragraph(self, block: Paragraph) -> str:
        return self.text(block.text)

    def _print_Callout(self, block: Callout) -> str:
        return self.callout(block.text)

    def _print_Verdict(self, block: Verdict) -> str:
        return self.verdict(block)

    def _print_SizeRules(self, block: SizeRules) -> str:
        return self.display(self.math.size_rules(block))

    def _print_ClosedForm(self, block: ClosedForm) -> str:
        return self.bold(block.title) + "\n" + self.display(self.math.closed_form(block))

    def _print_Equations(self, block: Equations) -> str:
        return self.display(self.math.equations(block))

    def _print_ChainRule(self, block: ChainRule) -> str:
        return self.display(self.math.chain_rule(block))

    def _print_MatrixStack(self, block: MatrixStack) -> str:
        return self.stack(block)

    def _print_Apply(self, block: Apply) -> str:
        return self.apply(block)

    def _print_Correction(self, block: Correction) -> str:
        return self.correction(block)

    def _print_MaxRule(self, block: MaxRule) -> str:
        return self.display(self.math.max_rule(block))

    def correction(self, block: Correction) -> str:
        return (
            "\\begin{center}\\fbox{\\begin{minipage}{0.94\\linewidth}\n"
            f"\\textbf{{Correction to the notes.}} They write {self.text(block.wrote)}\\\\\n"
            f"\\textbf{{Right:}} {self.text(block.right)}\\\\\n"
            f"{self.text(block.why)}\n"
            "\\end{minipage}}\\end{center}"
        )

    def bold(self, text: str) -> str:
        return rf"\textbf{{{self.text(text)}}}"

    def inline_math(self, math: str) -> str:
        return f"${math}$"

    def verdict(self, block: Verdict) -> str:
        mark = "✓ proved" if block.holds else "✗ does not hold"
        return rf"\medskip{self.bold(f'{mark}: {block.title}.')} {self.text(block.statement)}"

    def callout(self, text: str) -> str:
        return (
            "\\begin{center}\\fbox{\\begin{minipage}{0.94\\linewidth}\n"
            f"\\textbf{{Note.}} {self.text(text)}\n"
            "\\end{minipage}}\\end{center}"
        )

    def stack(self, block: MatrixStack) -> str:
        caption = self.text(block.caption)
        return f"{caption[0].upper()}{caption[1:]}:\n" + self.display(self.math.stack(block))

    def apply(self, block: Apply) -> str:
        math = self.math
        if math.inline(block):
            operands = [math.matrix(op.single) for op in block.operands]
            line = math.apply(block, operands, self.math_text)
            return self.display(Display((line,), aligned=False)) + "\n" + self.text(block.legend)
        names = [chr(ord("A") + i) for i in range(len(block.operands))]
        line = math.apply(block, names, self.math_text)
        parts = [self.display(Display((line,), aligned=False))]
        for name, op in zip(names, block.operands):
            parts.append(f"{self.inline_math(name)}: " + self.stack(op))
        return "\n".join(parts)

    def math_text(self, text: str) -> str:
        """Words inside \\text{} in a display: escaped like prose."""
        return self.text(text)


class FragmentWriter(DocumentWriter):
    """For Jupyter: MathJax typesets only math, so prose stays Unicode, math goes in $$.

    Headings become bold display lines, since MathJax ignores \\section.
    """

    def write(self, outline: Outline) -> str:
        parts = [rf"$$\textbf{{{outline.title}}}\quad\texttt{{{outline.subtitle}}}$$"]
        for number, section in enumerate(outline.sections, 1):
            parts.append(rf"$$\large\textbf{{{number}. {section.title}}}$$")
            parts.extend(self.block(b) for b in section.blocks)
        return "\n\n".join(parts) + "\n"

    def text(self, text: str) -> str:
        return text

    def display(self, display: Display) -> str:
        return mathjax(display)

    def callout(self, text: str) -> str:
        return f"Note: {text}"

    def correction(self, block: Correction) -> str:
        return (
            f"Correction to the notes: they write {block.wrote}. Right: {block.right}. {block.why}"
        )

    def bold(self, text: str) -> str:
        return rf"\(\textbf{{{text}}}\)"

    def inline_math(self, math: str) -> str:
        return rf"\({math}\)"

    def verdict(self, block: Verdict) -> str:
        mark = "✓ proved" if block.holds else "✗ does not hold"
        return f"{self.bold(f'{mark}: {block.title}.')} {block.statement}"

    def math_text(self, text: str) -> str:
        return text
