"""Markdown: headings, prose, ``$$`` math and tables, for GitHub and for Jupyter.

The math is the LaTeX printer's (`LatexMath`), inside ``$$\\begin{aligned}`` blocks
that GitHub, JupyterLab and ``jupyter nbconvert`` typeset with MathJax; matrices become
tables with their row and column numbers, and so does the efficiency table (no
``tabular``, which MathJax does not know).  In a notebook (`notebook=True`) notes and
corrections are plain block quotes, since GitHub's ``[!NOTE]`` alerts are not
Jupyter's.
"""

from __future__ import annotations

import base64

from symconv.render.elide import More
from symconv.render.indexform import ClosedForm
from symconv.render.latex import Display, LatexMath
from symconv.render.latex import mathjax as display
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
from symconv.render.writer import Writer


def write(outline: Outline, names: Names, notebook: bool = False) -> str:
    """Any outline (one layer, pooling, a chain of layers) as Markdown."""
    return MarkdownWriter(LatexMath(names, pdflatex=False), names, notebook).write(outline)


def escape(text: str) -> str:
    """Prose is Unicode; only the characters Markdown would take as markup are escaped."""
    for char in ("\\", "*", "|", "<", ">", "_", "$"):
        text = text.replace(char, "\\" + char)
    return text


class MarkdownWriter(Writer):
    def __init__(self, math: LatexMath, names: Names, notebook: bool = False) -> None:
        self.math = math
        self.names = names
        self.notebook = notebook

    def opening(self, outline: Outline) -> list[str]:
        return [f"# {escape(outline.title)}", f"`{outline.subtitle}`"]

    def heading(self, number: int, title: str) -> str:
        return f"## {number}. {escape(title)}"

    def quote(self, kind: str, lines: list[str]) -> str:
        """A block quote; on GitHub (not in a notebook) headed by an alert such as [!NOTE]."""
        out = [] if self.notebook else [f"> [!{kind}]"]
        for number, line in enumerate(lines):
            out += [">"] if number else []
            out.append(f"> {line}")
        return "\n".join(out)

    # ----- prose --------------------------------------------------------------------------
    def _print_Paragraph(self, block: Paragraph) -> str:
        return escape(block.text)

    def _print_Callout(self, block: Callout) -> str:
        return self.quote("NOTE", [f"**Note.** {escape(block.text)}"])

    def _print_Correction(self, block: Correction) -> str:
        return self.quote(
            "WARNING",
            [
                f"**{Correction.TITLE}.** {Correction.WROTE} {escape(block.wrote)}",
                f"**Right:** {escape(block.right)}",
                escape(block.why),
            ],
        )

    def _print_Picture(self, block: Picture) -> str:
        parts = [f"**Figure: {escape(block.title)}.** {escape(block.caption)}"]
        if block.file:
            parts.append(f"![{escape(block.title)}]({block.file})")
        elif self.notebook and block.svg:  # Jupyter shows a data-URI image; GitHub would not
            data = base64.b64encode(block.svg.encode()).decode()
            source = f"data:image/svg+xml;base64,{data}"
            parts.append(f'<img alt="{escape(block.title)}" src="{source}">')
        elif block.text:
            parts.append(f"```text\n{block.text}\n```")
        return "\n\n".join(parts)

    def _print_Verdict(self, block: Verdict) -> str:
        mark = "✓ proved" if block.holds else "✗ does not hold"
        return f"**{mark}: {escape(block.title)}.** {escape(block.statement)}"

    def _print_Table(self, block: Table) -> str:
        header = "| " + " | ".join(escape(cell) for cell in block.header) + " |"
        align = "| :-- |" + " --: |" * (len(block.header) - 1)
        body = ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in block.rows]
        return "\n".join([header, align, *body])

    # ----- math ---------------------------------------------------------------------------
    def _print_SizeRules(self, block: SizeRules) -> str:
        return display(self.math.size_rules(block))

    def _print_ClosedForm(self, block: ClosedForm) -> str:
        return f"**{escape(block.title)}**\n\n" + display(self.math.closed_form(block))

    def _print_Equations(self, block: Equations) -> str:
        return display(self.math.equations(block))

    def _print_ChainRule(self, block: ChainRule) -> str:
        return display(self.math.chain_rule(block))

    def _print_MaxRule(self, block: MaxRule) -> str:
        return display(self.math.max_rule(block))

    # ----- matrices -----------------------------------------------------------------------
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

    def _print_MatrixStack(self, block: MatrixStack) -> str:
        parts = [f"*{escape(block.caption[0].upper() + block.caption[1:])}:*"]
        for item in block.slices:
            if isinstance(item, More):
                parts.append(f"… ({item.words})")
            else:
                if item.label:
                    parts.append(f"{escape(item.label)}:")
                parts.append(self.table(item))
        return "\n\n".join(parts)

    def _print_Apply(self, block: Apply) -> str:
        math = self.math
        if math.inline(block):
            operands = [math.matrix(op.single) for op in block.operands]
            line = math.apply(block, operands, str)
            return display(Display((line,), aligned=False)) + f"\n\n{escape(block.legend)}"
        letters = [chr(ord("A") + i) for i in range(len(block.operands))]
        parts = [display(Display((math.apply(block, letters, str),), aligned=False))]
        for letter, op in zip(letters, block.operands):
            parts.append(f"**{letter}**: " + self._print_MatrixStack(op))
        return "\n\n".join(parts)
