"""Plain Unicode text for a terminal: ``str(derivation)`` and the CLI's default output.

Names read as in the notes without markup (``X11``, ``∂L/∂O12``), products use a
middle dot (``X11·F11``), long sums wrap under their ``=`` and matrices are drawn
with bracket characters, so the whole derivation stays under `WIDTH` columns.
"""

from __future__ import annotations

import textwrap

import sympy as sp
from sympy.printing.str import StrPrinter

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

WIDTH = 100
INDENT = "  "
DOTS = {"h": "⋯", "v": "⋮", "d": "⋱"}
#: Joins the two sides of a comparison: a line is never broken inside X12 ≥ X21.
TIGHT = "\xa0"


def write(outline: Outline, names: Names) -> str:
    """Any outline (one layer, pooling, a chain of layers) as plain text."""
    return TextWriter(names).write(outline)


def index_variable(name: str) -> str:
    """``jh`` -> ``j_h``: the dimension as a subscript, as in the LaTeX."""
    return f"{name[0]}_{name[1:]}" if len(name) > 1 else name


class DerivationTextPrinter(StrPrinter):
    """SymPy's str printer with the lecture's names, · for products and its term order."""

    def __init__(self, names: Names) -> None:
        super().__init__()
        self.names = names

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        ref = self.names.ref(expr)
        return index_variable(expr.name) if ref is None else self.names.plain(ref)

    def _print_Mul(self, expr: sp.Mul) -> str:
        where = self.names.table.where
        if not involves_tensors(expr, where):
            return super()._print_Mul(expr).replace("*", "")
        factors = ordered_factors(expr, where)
        sign = ""
        if factors[0] == -1:
            sign, factors = "-", factors[1:]
        return sign + "·".join(
            f"({self._print(f)})" if f.is_Add else self._print(f) for f in factors
        )

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        where = self.names.table.where
        if not involves_tensors(expr, where):
            return super()._print_Add(expr, order).replace(" - ", " − ")
        return join_terms([self._print(t) for t in ordered_terms(expr, where)])

    def _print_Float(self, expr: sp.Float) -> str:
        """The user's numbers as they typed them: 2.5, not 2.50000000000000."""
        return repr(float(expr))

    def _print_Max(self, expr: sp.Max) -> str:
        args = relations.max_arguments(expr, self.names)
        return f"max({', '.join(self._print(a) for a in args)})"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        return f"θ({self._print(expr.args[0])})"

    def _print_Relational(self, expr: sp.core.relational.Relational) -> str:
        return self.relation(expr)

    def relation(self, expr: sp.Basic) -> str:
        """a > b or a ≥ b, the larger side first (SymPy may store it as b < a)."""
        big, op, small = relations.relation(expr)
        symbol = {">": ">", ">=": "≥"}[op]
        return f"{self._print(big)}{TIGHT}{symbol}{TIGHT}{self._print(small)}"

    def _print_And(self, expr: sp.And) -> str:
        return " ∧ ".join(self.condition(expr))

    def condition(self, expr: sp.Basic) -> list[str]:
        """An indicator's comparisons, row-major; many as x > max(...) ∧ x ≥ max(...)."""
        parts = relations.split(expr, self.names)
        if parts is None:
            return [self._print(expr)]
        subject, strict, loose = parts
        if len(strict) + len(loose) <= relations.SPELLED_OUT:
            return [
                f"{self._print(subject)}{TIGHT}{symbol}{TIGHT}{self._print(other)}"
                for symbol, group in ((">", strict), ("≥", loose))
                for other in group
            ]
        out = []
        for symbol, group in ((">", strict), ("≥", loose)):
            if group:
                listed = ", ".join(self._print(o) for o in group)
                other = self._print(group[0]) if len(group) == 1 else f"max({listed})"
                out.append(f"{self._print(subject)}{TIGHT}{symbol}{TIGHT}{other}")
        return out

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        """An indicator Piecewise((1, cond), (0, True)) in Iverson's bracket: [cond]."""
        value, condition = relations.indicator(expr)
        if condition is None:
            pieces = [f"{self._print(p.expr)} if {self._print(p.cond)}" for p in expr.args]
            return "(" + "; ".join(pieces) + ")"
        bracket = f"[{' ∧ '.join(self.condition(condition))}]"
        return bracket if value == 1 else f"{self._print(value)}·{bracket}"

    # ----- the outline's own atoms ----------------------------------------------------------
    def factor(self, factor: Factor) -> str:
        if isinstance(factor, Ref | Partial):
            return self.names.plain(factor)
        return f"({self.doprint(factor)})" if factor.is_Add else self.doprint(factor)

    def term(self, term: Term) -> str:
        """X11·F11; a chain-rule term spaces its dot: ∂L/∂O11 · ∂O11/∂F11."""
        separator = " · " if any(isinstance(f, Partial) for f in term) else "·"
        return separator.join(self.factor(f) for f in term)

    def index_part(self, part: IndexPart) -> str:
        if isinstance(part, Quotient):
            return f"({self.doprint(part.numerator)})/{part.divisor}"
        return self.doprint(part)

    def access(self, access: IndexedAccess) -> str:
        """X[j_h + t_h, j_w + t_w], ∂L/∂O[j_h, j_w]."""
        letter = LETTERS[access.key]
        parts = ", ".join(self.index_part(p) for p in access.parts)
        name = f"{letter}[{parts}]" if parts else letter
        return f"∂L/∂{name}" if is_gradient(access.key) else name


