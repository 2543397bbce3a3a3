"""LaTeX: a pdflatex document of the derivation, or its body for a document of your own.

Expressions print with the lecture-aware printer (`symconv.render.printer`): symbols
named from the `SymbolTable` (``X_{11}``, ``\\frac{\\partial L}{\\partial O_{11}}``),
products as dL/dO, X, F, sums by the indices of their factors.  `LatexMath` turns
outline blocks into display-math lines; the Markdown printer reuses it for its ``$$``
blocks.  The document uses amsmath/amssymb only, so it compiles with
texlive-latex-base and texlive-latex-recommended.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from symconv.render.elide import Dots, More
from symconv.render.indexform import Bound, ClosedForm, Divides, Range
from symconv.render.names import Names, Partial, Ref
from symconv.render.outline import (
    Apply,
    Callout,
    ChainRule,
    Correction,
    Equation,
    Equations,
    MatrixStack,
    MaxRule,
    Outline,
    Paragraph,
    Picture,
    SizeRules,
    Slice,
    Table,
    Term,
    Verdict,
)
from symconv.render.printer import LatexLecturePrinter, join_terms
from symconv.render.writer import Writer

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
\usepackage{graphicx}
\newif\ifsymconvtikz
\IfFileExists{tikz.sty}{\usepackage{tikz}\symconvtikztrue}{}
\newcommand{\symconvfigure}[1]{\ifsymconvtikz\resizebox{0.98\linewidth}{!}{#1}\else
\emph{(Drawn with TikZ, which this TeX installation lacks: texlive-pictures.)}\fi}
"""


def write(outline: Outline, names: Names, document: bool = True) -> str:
    """Any outline as a complete pdflatex document, or (document=False) its body alone."""
    return DocumentWriter(LatexMath(names), document=document).write(outline)


