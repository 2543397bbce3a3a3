"""One self-contained HTML page: the derivation with its math as MathML, figures inline.

The page is the Markdown printer's output turned into HTML by markdown-it-py, with
every ``$…$`` and ``$$…$$`` span converted to MathML by latex2mathml (both optional:
``pip install symconv[html]``).  MathML is rendered by every current browser with no
script and no network, and an inline SVG needs neither, so the file opens as it is,
from disk, offline.  Figures (`Picture` blocks) are placed inline as SVG.
"""

from __future__ import annotations

import html
import re

from symconv.render.latex import LatexMath
from symconv.render.markdown import MarkdownWriter
from symconv.render.names import Names
from symconv.render.outline import Outline, Picture

INSTALL_HINT = "pip install latex2mathml markdown-it-py, or pip install symconv[html]"
#: A display ($$…$$ on lines of its own) or an inline span ($…$ within one line).
MATH = re.compile(r"\$\$\n(?P<display>.*?)\n\$\$|\$(?P<inline>[^$\n]+)\$", re.S)
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 60rem;
       margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #1d2330; }
h1, h2, h3 { line-height: 1.25; }
code { background: #f1f3f6; padding: 0 0.25em; border-radius: 3px; }
math[display="block"] { display: block; overflow-x: auto; overflow-y: hidden;
                        margin: 0.8em 0; max-width: 100%; }
table { border-collapse: collapse; margin: 0.8em 0; display: block; overflow-x: auto;
        max-width: 100%; }
td, th { border: 1px solid #cfd5de; padding: 0.2em 0.6em; }
blockquote { border-left: 4px solid #9bb5d8; margin: 0.8em 0; padding: 0.1em 1em;
             background: #f5f8fc; }
figure { margin: 1.2em 0; }
figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.95em; color: #3b4453; }
""".strip()


def available() -> str | None:
    """None when the page can be made, else what to install."""
    try:
        import latex2mathml.converter  # noqa: F401
        import markdown_it  # noqa: F401
    except ImportError:
        return INSTALL_HINT
    return None


class FigureMarkdown(MarkdownWriter):
    """Markdown with a placeholder paragraph where each figure goes."""

    def __init__(self, math: LatexMath, names: Names) -> None:
        super().__init__(math, names)
        self.pictures: list[Picture] = []

    def _print_Picture(self, block: Picture) -> str:
        self.pictures.append(block)
        return f"SYMCONVFIGURE{len(self.pictures) - 1}"


def write(outline: Outline, names: Names) -> str:
    """The outline as one HTML document."""
    missing = available()
    if missing is not None:
        raise RuntimeError(f"--format html needs latex2mathml and markdown-it-py: {missing}")
    from latex2mathml.converter import convert
    from markdown_it import MarkdownIt

    writer = FigureMarkdown(LatexMath(names, pdflatex=False), names)
    text = writer.write(outline)
    maths: list[str] = []

    def stash(match: re.Match) -> str:
        display = match.group("display") is not None
        latex = match.group("display") if display else match.group("inline")
        maths.append(convert(latex, display="block" if display else "inline"))
        return f"SYMCONVMATH{len(maths) - 1}X"

    body = MarkdownIt("commonmark").enable("table").render(MATH.sub(stash, text))
    body = re.sub(r"SYMCONVMATH(\d+)X", lambda m: maths[int(m.group(1))], body)
    body = re.sub(
        r"<p>SYMCONVFIGURE(\d+)</p>", lambda m: figure(writer.pictures[int(m.group(1))]), body
    )
    title = html.escape(f"{outline.title}: {outline.subtitle}")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="symconv">\n<title>{title}</title>\n'
        f"<style>\n{STYLE}\n</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )


def figure(picture: Picture) -> str:
    """The SVG holds its title, legend and caption; the figure element names it for a reader."""
    return f'<figure aria-label="{html.escape(picture.title)}">\n{picture.svg}\n</figure>\n'
