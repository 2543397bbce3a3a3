"""GitHub-flavoured Markdown: headings, prose, ``$$`` math and tables for the matrices.

The math is the LaTeX printer's (`LatexMath`), inside ``$$\\begin{aligned}`` blocks
that GitHub and Jupyter typeset; matrices become tables with their row and column
numbers, which read better than a bmatrix once a grid holds many fractions.
"""

from __future__ import annotations

from symconv.render.elide import More
from symconv.render.indexform import ClosedForm
from symconv.render.latex import Display, LatexMath
from symconv.render.latex import mathjax as display
from symconv.render.names import Names
from symconv.render.outline import (
    Apply,
    Block,
    Callout,
    ChainRule,
    Correction,
    Equations,
    MatrixStack,
    MaxRule,
    Outline,
    Paragraph,
    SizeRules,
    Slice,
    Table,
    Verdict,
)


def write(outline: Outline, names: Names) -> str:
    """Any outline (one layer, pooling, a chain of layers) as Markdown."""
    return MarkdownWriter(LatexMath(names, pdflatex=False), names).write(outline)


def escape(text: str) -> str:
    """Prose is Unicode; only the characters Markdown would take as markup are escaped."""
    for char in ("\\", "*", "|", "<", ">"):
        text = text.replace(char, "\\" + char)
    return text


class MarkdownWriter:
    def __init__(self, math: LatexMath, names: Names) -> None:
        self.math = math
        self.names = names

    def write(self, outline: Outline) -> str:
        parts = [f"# {escape(outline.title)}", f"`{outline.subtitle}`"]
        for number, section in enumerate(outline.sections, 1):
            parts.append(f"## {number}. {escape(section.title)}")
            parts.extend(self.block(b) for b in section.blocks)
        return "\n\n".join(parts) + "\n"

    def block(self, block: Block) -> str:
        """Dispatch on the block's class, as SymPy's printers do: ``_print_<Class>``."""
        printer = getattr(self, f"_print_{type(block).__name__}", None)
        if printer is None:
            raise TypeError(f"no Markdown for {type(block).__name__}")
        return printer(block)

    def _print_Table(self, block: Table) -> str:
        header = "| " + " | ".join(escape(cell) for cell in block.header) + " |"
        align = "| :-- |" + " --: |" * (len(block.header) - 1)
        body = ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in block.rows]
        return "\n".join([header, align, *body])

    def _print_Paragraph(self, block: Paragraph) -> str:
        return escape(block.text)

    def _print_Callout(self, block: Callout) -> str:
        return f"> [!NOTE]\n> {escape(block.text)}"

    def _print_Verdict(self, block: Verdict) -> str:
        mark = "✓ proved" if block.holds else "✗ does not hold"
        return f"**{mark}: {escape(block.title)}.** {escape(block.statement)}"

    def _print_SizeRules(self, block: SizeRules) -> str:
        return display(self.math.size_rules(block))

    def _print_ClosedForm(self, block: ClosedForm) -> str:
        return f"**{escape(block.title)}**\n\n" + display(self.math.closed_form(block))

    def _print_Equations(self, block: Equations) -> str:
        return display(self.math.equations(block))

    def _print_ChainRule(self, block: ChainRule) -> str:
        return display(self.math.chain_rule(block))

    def _print_MatrixStack(self, block: MatrixStack) -> str:
        return self.stack(block)

    def _print_Apply(self, block: Apply) -> str:
        return self.apply(block)

    def _print_Correction(self, block: Correction) -> str:
        return (
            f"> [!WARNING]\n> **Correction to the notes.** They write {escape(block.wrote)}\n>\n"
            f"> **Right:** {escape(block.right)}\n>\n> {escape(block.why)}"
        )

    def _print_MaxRule(self, block: MaxRule) -> str:
        return display(self.math.max_rule(block))

    def table(self, grid: Slice) -> str:
        """A matrix as a table headed by its column numbers, each row led by its number."""

        def number(position: int | None) -> str:
            return "⋯" if position is None else str(self.names.number(position))

        header = "| | " + " | ".join(number(c) for c in grid.col_at) + " |"
        rule = "|---|" + "---|" * len(grid.col_at)
        rows = []
        for position, row in zip(grid.row_at, grid.rows):
            lead = "⋮" if position is None else f"**{number(position)}**"
            cells = " | ".join(f"${self.math.cell(c)}$" for c in row)
            rows.append(f"| {lead} | {cells} |")
        return "\n".join([header, rule, *rows])

    def stack(self, block: MatrixStack) -> str:
        parts = [f"*{escape(block.caption[0].upper() + block.caption[1:])}:*"]
        for item in block.slices:
            if isinstance(item, More):
                parts.append(f"… ({item.words})")
            else:
                if item.label:
                    parts.append(f"{escape(item.label)}:")
                parts.append(self.table(item))
        return "\n\n".join(parts)

    def apply(self, block: Apply) -> str:
        math = self.math
        if math.inline(block):
            operands = [math.matrix(op.single) for op in block.operands]
            line = math.apply(block, operands, str)
            return display(Display((line,), aligned=False)) + f"\n\n{escape(block.legend)}"
        names = [chr(ord("A") + i) for i in range(len(block.operands))]
        parts = [display(Display((math.apply(block, names, str),), aligned=False))]
        for name, op in zip(names, block.operands):
            parts.append(f"**{name}**: " + self.stack(op))
        return "\n\n".join(parts)
