"""The pooling and chain documents: the notes' lines, their slips corrected, widths, pdflatex."""

from __future__ import annotations

import time

import pytest

from symconv import ConvSpec, PoolSpec, derive
from tests.symbolic.test_pooling import SEED_000, SEED_001_A, SEED_001_CONV, SEED_001_POOL

DELTA = [[1, 0, 0], [0, 0, 0], [0, 0, 0]]


@pytest.fixture(scope="module")
def max_with_numbers():
    return derive(PoolSpec("max", (4, 4), 2), values=SEED_000)


@pytest.fixture(scope="module")
def seed_chain():
    return derive(SEED_001_CONV, pool=SEED_001_POOL, values=SEED_001_A)


@pytest.fixture(scope="module")
def routed_chain():
    return derive(SEED_001_CONV, pool=SEED_001_POOL, values=SEED_001_A, filter_values=DELTA)


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def one_line(text: str) -> str:
    return " ".join(text.split())


# ----- one max-pooling layer ------------------------------------------------------------------
def test_max_pooling_text_shows_equations_indicators_and_chain_rule(max_with_numbers):
    text = max_with_numbers.to_text()
    got = lines(text)
    assert "P11 = max(X11, X12, X21, X22)" in got
    assert "∂P11/∂X12 = θ(X12 − max(X11, X21, X22))" in got  # SymPy's own derivative
    assert "∂P11/∂X11 = [X11 ≥ X12 ∧ X11 ≥ X21 ∧ X11 ≥ X22]" in got
    assert "∂P11/∂X12 = [X12 > X11 ∧ X12 ≥ X21 ∧ X12 ≥ X22]" in got  # ties to the first
    assert "∂L/∂X_i = Σ_k ∂L/∂P_k · ∂P_k/∂X_i" in got
    assert "∂L/∂X12 = ∂L/∂P11 · ∂P11/∂X12" in got
    assert "∂L/∂X22 = ∂L/∂P11·[X22 > X11 ∧ X22 > X12 ∧ X22 > X21]" in got
    assert "✓ proved: ties go to the first maximum" in got
    assert "o = ⌊(i + 2p − k)/s⌋ + 1 = ⌊(4 + 2·0 − 2)/2⌋ + 1 = 2" in text


def test_numbers_give_seed_001s_lines_the_maxima_and_the_sparse_grid(max_with_numbers):
    text = max_with_numbers.to_text()
    got = lines(text)
    assert "P11 = max(X11, X12, X21, X22) = max(1, 3, 2, 9) = 9, first at X22" in got
    assert "∂L/∂X12 = ∂/∂X12 max(X11, X12, X21, X22) · ∂L/∂P11 = 0" in got
    assert "∂L/∂X22 = ∂/∂X22 max(X11, X12, X21, X22) · ∂L/∂P11 = ∂L/∂P11" in got
    assert "P11 = 9 at X22, P12 = 2 at X13, P21 = 6 at X42, P22 = 3 at X34" in one_line(text)
    assert "⎡ 0     0     ∂L/∂P12     0    ⎤" in text
    assert "⎢ 0  ∂L/∂P11     0        0    ⎥" in text
    assert "⎢ 0     0        0     ∂L/∂P22 ⎥" in text
    assert "⎣ 0  ∂L/∂P21     0        0    ⎦" in text


def test_the_max_derivative_slip_is_corrected_beside_the_formula(max_with_numbers):
    text = one_line(max_with_numbers.to_text().replace("┃", ""))
    assert (
        "The lecture notes this derivation follows write: "
        "∂L/∂X12 = ∂/∂X12 max(X11, X12, X21, X22) · ∂L/∂P11 = X12 · ∂L/∂P11"
    ) in text
    # the first window holds 1, 3, 2, 9: its maximum is X22, so X12 gets nothing
    assert (
        "Right: ∂L/∂X12 = 0 · ∂L/∂P11 = 0: with these numbers the window's first maximum is "
        "X22 = 9, so ∂L/∂X22 = ∂L/∂P11 and the other entries get 0"
    ) in text
    assert "write: ∂L/∂C = [0 C01 0 C03; 0 0 0 0; C20 0 0 0; 0 0 C32 0]" in text
    assert (
        "Right: the entry at each window's maximum is that window's own gradient: ∂L/∂P11, "
        "∂L/∂P12, ∂L/∂P21 and ∂L/∂P22"
    ) in text
    assert "∂E" not in text and "the notes" not in text  # one notation, self-contained
    rule = text.index("· ∂L/∂P11 = ∂L/∂P11")
    assert rule < text.index("A slip to avoid") < rule + 400  # right after the window's lines