def join_terms(terms: list[str]) -> str:
    if not terms:
        return "0"
    out = terms[0]
    for t in terms[1:]:
        out += f" − {t[1:]}" if t.startswith("-") else f" + {t}"
    return out


# ----- layout helpers -----------------------------------------------------------------------
def wrap_sum(head: str, items: list[str], width: int) -> list[str]:
    """head + items joined by " + ", wrapped so every continuation "+" sits under the "="."""
    lines = [head + (items[0] if items else "0")]
    pad = " " * max(len(head) - 2, 0)
    for item in items[1:]:
        if len(lines[-1]) + 3 + len(item) > width:
            lines.append(f"{pad}+ {item}")
        else:
            lines[-1] += f" + {item}"
    return lines


def hconcat(blocks: list[list[str]]) -> list[str]:
    """Blocks of lines side by side, each centred vertically on the tallest."""
    height = max(len(b) for b in blocks)
    columns = []
    for block in blocks:
        width = max((len(line) for line in block), default=0)
        top = (height - len(block)) // 2
        padded = [""] * top + block + [""] * (height - len(block) - top)
        columns.append([line.ljust(width) for line in padded])
    return ["".join(parts).rstrip() for parts in zip(*columns)]


def narrow(cells: list[list[str]], width: int) -> list[list[str]]:
    """Drop columns before the ⋯ column until a row of `cells` fits in `width`.

    The outline elides matrices to 8 columns for every format, but eight entries like
    ∂L/∂O[1,24] are wider than a terminal, so text may leave out a few more.
    """

    def row_width(table: list[list[str]]) -> int:
        columns = range(len(table[0]))
        return sum(max(len(r[j]) for r in table) for j in columns) + 2 * len(table[0]) + 2

    while row_width(cells) > width and len(cells[0]) > 3:
        dots = next((j for j, c in enumerate(cells[0]) if c in ("⋯", "⋱")), None)
        if dots is not None:
            cells = [row[: dots - 1] + row[dots:] for row in cells]
            continue
        last = len(cells[0]) - 2
        cells = [
            row[:last] + ["⋱" if set(row) <= {"⋮", "⋱"} else "⋯"] + row[last + 1 :] for row in cells
        ]
    return cells


def indent(lines: list[str], prefix: str = INDENT) -> list[str]:
    return [prefix + line if line else line for line in lines]


