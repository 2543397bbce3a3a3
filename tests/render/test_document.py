"""The printers against the lecture notes: exact lines, elision, speed, and pdflatex."""

from __future__ import annotations

import time

import pytest
import sympy as sp
from hypothesis import HealthCheck, example, given, settings

from symconv import derive
from symconv.kinds import ConvSpec
from symconv.render.names import Names
from symconv.render.printer import LatexLecturePrinter as DerivationLatexPrinter
from tests.strategies import tiled_specs

LECTURE = ConvSpec((3, 3), 2)
STRIDED = ConvSpec((5, 5), 3, stride=2)
GROUPED = ConvSpec(
    (5, 5), 3, stride=2, padding=((1, 0), (0, 1)), in_channels=2, out_channels=4, groups=2,
    bias=True,
)  # fmt: skip
LENET = ConvSpec((28, 28), 5)
LARGE = ConvSpec((64, 64), 3, in_channels=16, out_channels=16)


@pytest.fixture(scope="module")
def lecture():
    return derive(LECTURE)


@pytest.fixture(scope="module")
def strided():
    return derive(STRIDED)


@pytest.fixture(scope="module")
def grouped():
    return derive(GROUPED)


@pytest.fixture(scope="module")
def lenet():
    return derive(LENET)


def stripped_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


# ----- the lecture example, as plain text ---------------------------------------------------
def test_text_forward_equations_are_the_notes(lecture):
    lines = stripped_lines(lecture.to_text())
    assert "O11 = X11·F11 + X12·F12 + X21·F21 + X22·F22" in lines
    assert "O12 = X12·F11 + X13·F12 + X22·F21 + X23·F22" in lines
    assert "O21 = X21·F11 + X22·F12 + X31·F21 + X32·F22" in lines
    assert "O22 = X22·F11 + X23·F12 + X32·F21 + X33·F22" in lines


def test_text_grad_input_has_the_nine_entries_in_the_notes_order(lecture):
    expected = [
        "∂L/∂X11 = ∂L/∂O11·F11",
        "∂L/∂X12 = ∂L/∂O11·F12 + ∂L/∂O12·F11",
        "∂L/∂X13 = ∂L/∂O12·F12",
        "∂L/∂X21 = ∂L/∂O11·F21 + ∂L/∂O21·F11",
        "∂L/∂X22 = ∂L/∂O11·F22 + ∂L/∂O12·F21 + ∂L/∂O21·F12 + ∂L/∂O22·F11",
        "∂L/∂X23 = ∂L/∂O12·F22 + ∂L/∂O22·F12",
        "∂L/∂X31 = ∂L/∂O21·F21",
        "∂L/∂X32 = ∂L/∂O21·F22 + ∂L/∂O22·F21",
        "∂L/∂X33 = ∂L/∂O22·F22",
    ]
    lines = stripped_lines(lecture.to_text())
    positions = [lines.index(line) for line in expected]
    assert positions == sorted(positions)


def test_text_grad_weight_local_gradients_and_chain_rule_are_the_notes(lecture):
    lines = stripped_lines(lecture.to_text())
    assert "∂L/∂F12 = ∂L/∂O11·X12 + ∂L/∂O12·X13 + ∂L/∂O21·X22 + ∂L/∂O22·X23" in lines
    assert "∂O11/∂F11 = X11    ∂O11/∂F12 = X12    ∂O11/∂F21 = X21    ∂O11/∂F22 = X22" in lines
    assert "Similarly for O12, O21 and O22." in lines
    assert "∂L/∂F_i = Σ_k ∂L/∂O_k · ∂O_k/∂F_i" in lines
    assert (
        "∂L/∂X12 = ∂L/∂O11 · ∂O11/∂X12 + ∂L/∂O12 · ∂O12/∂X12" in lines
    )  # the chain rule before the local gradients are put in


def test_text_sections_follow_the_lecture(lecture):
    text = lecture.to_text()
    titles = [
        "1. Configuration",
        "2. Closed forms (index level)",
        "3. Forward pass: O = X ⊛ F",
        "4. Local gradients",
        "5. Chain rule",
        "6. Gradients",
        "7. Patterns",
        "8. Rows without gradient",
    ]
    positions = [text.index(f"\n{title}\n") for title in titles]
    assert positions == sorted(positions)
    assert "o = ⌊(i + lo + hi − k_eff)/s⌋ + 1 = ⌊(3 + 0 + 0 − 2)/1⌋ + 1 = 2" in text
    assert "∂L/∂X[r_h, r_w] = Σ_{t_h, t_w} ∂L/∂O[r_h − t_h, r_w − t_w]·F[t_h, t_w]" in text
    assert "where 0 ≤ r_h − t_h < 2, 0 ≤ r_w − t_w < 2" in text


