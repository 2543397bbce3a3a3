"""Jupyter: derivations, specs and the cost table display as Markdown that MathJax typesets.

A notebook is built and executed with nbconvert, then exported to HTML the way
``jupyter nbconvert --to html`` does; outside its math, the HTML must hold no raw
LaTeX environment (``\\begin{...}``, which MathJax would leave as text), and the
efficiency table must be an HTML table.  Skipped, saying why, where nbconvert or a
Python kernel is not installed.
"""

from __future__ import annotations

import re

import pytest

from symconv import ConvSpec, PoolSpec, derive

MISSING = "not installed (pip install nbconvert ipykernel)"
nbformat = pytest.importorskip("nbformat", reason=f"nbformat {MISSING}")
nbconvert = pytest.importorskip("nbconvert", reason=f"nbconvert {MISSING}")
pytest.importorskip("ipykernel", reason="ipykernel not installed: no kernel to execute a notebook")

CELLS = [
    "import symconv\nfrom symconv import ConvSpec, PoolSpec",
    "spec = ConvSpec((6, 6), 3, stride=2, padding=((0, 1), (1, 0)), mode='convolution')\nspec",
    "spec.cost()",
    "symconv.derive(spec)",
    "symconv.derive(PoolSpec('max', (4, 4), 2), values=range(16))",
    "symconv.derive(ConvSpec((6, 6), 3), pool=PoolSpec('max', (4, 4), 2))",
    "symconv.winograd(4, 3)",
    "symconv.check(lambda x, w: x.sum() * 0 + x[:, :1, :1, :1] * w.sum(), convention='numpy',"
    " ranks=(2,), examples=0)",
    "print(spec.cost())",
]
MATH = re.compile(r"\$\$.*?\$\$|\\\(.*?\\\)|\\\[.*?\\\]|\$[^$\n]+\$", re.S)


def test_rich_displays_are_markdown():
    spec = ConvSpec((3, 3), 2)
    assert spec._repr_markdown_().startswith("**`conv2d_1x1x3x3_to1_k2x2_s1`**")
    assert "| convolution | 4 | 28 |" in spec.cost()._repr_markdown_()
    markdown = derive(spec)._repr_markdown_()
    assert "[!NOTE]" not in markdown and "tabular" not in markdown
    assert "| form | stored floats | multiplications and additions |" in markdown
    assert "| window | 2×2 |" in PoolSpec("max", (4, 4), 2)._repr_markdown_()


def test_an_executed_notebook_exports_to_html_without_raw_latex(tmp_path):
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import ExecutePreprocessor

    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in CELLS]
    )
    ExecutePreprocessor(timeout=300, kernel_name="python3").preprocess(
        notebook, {"metadata": {"path": str(tmp_path)}}
    )
    for cell in notebook.cells[1:-1]:
        (output,) = [o for o in cell.outputs if o.output_type == "execute_result"]
        assert "text/markdown" in output.data, cell.source
        assert len(output.data["text/plain"]) < 500, cell.source  # no dataclass dump
    (printed,) = notebook.cells[-1].outputs
    assert printed.text.splitlines()[1].split() == ["form", "stored", "floats", "multiplications",
                                                   "and", "additions"]  # fmt: skip
    html, _ = HTMLExporter().from_notebook_node(notebook)
    outside_math = MATH.sub("", html)
    assert "\\begin{" not in outside_math
    assert "<table>" in html and "dense matrix" in html
    assert "tabular" not in html
    assert "∂L/∂F is the cross-correlation of X with ∂L/∂O dilated by the stride" in html
    assert "Winograd F(4, 3)" in html and "## symconv check" not in html  # rendered, not raw
    assert "verdict" not in html.lower() or "Wrong." in html