class TextWriter:
    """Prints an outline block by block; every block becomes a list of lines."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self.printer = DerivationTextPrinter(names)

    def write(self, outline: Outline) -> str:
        rule = "═" * min(WIDTH, max(len(outline.title), len(outline.subtitle)))
        lines = [outline.title, outline.subtitle, rule]
        for number, section in enumerate(outline.sections, 1):
            heading = f"{number}. {section.title}"
            lines += ["", heading, "─" * len(heading)]
            for block in section.blocks:
                lines += ["", *self.block(block)]
        return "\n".join(line.rstrip().replace(TIGHT, " ") for line in lines) + "\n"

    def block(self, block: Block) -> list[str]:
        """Dispatch on the block's class, as SymPy's printers do: ``_print_<Class>``."""
        printer = getattr(self, f"_print_{type(block).__name__}", None)
        if printer is None:
            raise TypeError(f"no text for {type(block).__name__}")
        return printer(block)

    def _print_Table(self, block: Table) -> list[str]:
        columns = list(zip(block.header, *block.rows))
        widths = [max(len(cell) for cell in column) for column in columns]

        def line(cells: tuple[str, ...]) -> str:
            first = cells[0].ljust(widths[0])
            rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]
            return "  ".join([first, *rest])

        rule = "  ".join("─" * width for width in widths)
        return indent([line(block.header), rule, *(line(row) for row in block.rows)])

    def _print_Paragraph(self, block: Paragraph) -> list[str]:
        return textwrap.wrap(block.text, WIDTH)

    def _print_Callout(self, block: Callout) -> list[str]:
        return self.callout(block.text)

    def _print_Verdict(self, block: Verdict) -> list[str]:
        return self.verdict(block)

    def _print_SizeRules(self, block: SizeRules) -> list[str]:
        return self.size_rules(block)

    def _print_ClosedForm(self, block: ClosedForm) -> list[str]:
        return self.closed_form(block)

    def _print_Equations(self, block: Equations) -> list[str]:
        return indent(self.equations(block))

    def _print_ChainRule(self, block: ChainRule) -> list[str]:
        letter, out = self.names.letter(block.key), self.names.letter(block.of)
        return indent([f"∂L/∂{letter}_i = Σ_k ∂L/∂{out}_k · ∂{out}_k/∂{letter}_i"])

    def _print_Correction(self, block: Correction) -> list[str]:
        return self.boxed(
            [f"The notes write: {block.wrote}", f"Right: {block.right}", block.why],
            "Correction to the notes",
        )

    def _print_MaxRule(self, block: MaxRule) -> list[str]:
        plain, doprint = self.names.plain, self.printer.doprint
        members = ", ".join(plain(m) for m in block.members)
        numbers = ", ".join(doprint(v) for v in block.values)
        top = doprint(block.values[block.winner])
        lines = [
            f"{plain(block.output)} = max({members}) = max({numbers}) = {top}, "
            f"first at {plain(block.members[block.winner])}"
        ]
        width = max(len(plain(g)) for g in block.gradients)
        upstream = plain(block.upstream)
        for i, (member, gradient) in enumerate(zip(block.members, block.gradients)):
            result = upstream if i == block.winner else "0"
            lines.append(
                f"{plain(gradient).ljust(width)} = ∂/∂{plain(member)} max({members}) · "
                f"{upstream} = {result}"
            )
        return indent(self.fold(lines, WIDTH - len(INDENT)))

    def _print_MatrixStack(self, block: MatrixStack) -> list[str]:
        return self.stack(block)

    def _print_Apply(self, block: Apply) -> list[str]:
        return self.apply(block)

    # ----- prose ------------------------------------------------------------------------
    def callout(self, text: str) -> list[str]:
        body = textwrap.wrap(f"Note: {text}", WIDTH - 4)
        width = max(len(line) for line in body)
        return (
            ["┌" + "─" * (width + 2) + "┐"]
            + [f"│ {line.ljust(width)} │" for line in body]
            + ["└" + "─" * (width + 2) + "┘"]
        )

    def boxed(self, paragraphs: list[str], title: str) -> list[str]:
        """Paragraphs in a box headed by `title` (a correction stands out from the lecture)."""
        body = [title + ":"]
        for paragraph in paragraphs:
            body += textwrap.wrap(paragraph, WIDTH - 4, subsequent_indent="  ")
        width = max(len(line) for line in body)
        return (
            ["┏" + "━" * (width + 2) + "┓"]
            + [f"┃ {line.ljust(width)} ┃" for line in body]
            + ["┗" + "━" * (width + 2) + "┛"]
        )

    def fold(self, lines: list[str], width: int) -> list[str]:
        """Break lines longer than `width` at spaces, continuing under the "= ".

        Sums break between terms already (`wrap_sum`); this catches one long term,
        such as an indicator [X22 > X11 ∧ ...] of a large window.
        """
        out = []
        for line in lines:
            if len(line) <= width:
                out.append(line)
                continue
            pad = " " * (line.find(" = ") + 3 if " = " in line else 4)
            out += textwrap.wrap(
                line, width, subsequent_indent=pad, break_long_words=False, break_on_hyphens=False
            )
        return out

    def verdict(self, block: Verdict) -> list[str]:
        mark = "✓ proved" if block.holds else "✗ does not hold"
        return [f"{mark}: {block.title}"] + textwrap.wrap(
            block.statement, WIDTH, initial_indent="    ", subsequent_indent="    "
        )

    # ----- equations --------------------------------------------------------------------
    def lhs(self, item: Ref | Partial) -> str:
        return self.names.plain(item)

    def items(self, terms: tuple) -> list[str]:
        return [f"⋯ ({t.words})" if isinstance(t, More) else self.printer.term(t) for t in terms]

    def equations(self, block: Equations) -> list[str]:
        if block.per_line > 1:
            return self.side_by_side(block)
        rows = [r for r in block.rows if not isinstance(r, More)]
        width = max((len(self.lhs(r.lhs)) for r in rows), default=0)
        lines: list[str] = []
        for row in block.rows:
            if isinstance(row, More):
                lines.append(f"{' ' * (width + 1)}⋮  ({row.words})")
                continue
            head = f"{self.lhs(row.lhs).ljust(width)} = "
            lines += self.fold(
                wrap_sum(head, self.items(row.terms), WIDTH - len(INDENT)), WIDTH - len(INDENT)
            )
        return lines

    def side_by_side(self, block: Equations) -> list[str]:
        cells = [
            f"⋯ ({row.words})"
            if isinstance(row, More)
            else f"{self.lhs(row.lhs)} = {join_terms(self.items(row.terms))}"
            for row in block.rows
        ]
        width = max(len(c) for c in cells)
        per_line = max(1, min(block.per_line, (WIDTH - len(INDENT)) // (width + 4)))
        return [
            "    ".join(c.ljust(width) for c in cells[i : i + per_line]).rstrip()
            for i in range(0, len(cells), per_line)
        ]

    # ----- configuration and closed forms -----------------------------------------------
    def size_rules(self, block: SizeRules) -> list[str]:
        width = max(len(r.dimension) for r in block.rules) + 2
        lines = []
        if block.pooling:
            for r in block.rules:
                numbers = f"({r.i} + 2·{r.lo} − {r.k})/{r.s}"
                lines.append(
                    f"{r.dimension}:".ljust(width)
                    + f"o = ⌊(i + 2p − k)/s⌋ + 1 = ⌊{numbers}⌋ + 1 = {r.o}"
                )
            return indent(lines)
        for r in block.rules:
            numbers = f"{r.i} + {r.lo} + {r.hi} − {r.k_eff}"
            label = f"{r.dimension}:".ljust(width)
            lines += [
                f"{label}k_eff = d(k − 1) + 1 = {r.d}·({r.k} − 1) + 1 = {r.k_eff}",
                f"{' ' * width}o = ⌊(i + lo + hi − k_eff)/s⌋ + 1 = ⌊({numbers})/{r.s}⌋ + 1 = {r.o}",
                f"{' ' * width}a = (i + lo + hi − k_eff) mod s = ({numbers}) mod {r.s} = {r.a}",
            ]
        return indent(lines)

    def closed_form(self, form: ClosedForm) -> list[str]:
        p = self.printer
        product = "·".join(p.access(a) for a in form.factors)
        rhs = product
        if form.summed:
            rhs = f"Σ_{{{', '.join(index_variable(r.var.name) for r in form.summed)}}} {product}"
        if form.addend is not None:
            rhs = f"{p.access(form.addend)} + {rhs}"
        head = f"{INDENT}{p.access(form.target)} = "
        lines = [f"{form.title}:", head + rhs]
        if len(lines[-1]) > WIDTH and form.summed:
            lines[-1] = head + rhs[: -len(product) - 1]
            lines.append(" " * len(head) + product)
        detail = []
        if form.conditions:
            detail.append("where " + ", ".join(self.condition(c) for c in form.conditions))
        if form.free:
            detail.append("for " + self.ranges(form.free))
        if form.summed:
            detail.append("summing over " + self.ranges(form.summed))
        for item in detail:
            lines += textwrap.wrap(
                item, WIDTH, initial_indent=INDENT * 3, subsequent_indent=INDENT * 4
            )
        return lines

    def condition(self, condition: Bound | Divides) -> str:
        if isinstance(condition, Bound):
            return f"0 ≤ {self.printer.index_part(condition.part)} < {condition.bound}"
        return f"{condition.divisor} | {self.printer.doprint(condition.expr)}"

    def ranges(self, ranges: tuple[Range, ...]) -> str:
        return ", ".join(f"0 ≤ {index_variable(r.var.name)} < {r.extent}" for r in ranges)

    # ----- matrices ---------------------------------------------------------------------
    def cell(self, cell: sp.Expr | Dots) -> str:
        return DOTS[cell.direction] if isinstance(cell, Dots) else self.printer.doprint(cell)

    def matrix(self, grid: Slice, width: int = WIDTH - 2 * len(INDENT)) -> list[str]:
        """The grid between bracket characters, narrowed to `width` columns if need be."""
        cells = narrow([[self.cell(c) for c in row] for row in grid.rows], width)
        widths = [max(len(row[j]) for row in cells) for j in range(len(cells[0]))]
        rows = ["  ".join(c.center(w) for c, w in zip(row, widths)) for row in cells]
        if len(rows) == 1:
            return [f"[ {rows[0]} ]"]
        left = ["⎡"] + ["⎢"] * (len(rows) - 2) + ["⎣"]
        right = ["⎤"] + ["⎥"] * (len(rows) - 2) + ["⎦"]
        return [f"{a} {row} {b}" for a, row, b in zip(left, rows, right)]

    def stack(self, block: MatrixStack) -> list[str]:
        lines = textwrap.wrap(f"{block.caption[0].upper()}{block.caption[1:]}:", WIDTH)
        for item in block.slices:
            if isinstance(item, More):
                lines.append(f"{INDENT}… ({item.words})")
            elif item.label:
                lines += [f"{INDENT}{item.label}:", *indent(self.matrix(item), INDENT * 2)]
            else:
                lines += indent(self.matrix(item))
        return lines

    def apply(self, block: Apply) -> list[str]:
        head = f"{self.names.plain(block.lhs)} = {block.operation}("
        singles = [op.single for op in block.operands]
        if all(s is not None for s in singles):
            pieces: list[list[str]] = [[head]]
            for i, single in enumerate(singles):
                pieces += [self.matrix(single), [", " if i < len(singles) - 1 else ")"]]
            lines = hconcat(pieces)
            if max(len(line) for line in lines) <= WIDTH - len(INDENT):
                return indent(lines) + textwrap.wrap(block.legend, WIDTH)
        names = [chr(ord("A") + i) for i in range(len(block.operands))]
        lines = indent([head + ", ".join(names) + ")"])
        for name, op in zip(names, block.operands):
            stacked = self.stack(op)
            lines += indent([f"{name}: {stacked[0]}", *stacked[1:]])
        return lines