def test_text_shows_the_rotated_filter_and_says_what_full_convolution_means(lecture):
    text = lecture.to_text()
    assert (
        "✓ proved: ∂L/∂X is the full cross-correlation of ∂L/∂O with the 180°-rotated filter"
        in text
    )
    assert "full cross-correlation(⎡ ∂L/∂O11  ∂L/∂O12 ⎤, ⎡ F22  F21 ⎤)" in text
    assert "⎣ ∂L/∂O21  ∂L/∂O22 ⎦  ⎣ F12  F11 ⎦" in text
    assert "but it is a cross-correlation" in text
    one_line = " ".join(text.split())
    assert "Correlating with the rotated filter is convolving with the filter itself" in one_line
    # the operation is defined on the page itself: users have no lecture notes
    assert "cross-correlation(A, K; stride s, dilation d) has the entry Σ_t A[s·r + d·t]·K[t]" in (
        one_line
    )
    assert "with k_eff − 1 = 1 zero on every side" in one_line
    assert "the notes" not in one_line and "seed 00" not in one_line.lower()


def test_str_is_the_text_and_lines_stay_under_100_columns(lecture, grouped, lenet):
    assert str(lecture) == lecture.to_text()
    for derivation in (lecture, grouped, lenet):
        assert max(len(line) for line in derivation.to_text().splitlines()) <= 100


def test_zero_based_names(lecture):
    lines = stripped_lines(lecture.to_text(zero_based=True))
    assert "O00 = X00·F00 + X01·F01 + X10·F10 + X11·F11" in lines
    assert "∂L/∂X01 = ∂L/∂O00·F01 + ∂L/∂O01·F00" in lines
    assert "Indices count from 0: X01 is row 0, column 1 of X." in lines
    latex = lecture.to_latex(zero_based=True)
    assert r"O_{00} &= X_{00} F_{00} + X_{01} F_{01}" in latex


# ----- LaTeX --------------------------------------------------------------------------------
def test_latex_orders_products_and_sums_the_lecture_way(lecture):
    latex = lecture.to_latex()
    assert r"O_{11} &= X_{11} F_{11} + X_{12} F_{12} + X_{21} F_{21} + X_{22} F_{22}" in latex
    assert (
        r"\frac{\partial L}{\partial X_{12}} &= \frac{\partial L}{\partial O_{11}} F_{12} + "
        r"\frac{\partial L}{\partial O_{12}} F_{11}"
    ) in latex
    assert r"\begin{bmatrix} F_{22} & F_{21} \\ F_{12} & F_{11} \end{bmatrix}" in latex


def test_latex_printer_names_symbols_from_the_table(lecture):
    printer = DerivationLatexPrinter(Names(lecture.spec, lecture.table))
    x11, f11 = lecture.symbols["x"][0, 0, 0, 0], lecture.symbols["w"][0, 0, 0, 0]
    gy12 = lecture.symbols["gy"][0, 0, 0, 1]
    assert str(f11 * x11) == "F11*X11"  # SymPy's own order, which the printer undoes
    assert printer.doprint(f11 * x11) == "X_{11} F_{11}"
    assert printer.doprint(f11 * gy12) == r"\frac{\partial L}{\partial O_{12}} F_{11}"
    assert printer.doprint(gy12 * f11 + x11 * f11) == (
        r"\frac{\partial L}{\partial O_{12}} F_{11} + X_{11} F_{11}"
    )
    assert printer.doprint(sp.Symbol("jh") + 2) == "j_{h} + 2"


def test_latex_document_and_its_body(lecture):
    document = lecture.to_latex()
    assert document.startswith(r"\documentclass")
    assert r"\usepackage[T1]{fontenc}" in document and r"\begin{align*}" in document
    body = lecture.to_latex(document=False)
    assert r"\documentclass" not in body and r"\begin{document}" not in body
    assert body in document  # the same text, to \input into a document of one's own
    assert r"\section{Forward pass: $O$ = $X$ $\circledast$ $F$}" in body


def test_latex_long_sums_break_over_lines(lenet):
    latex = lenet.to_latex()
    assert r"O_{11} &= X_{11} F_{11} + X_{12} F_{12}" in latex
    assert r"&\quad + " in latex
    assert r"\vdots &\quad \text{(565 more equations)}" in latex
    assert r"\cdots \text{ (566 more terms)}" in latex


