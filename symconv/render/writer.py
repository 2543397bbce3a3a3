"""What every format's writer shares: the section loop and the dispatch on block kinds.

A writer prints an `Outline`: an opening, then each section's heading and blocks, each
block by the method named after its class (``_print_<Class>``, as SymPy's printers
dispatch), then a closing.  Text, LaTeX and Markdown differ only in those pieces.
"""

from __future__ import annotations

from symconv.render.outline import Block, Outline


class Writer:
    """Prints an outline; subclasses give the pieces."""

    #: Between the printed parts (headings and blocks).
    separator = "\n\n"

    def write(self, outline: Outline) -> str:
        parts = list(self.opening(outline))
        for number, section in enumerate(outline.sections, 1):
            parts.append(self.heading(number, section.title))
            parts.extend(self.block(block) for block in section.blocks)
        parts.extend(self.closing())
        return self.finish(self.separator.join(parts)) + "\n"

    def block(self, block: Block) -> str:
        """Dispatch on the block's class: ``_print_<Class>``."""
        printer = getattr(self, f"_print_{type(block).__name__}", None)
        if printer is None:
            raise TypeError(f"{type(self).__name__} cannot print a {type(block).__name__}")
        return printer(block)

    def opening(self, outline: Outline) -> list[str]:
        return []

    def heading(self, number: int, title: str) -> str:
        raise NotImplementedError

    def closing(self) -> list[str]:
        return []

    def finish(self, text: str) -> str:
        """The whole text once more (text strips trailing spaces); as it is by default."""
        return text