def test_the_max_derivative_box_follows_the_numbers_or_speaks_symbolically():
    """Where the second entry of the first window is its maximum, the box says so; without
    numbers it states the rule, true whatever the values."""
    wins = one_line(derive(PoolSpec("max", (2, 2), 2), values=[[0, 5], [1, 2]]).to_text())
    assert "Right: ∂L/∂X12 = 1 · ∂L/∂P11 = ∂L/∂P11: with these numbers X12 = 5 is the " in (
        wins.replace("┃", "")
    )
    tie = one_line(derive(PoolSpec("max", (2, 2), 2), values=[[5, 5], [1, 2]]).to_text())
    assert "the window's first maximum is X11 = 5" in tie.replace("┃", "")  # ties: the first
    symbolic = one_line(derive(PoolSpec("max", (4, 4), 2)).to_text().replace("┃", ""))
    assert (
        "Right: ∂L/∂X12 = 1 · ∂L/∂P11 = ∂L/∂P11 where X12 is the first maximum of its window, "
        "and 0 · ∂L/∂P11 = 0 where it is not"
    ) in symbolic


def test_average_pooling_text_and_the_notes_3_75():
    d = derive(PoolSpec("avg", (4, 4), 2), values=SEED_000)
    text = d.to_text()
    got = lines(text)
    assert "P11 = 1/4·(X11 + X12 + X21 + X22)" in got
    assert "∂P11/∂X11 = 1/4    ∂P11/∂X12 = 1/4    ∂P11/∂X21 = 1/4    ∂P11/∂X22 = 1/4" in got
    assert "∂L/∂X23 = 1/4·∂L/∂P12" in got
    assert "⎣ 3.75   2   ⎦" in text
    assert "Right: the bottom-left entry is (1 + 3 + 5 + 6)/4 = 3.75" in one_line(
        text.replace("┃", "")
    )


def test_padding_is_explained_for_both_kinds():
    maxed = one_line(derive(PoolSpec("max", (4, 4), 3, stride=1, padding=1)).to_text())
    assert "Padding counts as −∞ (PyTorch's rule)" in maxed
    assert "windows overlap" in maxed
    averaged = one_line(derive(PoolSpec("avg", (4, 4), 2, padding=1)).to_text())
    assert "padded zeros included (PyTorch's count_include_pad=True)" in averaged
    assert "P11 = 1/4·X11" in averaged


def test_big_windows_use_the_max_form_and_every_line_fits(max_with_numbers):
    specs = [
        PoolSpec("max", (5, 5), 3, stride=1, padding=1),
        PoolSpec("max", (3, 4, 4), 2, channels=2, batch=2),
        PoolSpec("avg", (9,), 4, stride=1, padding=2, channels=3),
        PoolSpec("max", (12, 12), 2, channels=12),
    ]
    for spec in specs:
        text = derive(spec).to_text()
        assert max(len(line) for line in text.splitlines()) <= 100, spec.label
    text = derive(specs[0]).to_text()
    assert "∂L/∂P22·[X11 ≥ max(X12, X13, X21, X22, X23, X31, X32, X33)]" in text
    assert str(max_with_numbers) == max_with_numbers.to_text()


def test_zero_based_names():
    got = lines(derive(PoolSpec("max", (4, 4), 2)).to_text(zero_based=True))
    assert "P00 = max(X00, X01, X10, X11)" in got
    assert "Indices count from 0: X01 is row 0, column 1 of X." in got


def test_large_pooling_prints_the_note_quickly():
    d = derive(PoolSpec("max", (128, 128), 3, stride=1))
    started = time.perf_counter()
    text, markdown, latex = d.to_text(), d.to_markdown(), d.to_latex()
    assert time.perf_counter() - started < 1.0
    assert "too many to read" in one_line(text.replace("│", "")) and "> [!NOTE]" in markdown
    assert r"\end{document}" in latex


def test_lenet_pooling_renders_under_a_second():
    d = derive(PoolSpec("max", (24, 24), 2, channels=6))
    for render in (d.to_text, d.to_markdown, d.to_latex):
        started = time.perf_counter()
        render()
        assert time.perf_counter() - started < 1.0, render.__name__


# ----- LaTeX and Markdown -------------------------------------------------------------------
def test_latex_prints_max_brackets_and_seed_001s_lines(max_with_numbers):
    latex = max_with_numbers.to_latex()
    assert r"P_{11} &= \max\left(X_{11}, X_{12}, X_{21}, X_{22}\right)" in latex
    assert (
        r"\left[X_{12} > X_{11} \wedge X_{12} \geq X_{21} \wedge X_{12} \geq X_{22}\right]" in latex
    )
    assert (
        r"\frac{\partial L}{\partial X_{22}} &= \frac{\partial}{\partial X_{22}} "
        r"\max(X_{11}, X_{12}, X_{21}, X_{22}) \cdot \frac{\partial L}{\partial P_{11}} = "
        r"\frac{\partial L}{\partial P_{11}}"
    ) in latex
    assert r"\textbf{A slip to avoid.} The lecture notes this derivation follows write" in latex
    assert r"$\partial/\partial X_{12}$ max" in latex  # no "$$" between pieces of math
    body = max_with_numbers.to_latex(document=False)
    assert r"\documentclass" not in body and body in latex


def test_markdown_has_math_tables_and_warnings(max_with_numbers):
    markdown = max_with_numbers.to_markdown()
    assert markdown.startswith("# Backpropagation through one max-pooling layer")
    assert markdown.count("$$") % 2 == 0
    assert "> [!WARNING]\n> **A slip to avoid.** The lecture notes this derivation follows" in (
        markdown
    )
    assert "| **2** | $0$ | $\\dfrac{\\partial L}{\\partial P_{11}}$ | $0$ | $0$ |" in markdown


