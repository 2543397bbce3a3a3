"""Plain Unicode text for a terminal: ``str(derivation)`` and the CLI's default output.

Names read without markup (``X11``, ``∂L/∂O12``), products use a middle dot
(``X11·F11``), long sums wrap under their ``=`` and matrices are drawn with bracket
characters, so the whole derivation stays under `WIDTH` columns.
"""

from __future__ import annotations

import textwrap

import sympy as sp

from symconv.render.elide import Dots, More
from symconv.render.indexform import Bound, ClosedForm, Divides, Range
from symconv.render.names import Names
from symconv.render.outline import (
    Apply,
    Callout,
    ChainRule,
    Correction,
    Equations,
    MatrixStack,
    MaxRule,
    Outline,
    Paragraph,
    Picture,
    SizeRules,
    Slice,
    Table,
    Verdict,
)
from symconv.render.printer import TIGHT, TextPrinter, join_terms
from symconv.render.writer import Writer

WIDTH = 100
INDENT = "  "
DOTS = {"h": "⋯", "v": "⋮", "d": "⋱"}


def write(outline: Outline, names: Names) -> str:
    """Any outline (one layer, pooling, a chain of layers) as plain text."""
    return TextWriter(names).write(outline)


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


def fold(lines: list[str], width: int) -> list[str]:
    """Break lines longer than `width` at spaces, continuing under the "= ".

    Sums break between terms already (`wrap_sum`); this catches one long term, such as
    an indicator [X22 > X11 ∧ ...] of a large window.
    """
    out = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
            continue
        own = len(line) - len(line.lstrip())
        pad = " " * (line.find(" = ") + 3 if " = " in line else own + 2)
        out += textwrap.wrap(
            line, width, subsequent_indent=pad, break_long_words=False, break_on_hyphens=False
        )
    return out


def pack_factors(factors: list[str], pad: str) -> list[str]:
    """A product a·b·c on lines of at most `WIDTH`, each line after the first starting "·"."""
    lines = [pad + factors[0]]
    for factor in factors[1:]:
        if len(lines[-1]) + 1 + len(factor) <= WIDTH:
            lines[-1] += "·" + factor
        else:
            lines.append(f"{pad}·{factor}")
    return lines


def box(body: list[str], corners: str, edge: str, side: str) -> list[str]:
    """Lines in a frame of `corners` (┌┐└┘), `edge` (─) and `side` (│) characters."""
    width = max(len(line) for line in body)
    top_left, top_right, bottom_left, bottom_right = corners
    return (
        [top_left + edge * (width + 2) + top_right]
        + [f"{side} {line.ljust(width)} {side}" for line in body]
        + [bottom_left + edge * (width + 2) + bottom_right]
    )