# ----- stride: the dilated dL/dO -----------------------------------------------------------
def test_stride_two_shows_the_dilated_grid_with_zeros(strided):
    text = strided.to_text()
    assert "∂L/∂O with 1 zero between neighbours:" in text
    assert "⎡ ∂L/∂O11  0  ∂L/∂O12 ⎤" in text
    assert "⎢    0     0     0    ⎥" in text
    assert "⎣ ∂L/∂O21  0  ∂L/∂O22 ⎦" in text
    assert "⎢ 0  0  ∂L/∂O11  0  ∂L/∂O12  0  0 ⎥" in text  # the padded grid
    one_line = " ".join(text.split())
    assert "∂L/∂O, dilated by the stride (1 zero between neighbours)" in one_line
    latex = strided.to_latex()
    assert (
        r"\dfrac{\partial L}{\partial O_{11}} & 0 & \dfrac{\partial L}{\partial O_{12}} \\ "
        r"0 & 0 & 0 \\ "
        r"\dfrac{\partial L}{\partial O_{21}} & 0 & \dfrac{\partial L}{\partial O_{22}}"
    ) in latex
    # the 7×7 padded grid sets its fractions small, on ordinary rows
    assert r"\renewcommand{\arraystretch}{1.3}" in latex
    assert r"\tfrac{\partial L}{\partial O_{11}}" in latex
    assert "∂L/∂O[(r_h − t_h)/2, (r_w − t_w)/2]" in text
    assert "where 2 | r_h − t_h, 0 ≤ (r_h − t_h)/2 < 2" in text


def test_a_strided_dl_df_shows_x_cropped_to_the_rows_the_windows_reach():
    text = derive(ConvSpec((6, 6), 3, stride=2)).to_text()
    one_line = " ".join(text.split())
    assert "X, cropped to the rows the windows reach: (0, -1) along every axis" in one_line
    grid = [line.strip() for line in text.splitlines() if "X11  X12" in line]
    assert grid and "X16" not in grid[0]  # 5 columns shown, not the 6 of X


def test_convolution_mode_titles_and_rotates_dl_df_back():
    text = " ".join(derive(ConvSpec((4, 4), 2, mode="convolution")).to_text().split())
    assert "with the filter itself (convolution mode: the two 180° rotations cancel)" in text
    assert "∂L/∂F = rot180(cross-correlation(" in text
    assert "180°-rotated filter" not in text


def test_asymmetric_padding_is_named_for_what_it_is():
    text = " ".join(derive(ConvSpec((5, 5), 3, padding=((0, 1), (1, 0)))).to_text().split())
    assert "∂L/∂X is the cross-correlation of ∂L/∂O with the 180°-rotated filter" in text
    assert "full" not in text.split("7. Patterns")[1].split("∂L/∂F is")[0].replace(
        "a full convolution", ""
    ).replace("not a full correlation", "")
    assert "zero-padded by (2, 1) along height and (1, 2) along width (before, after)" in text


def test_grouped_layer_labels_slices_and_reports_the_unreached_row(grouped):
    text = grouped.to_text()
    assert "O111 = X111·F121 + X112·F122 + X113·F123 + X121·F131 + X122·F132 + X123·F133 + b1" in (
        stripped_lines(text)
    )
    assert "c = 2, m = 3:" in text  # the rotated filter of group 2 holds F's channels 3, 4
    assert "∂L/∂X255 = 0" in stripped_lines(text)
    one_line = " ".join(text.split())
    assert "No window reads row 5 of X: these lie past the last window." in one_line


# ----- large layers -------------------------------------------------------------------------
def test_large_layer_renders_index_level_and_note_quickly():
    derivation = derive(LARGE)
    started = time.perf_counter()
    text, markdown = derivation.to_text(), derivation.to_markdown()
    latex = derivation.to_latex()
    assert time.perf_counter() - started < 1.0
    lines = stripped_lines(text)
    assert "O[m, j_h, j_w] = Σ_{c, t_h, t_w} X[c, j_h + t_h, j_w + t_w]·F[m, c, t_h, t_w]" in lines
    assert "∂L/∂F[m, c, t_h, t_w] = Σ_{j_h, j_w} ∂L/∂O[m, j_h, j_w]·X[c, j_h + t_h, j_w + t_w]" in (
        lines
    )
    assert "only the index-level formulas are derived" in " ".join(text.split())
    assert "4. Notes" in text and "Forward pass: O" not in text
    assert "> [!NOTE]" in markdown
    assert r"\fbox" in latex and r"\sum_{\substack{m, t_{h}, t_{w}" in latex