# ----- the chain of seed 001 ------------------------------------------------------------------
def test_seed_001_chain_text(seed_chain):
    text = seed_chain.to_text(zero_based=True)
    got = lines(text)
    flat = one_line(text.replace("┃", ""))
    assert "C00 = 5·F00 + 6·F01 + 7·F02 + 6·F10 + 7·F11 + 8·F12 + 7·F20 + 8·F21 + 9·F22" in got
    assert "C00 = C03 = C30 = C33; C01 = C31; C02 = C32; C10 = C13; C20 = C23" in flat
    assert "P00 = max(C00, C01, C10, C11)" in got
    assert "∂L/∂C01 = ∂L/∂P00·[C01 > C00 ∧ C01 ≥ C10 ∧ C01 ≥ C11]" in got
    assert "∂L/∂F_i = Σ_k ∂L/∂C_k · ∂C_k/∂F_i" in got
    assert "∂L/∂F00 = 5·∂L/∂C00 + 6·∂L/∂C01 + 7·∂L/∂C02 + 5·∂L/∂C03" in flat
    assert "∂L/∂F = cross-correlation(" in text
    assert "Lectures write this as ∂L/∂F = Convolution(X, ∂L/∂C)" in flat
    # the lecture's slips, each beside its formula, in this page's notation
    assert "follows write: ∂L/∂F = ∂C/∂F × ∂P/∂C × ∂F/∂P" in flat
    assert "Right: ∂L/∂F = ∂C/∂F × ∂P/∂C × ∂L/∂P" in flat
    assert "Right: the sixth term is ∂L/∂C11 × X12" in flat
    assert "∂E" not in flat and "Seed" not in flat and "the notes" not in flat
    assert "no filter F puts the maxima there with these numbers of X" in flat
    assert "C01 > C00 > C02 > C20 ≥ C01, a cycle" in flat
    assert "7. Efficiency" in text and "convolution 9 272" in flat
    assert max(len(line) for line in text.splitlines()) <= 100


def test_seed_001_chain_with_a_filter_routes_by_numbers(routed_chain):
    text = routed_chain.to_text(zero_based=True)
    got = lines(text)
    assert "⎡ 5  6  7  5 ⎤" in text  # C = X ⊛ F, the top-left copy of A
    assert "P00 = max(C00, C01, C10, C11) = max(5, 6, 6, 7) = 7, first at C11" in got
    assert "⎢ 0  ∂L/∂P00  ∂L/∂P01  0 ⎥" in text
    assert "⎢ 0  ∂L/∂P10  ∂L/∂P11  0 ⎥" in text
    assert "∂L/∂F00 = 7·∂L/∂P00 + 8·∂L/∂P01 + 8·∂L/∂P10 + 9·∂L/∂P11" in got
    assert "∂L/∂F22 = 5·∂L/∂P00 + 6·∂L/∂P01 + 6·∂L/∂P10 + 7·∂L/∂P11" in got
    assert "no filter F puts the maxima there" not in text


def test_chain_of_symbols_and_of_average_pooling_render_everywhere():
    for chain in (
        derive(ConvSpec((3, 3), 2), pool=PoolSpec("max", (2, 2), 2)),
        derive(ConvSpec((5, 5), 2, out_channels=2), pool=PoolSpec("avg", (4, 4), 2, channels=2)),
    ):
        text = chain.to_text()
        assert max(len(line) for line in text.splitlines()) <= 100
        assert chain.to_markdown().count("$$") % 2 == 0
        assert r"\end{document}" in chain.to_latex()
    text = derive(ConvSpec((3, 3), 2), pool=PoolSpec("max", (2, 2), 2)).to_text()
    assert "∂L/∂F11 = ∂L/∂C11·X11 + ∂L/∂C12·X12 + ∂L/∂C21·X21 + ∂L/∂C22·X22" in lines(text)
    assert "sixth term" not in text  # the notes' ∂E/∂F01 line needs a 4-wide C


# ----- pdflatex ----------------------------------------------------------------------------------
DOCUMENTS = {
    "max-numbers": lambda: derive(PoolSpec("max", (4, 4), 2), values=SEED_000),
    "avg-padded": lambda: derive(PoolSpec("avg", (4, 4), 2, padding=1), values=[0.5] * 16),
    "max-3x3-overlap": lambda: derive(PoolSpec("max", (5, 5), 3, stride=1, padding=1)),
    "max-3d": lambda: derive(PoolSpec("max", (3, 4, 4), 2, channels=2)),
    "seed-001": lambda: derive(SEED_001_CONV, pool=SEED_001_POOL, values=SEED_001_A),
    "seed-001-routed": lambda: derive(
        SEED_001_CONV, pool=SEED_001_POOL, values=SEED_001_A, filter_values=DELTA
    ),
}


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_latex_document_compiles_with_pdflatex(name, compile_latex):
    compile_latex(DOCUMENTS[name]().to_latex(zero_based=name.startswith("seed")), name)