class TextWriter(Writer):
    """Prints an outline block by block; each block is lines joined by line breaks."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self.printer = TextPrinter(names)

    # ----- the section loop's pieces ----------------------------------------------------
    def opening(self, outline: Outline) -> list[str]:
        rule = "═" * min(WIDTH, max(len(outline.title), len(outline.subtitle)))
        return ["\n".join([outline.title, outline.subtitle, rule])]

    def heading(self, number: int, title: str) -> str:
        heading = f"{number}. {title}"
        return f"{heading}\n{'─' * len(heading)}"

    def finish(self, text: str) -> str:
        return "\n".join(line.rstrip().replace(TIGHT, " ") for line in text.splitlines())

    # ----- prose ------------------------------------------------------------------------
    def _print_Paragraph(self, block: Paragraph) -> str:
        return "\n".join(textwrap.wrap(block.text, WIDTH, break_on_hyphens=False))

    def _print_Callout(self, block: Callout) -> str:
        return "\n".join(box(textwrap.wrap(f"Note: {block.text}", WIDTH - 4), "┌┐└┘", "─", "│"))

    def _print_Correction(self, block: Correction) -> str:
        body = [f"{Correction.TITLE}:"]
        for paragraph in (f"{Correction.WROTE}: {block.wrote}", f"Right: {block.right}", block.why):
            body += textwrap.wrap(paragraph, WIDTH - 4, subsequent_indent="  ")
        return "\n".join(box(body, "┏┓┗┛", "━", "┃"))

    def _print_Picture(self, block: Picture) -> str:
        lines = [f"Figure: {block.title}"]
        lines += [INDENT + line for line in textwrap.wrap(block.caption, WIDTH - len(INDENT))]
        return "\n".join(lines) + ("\n" + block.text if block.text else "")

    def _print_Verdict(self, block: Verdict) -> str:
        mark = "✓ proved" if block.holds else "✗ does not hold"
        lines = textwrap.wrap(f"{mark}: {block.title}", WIDTH, subsequent_indent="    ")
        lines += textwrap.wrap(
            block.statement,
            WIDTH,
            initial_indent="    ",
            subsequent_indent="    ",
            break_on_hyphens=False,
        )
        return "\n".join(lines)

    def _print_Table(self, block: Table) -> str:
        columns = list(zip(block.header, *block.rows))
        widths = [max(len(cell) for cell in column) for column in columns]

        def line(cells: tuple[str, ...]) -> str:
            first = cells[0].ljust(widths[0])
            rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]
            return "  ".join([first, *rest])

        rule = "  ".join("─" * width for width in widths)
        return "\n".join(indent([line(block.header), rule, *(line(row) for row in block.rows)]))

    # ----- equations --------------------------------------------------------------------
    def items(self, terms: tuple) -> list[str]:
        return [f"⋯ ({t.words})" if isinstance(t, More) else self.printer.term(t) for t in terms]

    def _print_Equations(self, block: Equations) -> str:
        if block.per_line > 1:
            return "\n".join(indent(self.side_by_side(block)))
        rows = [r for r in block.rows if not isinstance(r, More)]
        width = max((len(self.names.plain(r.lhs)) for r in rows), default=0)
        lines: list[str] = []
        for row in block.rows:
            if isinstance(row, More):
                lines.append(f"{' ' * (width + 1)}⋮  ({row.words})")
                continue
            head = f"{self.names.plain(row.lhs).ljust(width)} = "
            budget = WIDTH - len(INDENT)
            lines += fold(wrap_sum(head, self.items(row.terms), budget), budget)
        return "\n".join(indent(lines))

    def side_by_side(self, block: Equations) -> list[str]:
        cells = [
            f"⋯ ({row.words})"
            if isinstance(row, More)
            else f"{self.names.plain(row.lhs)} = {join_terms(self.items(row.terms), ' − ')}"
            for row in block.rows
        ]
        width = max(len(c) for c in cells)
        per_line = max(1, min(block.per_line, (WIDTH - len(INDENT)) // (width + 4)))
        return [
            "    ".join(c.ljust(width) for c in cells[i : i + per_line]).rstrip()
            for i in range(0, len(cells), per_line)
        ]

    def _print_ChainRule(self, block: ChainRule) -> str:
        letter, out = self.names.letter(block.key), self.names.letter(block.of)
        return f"{INDENT}∂L/∂{letter}_i = Σ_k ∂L/∂{out}_k · ∂{out}_k/∂{letter}_i"

    def _print_MaxRule(self, block: MaxRule) -> str:
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
        return "\n".join(indent(fold(lines, WIDTH - len(INDENT))))

    # ----- configuration and closed forms -----------------------------------------------
    def _print_SizeRules(self, block: SizeRules) -> str:
        width = max(len(r.dimension) for r in block.rules) + 2
        lines = []
        for r in block.rules:
            label = f"{r.dimension}:".ljust(width)
            if block.pooling:
                numbers = f"({r.i} + 2·{r.lo} − {r.k})/{r.s}"
                lines.append(f"{label}o = ⌊(i + 2p − k)/s⌋ + 1 = ⌊{numbers}⌋ + 1 = {r.o}")
                continue
            numbers = f"{r.i} + {r.lo} + {r.hi} − {r.k_eff}"
            lines += [
                f"{label}k_eff = d(k − 1) + 1 = {r.d}·({r.k} − 1) + 1 = {r.k_eff}",
                f"{' ' * width}o = ⌊(i + lo + hi − k_eff)/s⌋ + 1 = ⌊({numbers})/{r.s}⌋ + 1 = {r.o}",
                f"{' ' * width}a = (i + lo + hi − k_eff) mod s = ({numbers}) mod {r.s} = {r.a}",
            ]
        return "\n".join(indent(lines))

    def _print_ClosedForm(self, form: ClosedForm) -> str:
        p = self.printer
        product = "·".join(p.access(a) for a in form.factors)
        rhs = product
        if form.summed:
            summed = ", ".join(p.index_variable(r.var.name) for r in form.summed)
            rhs = f"Σ_{{{summed}}} {product}"
        if form.addend is not None:
            rhs = f"{p.access(form.addend)} + {rhs}"
        head = f"{INDENT}{p.access(form.target)} = "
        lines = [f"{form.title}:", head + rhs]
        if len(lines[-1]) > WIDTH:  # the product goes on lines of its own, "·" under the "="
            packed = pack_factors([p.access(a) for a in form.factors], " " * len(head))
            if form.summed:
                lines[-1] = head + rhs[: -len(product) - 1]
            else:  # the first factor stays on the "=" line, after the addend if any
                packed[0] = head + rhs[: -len(product)] + packed[0][len(head) :]
                lines.pop()
            lines += fold(packed, WIDTH)
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
        return "\n".join(lines)

    def condition(self, condition: Bound | Divides) -> str:
        if isinstance(condition, Bound):
            return f"0 ≤ {self.printer.index_part(condition.part)} < {condition.bound}"
        return f"{condition.divisor} | {self.printer.doprint(condition.expr)}"

    def ranges(self, ranges: tuple[Range, ...]) -> str:
        return ", ".join(
            f"0 ≤ {self.printer.index_variable(r.var.name)} < {r.extent}" for r in ranges
        )

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

    def stack(self, block: MatrixStack, lead: str = "", width: int = WIDTH) -> list[str]:
        caption = f"{lead}{block.caption[0].upper()}{block.caption[1:]}:"
        lines = textwrap.wrap(caption, width, subsequent_indent=" " * len(lead))
        for item in block.slices:
            if isinstance(item, More):
                lines.append(f"{INDENT}… ({item.words})")
            elif item.label:
                lines += [f"{INDENT}{item.label}:", *indent(self.matrix(item), INDENT * 2)]
            else:
                lines += indent(self.matrix(item))
        return lines

    def _print_MatrixStack(self, block: MatrixStack) -> str:
        return "\n".join(self.stack(block))

    def _print_Apply(self, block: Apply) -> str:
        opening = f"{block.wrapper}(" if block.wrapper else ""
        closing = f"{block.suffix})" + (")" if block.wrapper else "")
        head = f"{self.names.plain(block.lhs)} = {opening}{block.operation}("
        singles = [op.single for op in block.operands]
        if all(s is not None for s in singles):
            pieces: list[list[str]] = [[head]]
            for i, single in enumerate(singles):
                pieces += [self.matrix(single), [", " if i < len(singles) - 1 else closing]]
            lines = hconcat(pieces)
            if max(len(line) for line in lines) <= WIDTH - len(INDENT):
                return "\n".join(indent(lines) + textwrap.wrap(block.legend, WIDTH))
        letters = [chr(ord("A") + i) for i in range(len(block.operands))]
        lines = indent([head + ", ".join(letters) + closing])
        for letter, op in zip(letters, block.operands):
            lines += indent(self.stack(op, lead=f"{letter}: ", width=WIDTH - len(INDENT)))
        return "\n".join(lines)