def test_lenet_renders_well_under_a_second_and_elides(lenet):
    for render in (lenet.to_text, lenet.to_markdown, lenet.to_latex):
        started = time.perf_counter()
        render()
        assert time.perf_counter() - started < 1.0, render.__name__
    lines = stripped_lines(lenet.to_text())
    assert "⋮  (565 more equations)" in lines
    last = next(line for line in lines if line.startswith("O[24,24] = "))
    assert last.startswith("O[24,24] = X[24,24]·F11 + X[24,25]·F12")


# ----- Markdown -----------------------------------------------------------------------------
def test_markdown_has_headings_math_blocks_and_tables(lecture):
    markdown = lecture.to_markdown()
    assert markdown.startswith("# Backpropagation through one convolution layer")
    assert "\n## 1. Configuration\n" in markdown and "\n## 7. Patterns\n" in markdown
    assert markdown.count("$$") % 2 == 0 and markdown.count("$$") >= 20
    assert "O_{11} &= X_{11} F_{11} + X_{12} F_{12} + X_{21} F_{21} + X_{22} F_{22}" in markdown
    assert "| | 1 | 2 | 3 | 4 |" in markdown  # the padded dL/dO grid, as a table
    assert "| **2** | $0$ | $\\dfrac{\\partial L}{\\partial O_{11}}$ |" in markdown


@pytest.mark.parametrize(
    "spec",
    [
        ConvSpec((7,), 3, dilation=2, batch=2, in_channels=3, out_channels=2, bias=True),
        ConvSpec((3, 4, 4), 2, stride=(1, 2, 2), mode="convolution"),
    ],
    ids=["1d-batch-dilated", "3d-convolution-mode"],
)
def test_other_ranks_render_in_every_format(spec):
    derivation = derive(spec)
    text = derivation.to_text()
    assert max(len(line) for line in text.splitlines()) <= 100
    assert derivation.to_markdown().count("$$") >= 20
    assert r"\end{document}" in derivation.to_latex()
    if spec.rank == 1:
        assert "[ ∂L/∂O111  ∂L/∂O112  ∂L/∂O113 ]" in text
    else:
        assert "depth 2:" in text and "the two 180° rotations cancel" in " ".join(text.split())


# ----- pdflatex -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["lecture", "grouped", "lenet"])
def test_latex_document_compiles_with_pdflatex(name, request, compile_latex):
    compile_latex(request.getfixturevalue(name).to_latex(), name)


# ----- tiled and locally connected layers with channels --------------------------------------
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    spec=tiled_specs(
        max_rank=2, max_batch=1, max_channels_per_group=2, groups=(1, 2), max_output=3
    )  # fmt: skip
)
@example(  # ∂L/∂F's one product, with no sum to break after, was 104 columns wide
    spec=ConvSpec(
        (3, 3), 2, in_channels=4, out_channels=4, groups=2, mode="convolution", tiles=(2, 2)
    )  # fmt: skip
)
def test_tiled_layers_with_channels_print_in_every_format(spec):
    """Each format prints, names F's axes (tile ones included), and writes the tile index τ."""
    derivation = derive(spec)
    text = str(derivation)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "t_au" not in text and "t_au" not in derivation.to_markdown()
    assert "τ_" in text if spec.rank > 1 else "τ" in text
    assert r"\tau" in derivation.to_latex() and r"t_{au" not in derivation.to_latex()
    if "F by" in text:
        assert "tile" in " ".join(text.split()).split("F by", 1)[1].split(";")[0]
    assert derivation._repr_markdown_() == derivation.to_markdown()


@pytest.mark.parametrize(
    "flags",
    [
        ("--tiles", "2"),
        ("--tiles", "local"),
        ("--out-channels", "2", "--tiles", "2"),
        ("--groups", "2", "--out-channels", "2", "--tiles", "2"),
    ],  # fmt: skip
)
def test_the_issue_s_tiled_commands_derive(flags, capsys):
    from symconv.cli import main

    assert main(["derive", "--input", "2x6x6", "--kernel", "3", *flags]) == 0
    out = capsys.readouterr().out
    assert "Indices count from 1 and list, in order, X by channel c, row, column; F by" in out


def test_a_tiled_layer_with_channels_compiles_with_pdflatex(compile_latex):
    spec = ConvSpec((6, 6), 3, in_channels=2, out_channels=2, groups=2, tiles=2)
    compile_latex(derive(spec).to_latex(), "tiled")
