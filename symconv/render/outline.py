"""The neutral outline of a derivation: sections of paragraphs, equations and matrices.

`symconv.render.document` decides *what* the lecture says (order, ordering of terms,
elision, wording); the LaTeX, Markdown and text printers only decide *how* each kind
of block looks.  The blocks are plain data: prose in Unicode (``∂L/∂X``, ``⊛``),
tensor elements as `Ref`, local gradients as `Partial`, and products as SymPy
expressions that each printer's SymPy printer orders the lecture's way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from symconv.render.elide import Dots, More
from symconv.render.indexform import ClosedForm
from symconv.render.names import Partial, Ref

#: One factor of a printed product.
Factor = Ref | Partial | sp.Expr
#: One term of a sum: its factors, in the order they are printed.
Term = tuple[Factor, ...]


@dataclass(frozen=True)
class Paragraph:
    """Prose, in Unicode."""

    text: str


@dataclass(frozen=True)
class Callout:
    """Prose the reader must not miss (derivation notes): boxed or quoted."""

    text: str


@dataclass(frozen=True)
class SizeRule:
    """The output-size arithmetic of one spatial dimension, numbers filled in."""

    dimension: str
    i: int
    lo: int
    hi: int
    k: int
    d: int
    s: int
    k_eff: int
    o: int
    a: int


@dataclass(frozen=True)
class SizeRules:
    """`pooling`: no dilation to show, so o = ⌊(i + 2p − k)/s⌋ + 1 as the notes write it."""

    rules: tuple[SizeRule, ...]
    pooling: bool = False


@dataclass(frozen=True)
class Equation:
    """lhs = the sum of `terms` (0 when there are none); a `More` stands for left-out terms."""

    lhs: Ref | Partial
    terms: tuple[Term | More, ...]


@dataclass(frozen=True)
class Equations:
    """A group of equations; `per_line` > 1 sets short ones side by side, as the notes do."""

    rows: tuple[Equation | More, ...]
    per_line: int = 1


@dataclass(frozen=True)
class ChainRule:
    """The general rule ∂L/∂v_i = Σ_k ∂L/∂O_k · ∂O_k/∂v_i for the tensor `key`.

    `of` names the outputs the sum runs over ("y": O, or C after a convolution; "p": P).
    """

    key: str
    of: str = "y"


@dataclass(frozen=True)
class Correction:
    """A slip worth avoiding (one the lecture notes this derivation follows make), what is
    right, and why: prose, Unicode, in this page's notation."""

    wrote: str
    right: str
    why: str

    #: The box's heading in every format.
    TITLE = "A slip to avoid"
    #: What introduces the slip: users have no notes, so it says whose slip it is.
    WROTE = "The lecture notes this derivation follows write"


@dataclass(frozen=True)
class MaxRule:
    """Seed 001's lines for one window with numbers: ∂L/∂C_i = ∂/∂C_i max(window) · ∂L/∂P_k.

    Each member's line ends in ∂L/∂P_k for the winner (the first maximum) and 0 for
    the others.  `values` are the members' numbers, shown beside the names.
    """

    output: Ref
    upstream: Ref
    members: tuple[Ref, ...]
    gradients: tuple[Ref, ...]
    values: tuple[sp.Expr, ...]
    winner: int


Cell = sp.Expr | Dots


@dataclass(frozen=True)
class Slice:
    """One 2-D slice of a tensor; `label` names its batch/channel/depth ("" when alone)."""

    label: str
    rows: tuple[tuple[Cell, ...], ...]
    #: Zero-based position of each shown row and column in the tensor (None: the dots).
    row_at: tuple[int | None, ...] = ()
    col_at: tuple[int | None, ...] = ()


@dataclass(frozen=True)
class MatrixStack:
    """A tensor shown as 2-D slices (a 1-D tensor is one row), with a caption."""

    caption: str
    slices: tuple[Slice | More, ...]

    @property
    def single(self) -> Slice | None:
        """The only slice, when there is just one: then it can sit inside an equation."""
        if len(self.slices) == 1 and isinstance(self.slices[0], Slice):
            return self.slices[0]
        return None


@dataclass(frozen=True)
class Apply:
    """lhs = wrapper(operation(operand, operand; parameters)), exactly as an identity says.

    `parameters` are the operation's non-default stride and dilation (name, values);
    `wrapper` a step applied to the result (``rot180``), or None.
    """

    lhs: Ref
    operation: str
    operands: tuple[MatrixStack, ...]
    parameters: tuple[tuple[str, str], ...] = ()
    wrapper: str | None = None

    @property
    def legend(self) -> str:
        """What each operand is, for when the matrices stand inside the equation."""
        words = ("first", "second", "third")
        listed = "; ".join(f"{w} operand: {op.caption}" for w, op in zip(words, self.operands))
        return f"({listed}.)"

    @property
    def suffix(self) -> str:
        """ "; dilation (2, 1)" after the operands, or nothing."""
        return "".join(f"; {name} {values}" for name, values in self.parameters)


@dataclass(frozen=True)
class Verdict:
    """A pattern: its title, whether SymPy proved it, and its statement."""

    title: str
    holds: bool
    statement: str


@dataclass(frozen=True)
class Table:
    """A small table of prose cells: a header row and body rows."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Picture:
    """A figure of the layer (`symconv.draw`), printed by each format as it can show it:
    inline SVG (HTML, a notebook), TikZ (LaTeX), text grids (text, Markdown)."""

    title: str
    caption: str
    svg: str = ""
    tikz: str = ""
    file: str = ""
    #: The figure as text grids (`symconv.draw.text`), for terminals and Markdown.
    text: str = ""


Block = (
    Paragraph
    | Table
    | Callout
    | Correction
    | MaxRule
    | SizeRules
    | ClosedForm
    | Equations
    | ChainRule
    | MatrixStack
    | Apply
    | Verdict
    | Picture
)


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Outline:
    """The whole lecture on one layer."""

    title: str
    subtitle: str
    sections: tuple[Section, ...] = field(default_factory=tuple)
