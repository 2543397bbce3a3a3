"""What every derivation shares: it is data, and it prints itself through `symconv.render`.

A derivation (`ConvDerivation`, `PoolDerivation`, `ChainDerivation`) holds SymPy
expressions and proof verdicts and nothing about how they look.  Printing belongs to
the render stage, which imports this one; so the conveniences here (`to_text`,
`str()`, Jupyter's ``_repr_markdown_``) reach the printers late, by the module's
name, and the import graph keeps flowing one way: spec → symbolic → render.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

#: The module whose ``render(derivation, format, ...)`` prints any derivation.
PRINTERS = "symconv.render"


def render(derivation: Any, fmt: str, **options: Any) -> str:
    """``symconv.render.render(derivation, fmt, **options)``, looked up when first called."""
    return importlib.import_module(PRINTERS).render(derivation, fmt, **options)


@dataclass
class Derivation:
    """Everything symconv derived for one layer (or a chain of layers).

    `notes` are the derivation's own remarks (why the element level was left out);
    `timings` the seconds of each step.
    """

    spec: Any
    notes: list[str] = field(default_factory=list, kw_only=True)
    timings: dict[str, float] = field(default_factory=dict, kw_only=True)

    @property
    def element_level(self) -> bool:
        """True when the element equations were built (small layers)."""
        raise NotImplementedError

    @property
    def all_patterns_hold(self) -> bool:
        """True when every pattern and check of the derivation was proved."""
        raise NotImplementedError

    # ----- output a person reads (the printers live in symconv.render) ------------------
    def to_latex(self, document: bool = True, zero_based: bool = False) -> str:
        """A pdflatex document, or (document=False) its body for your own document."""
        return render(self, "latex", document=document, zero_based=zero_based)

    def to_markdown(self, zero_based: bool = False) -> str:
        return render(self, "markdown", zero_based=zero_based)

    def to_text(self, zero_based: bool = False) -> str:
        return render(self, "text", zero_based=zero_based)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        verdict = "every pattern proved" if self.all_patterns_hold else "a pattern NOT proved"
        return (
            f"<{type(self).__name__} of {self.spec.label}: {verdict} "
            "(print() shows the derivation)>"
        )

    def _repr_markdown_(self) -> str:
        """Jupyter: Markdown with MathJax math, tables as Markdown tables."""
        return render(self, "markdown", notebook=True)