RELATIONS = {">": ">", ">=": r"\geq"}
#: Rows of a matrix past which its cells shrink (\tfrac, tighter rows): a padded 8×8 grid
#: of mostly zeros should not take half a page.
COMPACT_ROWS = 4


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
        self.printer = LatexLecturePrinter(names)
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
        return [join_terms(line, " - ") for line in lines]

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
        parts = self.ranges(form)
        if len(form.free) + len(form.summed) <= ONE_LINE_RANGES:
            parts = [r";\ ".join(parts)] if parts else []
        lines += [rf"&\quad {part}" for part in parts]
        return Display(tuple(lines))

    def sum_subscript(self, form: ClosedForm) -> str:
        variables = ", ".join(self.printer.index_variable(r.var.name) for r in form.summed)
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

    def ranges(self, form: ClosedForm) -> list[str]:
        """["for 0 ≤ j_h < 2, ...", "summing over 0 ≤ t_h < 2, ..."], all in math mode.

        No $...$ inside \\text: MathJax (Jupyter, GitHub) does not always typeset it.
        """

        def listed(ranges: tuple[Range, ...]) -> str:
            return r",\ ".join(
                rf"0 \le {self.printer.index_variable(r.var.name)} < {r.extent}" for r in ranges
            )

        parts = []
        if form.free:
            parts.append(rf"\text{{for }} {listed(form.free)}")
        if form.summed:
            parts.append(rf"\text{{summing over }} {listed(form.summed)}")
        return parts

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
        fraction's denominator is already deeper.)  A matrix of more than `COMPACT_ROWS`
        rows (a padded, dilated ∂L/∂O) sets its fractions small, on ordinary rows.
        """
        compact = len(grid.rows) > COMPACT_ROWS
        rows = [" & ".join(self.cell(c, compact) for c in row) for row in grid.rows]
        body = r"\begin{bmatrix} " + r" \\ ".join(rows) + r" \end{bmatrix}"
        if self.pdflatex and any(r"\dfrac" in row for row in rows):
            return rf"{{\renewcommand{{\arraystretch}}{{2.2}}{body}}}"
        if self.pdflatex and (compact or any(r"\frac" in row for row in rows)):
            return rf"{{\renewcommand{{\arraystretch}}{{1.3}}{body}}}"
        return body

    def cell(self, cell: sp.Expr | Dots, compact: bool = False) -> str:
        """One matrix entry: a gradient as a full-size fraction, or a small one when compact."""
        if isinstance(cell, Dots):
            return {"h": r"\cdots", "v": r"\vdots", "d": r"\ddots"}[cell.direction]
        ref = self.names.ref(cell) if cell.is_Symbol else None
        if ref is not None:
            shown = self.printer.ref(ref, matrix_cell=not compact)
            return shown.replace(r"\frac", r"\tfrac") if compact else shown
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
        """lhs = wrapper(\\text{operation}(A, B; parameters)), operands as given."""
        lhs = self.printer.ref(block.lhs)
        listed = r",\ ".join(operands)
        parameters = "".join(
            rf";\ \text{{{text(name)} }}{values}" for name, values in block.parameters
        )
        call = rf"\text{{{text(block.operation)}}}\left( {listed}{parameters} \right)"
        if block.wrapper:
            call = rf"\text{{{text(block.wrapper)}}}\left( {call} \right)"
        return f"{lhs} = {call}"


# ----- documents ----------------------------------------------------------------------------
ENVIRONMENTS = {True: "align*", False: "gather*"}
#: Index ranges a closed form's "for ...; summing over ..." line holds before it breaks in two.
ONE_LINE_RANGES = 5
MATH_TOKEN = re.compile(
    r"∂(?P<of>[A-Za-z](?:\d+|\[[\d,]+\])?)/∂(?P<by>[A-Za-z](?:\d+|\[[\d,]+\])?)"
    r"|∂/∂(?P<wrt>[A-Za-z](?:\d+|\[[\d,]+\])?)"
    r"|Σ_(?P<summed>[A-Za-z])\b"
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
    "ᵀ": r"$^{\mathsf{T}}$",
    "⊙": r"$\odot$",
    "τ": r"$\tau$",
    "∗": r"$\ast$",
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
        elif match["wrt"]:
            out.append(rf"$\partial/\partial {_math_name(match['wrt'])}$")
        elif match["summed"]:
            out.append(rf"$\Sigma_{{{match['summed']}}}$")
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


class DocumentWriter(Writer):
    """An article (sections, prose escaped for pdflatex, align*/gather* displays), or with
    `document` False its body alone, to \\input into a document of your own."""

    def __init__(self, math: LatexMath, document: bool = True) -> None:
        self.math = math
        self.document = document

    def opening(self, outline: Outline) -> list[str]:
        if not self.document:
            return []
        return [
            PREAMBLE,
            rf"\title{{{escape(outline.title)}\\ \large\texttt{{{escape(outline.subtitle)}}}}}",
            r"\date{}",
            r"\begin{document}",
            r"\maketitle",
        ]

    def heading(self, number: int, title: str) -> str:
        return rf"\section{{{escape(title)}}}"

    def closing(self) -> list[str]:
        return [r"\end{document}"] if self.document else []

    def display(self, display: Display) -> str:
        environment = ENVIRONMENTS[display.aligned]
        body = " \\\\\n".join(display.lines)
        return f"\\begin{{{environment}}}\n{body}\n\\end{{{environment}}}"

    def boxed(self, text: str) -> str:
        return (
            "\\begin{center}\\fbox{\\begin{minipage}{0.94\\linewidth}\n"
            f"{text}\n"
            "\\end{minipage}}\\end{center}"
        )

    # ----- blocks -------------------------------------------------------------------------
    def _print_Paragraph(self, block: Paragraph) -> str:
        return escape(block.text)

    def _print_Picture(self, block: Picture) -> str:
        title = rf"\textbf{{Figure: {escape(block.title)}.}} {escape(block.caption)}"
        if not block.tikz:
            return title
        return f"{title}\n\n\\begin{{center}}\n\\symconvfigure{{%\n{block.tikz}}}\n\\end{{center}}"

    def _print_Callout(self, block: Callout) -> str:
        return self.boxed(f"\\textbf{{Note.}} {escape(block.text)}")

    def _print_Correction(self, block: Correction) -> str:
        return self.boxed(
            f"\\textbf{{{escape(Correction.TITLE)}.}} {escape(Correction.WROTE)} "
            f"{escape(block.wrote)}\\\\\n"
            f"\\textbf{{Right:}} {escape(block.right)}\\\\\n"
            f"{escape(block.why)}"
        )

    def _print_Verdict(self, block: Verdict) -> str:
        mark = "✓ proved" if block.holds else "✗ does not hold"
        title = escape(f"{mark}: {block.title}.")
        return rf"\medskip\textbf{{{title}}} {escape(capitalized(block.statement))}"

    def _print_Table(self, block: Table) -> str:
        columns = "l" + "r" * (len(block.header) - 1)
        header = " & ".join(escape(cell) for cell in block.header) + r" \\ \hline"
        body = [" & ".join(escape(cell) for cell in row) + r" \\" for row in block.rows]
        lines = [
            rf"\begin{{tabular}}{{{columns}}}",
            r"\hline",
            header,
            *body,
            r"\hline",
            r"\end{tabular}",
        ]
        return "\\begin{center}\n" + "\n".join(lines) + "\n\\end{center}"

    def _print_SizeRules(self, block: SizeRules) -> str:
        return self.display(self.math.size_rules(block))

    def _print_ClosedForm(self, block: ClosedForm) -> str:
        title = rf"\textbf{{{escape(block.title)}}}"
        return title + "\n" + self.display(self.math.closed_form(block))

    def _print_Equations(self, block: Equations) -> str:
        return self.display(self.math.equations(block))

    def _print_ChainRule(self, block: ChainRule) -> str:
        return self.display(self.math.chain_rule(block))

    def _print_MaxRule(self, block: MaxRule) -> str:
        return self.display(self.math.max_rule(block))

    def _print_MatrixStack(self, block: MatrixStack) -> str:
        caption = escape(capitalized(block.caption))
        return f"{caption}:\n" + self.display(self.math.stack(block))

    def _print_Apply(self, block: Apply) -> str:
        math = self.math
        if math.inline(block):
            operands = [math.matrix(op.single) for op in block.operands]
            line = math.apply(block, operands, escape)
            return self.display(Display((line,), aligned=False)) + "\n" + escape(block.legend)
        letters = [chr(ord("A") + i) for i in range(len(block.operands))]
        parts = [self.display(Display((math.apply(block, letters, escape),), aligned=False))]
        for letter, op in zip(letters, block.operands):
            parts.append(f"${letter}$: " + self._print_MatrixStack(op))
        return "\n".join(parts)


def capitalized(text: str) -> str:
    """A sentence starts with a capital, whatever the words it was built from."""
    return text[:1].upper() + text[1:]
