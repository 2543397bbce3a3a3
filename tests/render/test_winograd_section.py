"""The Winograd section in every format, and `symconv derive --winograd`."""

from __future__ import annotations

import pytest

from symconv import derive
from symconv.cli import main
from symconv.kinds import ConvSpec

SPEC = ConvSpec((8, 8), 3, padding=((1, 0), (0, 0)))


@pytest.fixture(scope="module")
def derivation():
    return derive(SPEC, winograd=4)


def test_text_shows_points_matrices_proofs_tiling_and_errors(derivation):
    text = derivation.to_text()
    section = text[text.index("Winograd F(4×4, 3×3)") :]
    assert "0, 1, -1, 1/2, -2, ∞" in section
    assert "⎡ 1  1  1    1   1   0 ⎤" in section  # first row of Aᵀ for these points
    # F(4, 3), its nested 2-D form, F(3, 4) for ∂L/∂F (its matrices printed) and its nesting
    assert section.count("✓ proved") == 4 and "✗" not in section
    assert "F(3, 4): m = 3 outputs of an r = 4-tap correlation from n = 6 inputs" in section
    assert "Aᵀ (3 × 6), the output transform" in section and "G (6 × 4)" in section
    assert "relative to the root mean square of all their correct outputs" in (
        " ".join(section.split())
    )
    assert "Y = Aᵀ·[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A" in section
    # 8 + 1 padding row − 3 + 1 = 7 output rows → 2 tiles of 4, one row of overhang
    assert "height           7     4      2         1" in section
    assert "width            6     4      2         2" in section
    for label in ("F(2×2, 3×3)", "F(4×4, 3×3)", "F(6×6, 3×3)"):
        assert label in section
    assert "padded by 1×2 before and 2×2 after" in " ".join(section.split())


def test_efficiency_table_has_the_winograd_rows(derivation):
    efficiency = derivation.to_text().split("Efficiency")[-1]
    assert "Winograd F(4×4, 3×3)" in efficiency


def test_markdown_has_the_section_and_its_tables(derivation):
    markdown = derivation.to_markdown()
    assert "## 9. Winograd F(4×4, 3×3)" in markdown or "Winograd F(4×4, 3×3)" in markdown
    assert "| F(4×4, 3×3) |" in markdown


def test_latex_compiles(derivation, compile_latex):
    compile_latex(derivation.to_latex(), "winograd")


def test_cli_latex_of_the_issue_compiles(tmp_path, compile_latex):
    target = tmp_path / "w.tex"
    argv = ["derive", "--input", "8x8", "--kernel", "3", "--winograd", "4", "--format", "latex"]
    assert main([*argv, "-o", str(target)]) == 0
    compile_latex(target.read_text(encoding="utf-8"), "cli")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--winograd", "0"], "--winograd='0' must be a positive integer"),
        (["--winograd", "four"], "must be a positive integer"),
        (["--winograd", "2", "--stride", "2"], "needs stride 1"),
        (["--winograd", "2", "--dilation", "2"], "needs dilation 1"),
        (["--winograd", "12"], "symconv builds them up to 12"),
        (["--winograd", "2", "--pool", "max:2"], "needs one convolution layer"),
    ],
)
def test_bad_winograd_flags_are_one_line(tmp_path, capsys, extra, message):
    target = tmp_path / "never.txt"
    argv = ["derive", "--input", "8x8", "--kernel", "3", *extra, "-o", str(target)]
    try:
        status = main(argv)
    except SystemExit as stop:
        status = stop.code
    assert status == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not target.exists()
